#!/usr/bin/env python3
"""Runs a command on a terminal of its own, as a person at a terminal would, and types.

    terminal.py [--stdout FILE] [--stderr FILE] [--ahead] COMMAND [ARG...]

Each time the command's output ends with a password prompt (a last line that names a password
and ends in ": ") or a question (one that ends in "[y/N] "),
the next line of this program's standard input is typed on the terminal (a question's a second
later); when there is none
left, the terminal's end-of-file is. With --ahead, every line is typed at once, as a person
types ahead of a question the terminal does not show (one asked on a redirected stderr). The answers come on standard input, so no answer is in any
process's arguments or environment. What the command prints on the terminal goes to standard
output (its standard output and error may go to files instead); the exit status is the
command's.
"""

import os
import pty
import sys
import time

def main():
    args = sys.argv[1:]
    files = {}
    ahead = False
    while args and args[0] in ("--stdout", "--stderr", "--ahead"):
        if args[0] == "--ahead":
            ahead = True
            args = args[1:]
            continue
        files[1 if args[0] == "--stdout" else 2] = args[1]
        args = args[2:]
    answers = sys.stdin.buffer.read().splitlines()
    pid, fd = pty.fork()
    if pid == 0:
        for target, path in files.items():
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, target)
        os.execvp(args[0], args)
    if ahead:
        for answer in answers:
            os.write(fd, answer + b"\n")
        answers = []
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        seen = (seen + chunk)[-200:]
        line = seen.rsplit(b"\n", 1)[-1]
        if line.endswith(b"[y/N] ") and answers:
            # A question: answered a second later, as a person reads it first (whatever the
            # command draws meanwhile is in the output, between the question and the answer).
            seen = b""
            time.sleep(1)
            os.write(fd, answers.pop(0) + b"\n")
        elif b"password" in line and line.endswith(b": "):
            seen = b""
            if answers:
                time.sleep(0.3)  # the prompt is out; let echo be turned off first
                os.write(fd, answers.pop(0) + b"\n")
            else:
                os.write(fd, b"\x04")
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
