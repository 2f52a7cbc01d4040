//! OTLP/gRPC: unary `Export` calls of the three OTLP collector services, made on the exporter
//! thread's runtime through the same [`Pending`](super::transport::Pending) poll model as
//! OTLP/HTTP.
//!
//! The protocol, once: each export is one HTTP/2 stream, `POST` to
//! `/opentelemetry.proto.collector.<signal>.v1.<Service>/Export`, with `content-type:
//! application/grpc`, `te: trailers`, `grpc-timeout` (the request's timeout), `grpc-encoding:
//! gzip` when the body is compressed, and the configured headers as metadata. The body is one
//! message: a flag byte (1 = compressed), its length as 4 big-endian bytes, then the protobuf
//! `Export*ServiceRequest` nanotel's own encoder made. The answer is HTTP 200 with at most one
//! such message (`Export*ServiceResponse`) and trailers carrying `grpc-status`, `grpc-message`
//! and `grpc-status-details-bin`; a *trailers-only* answer carries them in its headers and has no
//! body. [`status`] maps the status onto [`ExportOutcome`] as the OTLP specification says.
//!
//! Connections: one HTTP/2 connection per collector address, shared by the signals' lanes (each
//! request its own stream) and kept for the next export; h2c (prior knowledge) for `http://`, TLS
//! with ALPN `h2` for `https://`. A connection found closed when a request starts (the collector
//! went away while idle) is replaced at once, within the same attempt, as OTLP/HTTP does with a
//! closed keep-alive connection; so is one kept from an earlier call that breaks before any answer
//! or whose GOAWAY refused the request (closed while idle without a word, which nothing notices
//! until a call runs). Otherwise a connection that fails or goes away under a request, or a
//! stream reset, fails that attempt with [`TransportError::Connection`], which is retried and
//! feeds the circuit breaker.

mod connect;
pub(crate) mod status;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use h2::RecvStream;
use http::HeaderMap;
use tokio::task::AbortHandle;

use super::response::MAX_RESPONSE_BODY;
use super::transport::{Request, SendResult, TransportError, USER_AGENT};
use super::Signal;

/// Bytes before each gRPC message: the compressed flag and the length.
const PREFIX_LEN: usize = 5;

/// The RPC's path for a signal.
fn method_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// The connection to a collector, or none yet; its lock makes concurrent lanes wait for one
/// connection rather than each open their own.
type Slot = Rc<tokio::sync::Mutex<Option<Held>>>;

/// A connection kept for the next calls: what opens streams on it, and its state.
struct Held {
    sender: SendRequest<Bytes>,
    state: Rc<ConnectionState>,
}

/// What a connection's calls share: how many run on it, whether it was let go of, and the task
/// that drives it.
///
/// A connection let go of is closed (its task ended) once no call runs on it: the calls of
/// other signals on it end first, by their answer or their timeout. A connection let go of after
/// a timeout may belong to a collector that stopped reading, where h2 can never send its goodbye
/// and its task (the socket, and the bodies queued on it) would otherwise stay for the life of
/// the process (until session 42: one per timed-out attempt).
struct ConnectionState {
    calls: Cell<usize>,
    let_go: Cell<bool>,
    task: AbortHandle,
}

impl ConnectionState {
    fn new(task: AbortHandle) -> Rc<Self> {
        Rc::new(ConnectionState { calls: Cell::new(0), let_go: Cell::new(false), task })
    }

    /// No later call uses the connection: closed now if no call runs on it, else by the last.
    fn let_go(&self) {
        self.let_go.set(true);
        if self.calls.get() == 0 {
            self.task.abort();
        }
    }
}

/// A call on a connection, for as long as it runs.
struct OnConnection(Rc<ConnectionState>);

impl OnConnection {
    fn new(state: Rc<ConnectionState>) -> Self {
        state.calls.set(state.calls.get() + 1);
        OnConnection(state)
    }
}

impl Drop for OnConnection {
    fn drop(&mut self) {
        let state = &self.0;
        state.calls.set(state.calls.get() - 1);
        if state.calls.get() == 0 && state.let_go.get() {
            state.task.abort();
        }
    }
}

/// The gRPC side of the transport: one connection per collector address (`scheme://host:port`)
/// and signal TLS setting. Cheap to clone; clones share the connections. Lives on the exporter
/// thread only.
#[derive(Clone)]
pub(crate) struct GrpcClient {
    connections: Rc<RefCell<HashMap<String, Slot>>>,
    /// Each signal's TLS client settings (the same as its HTTP client's), with ALPN `h2`.
    tls: Rc<[Arc<rustls::ClientConfig>; 3]>,
}

impl GrpcClient {
    /// A client whose `https` connections use each signal's TLS settings, as `tls` gives them.
    pub(super) fn new(tls: [Arc<rustls::ClientConfig>; 3]) -> GrpcClient {
        // Signals that share TLS settings share one configuration, and so one connection.
        let mut made: Vec<(*const rustls::ClientConfig, Arc<rustls::ClientConfig>)> = Vec::new();
        let tls = tls.map(|config| {
            if let Some((_, h2)) = made.iter().find(|(from, _)| *from == Arc::as_ptr(&config)) {
                return Arc::clone(h2);
            }
            let h2 = with_h2(&config);
            made.push((Arc::as_ptr(&config), Arc::clone(&h2)));
            h2
        });
        GrpcClient { connections: Rc::default(), tls: Rc::new(tls) }
    }

    /// Connects `signal` with `tls` from now on (its TLS files could not be used before); calls
    /// under way keep what they started with.
    pub(super) fn set_tls(&mut self, signal: Signal, tls: &rustls::ClientConfig) {
        let mut each = (*self.tls).clone();
        each[signal as usize] = with_h2(tls);
        self.tls = Rc::new(each);
    }

    /// Makes one `Export` call, bounded by the request's timeout.
    ///
    /// A call that times out leaves its connection for no later call: a collector that stopped
    /// answering without closing it (its host gone, a network partition, a load balancer's
    /// target removed) would otherwise hold every later call on it until the kernel gave the
    /// connection up, some fifteen minutes; the next call connects afresh, the collector's name
    /// looked up again.
    pub(super) async fn send(self, request: Request) -> SendResult {
        let timeout = request.timeout;
        if let Ok(result) = tokio::time::timeout(timeout, self.call(&request)).await {
            return result;
        }
        self.forget_connection(&request);
        Err(TransportError::Timeout(format!("no gRPC answer within {timeout:?}")))
    }

    /// The key of the connection `request` goes on: signals with different TLS settings (client
    /// certificates) need connections of their own.
    fn connection_key(&self, request: &Request) -> String {
        let (url, tls) = (&request.url, &self.tls[request.signal as usize]);
        format!("{}://{}:{} {:p}", url.scheme(), url.host_str().unwrap_or_default(), port_of(url), Arc::as_ptr(tls))
    }

    /// Lets go of `request`'s connection, unless a call is connecting it now (that one is fresh):
    /// it is closed once no call runs on it.
    fn forget_connection(&self, request: &Request) {
        if let Some(slot) = self.connections.borrow().get(&self.connection_key(request)) {
            if let Some(held) = slot.try_lock().ok().and_then(|mut current| current.take()) {
                held.state.let_go();
            }
        }
    }

    /// One call. A connection kept from an earlier call that is found gone before any answer
    /// (the collector, or a load balancer's idle timeout, closed it while the exporter thread was
    /// idle, so nothing noticed: the connection only makes progress while a call runs) is
    /// replaced and the request sent once more at once, within the same attempt (until session
    /// 40 that was a failed attempt: a backoff, a breaker failure and a warning on stderr after
    /// every idle close). Any other failure, a stream reset among them, fails the attempt.
    async fn call(&self, request: &Request) -> SendResult {
        let (sender, kept, state) = self.ready_sender(request).await?;
        let mut on = OnConnection::new(state);
        let response = match self.ask(sender, request).await {
            Err(Unasked::ConnectionGone(_)) if kept => {
                self.forget_connection(request);
                let (sender, _, state) = self.ready_sender(request).await?;
                on = OnConnection::new(state);
                self.ask(sender, request).await.map_err(Unasked::into_error)?
            }
            asked => asked.map_err(Unasked::into_error)?,
        };
        let _on = on;
        let (parts, body) = response.into_parts();
        if parts.headers.contains_key("grpc-status") {
            // Trailers-only: the status is all there is.
            return Ok(status::outcome(request.signal, &parts.headers, &parts.headers, &Message::default()));
        }
        if parts.status != http::StatusCode::OK {
            return Ok(status::http_outcome(parts.status.as_u16(), &parts.headers));
        }
        let (message, trailers) = read_body(body).await?;
        match trailers.filter(|t| t.contains_key("grpc-status")) {
            Some(trailers) => Ok(status::outcome(request.signal, &parts.headers, &trailers, &message)),
            None => Ok(status::without_status()),
        }
    }

    /// Sends `request` on `sender`'s connection and waits for the answer's head.
    async fn ask(
        &self,
        mut sender: SendRequest<Bytes>,
        request: &Request,
    ) -> Result<http::Response<RecvStream>, Unasked> {
        let head = request_head(request).map_err(|e| Unasked::Other(connection_error("building the request", e)))?;
        let gone = |e: h2::Error| Unasked::ConnectionGone(connection_error("sending the request", e));
        let (response, mut stream) = sender.send_request(head, false).map_err(gone)?;
        let compressed = request.content_encoding.is_some();
        let prefix = message_prefix(compressed, request.body.len()).map_err(Unasked::Other)?;
        stream.send_data(prefix, false).map_err(gone)?;
        stream.send_data(request.body.clone(), true).map_err(gone)?;
        response.await.map_err(|e| {
            // The connection broke (closed, reset under it), or the collector's GOAWAY or
            // REFUSED_STREAM says it did not take the request: no other stream reset (a refusal,
            // a cancel, ENHANCE_YOUR_CALM) is taken for a connection gone, nor a GOAWAY h2 sent
            // itself because the answer broke HTTP/2 (the collector took the request: until
            // session 42 it went again at once, uncounted).
            let refused = e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM);
            let gone = e.is_io() || (refused && e.is_remote());
            let error = connection_error("waiting for the answer", e);
            if gone {
                Unasked::ConnectionGone(error)
            } else {
                Unasked::Other(error)
            }
        })
    }

    /// A sender ready for a new stream on the collector's connection, connecting when there is
    /// none or it has closed; whether the connection was kept from an earlier call; its state.
    async fn ready_sender(
        &self,
        request: &Request,
    ) -> Result<(SendRequest<Bytes>, bool, Rc<ConnectionState>), TransportError> {
        let (url, tls) = (&request.url, &self.tls[request.signal as usize]);
        let slot = Rc::clone(self.connections.borrow_mut().entry(self.connection_key(request)).or_default());
        let mut current = slot.lock().await;
        if let Some(existing) = current.take() {
            if let Ok(ready) = existing.sender.ready().await {
                *current = Some(Held { sender: ready.clone(), state: Rc::clone(&existing.state) });
                return Ok((ready, true, existing.state));
            }
            // Closed: its task is ending, or stuck on a collector that stopped reading.
            existing.state.let_go();
        }
        let (fresh, task) = connect::connect(url, tls).await?;
        let state = ConnectionState::new(task);
        let ready = fresh.ready().await.map_err(|e| {
            state.let_go();
            connection_error("starting HTTP/2", e)
        })?;
        *current = Some(Held { sender: ready.clone(), state: Rc::clone(&state) });
        Ok((ready, false, state))
    }
}

/// Why a call got no answer: its connection was gone before the collector could take the
/// request (a kept one is then replaced within the attempt), or anything else.
enum Unasked {
    ConnectionGone(TransportError),
    Other(TransportError),
}

impl Unasked {
    fn into_error(self) -> TransportError {
        match self {
            Unasked::ConnectionGone(error) | Unasked::Other(error) => error,
        }
    }
}

/// `config` offering ALPN `h2` only, as gRPC needs.
fn with_h2(config: &rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    let mut h2 = config.clone();
    h2.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(h2)
}

fn port_of(url: &reqwest::Url) -> u16 {
    url.port_or_known_default().unwrap_or(80)
}

/// The request's head: the method path on the collector's address, the gRPC headers, metadata.
fn request_head(request: &Request) -> Result<http::Request<()>, http::Error> {
    let url = &request.url;
    let host = url.host_str().unwrap_or_default();
    let uri = match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), method_path(request.signal)),
        None => format!("{}://{host}{}", url.scheme(), method_path(request.signal)),
    };
    let mut builder = http::Request::post(uri).header("content-type", "application/grpc").header("te", "trailers");
    // A `user-agent` among the configured headers replaces nanotel's, as over OTLP/HTTP (until
    // session 41 both were sent).
    if !request.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("user-agent")) {
        builder = builder.header("user-agent", USER_AGENT);
    }
    builder = builder.header("grpc-timeout", grpc_timeout(request.timeout)).header("grpc-accept-encoding", "gzip");
    if let Some(encoding) = request.content_encoding {
        builder = builder.header("grpc-encoding", encoding);
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(())
}

/// `grpc-timeout`: at most 8 digits and a unit; milliseconds while they fit, else seconds. Rounded
/// up: the specification's value is a positive integer, and what is left of a shutdown's deadline
/// can be under a millisecond (until session 41 it was sent as `0m`).
fn grpc_timeout(timeout: Duration) -> String {
    let millis = timeout.as_nanos().div_ceil(1_000_000).max(1);
    if millis < 100_000_000 {
        format!("{millis}m")
    } else {
        format!("{}S", timeout.as_secs().min(99_999_999))
    }
}

fn message_prefix(compressed: bool, len: usize) -> Result<Bytes, TransportError> {
    let len = u32::try_from(len)
        .map_err(|_| TransportError::Connection(format!("a {len}-byte message is too large for gRPC")))?;
    let mut prefix = BytesMut::with_capacity(PREFIX_LEN);
    prefix.extend_from_slice(&[u8::from(compressed)]);
    prefix.extend_from_slice(&len.to_be_bytes());
    Ok(prefix.freeze())
}

/// The answer's body as received: at most one message's prefix and bytes. Public only for the
/// `grpc_status` fuzz target (`nanotel::internal::GrpcMessage`).
#[derive(Default)]
pub struct Message {
    /// The bytes, up to [`MAX_RESPONSE_BODY`] plus the prefix.
    pub bytes: Vec<u8>,
    /// Whether more came than was kept.
    pub truncated: bool,
}

/// Reads the body to its end, keeping at most the cap (the rest is read and dropped, since the
/// status comes after it), then the trailers.
async fn read_body(mut body: RecvStream) -> Result<(Message, Option<HeaderMap>), TransportError> {
    let mut message = Message::default();
    let cap = MAX_RESPONSE_BODY + PREFIX_LEN;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| connection_error("reading the answer", e))?;
        // Returning the window lets the collector send on; without it a large answer stalls.
        let _ = body.flow_control().release_capacity(chunk.len());
        let room = cap - message.bytes.len();
        message.bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        message.truncated |= chunk.len() > room;
    }
    let trailers = body.trailers().await.map_err(|e| connection_error("reading the trailers", e))?;
    Ok((message, trailers))
}

fn connection_error(doing: &str, error: impl std::fmt::Display) -> TransportError {
    TransportError::Connection(format!("gRPC, {doing}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_fit_in_eight_digits() {
        assert_eq!(grpc_timeout(Duration::from_secs(10)), "10000m");
        assert_eq!(grpc_timeout(Duration::from_micros(400)), "1m");
        assert_eq!(grpc_timeout(Duration::from_micros(1_400)), "2m");
        assert_eq!(grpc_timeout(Duration::from_millis(99_999_999)), "99999999m");
        assert_eq!(grpc_timeout(Duration::from_secs(100_000)), "100000S");
        assert_eq!(grpc_timeout(Duration::MAX), "99999999S");
    }

    #[test]
    fn prefixes_carry_the_flag_and_big_endian_length() {
        assert_eq!(&message_prefix(true, 0x0102_0304).unwrap()[..], &[1, 1, 2, 3, 4]);
        assert_eq!(&message_prefix(false, 7).unwrap()[..], &[0, 0, 0, 0, 7]);
    }
}
