#!/usr/bin/env python3
"""fleet lab: serve this host's live Nix store over HTTP the way nix-serve does.

GET /nix-cache-info, /<hash>.narinfo (with the Sig: lines the store holds), /nar/<hash>.nar.
Runs inside a lab host's namespaces; every request is appended to the log given, so tests can
see which host fetched what. Test infrastructure, not product.
"""
import glob
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STORE = "/nix/store"
LOG = None


def log(line):
    if LOG:
        with open(LOG, "a") as f:
            f.write(line + "\n")


def path_for(hash_part):
    if not hash_part.isalnum() or len(hash_part) != 32:
        return None
    for p in glob.glob(f"{STORE}/{hash_part}-*"):
        if not p.endswith(".lock"):
            return p
    return None


def path_info(path):
    out = subprocess.run(
        ["nix", "--extra-experimental-features", "nix-command", "path-info", "--json", path],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        return None
    infos = json.loads(out.stdout)
    # Nix 2.8: a list of objects with "path"; 2.19 and newer: an object keyed by path (null
    # for a path that is not valid).
    if isinstance(infos, dict):
        infos = [dict(v, path=k) for k, v in infos.items() if v]
    if not infos or not infos[0].get("valid", True):
        return None
    return infos[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log(f"{self.client_address[0]} {self.command} {self.path} {fmt % args}")

    def send_text(self, code, text, ctype="text/plain"):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/nix-cache-info":
            return self.send_text(200, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n")
        if p.endswith(".narinfo") and p.count("/") == 1:
            path = path_for(p[1:-len(".narinfo")])
            info = path and path_info(path)
            if not info:
                return self.send_text(404, "no such path\n")
            lines = [
                f"StorePath: {path}",
                f"URL: nar/{os.path.basename(path)[:32]}.nar",
                "Compression: none",
                f"NarHash: {info['narHash']}",
                f"NarSize: {info['narSize']}",
                "References: " + " ".join(os.path.basename(r) for r in info.get("references", [])),
            ]
            if info.get("deriver"):
                lines.append(f"Deriver: {os.path.basename(info['deriver'])}")
            for sig in info.get("signatures", []):
                lines.append(f"Sig: {sig}")
            return self.send_text(200, "\n".join(lines) + "\n", "text/x-nix-narinfo")
        if p.startswith("/nar/") and p.endswith(".nar"):
            path = path_for(p[len("/nar/"):-len(".nar")])
            info = path and path_info(path)
            if not info:
                return self.send_text(404, "no such path\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/x-nix-nar")
            self.send_header("Content-Length", str(info["narSize"]))
            self.end_headers()
            if self.command == "HEAD":
                return
            dump = subprocess.Popen(["nix-store", "--dump", path], stdout=subprocess.PIPE)
            while True:
                chunk = dump.stdout.read(65536)
                if not chunk:
                    break
                self.wfile.write(chunk)
            dump.wait()
            return
        return self.send_text(404, "not found\n")


def main():
    global LOG
    host, port = sys.argv[1], int(sys.argv[2])
    LOG = sys.argv[3] if len(sys.argv) > 3 else None
    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
