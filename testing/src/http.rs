//! The OTLP/HTTP side of the [`TestCollector`](crate::TestCollector): HTTP/1.1 served by hyper on
//! a current-thread tokio runtime of the connection's own thread (over TLS with tokio-rustls, and
//! HTTP/2 there when ALPN settles on `h2`), so a slow or hostile client only ties up its own
//! thread, as on the gRPC side.
//!
//! hyper parses and frames (keep-alive, `Content-Length` or chunked bodies, `Expect:
//! 100-continue`, HEAD, HTTP/1.0) and answers malformed requests itself (400, or 431 for a head
//! over [`MAX_HEAD_BYTES`]) with `Connection: close`. This module routes, records and answers as
//! the [`Reply`] script says. Two things hyper cannot do are done on the socket underneath:
//! [`Reply::Reset`] shuts the socket down under hyper, and once hyper has closed a connection
//! what the client still sends (a body too large to read) is drained for a while ([`linger`]) so
//! that the client reads our answer rather than a reset.

use std::future::Future;
use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use nanotel::Signal;

use crate::collector::{ReceivedRequest, Reply};
use crate::grpc;
use crate::otlp::{self, Format};
use crate::server::{Shared, MAX_BODY_BYTES};

/// Cap on the request line plus all header lines (and, separately, on chunked trailers), past
/// which hyper answers 431.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long, and how many bytes, a connection closed with a request body unread is drained so the
/// client reads our answer instead of a reset (closing a socket with unread input makes the
/// kernel send RST, which can destroy the answer before the client reads it).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 2 * MAX_BODY_BYTES;

/// Why a request gets no answer: hyper then closes the connection.
#[derive(Debug)]
enum Unanswered {
    /// The client went away or sent a body that ended early.
    ClientGone,
    /// A [`Reply::Hang`] or [`Reply::Reset`] was played.
    Scripted,
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unanswered::ClientGone => "the client went away",
            Unanswered::Scripted => "no answer, as scripted",
        })
    }
}

impl std::error::Error for Unanswered {}

/// What one connection's requests share.
struct Connection {
    shared: Arc<Shared>,
    /// A duplicate of the socket hyper serves, for [`Reply::Reset`] and [`linger`].
    raw: TcpStream,
    id: u64,
}

/// Serves HTTP/1.1 on `stream` until the client or the collector closes it; over TLS first when
/// `tls` is given.
pub(crate) fn serve(shared: &Arc<Shared>, stream: TcpStream, id: u64, tls: Option<Arc<rustls::ServerConfig>>) {
    let Some((runtime, io, raw)) = crate::server::take_over(stream) else { return };
    let connection = Arc::new(Connection { shared: Arc::clone(shared), raw, id });
    runtime.block_on(async {
        match tls {
            None => serve_requests(&connection, io, false).await,
            Some(config) => {
                // A failed handshake closes the connection, with the alert rustls sends.
                if let Ok(io) = tokio_rustls::TlsAcceptor::from(config).accept(io).await {
                    let http2 = io.get_ref().1.alpn_protocol() == Some(crate::tls::H2);
                    serve_requests(&connection, io, http2).await;
                }
            }
        }
    });
    if !shared.is_stopping() {
        linger(&connection.raw);
    }
}

/// Serves the connection's requests over HTTP/1.1, or with `http2` over HTTP/2 (each stream a
/// task of the connection's runtime).
async fn serve_requests<T>(connection: &Arc<Connection>, io: T, http2: bool)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(|request| {
        let connection = Arc::clone(connection);
        async move { answer(&connection, request).await }
    });
    // An error here is the connection's end (the client left, a malformed request was answered,
    // a scripted reply closed it): there is nobody left to tell.
    if http2 {
        let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX))
            .serve_connection(TokioIo::new(io), service)
            .await;
        return;
    }
    let _ = hyper::server::conn::http1::Builder::new()
        .max_header_size(MAX_HEAD_BYTES)
        // Bounded by the size anyway; hyper's default of 100 would refuse what fits in it.
        .max_headers(MAX_HEAD_BYTES / 4)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// Ends what we send, then reads and drops what the client still sends, for a bounded time and
/// amount, so that the kernel does not answer it with a reset that races our last answer. Returns
/// at once when the client has closed its side too.
fn linger(raw: &TcpStream) {
    let _ = raw.shutdown(Shutdown::Write);
    if raw.set_nonblocking(false).is_err() {
        return;
    }
    let started = Instant::now();
    let mut drained = 0;
    let mut sink = [0u8; 16 * 1024];
    let mut reader = raw;
    while drained < LINGER_BYTES {
        let Some(left) = LINGER_TIME.checked_sub(started.elapsed()).filter(|d| !d.is_zero()) else {
            break;
        };
        if raw.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// A body given whole, or dripped by [`Reply::Drip`].
type AnswerBody = http_body_util::Either<Full<Bytes>, Drip>;

/// An answer, or none (hyper then closes the connection).
type Answer = Result<Response<AnswerBody>, Unanswered>;

/// Routes, reads, records and answers one request.
async fn answer(connection: &Connection, request: Request<Incoming>) -> Answer {
    let (head, body) = request.into_parts();
    // Error answers mirror the request's format too; anything unrecognised gets protobuf, the
    // OTLP default.
    let content_type = header(&head.headers, "content-type");
    let format = Format::of(content_type.as_deref()).unwrap_or(Format::Protobuf);
    let declared = body.size_hint().exact();
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Ok(closing(Rejection::too_large().response(format)));
    }
    let routed = route(&head.method, head.uri.path());
    if let Err(rejection) = &routed {
        // When the client waits for `100 Continue`, the answer does not depend on the body:
        // answer at once rather than accept a body to discard (hyper then sends no `100`).
        if expects_continue(&head.headers) {
            return Ok(closing(rejection.response(format)));
        }
    }
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(BodyError::ClientGone) => return Err(Unanswered::ClientGone),
        // The connection is out of sync: its last answer.
        Err(BodyError::Rejected(rejection)) => return Ok(closing(rejection.response(format))),
    };
    let signal = match routed {
        Ok(signal) => signal,
        // The body was read in full, so the connection is still in sync and can be reused.
        Err(rejection) => return Ok(rejection.response(format)),
    };
    let arrived = Instant::now();
    let content_encoding = header(&head.headers, "content-encoding");
    let limit = connection.shared.max_message();
    let request = otlp::decode(signal, content_type.as_deref(), content_encoding.as_deref(), &body, limit);
    let reply = {
        let mut state = connection.shared.lock();
        // An undecodable body is answered with its error whatever the script says, and leaves
        // the script for the next valid request: a script describes how the collector treats
        // exports, and a malformed export is an exporter bug the test should see.
        let reply = match &request {
            Ok(_) => state.next_reply(signal),
            Err(error) => Reply::Status { code: error.http_status(), retry_after: None, message: error.to_string() },
        };
        // Recorded before answering, so a client that has its answer always finds its request
        // in `received()`.
        state.received.push(ReceivedRequest {
            signal,
            path: head.uri.path_and_query().map_or_else(|| head.uri.to_string(), ToString::to_string),
            connection: connection.id,
            content_type,
            content_encoding,
            headers: head
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
                .collect(),
            body_len: body.len(),
            request,
            arrived,
            reply: reply.clone(),
        });
        reply
    };
    connection.shared.notify();
    play(connection, reply, signal, format)
}

/// The answer a reply scripts.
fn play(connection: &Connection, reply: Reply, signal: Signal, format: Format) -> Answer {
    Ok(match reply {
        Reply::Accept | Reply::TryPush => success(signal, format, None),
        Reply::PartialSuccess { rejected, message } => success(signal, format, Some((rejected, &message))),
        Reply::Status { code, retry_after, message } => status_response(format, code, retry_after, &message),
        // A gRPC status is answered as its HTTP counterpart.
        Reply::GrpcStatus { code, message, retry_delay } => {
            let (status, retry_after) = grpc::http_status_of_grpc(code, retry_delay);
            status_response(format, status, retry_after, &message)
        }
        Reply::Garbage | Reply::NoGrpcStatus => response(200, Format::Protobuf, Bytes::from_static(otlp::GARBAGE)),
        Reply::NotOtlp(status) => html(status),
        Reply::Hang(duration) => {
            // Blocking is fine here: this runtime serves this one connection, whose requests
            // come one at a time, and the pause ends early when the collector stops.
            connection.shared.pause(duration);
            return Err(Unanswered::Scripted);
        }
        Reply::Drip(every) => {
            // An accepting answer with a warning, so that it has a body to drip.
            let answer = otlp::success_body(signal, format, Some((0, "this answer drips in one byte at a time")));
            let mut response =
                Response::new(AnswerBody::Right(Drip::new(Arc::clone(&connection.shared), answer, every)));
            response.headers_mut().insert("content-type", HeaderValue::from_static(format.content_type()));
            closing(response)
        }
        Reply::AcceptThenClose | Reply::AcceptThenHangUp(_) => closing(success(signal, format, None)),
        Reply::Reset => {
            // std cannot set SO_LINGER to 0 on stable Rust, which is what would turn the close
            // into an RST. Shutting both directions down closes at once with a FIN instead, under
            // hyper; a client sees its request fail with a connection error and no response
            // either way.
            let _ = connection.raw.shutdown(Shutdown::Both);
            return Err(Unanswered::Scripted);
        }
    })
}

/// An error answer: its status and the message of its `google.rpc.Status` body.
struct Rejection {
    status: u16,
    message: String,
}

impl Rejection {
    fn too_large() -> Self {
        Rejection { status: 413, message: format!("request body exceeds {MAX_BODY_BYTES} bytes") }
    }

    fn response(&self, format: Format) -> Response<AnswerBody> {
        let mut response = error_response(format, self.status, &self.message);
        if self.status == 405 {
            response.headers_mut().insert("allow", HeaderValue::from_static("POST"));
        }
        response
    }
}

/// Why a request body could not be read.
enum BodyError {
    /// Over the limit, or malformed (a bad chunk): answered, then the connection closes.
    Rejected(Rejection),
    /// The client left mid-body, or the connection failed: nobody to answer.
    ClientGone,
}

/// Reads the whole body, up to [`MAX_BODY_BYTES`].
async fn read_body(body: Incoming) -> Result<Bytes, BodyError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(BodyError::Rejected(Rejection::too_large())),
        Err(error) => match error.downcast::<hyper::Error>() {
            Ok(error) if error.is_incomplete_message() || error.is_closed() || error.is_canceled() => {
                Err(BodyError::ClientGone)
            }
            Ok(error) => {
                Err(BodyError::Rejected(Rejection { status: 400, message: format!("malformed body: {error}") }))
            }
            Err(_) => Err(BodyError::ClientGone),
        },
    }
}

/// Maps the path and method to a signal, or to the error answer.
fn route(method: &Method, path: &str) -> Result<Signal, Rejection> {
    let signal = match path {
        "/v1/traces" => Signal::Traces,
        "/v1/metrics" => Signal::Metrics,
        "/v1/logs" => Signal::Logs,
        path => return Err(Rejection { status: 404, message: format!("no OTLP endpoint at {path}") }),
    };
    if method != Method::POST {
        return Err(Rejection { status: 405, message: format!("{method} is not allowed here") });
    }
    Ok(signal)
}

/// The first value of a header, lossily as text.
fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
}

fn expects_continue(headers: &http::HeaderMap) -> bool {
    header(headers, "expect").is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
}

/// Marks an answer as the connection's last: hyper closes the connection after it.
fn closing<B>(mut response: Response<B>) -> Response<B> {
    response.headers_mut().insert("connection", HeaderValue::from_static("close"));
    response
}

/// An answer with a body in `format`. A status outside 200..=999 is sent as 500 (a 1xx would be
/// taken for an interim answer and leave the client waiting).
fn response(status: u16, format: Format, body: impl Into<Bytes>) -> Response<AnswerBody> {
    let mut response = Response::new(AnswerBody::Left(Full::new(body.into())));
    *response.status_mut() = StatusCode::from_u16(status)
        .ok()
        .filter(|status| !status.is_informational())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert("content-type", HeaderValue::from_static(format.content_type()));
    response
}

/// A proxy's HTML error page with `status`.
fn html(status: u16) -> Response<AnswerBody> {
    let mut answer = response(status, Format::Protobuf, Bytes::from_static(otlp::PROXY_PAGE));
    answer.headers_mut().insert("content-type", HeaderValue::from_static("text/html"));
    answer
}

fn error_response(format: Format, status: u16, message: &str) -> Response<AnswerBody> {
    response(status, format, otlp::status_body(format, status, message))
}

fn status_response(format: Format, code: u16, retry_after: Option<String>, message: &str) -> Response<AnswerBody> {
    let mut response = error_response(format, code, message);
    if let Some(value) = retry_after {
        // Values come from test code; a stray CR or LF must not be able to break the framing.
        let value: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert("retry-after", value);
        }
    }
    response
}

fn success(signal: Signal, format: Format, partial: Option<(i64, &str)>) -> Response<AnswerBody> {
    response(200, format, otlp::success_body(signal, format, partial))
}

/// A body sent a byte at a time, `every` apart, that ends early (shorter than its declared length,
/// so hyper closes the connection) when the collector stops.
struct Drip {
    shared: Arc<Shared>,
    bytes: Bytes,
    every: Duration,
    next: Pin<Box<tokio::time::Sleep>>,
}

impl Drip {
    fn new(shared: Arc<Shared>, bytes: Vec<u8>, every: Duration) -> Self {
        let next = Box::pin(tokio::time::sleep(every));
        Drip { shared, bytes: Bytes::from(bytes), every, next }
    }
}

impl Body for Drip {
    type Data = Bytes;
    type Error = Unanswered;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Unanswered>>> {
        if self.bytes.is_empty() {
            return Poll::Ready(None);
        }
        ready!(self.next.as_mut().poll(cx));
        if self.shared.is_stopping() {
            return Poll::Ready(Some(Err(Unanswered::Scripted)));
        }
        let every = self.every;
        self.next.as_mut().reset(tokio::time::Instant::now() + every);
        let byte = self.bytes.split_to(1);
        Poll::Ready(Some(Ok(Frame::data(byte))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.len() as u64)
    }
}
