//! Checks made from this machine: is an address listening, what does a cache's
//! `nix-cache-info` say. Plain HTTP is spoken directly; HTTPS goes through `curl` when it is
//! installed.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long one check may take.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Whether `host:port` accepts a TCP connection; the time it took, or why not.
pub fn tcp_check(host: &str, port: u16) -> Result<Duration, String> {
    let started = Instant::now();
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host} here ({e})"))?
        .collect();
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(_) => return Ok(started.elapsed()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// A fetched document and how long it took.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: String,
    pub latency: Duration,
}

/// GET `url` (http:// directly, https:// with curl). Errors say what failed.
pub fn get(url: &str) -> Result<Fetched, String> {
    if let Some(rest) = url.strip_prefix("http://") {
        return http_get(rest);
    }
    if url.starts_with("https://") {
        let curl = which::which("curl")
            .map_err(|_| "not checked: curl is not installed here".to_string())?;
        let started = Instant::now();
        let out = std::process::Command::new(curl)
            .args(["-fsS", "-m", "5", "--", url])
            .output()
            .map_err(|e| format!("running curl: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        return Ok(Fetched {
            body: String::from_utf8_lossy(&out.stdout).into_owned(),
            latency: started.elapsed(),
        });
    }
    Err("not checked from here: only http:// and https:// caches are".into())
}

fn http_get(rest: &str) -> Result<Fetched, String> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port in {authority}"))?,
        ),
        None => (authority, 80),
    };
    let started = Instant::now();
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host} here ({e})"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: fleet\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut response = Vec::new();
    stream
        .take(1 << 20)
        .read_to_end(&mut response)
        .map_err(|e| format!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("");
    if !status
        .split_whitespace()
        .nth(1)
        .is_some_and(|c| c.starts_with('2'))
    {
        return Err(format!("{addr} answered `{}`", status.trim()));
    }
    Ok(Fetched {
        body: body.to_string(),
        latency: started.elapsed(),
    })
}

/// The host and port of an http(s) URL.
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let default = if scheme == "https" { 443 } else { 80 };
    Some(match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?),
        None => (authority.to_string(), default),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            host_port("http://p620.lan:5000"),
            Some(("p620.lan".into(), 5000))
        );
        assert_eq!(
            host_port("https://cache.nixos.org/"),
            Some(("cache.nixos.org".into(), 443))
        );
        assert_eq!(host_port("file:///x"), Some((String::new(), 80)));
    }
}
