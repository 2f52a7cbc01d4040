//! The OTLP/gRPC side of the [`TestCollector`](crate::TestCollector), on the same port as
//! OTLP/HTTP: a connection that opens with the HTTP/2 client preface (`PRI * HTTP/2.0`, what a
//! gRPC client sends first over h2c) is served here, any other by the HTTP/1.1 server.
//!
//! Each connection thread runs a current-thread tokio runtime serving HTTP/2 with `h2`, one task
//! per stream, so a [`Reply::Hang`] on one stream does not hold up the others. The three unary
//! `Export` methods are served; the request message (5-byte prefix, `grpc-encoding: gzip` when
//! its flag says compressed) is decoded with the crate's own types and recorded like an
//! OTLP/HTTP export. Replies map as follows:
//! - `Accept`, `PartialSuccess`: `OK` with the `Export*ServiceResponse`, then trailers.
//! - `Status`: its gRPC counterpart as a trailers-only answer (see [`grpc_status_of_http`]):
//!   429 with `Retry-After` (delta-seconds) is `RESOURCE_EXHAUSTED` with a `RetryInfo`, without
//!   it `UNAVAILABLE`; 502/503 `UNAVAILABLE`, 504 `DEADLINE_EXCEEDED` (with a `RetryInfo` when
//!   `Retry-After` is given); 400 `INVALID_ARGUMENT`, 401 `UNAUTHENTICATED`, 403
//!   `PERMISSION_DENIED`, 404 and 501 `UNIMPLEMENTED`, 413 `RESOURCE_EXHAUSTED` (no `RetryInfo`,
//!   so final); anything else `INTERNAL` (5xx) or `UNKNOWN`.
//! - `GrpcStatus`: exactly that code, message and `RetryInfo`, in trailers after the headers.
//! - `Hang`: nothing for that long, then the stream is reset (`CANCEL`).
//! - `Reset`: the TCP connection is shut down under every stream on it.
//! - `Garbage`: `OK` with a message that is not a valid response.
//! - `Drip`: the headers, then the response message a byte at a time, then the trailers.
//! - `AcceptThenClose`: the accepting answer, then GOAWAY.

use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue, Request};
use prost::Message;
use tokio::sync::Notify;

use crate::collector::{ReceivedRequest, Reply};
use crate::otlp::{self, DecodeError, Format};
use crate::server::{Shared, MAX_BODY_BYTES};
use nanotel::proto::google::rpc::Status;
use nanotel::Signal;

/// How an HTTP/2 connection starts.
const PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Whether the client on `stream` speaks HTTP/2 (prior knowledge), judged by its first bytes
/// without consuming them.
pub(crate) fn is_http2(stream: &TcpStream) -> bool {
    let mut start = [0u8; PREFACE.len()];
    for _ in 0..100 {
        match stream.peek(&mut start) {
            Ok(0) | Err(_) => return false,
            Ok(n) if n == PREFACE.len() || !PREFACE.starts_with(&start[..n]) => return start[..n] == *PREFACE,
            // A prefix of the preface so far: the rest is on its way.
            Ok(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    false
}

/// Serves one HTTP/2 connection until the client or the collector closes it; over TLS first
/// when `tls` is given (the gRPC-over-TLS collector, whose ALPN offers `h2` only).
pub(crate) fn serve(shared: &Arc<Shared>, stream: TcpStream, connection: u64, tls: Option<Arc<rustls::ServerConfig>>) {
    let Some((runtime, io, raw)) = crate::server::take_over(stream) else { return };
    let raw = Arc::new(raw);
    runtime.block_on(async {
        match tls {
            None => serve_streams(shared, &raw, connection, io).await,
            Some(config) => {
                if let Ok(io) = tokio_rustls::TlsAcceptor::from(config).accept(io).await {
                    serve_streams(shared, &raw, connection, io).await;
                }
            }
        }
    });
    // Streams still hanging end with the runtime; nothing waits for them.
    runtime.shutdown_background();
}

/// Takes the connection's streams, one task each, until it closes.
async fn serve_streams<T>(shared: &Arc<Shared>, raw: &Arc<TcpStream>, connection: u64, io: T)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(mut h2) = h2::server::handshake(io).await else { return };
    let goaway = Arc::new(Notify::new());
    let mut closing = false;
    loop {
        let notified = goaway.notified();
        let mut notified = std::pin::pin!(notified);
        let next = std::future::poll_fn(|cx| {
            if !closing && std::future::Future::poll(notified.as_mut(), cx).is_ready() {
                h2.graceful_shutdown();
                closing = true;
            }
            h2.poll_accept(cx)
        })
        .await;
        let Some(Ok((request, respond))) = next else { break };
        let stream =
            Stream { shared: Arc::clone(shared), raw: Arc::clone(raw), goaway: Arc::clone(&goaway), connection };
        tokio::spawn(stream.serve(request, respond));
    }
}

/// What one stream's task needs.
struct Stream {
    shared: Arc<Shared>,
    raw: Arc<TcpStream>,
    goaway: Arc<Notify>,
    connection: u64,
}

/// A gRPC answer that is only a status.
struct Answer {
    code: u32,
    message: String,
    retry_delay: Option<Duration>,
}

impl Stream {
    async fn serve(self, request: Request<RecvStream>, respond: SendResponse<Bytes>) {
        let (head, body) = request.into_parts();
        let Some(signal) = route(head.uri.path()) else {
            let message = format!("unknown method {}", head.uri.path());
            return trailers_only(respond, &Answer { code: 12, message, retry_delay: None });
        };
        let body = match read_body(body).await {
            Ok(body) => body,
            Err(answer) => return trailers_only(respond, &answer),
        };
        let encoding = head.headers.get("grpc-encoding").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let decoded = decode(signal, encoding.as_deref(), &body, self.shared.max_message());
        let reply = self.record(signal, &head, encoding, body.len(), decoded);
        self.answer(signal, reply, respond).await;
    }

    /// Records the request and takes its reply, as the HTTP server does: an undecodable message
    /// is answered `INVALID_ARGUMENT` (`RESOURCE_EXHAUSTED` when it is too large) without
    /// consuming the script.
    fn record(
        &self,
        signal: Signal,
        head: &http::request::Parts,
        content_encoding: Option<String>,
        body_len: usize,
        request: Result<otlp::ExportRequest, DecodeError>,
    ) -> Reply {
        let mut state = self.shared.lock();
        let reply = match &request {
            Ok(_) => state.next_reply(signal),
            // Too large after decompression is grpc-go's RESOURCE_EXHAUSTED.
            Err(error @ DecodeError::TooLarge(_)) => {
                Reply::GrpcStatus { code: 8, message: error.to_string(), retry_delay: None }
            }
            Err(error) => Reply::GrpcStatus { code: 3, message: error.to_string(), retry_delay: None },
        };
        state.received.push(ReceivedRequest {
            signal,
            path: head.uri.path().to_owned(),
            connection: self.connection,
            content_type: head.headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned),
            content_encoding,
            headers: header_list(&head.headers),
            body_len,
            request,
            arrived: Instant::now(),
            reply: reply.clone(),
        });
        drop(state);
        self.shared.notify();
        reply
    }

    async fn answer(&self, signal: Signal, reply: Reply, respond: SendResponse<Bytes>) {
        match reply {
            Reply::Accept => ok(respond, otlp::success_body(signal, Format::Protobuf, None), None).await,
            Reply::PartialSuccess { rejected, message } => {
                let body = otlp::success_body(signal, Format::Protobuf, Some((rejected, &message)));
                ok(respond, body, None).await;
            }
            Reply::Status { code, retry_after, message } => {
                trailers_only(respond, &grpc_status_of_http(code, retry_after.as_deref(), message));
            }
            Reply::GrpcStatus { code, message, retry_delay } => {
                with_trailers(respond, &Answer { code: if code == 0 { 2 } else { code }, message, retry_delay });
            }
            Reply::Hang(duration) => {
                self.pause(duration).await;
                let mut respond = respond;
                respond.send_reset(h2::Reason::CANCEL);
            }
            Reply::Reset => {
                let _ = self.raw.shutdown(Shutdown::Both);
            }
            Reply::Garbage => ok(respond, otlp::GARBAGE.to_vec(), None).await,
            Reply::AcceptThenHangUp(after) => {
                ok(respond, otlp::success_body(signal, Format::Protobuf, None), None).await;
                self.pause(after).await;
                let _ = self.raw.shutdown(Shutdown::Both);
            }
            Reply::TryPush => {
                let mut respond = respond;
                let promised = http::Request::get("/pushed").body(()).unwrap_or_default();
                if respond.push_request(promised).is_ok() {
                    let message = "the client let a server push through".to_owned();
                    trailers_only(respond, &Answer { code: 13, message, retry_delay: None });
                } else {
                    ok(respond, otlp::success_body(signal, Format::Protobuf, None), None).await;
                }
            }
            Reply::NoGrpcStatus => without_trailers(respond, &otlp::success_body(signal, Format::Protobuf, None)),
            Reply::NotOtlp(status) => not_grpc(respond, status),
            Reply::Drip(every) => {
                let body = otlp::success_body(signal, Format::Protobuf, Some((0, "this answer drips")));
                ok(respond, body, Some((self, every))).await;
            }
            Reply::AcceptThenClose => {
                ok(respond, otlp::success_body(signal, Format::Protobuf, None), None).await;
                self.goaway.notify_one();
            }
        }
    }

    /// Waits `duration`, or until the collector stops.
    async fn pause(&self, duration: Duration) {
        let deadline = Instant::now().checked_add(duration);
        while !self.shared.is_stopping() && deadline.is_none_or(|deadline| Instant::now() < deadline) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn route(path: &str) -> Option<Signal> {
    match path {
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => Some(Signal::Traces),
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => Some(Signal::Metrics),
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => Some(Signal::Logs),
        _ => None,
    }
}

/// The request body, up to the collector's limit plus the message prefix.
async fn read_body(mut body: RecvStream) -> Result<Vec<u8>, Answer> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| Answer { code: 1, message: e.to_string(), retry_delay: None })?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if bytes.len() + chunk.len() > MAX_BODY_BYTES + 5 {
            let message = format!("message larger than {MAX_BODY_BYTES} bytes");
            return Err(Answer { code: 8, message, retry_delay: None });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Decodes one length-prefixed request message.
fn decode(
    signal: Signal,
    encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<otlp::ExportRequest, DecodeError> {
    let (prefix, message) = body.split_at_checked(5).ok_or_else(|| DecodeError::Protobuf("no message".into()))?;
    let declared = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if declared != message.len() {
        return Err(DecodeError::Protobuf(format!("{} message bytes, {declared} declared", message.len())));
    }
    let encoding = if prefix[0] == 1 { Some(encoding.unwrap_or("identity")) } else { None };
    otlp::decode(signal, Some(Format::Protobuf.content_type()), encoding, message, limit)
}

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    let text = |value: &HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
    headers.iter().map(|(name, value)| (name.as_str().to_owned(), text(value))).collect()
}

/// An `OK` answer carrying `message`, dripped a byte at a time when asked.
async fn ok(mut respond: SendResponse<Bytes>, message: Vec<u8>, drip: Option<(&Stream, Duration)>) {
    let Ok(mut stream) = respond.send_response(response_head(), false) else { return };
    let framed = framed(&message);
    match drip {
        None => {
            if stream.send_data(framed.into(), false).is_err() {
                return;
            }
        }
        Some((owner, every)) => {
            for byte in framed {
                owner.pause(every).await;
                if owner.shared.is_stopping() || stream.send_data(Bytes::copy_from_slice(&[byte]), false).is_err() {
                    return;
                }
            }
        }
    }
    let _ = stream.send_trailers(status_trailers(&Answer { code: 0, message: String::new(), retry_delay: None }));
}

/// `message` behind its uncompressed gRPC length prefix.
fn framed(message: &[u8]) -> Vec<u8> {
    let mut framed = vec![0];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// An `OK` head and `message`, the stream ended by the message: no trailers, no `grpc-status`.
fn without_trailers(mut respond: SendResponse<Bytes>, message: &[u8]) {
    if let Ok(mut stream) = respond.send_response(response_head(), false) {
        let _ = stream.send_data(framed(message).into(), true);
    }
}

/// A proxy's HTML error page with `status`: no gRPC head, message or status.
fn not_grpc(mut respond: SendResponse<Bytes>, status: u16) {
    let mut head = http::Response::new(());
    *head.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    head.headers_mut().insert("content-type", HeaderValue::from_static("text/html"));
    if let Ok(mut stream) = respond.send_response(head, false) {
        let _ = stream.send_data(Bytes::from_static(otlp::PROXY_PAGE), true);
    }
}

fn trailers_only(mut respond: SendResponse<Bytes>, answer: &Answer) {
    let mut head = response_head();
    head.headers_mut().extend(status_trailers(answer));
    let _ = respond.send_response(head, true);
}

fn with_trailers(mut respond: SendResponse<Bytes>, answer: &Answer) {
    if let Ok(mut stream) = respond.send_response(response_head(), false) {
        let _ = stream.send_trailers(status_trailers(answer));
    }
}

fn response_head() -> http::Response<()> {
    let mut head = http::Response::new(());
    head.headers_mut().insert("content-type", HeaderValue::from_static("application/grpc"));
    head
}

/// `grpc-status`, `grpc-message` (percent-encoded) and, with a delay, `grpc-status-details-bin`
/// holding a `google.rpc.Status` with a `RetryInfo`.
fn status_trailers(answer: &Answer) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", HeaderValue::from(answer.code));
    if let Ok(message) = HeaderValue::from_str(&percent_encode(&answer.message)) {
        if !answer.message.is_empty() {
            map.insert("grpc-message", message);
        }
    }
    if let Some(delay) = answer.retry_delay {
        let info = RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        let info = prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
            value: info.encode_to_vec(),
        };
        let code = i32::try_from(answer.code).unwrap_or(2);
        let status = Status { code, message: answer.message.clone(), details: vec![info] };
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.encode_to_vec());
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            map.insert("grpc-status-details-bin", value);
        }
    }
    map
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<prost_types::Duration>,
}

#[expect(clippy::format_push_string, reason = "a few short lines, built off the hot path, in test-only code")]
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The gRPC answer standing for an OTLP/HTTP [`Reply::Status`] (see the module's table).
fn grpc_status_of_http(status: u16, retry_after: Option<&str>, message: String) -> Answer {
    let retry_delay = retry_after.and_then(|value| value.trim().parse::<u64>().ok()).map(Duration::from_secs);
    let code = match status {
        429 if retry_delay.is_some() => 8,
        429 | 502 | 503 => 14,
        504 => 4,
        400 => 3,
        401 => 16,
        403 => 7,
        404 | 501 => 12,
        413 => 8,
        500..=599 => 13,
        _ => 2,
    };
    let retry_delay = retry_delay.filter(|_| matches!(code, 8 | 14 | 4));
    Answer { code, message, retry_delay }
}

/// The OTLP/HTTP answer standing for a [`Reply::GrpcStatus`] on an HTTP/1.1 connection: a
/// retryable code is 503 (429 with `Retry-After` for a delay), a final one a 4xx or 500.
pub(crate) fn http_status_of_grpc(code: u32, retry_delay: Option<Duration>) -> (u16, Option<String>) {
    let retry_after = retry_delay.map(|delay| delay.as_secs().to_string());
    let status = match code {
        1 | 4 | 10 | 11 | 14 | 15 if retry_after.is_some() => 429,
        8 if retry_after.is_some() => 429,
        1 | 4 | 10 | 11 | 14 | 15 => 503,
        3 | 9 => 400,
        16 => 401,
        7 => 403,
        5 | 12 => 404,
        8 => 413,
        _ => 500,
    };
    (status, retry_after)
}
