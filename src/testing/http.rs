//! The server half of HTTP/1.1 (RFC 9112), only as much as an OTLP/HTTP exporter needs: request
//! heads, `Content-Length` and chunked bodies, keep-alive, `Expect: 100-continue`, and responses
//! that always carry a `Content-Length`.
//!
//! Every limit is enforced while reading, so a hostile or broken peer costs at most the configured
//! number of bytes and is answered with a 4xx status (or dropped) rather than a panic.

use std::io::{self, BufRead, Read, Write};

/// Cap on the request line plus all header lines (and, separately, on chunked trailers).
pub(super) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Cap on one chunk-size line; real clients send a few hex digits.
const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadError {
    /// The peer went away or the socket failed mid-request: there is nobody to answer.
    Closed,
    /// The request is malformed or over a limit. The stream position is no longer trustworthy, so
    /// the caller answers with this status and closes the connection.
    Reject {
        /// HTTP status code of the answer.
        status: u16,
        /// Human-readable reason, sent in the error body.
        message: String,
    },
}

impl ReadError {
    fn reject(status: u16, message: impl Into<String>) -> Self {
        ReadError::Reject { status, message: message.into() }
    }
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        // Timeouts, resets and shutdowns all mean the same here: stop serving this connection.
        ReadError::Closed
    }
}

/// The request line and headers of one request.
#[derive(Debug)]
pub(super) struct Head {
    /// The method, case preserved (methods are case-sensitive).
    pub method: String,
    /// The request target as sent, e.g. `/v1/traces?debug=1`.
    pub target: String,
    /// Whether the request is HTTP/1.0, which gets no keep-alive from us.
    pub http10: bool,
    /// Header fields in arrival order, names lowercased, values with surrounding blanks removed.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header, by lowercase name.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The target without its query string, which is what routing looks at.
    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Whether the connection may serve another request after this one.
    pub(super) fn keep_alive(&self) -> bool {
        let close = self
            .headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .flat_map(|(_, v)| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("close"));
        !self.http10 && !close
    }

    /// Whether the client waits for `100 Continue` before sending the body (curl does for large
    /// bodies; answering it keeps such uploads from stalling for a second).
    pub(super) fn expects_continue(&self) -> bool {
        !self.http10 && self.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// How the body of a request is delimited.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    Empty,
    /// Exactly this many bytes follow the head.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Reads one line ending in LF (a preceding CR is dropped) of at most `*budget` bytes, and charges
/// the bytes read to the budget. `Ok(None)` means a clean end of stream before any byte.
fn read_line<R: BufRead>(
    reader: &mut R,
    budget: &mut usize,
    too_long: impl FnOnce() -> ReadError,
) -> Result<Option<Vec<u8>>, ReadError> {
    let mut line = Vec::new();
    let limit = *budget;
    let read = reader.by_ref().take(limit as u64).read_until(b'\n', &mut line)?;
    *budget -= read;
    if line.last() != Some(&b'\n') {
        return if read == limit {
            Err(too_long())
        } else if read == 0 {
            Ok(None)
        } else {
            Err(ReadError::Closed)
        };
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// `tchar` of RFC 9110: what methods and header names are made of.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Reads a request line and its header fields. `Ok(None)` means the peer closed the connection
/// between requests, the normal end of a keep-alive connection.
#[expect(clippy::needless_continue, reason = "the arm says what an empty line means")]
pub(super) fn read_head<R: BufRead>(reader: &mut R) -> Result<Option<Head>, ReadError> {
    let mut budget = MAX_HEAD_BYTES;
    // RFC 9112 §2.2: a server should ignore empty lines before the request line (some clients
    // send a stray CRLF after a body). The byte budget bounds how many.
    let request_line = loop {
        match read_line(reader, &mut budget, || ReadError::reject(414, "request line too long"))? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let (method, target, http10) = parse_request_line(&request_line)?;

    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut budget, || ReadError::reject(431, "header section too large"))?
            .ok_or(ReadError::Closed)?;
        if line.is_empty() {
            break;
        }
        headers.push(parse_header_line(&line)?);
    }
    Ok(Some(Head { method, target, http10, headers }))
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, bool), ReadError> {
    let bad = || ReadError::reject(400, "malformed request line");
    let line = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !is_token(method) || target.is_empty() || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad());
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        v if v.starts_with("HTTP/") => {
            return Err(ReadError::reject(505, format!("unsupported version {v}")));
        }
        _ => return Err(bad()),
    };
    Ok((method.to_owned(), target.to_owned(), http10))
}

fn parse_header_line(line: &[u8]) -> Result<(String, String), ReadError> {
    // Obsolete line folding (a line starting with a blank) is rejected, as RFC 9112 §5.2 allows;
    // no OTLP client folds headers.
    let bad = |what: &str| ReadError::reject(400, format!("malformed header field: {what}"));
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return Err(bad("folded line"));
    }
    let colon = line.iter().position(|b| *b == b':').ok_or_else(|| bad("no colon"))?;
    let name = std::str::from_utf8(&line[..colon]).map_err(|_| bad("name is not ASCII"))?;
    if !is_token(name) {
        return Err(bad("invalid name"));
    }
    let value = &line[colon + 1..];
    if value.iter().any(|b| b.is_ascii_control() && *b != b'\t') {
        return Err(bad("control character in value"));
    }
    // Non-UTF-8 (obs-text) values are kept, lossily: they are only recorded for inspection.
    let value = String::from_utf8_lossy(value);
    Ok((name.to_ascii_lowercase(), value.trim_matches([' ', '\t']).to_owned()))
}

/// Works out how the body is delimited, refusing ambiguous framing (a request-smuggling pattern)
/// and bodies declared larger than `max_body`.
pub(super) fn framing(head: &Head, max_body: usize) -> Result<Framing, ReadError> {
    let codings: Vec<String> = head
        .headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .flat_map(|(_, v)| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let lengths: Vec<&str> = head
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();

    if !codings.is_empty() {
        if !lengths.is_empty() || head.http10 {
            return Err(ReadError::reject(400, "conflicting body framing"));
        }
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(Framing::Chunked),
            [.., last] if last == "chunked" => {
                Err(ReadError::reject(501, "only the chunked transfer coding is supported"))
            }
            _ => Err(ReadError::reject(400, "chunked must be the final transfer coding")),
        };
    }
    let Some(first) = lengths.first() else {
        return Ok(Framing::Empty);
    };
    if lengths.iter().any(|l| l != first) {
        return Err(ReadError::reject(400, "conflicting Content-Length values"));
    }
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ReadError::reject(400, "invalid Content-Length"));
    }
    // All digits, so a parse failure can only be overflow: far over any limit.
    match first.parse::<usize>() {
        Ok(n) if n <= max_body => Ok(Framing::Length(n)),
        _ => Err(too_large(max_body)),
    }
}

fn too_large(max_body: usize) -> ReadError {
    ReadError::reject(413, format!("request body exceeds {max_body} bytes"))
}

/// Reads a body framed as `framing`, never holding more than `max_body` bytes of it.
pub(super) fn read_body<R: BufRead>(reader: &mut R, framing: &Framing, max_body: usize) -> Result<Vec<u8>, ReadError> {
    match *framing {
        Framing::Empty => Ok(Vec::new()),
        Framing::Length(n) => {
            let mut body = Vec::new();
            // `take` + `read_to_end` grows the buffer as bytes arrive, so a client that declares
            // a large length and sends nothing cannot make us allocate it up front.
            reader.by_ref().take(n as u64).read_to_end(&mut body)?;
            if body.len() == n {
                Ok(body)
            } else {
                Err(ReadError::Closed)
            }
        }
        Framing::Chunked => read_chunked(reader, max_body),
    }
}

fn read_chunked<R: BufRead>(reader: &mut R, max_body: usize) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_CHUNK_LINE_BYTES;
        let line = read_line(reader, &mut budget, || ReadError::reject(400, "chunk size line too long"))?
            .ok_or(ReadError::Closed)?;
        let size = parse_chunk_size(&line)?;
        if size == 0 {
            break;
        }
        if size > max_body - body.len() {
            return Err(too_large(max_body));
        }
        let before = body.len();
        reader.by_ref().take(size as u64).read_to_end(&mut body)?;
        if body.len() - before != size {
            return Err(ReadError::Closed);
        }
        let mut budget = 2;
        match read_line(reader, &mut budget, || ReadError::reject(400, "chunk longer than its size"))? {
            Some(rest) if rest.is_empty() => {}
            Some(_) => return Err(ReadError::reject(400, "chunk longer than its size")),
            None => return Err(ReadError::Closed),
        }
    }
    // Trailer fields are read and ignored: OTLP defines none.
    let mut budget = MAX_HEAD_BYTES;
    loop {
        let line = read_line(reader, &mut budget, || ReadError::reject(431, "trailer section too large"))?
            .ok_or(ReadError::Closed)?;
        if line.is_empty() {
            return Ok(body);
        }
    }
}

fn parse_chunk_size(line: &[u8]) -> Result<usize, ReadError> {
    let bad = || ReadError::reject(400, "malformed chunk size");
    // Chunk extensions (`;name=value`) are allowed and ignored.
    let digits = line.split(|b| *b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits).map_err(|_| bad())?.trim_matches([' ', '\t']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    // All hex digits, so a failure is overflow, which no body limit admits.
    usize::from_str_radix(digits, 16).map_err(|_| ReadError::reject(413, "chunk size overflows"))
}

/// An answer to one request.
#[derive(Debug)]
pub(super) struct Response {
    /// Status code, written as given when in 200..=999 and as 500 otherwise (a 1xx would be
    /// taken for an interim answer and leave the client waiting).
    pub status: u16,
    /// Extra header fields besides `Content-Length` and `Connection`.
    pub headers: Vec<(&'static str, String)>,
    /// The body; `Content-Length` is derived from it.
    pub body: Vec<u8>,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        // The reason phrase carries no meaning (RFC 9112 §4); clients read the code.
        _ => "Status",
    }
}

/// Serializes `response` in one write (so it leaves in as few segments as possible). `close`
/// adds `Connection: close`; `head_only` leaves the body out, as a response to HEAD must.
#[expect(clippy::format_push_string, reason = "a few short lines, built off the hot path, in test-only code")]
pub(super) fn write_response<W: Write>(
    writer: &mut W,
    response: &Response,
    close: bool,
    head_only: bool,
) -> io::Result<()> {
    let status = if (200..=999).contains(&response.status) { response.status } else { 500 };
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in &response.headers {
        // Values can come from test code (a scripted Retry-After); a stray CR or LF must not be
        // able to break the response framing.
        let value: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    // 204 and 304 answers end at their head whatever they declare (RFC 9110 §6.4.1): a body
    // would be read as the start of the next response.
    let bodiless = status == 204 || status == 304;
    if !bodiless {
        out.push_str(&format!("content-length: {}\r\n", response.body.len()));
    }
    if close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only && !bodiless {
        bytes.extend_from_slice(&response.body);
    }
    writer.write_all(&bytes)?;
    writer.flush()
}

/// The interim answer that lets an `Expect: 100-continue` client send its body.
pub(super) fn write_continue<W: Write>(writer: &mut W) -> io::Result<()> {
    writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Cursor};

    fn head_of(raw: &[u8]) -> Result<Option<Head>, ReadError> {
        read_head(&mut BufReader::new(Cursor::new(raw.to_vec())))
    }

    fn status_of(result: Result<impl std::fmt::Debug, ReadError>) -> u16 {
        match result {
            Err(ReadError::Reject { status, .. }) => status,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_head_with_case_insensitive_names() {
        let head = head_of(b"\r\nPOST /v1/traces?x=1 HTTP/1.1\r\nHost: a\r\nContent-TYPE:  application/json \r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.target, "/v1/traces?x=1");
        assert_eq!(head.path(), "/v1/traces");
        assert_eq!(head.header("content-type"), Some("application/json"));
        assert!(head.keep_alive());
        assert!(!head.expects_continue());
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        let head = head_of(b"POST / HTTP/1.0\nConnection: keep-alive\n\n").unwrap().unwrap();
        assert!(head.http10);
        assert!(!head.keep_alive(), "HTTP/1.0 connections are closed after one answer");
    }

    #[test]
    fn connection_close_is_honoured_among_other_tokens() {
        let head = head_of(b"POST / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive());
    }

    #[test]
    fn clean_eof_between_requests_is_not_an_error() {
        assert!(head_of(b"").unwrap().is_none());
        assert!(head_of(b"\r\n").unwrap().is_none());
        assert_eq!(head_of(b"POST / HT").unwrap_err(), ReadError::Closed);
        assert_eq!(head_of(b"POST / HTTP/1.1\r\nHost: a\r\n").unwrap_err(), ReadError::Closed);
    }

    #[test]
    fn malformed_heads_are_rejected() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"POST  /v1/traces HTTP/1.1\r\n\r\n",
            b"PO ST / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1 extra\r\n\r\n",
            b"\xff\xfe / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nno colon here\r\n\r\n",
            b"POST / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"POST / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
            b"POST / FTP/1.1\r\n\r\n",
        ] {
            assert_eq!(status_of(head_of(raw)), 400, "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(status_of(head_of(b"POST / HTTP/2.0\r\n\r\n")), 505);
    }

    #[test]
    fn oversized_heads_are_rejected_without_reading_everything() {
        let mut long_line = b"POST /".to_vec();
        long_line.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES));
        long_line.extend_from_slice(b" HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(head_of(&long_line)), 414);

        let mut many = b"POST / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEAD_BYTES / 8 {
            many.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(status_of(head_of(&many)), 431);
    }

    fn framing_of(headers: &str) -> Result<Framing, ReadError> {
        let raw = format!("POST / HTTP/1.1\r\n{headers}\r\n");
        framing(&head_of(raw.as_bytes()).unwrap().unwrap(), 100)
    }

    #[test]
    fn framing_rules() {
        assert_eq!(framing_of("").unwrap(), Framing::Empty);
        assert_eq!(framing_of("Content-Length: 5\r\n").unwrap(), Framing::Length(5));
        assert_eq!(framing_of("Content-Length: 5\r\ncontent-length: 5, 5\r\n").unwrap(), Framing::Length(5));
        assert_eq!(framing_of("Transfer-Encoding: Chunked\r\n").unwrap(), Framing::Chunked);
        assert_eq!(status_of(framing_of("Content-Length: 101\r\n")), 413);
        assert_eq!(status_of(framing_of("Content-Length: 99999999999999999999999999\r\n")), 413);
        assert_eq!(status_of(framing_of("Content-Length: 5\r\nContent-Length: 6\r\n")), 400);
        assert_eq!(status_of(framing_of("Content-Length: -1\r\n")), 400);
        assert_eq!(status_of(framing_of("Content-Length: +5\r\n")), 400);
        assert_eq!(status_of(framing_of("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")), 400);
        assert_eq!(status_of(framing_of("Transfer-Encoding: gzip, chunked\r\n")), 501);
        assert_eq!(status_of(framing_of("Transfer-Encoding: chunked, gzip\r\n")), 400);
    }

    fn body_of(raw: &[u8], framing: Framing) -> Result<Vec<u8>, ReadError> {
        read_body(&mut BufReader::new(Cursor::new(raw.to_vec())), &framing, 100)
    }

    #[test]
    fn length_delimited_bodies() {
        assert_eq!(body_of(b"hello, and the next request", Framing::Length(5)).unwrap(), b"hello");
        assert_eq!(body_of(b"hel", Framing::Length(5)).unwrap_err(), ReadError::Closed);
        assert_eq!(body_of(b"", Framing::Empty).unwrap(), b"");
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        let raw = b"5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        let mut reader = BufReader::new(Cursor::new(raw.to_vec()));
        assert_eq!(read_body(&mut reader, &Framing::Chunked, 100).unwrap(), b"hello, world!!!");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "NEXT", "the reader stops exactly at the end of the message");
    }

    #[test]
    fn malformed_or_oversized_chunks() {
        assert_eq!(status_of(body_of(b"zz\r\n", Framing::Chunked)), 400);
        assert_eq!(status_of(body_of(b"\r\n", Framing::Chunked)), 400);
        assert_eq!(status_of(body_of(b"+5\r\nhello\r\n0\r\n\r\n", Framing::Chunked)), 400);
        assert_eq!(status_of(body_of(b"5\r\nhelloXX\r\n0\r\n\r\n", Framing::Chunked)), 400);
        assert_eq!(status_of(body_of(b"65\r\n", Framing::Chunked)), 413);
        assert_eq!(status_of(body_of(b"ffffffffffffffffffffffff\r\n", Framing::Chunked)), 413);
        let mut long_size = vec![b'0'; MAX_CHUNK_LINE_BYTES];
        long_size.extend_from_slice(b"1\r\nx\r\n0\r\n\r\n");
        assert_eq!(status_of(body_of(&long_size, Framing::Chunked)), 400);
        // Two chunks that fit alone but not together.
        let two_chunks = [&b"32\r\n"[..], &[b'a'; 50], b"\r\n33\r\n"].concat();
        assert_eq!(status_of(body_of(&two_chunks, Framing::Chunked)), 413);
    }

    #[test]
    fn truncated_chunked_bodies_mean_the_peer_left() {
        for raw in [&b"50\r\nabc"[..], b"3\r\nabc", b"3\r\nabc\r\n", b"3\r\nabc\r\n0\r\n", b""] {
            assert_eq!(body_of(raw, Framing::Chunked).unwrap_err(), ReadError::Closed);
        }
    }

    #[test]
    fn responses_are_well_formed() {
        let response = Response {
            status: 503,
            headers: vec![("retry-after", "1\r\nx-injected: 1".into())],
            body: b"abc".to_vec(),
        };
        let mut out = Vec::new();
        write_response(&mut out, &response, true, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1  x-injected: 1\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc"
        );
        let mut out = Vec::new();
        let no_content = Response { status: 204, headers: vec![], body: b"x".to_vec() };
        write_response(&mut out, &no_content, false, false).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "HTTP/1.1 204 No Content\r\n\r\n");
        let mut out = Vec::new();
        write_response(&mut out, &Response { status: 101, headers: vec![], body: b"x".to_vec() }, false, true).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 1\r\n\r\n");
    }
}
