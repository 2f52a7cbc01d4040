//! Reading and parsing an HTTP/1.x request head, with a size cap and a deadline: all a scrape
//! endpoint needs, and nothing a hostile client can make grow or wait without bound.

use std::io::{ErrorKind, Read};
use std::time::Instant;

/// The most bytes a request head may take (request line and headers).
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// Why no request could be read: each maps to an answer (or to none, for a vanished client).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: not an HTTP/1.x request head.
    BadRequest,
    /// 408: the head did not arrive before the deadline.
    Timeout,
    /// 431: the head is larger than [`MAX_HEAD`].
    TooLarge,
    /// 505: an HTTP version other than 1.x.
    Version,
    /// The client closed the connection or it failed: nobody to answer.
    Gone,
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    headers: Vec<(String, String)>,
}

impl Head {
    /// A header's value; repeated headers are joined with `,` as HTTP allows for lists.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let first = values.next()?;
        Some(values.fold(first.to_owned(), |joined, v| joined + "," + v))
    }
}

/// The length of the head in `bytes` (up to and including the blank line), once it is complete.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Reads one request head from `stream` before `deadline`. Each read waits at most for what is
/// left until the deadline, so a client trickling bytes cannot stretch it.
pub(crate) fn read_head(stream: &mut std::net::TcpStream, deadline: Instant) -> Result<Head, Refusal> {
    let mut buffer = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    loop {
        if let Some(end) = head_end(&buffer[..filled]) {
            return parse_head(&buffer[..end]);
        }
        if filled == buffer.len() {
            return Err(Refusal::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(Refusal::Timeout);
        }
        match stream.read(&mut buffer[filled..]) {
            Ok(0) if filled == 0 => return Err(Refusal::Gone),
            // Closed half-way through a head: answer it as the garbage it is.
            Ok(0) => return Err(Refusal::BadRequest),
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Err(Refusal::Timeout),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(Refusal::Gone),
        }
    }
}

fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a complete head (RFC 9112 §2-§5, strictly: no line folding, no whitespace before a
/// header's colon).
pub(crate) fn parse_head(bytes: &[u8]) -> Result<Head, Refusal> {
    let text = std::str::from_utf8(bytes).map_err(|_| Refusal::BadRequest)?;
    let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().ok_or(Refusal::BadRequest)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    if !is_token(method) || !target.starts_with('/') {
        return Err(Refusal::BadRequest);
    }
    match version.strip_prefix("HTTP/") {
        Some("1.0" | "1.1") => {}
        Some(v) if v.len() == 3 && v.as_bytes()[1] == b'.' && v.bytes().all(|b| b == b'.' || b.is_ascii_digit()) => {
            return Err(Refusal::Version)
        }
        _ => return Err(Refusal::BadRequest),
    }
    let mut headers = Vec::new();
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(Refusal::BadRequest)?;
        if !is_token(name) || value.contains(|c: char| c.is_control() && c != '\t') {
            return Err(Refusal::BadRequest);
        }
        headers.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path).to_owned();
    Ok(Head { method: method.to_owned(), path, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_strictly() {
        let head =
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\naccept:  b \r\n\r\n").unwrap();
        assert_eq!((head.method.as_str(), head.path.as_str()), ("GET", "/metrics"));
        assert_eq!(head.header("ACCEPT").as_deref(), Some("text/plain,b"));
        assert_eq!(head.header("host").as_deref(), Some("a"));
        assert_eq!(head.header("missing"), None);
        assert!(parse_head(b"HEAD / HTTP/1.0\n\n").is_ok());
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"G(T /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nBad name: x\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\n folded\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics SPDY/3\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad), Err(Refusal::BadRequest), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_head(b"PRI * HTTP/2.0\r\n\r\n"), Err(Refusal::BadRequest), "not a path");
        assert_eq!(parse_head(b"GET /metrics HTTP/2.0\r\n\r\n"), Err(Refusal::Version));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\nA: b\n\n"), Some(21));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
