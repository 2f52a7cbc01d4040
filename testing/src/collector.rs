//! The collector handle, the scripted replies and the record of what arrived.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::otlp::{DecodeError, ExportRequest};
use crate::server::{self, slot, Shared};
use crate::tls::Alpn;
use nanotel::Signal;

/// How the collector answers one export request.
///
/// Replies are queued with [`TestCollector::script`] and consumed one per request; the
/// [default](TestCollector::set_default) answers when no script is left.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// 200 with an empty `Export*ServiceResponse`: everything accepted.
    #[default]
    Accept,
    /// 200 with `partial_success` set: `rejected` items refused for the reason in `message`
    /// (`rejected` 0 with a message is a warning, as OTLP defines it).
    PartialSuccess {
        /// The `rejected_spans` / `rejected_data_points` / `rejected_log_records` count.
        rejected: i64,
        /// The `error_message`.
        message: String,
    },
    /// An answer with status `code` (200–999; anything else is sent as 500) and a
    /// `google.rpc.Status` body carrying `message`, plus a `Retry-After` header when given
    /// (delta-seconds or an HTTP-date, sent as is).
    Status {
        /// The HTTP status code, e.g. 503.
        code: u16,
        /// The `Retry-After` header value, e.g. `"2"`.
        retry_after: Option<String>,
        /// The `google.rpc.Status.message`.
        message: String,
    },
    /// Read the request, answer nothing for this long (or until the collector shuts down), then
    /// close the connection: a stalled collector, for exporter timeouts.
    Hang(Duration),
    /// Close the connection without answering: a crashed collector or a dropped connection.
    ///
    /// The connection is shut down in both directions and closed, so the client sees a FIN
    /// without a response and its request fails with a connection error. A true TCP reset would
    /// need `SO_LINGER` 0, which std offers only on nightly; no client needs to tell the two apart.
    Reset,
    /// 200 with `Content-Type: application/x-protobuf` and a body that is not a valid protobuf
    /// message: a broken collector or proxy.
    Garbage,
    /// A gRPC status (`code` per `google.rpc.Code`; 0 is sent as 2, `UNKNOWN`) with `message`,
    /// and a `google.rpc.RetryInfo` carrying `retry_delay` when given. Over OTLP/HTTP it is
    /// answered with its HTTP counterpart: 503 for a retryable code, 429 with `Retry-After` for
    /// one with a delay, a 4xx or 500 for a final one.
    GrpcStatus {
        /// The gRPC status code, e.g. 14 (`UNAVAILABLE`).
        code: u32,
        /// The `grpc-message`.
        message: String,
        /// The `RetryInfo.retry_delay`, sent in `grpc-status-details-bin`.
        retry_delay: Option<Duration>,
    },
    /// A 200 answer whose head comes at once and whose body (an accepting answer with a warning
    /// message) follows one byte at a time, this long apart (or until the collector shuts down):
    /// a collector, or a proxy, dripping its answer.
    Drip(Duration),
    /// Over gRPC, [`Reply::Accept`]'s answer, then, this long after, the connection shut down
    /// without a word (no GOAWAY): a load balancer's idle timeout, while the client is idle. Over
    /// OTLP/HTTP, [`Reply::AcceptThenClose`]'s answer.
    AcceptThenHangUp(Duration),
    /// Over gRPC, a server push tried before the answer: [`Reply::Accept`]'s answer when the
    /// client refused it (it disabled push), a final `INTERNAL` status when it was let through.
    /// Over OTLP/HTTP, [`Reply::Accept`]'s answer.
    TryPush,
    /// Over gRPC, an `OK` head and an accepting message, then the stream ended without trailers
    /// (no `grpc-status`): a broken server or proxy. Over OTLP/HTTP, [`Reply::Garbage`]'s answer.
    NoGrpcStatus,
    /// An answer with this HTTP status from something in front of the collector that speaks
    /// neither OTLP nor gRPC (a proxy's HTML error page, as nginx's 413 for a body over its
    /// limit): over gRPC no `grpc-status` at all, over OTLP/HTTP no `google.rpc.Status` body.
    NotOtlp(u16),
    /// The [`Reply::Accept`] answer, without `Connection: close`, then the connection closed:
    /// a collector that closes keep-alive connections after answering (HTTP/1.1 allows it), so
    /// the client's next request on it can race with the close.
    AcceptThenClose,
}

impl Reply {
    /// Whether the client is told its items were (at least partly) accepted: [`Reply::Accept`]
    /// and [`Reply::PartialSuccess`]. [`Reply::Garbage`] is not, although it is a 200: the client
    /// cannot read the answer, so it cannot know.
    #[must_use]
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Reply::Accept | Reply::PartialSuccess { .. } | Reply::AcceptThenClose | Reply::AcceptThenHangUp(_)
        )
    }
}

/// One export request as the collector received it.
///
/// Only requests routed to a signal (`POST /v1/traces`, `/v1/metrics` or `/v1/logs`) whose body
/// was read in full are recorded, including those whose body did not decode. Requests refused
/// earlier (malformed HTTP, an oversized body, another path or method) are answered but not
/// recorded.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReceivedRequest {
    /// The signal the path names.
    pub signal: Signal,
    /// The request target as sent, including any query string.
    pub path: String,
    /// Which connection carried the request: connections are numbered from 0 in the order they
    /// were accepted, so equal numbers mean a reused (keep-alive) connection.
    pub connection: u64,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Content-Encoding` header, if any.
    pub content_encoding: Option<String>,
    /// Every header field, names lowercased; fields of one name in arrival order, grouped by
    /// name (as `http::HeaderMap` keeps them).
    pub headers: Vec<(String, String)>,
    /// The body length as sent, i.e. compressed when `Content-Encoding` says so.
    pub body_len: usize,
    /// The decoded request, or why decoding failed (the answer was then that error's status).
    pub request: Result<ExportRequest, DecodeError>,
    /// When the request had been read in full.
    pub arrived: Instant,
    /// How it was answered. A body that failed to decode is answered with
    /// [`Reply::Status`] carrying [`DecodeError::http_status`], without consuming a script entry.
    pub reply: Reply,
}

impl ReceivedRequest {
    /// The first value of a header, by case-insensitive name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Items in the request (see [`ExportRequest::item_count`]); 0 if it did not decode.
    pub fn item_count(&self) -> u64 {
        self.request.as_ref().map_or(0, ExportRequest::item_count)
    }

    /// Items the answer told the client were accepted: all of them for [`Reply::Accept`], those
    /// not rejected for [`Reply::PartialSuccess`], none otherwise.
    #[must_use]
    pub fn accepted_items(&self) -> u64 {
        match &self.reply {
            Reply::Accept | Reply::AcceptThenClose | Reply::AcceptThenHangUp(_) => self.item_count(),
            Reply::PartialSuccess { rejected, .. } => {
                self.item_count().saturating_sub(u64::try_from(*rejected).unwrap_or(0))
            }
            _ => 0,
        }
    }
}

/// Request and item counts for one signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalSummary {
    /// Recorded requests.
    pub requests: u64,
    /// Items in those requests, whatever the answer.
    pub items: u64,
    /// Items the answers accepted (see [`ReceivedRequest::accepted_items`]).
    pub accepted_items: u64,
}

/// Per-signal totals over everything received so far; `Display` prints one line for logs and
/// the demo.
///
/// ```
/// use nanotel_testing::{SignalSummary, Summary};
///
/// let summary = Summary {
///     traces: SignalSummary { requests: 2, items: 10, accepted_items: 8 },
///     ..Default::default()
/// };
/// assert_eq!(
///     summary.to_string(),
///     "traces: 2 requests, 10 items (8 accepted); metrics: 0 requests, 0 items (0 accepted); \
///      logs: 0 requests, 0 items (0 accepted)"
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Totals for `/v1/traces`.
    pub traces: SignalSummary,
    /// Totals for `/v1/metrics`.
    pub metrics: SignalSummary,
    /// Totals for `/v1/logs`.
    pub logs: SignalSummary,
}

impl Summary {
    /// The totals for one signal.
    #[must_use]
    pub fn get(&self, signal: Signal) -> SignalSummary {
        match signal {
            Signal::Traces => self.traces,
            Signal::Metrics => self.metrics,
            Signal::Logs => self.logs,
        }
    }

    fn get_mut(&mut self, signal: Signal) -> &mut SignalSummary {
        match signal {
            Signal::Traces => &mut self.traces,
            Signal::Metrics => &mut self.metrics,
            Signal::Logs => &mut self.logs,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, signal) in Signal::ALL.into_iter().enumerate() {
            let s = self.get(signal);
            let separator = if i == 0 { "" } else { "; " };
            write!(
                f,
                "{separator}{}: {} requests, {} items ({} accepted)",
                signal.name(),
                s.requests,
                s.items,
                s.accepted_items
            )?;
        }
        Ok(())
    }
}

/// A loopback OTLP/HTTP collector for tests: it records every export, decodes it with the
/// crate's own OTLP types, and answers as scripted.
///
/// It serves HTTP/1.1 with keep-alive on `127.0.0.1` on a port of the system's choosing, one
/// thread per connection. Dropping it (or calling [`shutdown`](Self::shutdown)) stops it
/// promptly, including connections in the middle of a [`Reply::Hang`].
pub struct TestCollector {
    addr: SocketAddr,
    /// `http`, or `https` for a collector started with [`TestCollector::start_tls`].
    scheme: &'static str,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for TestCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCollector").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl TestCollector {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or the accept thread cannot be spawned.
    pub fn start() -> io::Result<TestCollector> {
        Self::start_with(None)
    }

    /// Binds `127.0.0.1:0` and serves HTTPS with this PEM certificate chain and PEM private key
    /// (the certificate should name `127.0.0.1`, the host of [`endpoint`](Self::endpoint)). With
    /// `client_ca_pem`, every client must present a certificate signed by one of its CAs (mTLS);
    /// a handshake that fails closes the connection and records nothing.
    ///
    /// # Errors
    ///
    /// When the PEM does not hold a usable certificate chain, key or CA, or as
    /// [`start`](Self::start).
    pub fn start_tls(
        certificate_chain_pem: &str,
        key_pem: &str,
        client_ca_pem: Option<&str>,
    ) -> io::Result<TestCollector> {
        Self::start_with(Some(crate::tls::server_config(certificate_chain_pem, key_pem, client_ca_pem, Alpn::Http1)?))
    }

    /// [`start_tls`](Self::start_tls) whose ALPN offers `h2` before `http/1.1`, as the
    /// OpenTelemetry Collector's HTTPS receiver does: a client that offers `h2` (reqwest does)
    /// speaks OTLP/HTTP over HTTP/2, with the same replies.
    ///
    /// # Errors
    ///
    /// As [`start_tls`](Self::start_tls).
    pub fn start_tls_http2(
        certificate_chain_pem: &str,
        key_pem: &str,
        client_ca_pem: Option<&str>,
    ) -> io::Result<TestCollector> {
        let alpn = Alpn::Http2AndHttp1;
        Self::start_with(Some(crate::tls::server_config(certificate_chain_pem, key_pem, client_ca_pem, alpn)?))
    }

    /// [`start_tls`](Self::start_tls) for OTLP/gRPC: the collector answers gRPC over TLS (its
    /// ALPN offers `h2` only), with the same certificate and client-certificate rules.
    ///
    /// # Errors
    ///
    /// As [`start_tls`](Self::start_tls).
    pub fn start_grpc_tls(
        certificate_chain_pem: &str,
        key_pem: &str,
        client_ca_pem: Option<&str>,
    ) -> io::Result<TestCollector> {
        Self::start_with(Some(crate::tls::server_config(certificate_chain_pem, key_pem, client_ca_pem, Alpn::Grpc)?))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> io::Result<TestCollector> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new().name("nanotel-test-collector".into()).spawn(move || {
            nanotel::internal::mark_own_thread();
            server::accept_loop(listener, accept_shared, tls)
        })?;
        Ok(TestCollector { addr, scheme, shared, accept_thread: Some(accept_thread) })
    }

    /// The socket address the collector listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:40123` (`https://` when serving TLS), to which
    /// exporters append `/v1/traces`, `/v1/metrics` and `/v1/logs` (what
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` holds).
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Queues replies for the coming requests of `signal`, or of any signal with `None`. Each
    /// request takes the next reply from its signal's queue, else from the any-signal queue,
    /// else gets the [default](Self::set_default).
    ///
    /// ```
    /// use nanotel_testing::{Reply, TestCollector};
    /// use nanotel::Signal;
    ///
    /// let collector = TestCollector::start()?;
    /// // The first traces export is throttled, the second gets through; other signals and later
    /// // exports are accepted.
    /// collector.script(
    ///     Some(Signal::Traces),
    ///     [Reply::Status { code: 429, retry_after: Some("1".into()), message: "slow down".into() }, Reply::Accept],
    /// );
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn script(&self, signal: Option<Signal>, replies: impl IntoIterator<Item = Reply>) {
        // Collected before locking: the iterator is caller code and may be slow.
        let replies: Vec<Reply> = replies.into_iter().collect();
        let mut state = self.shared.lock();
        match signal {
            Some(signal) => state.signal_scripts[slot(signal)].extend(replies),
            None => state.any_script.extend(replies),
        }
    }

    /// Refuses request messages larger than `bytes` after decompression (at most the 64 MiB
    /// default), as a gRPC server past its largest receive message does (grpc-go's, the
    /// OpenTelemetry Collector's, is 4 MiB): 413 over HTTP, `RESOURCE_EXHAUSTED` over gRPC. Such
    /// requests are recorded, with [`DecodeError::TooLarge`](crate::DecodeError::TooLarge).
    pub fn set_max_message_bytes(&self, bytes: usize) {
        self.shared.set_max_message(bytes);
    }

    /// Sets the reply used when no script is left; initially [`Reply::Accept`].
    pub fn set_default(&self, reply: Reply) {
        self.shared.lock().default = reply;
    }

    /// A copy of every request recorded so far, in arrival order.
    #[must_use]
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.shared.lock().received.clone()
    }

    /// How many requests for `signal` were recorded.
    #[must_use]
    pub fn request_count(&self, signal: Signal) -> usize {
        self.shared.lock().received.iter().filter(|r| r.signal == signal).count()
    }

    /// Items of `signal` the collector told clients it accepted: items in requests answered
    /// [`Reply::Accept`], plus those in [`Reply::PartialSuccess`] answers minus the rejected count.
    pub fn accepted_items(&self, signal: Signal) -> u64 {
        let state = self.shared.lock();
        state.received.iter().filter(|r| r.signal == signal).map(ReceivedRequest::accepted_items).sum()
    }

    /// Blocks until `done` returns true for the requests recorded so far, or `timeout` passes.
    /// Returns whether `done` held. It is re-checked each time a request is recorded (no
    /// polling).
    ///
    /// `done` runs while the collector's lock is held: it must not call back into the
    /// collector, and should be quick.
    pub fn wait_until(&self, timeout: Duration, done: impl FnMut(&[ReceivedRequest]) -> bool) -> bool {
        self.shared.wait_until(timeout, done)
    }

    /// Per-signal request and item totals.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let state = self.shared.lock();
        let mut summary = Summary::default();
        for request in &state.received {
            let totals = summary.get_mut(request.signal);
            totals.requests += 1;
            totals.items += request.item_count();
            totals.accepted_items += request.accepted_items();
        }
        summary
    }

    /// Stops accepting, closes every connection and joins all threads. Dropping the collector
    /// does the same; this only makes the moment explicit.
    pub fn shutdown(self) {
        drop(self);
    }

    fn stop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        self.shared.stop();
        // std's accept() cannot be cancelled; a connection of our own wakes it, and the loop then
        // sees the stop flag. Should that connection fail, the thread is left to exit on the
        // next connection rather than blocking the caller forever.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
            let _ = accept_thread.join();
        }
        self.shared.close_connections();
    }
}

impl Drop for TestCollector {
    fn drop(&mut self) {
        self.stop();
    }
}
