//! The scrape server: one thread accepting connections, and a short-lived thread per connection,
//! at most a fixed number at once.
//!
//! Every connection gets one request and `Connection: close`, so no idle client keeps a thread.
//! A handler waits for a request head at most the request timeout in total, so a slow client
//! holds its own thread for that long at most while the others are served; connections past
//! the limit get a 503 from one thread kept for that, so the accepting thread never waits.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel;
use parking_lot::RwLock;

use crate::export::PrometheusConfig;
use crate::metrics::prometheus::{encode, Format};
use crate::metrics::MeterProvider;
use crate::proto::metrics::v1::ScopeMetrics;
use crate::proto::resource::v1::Resource;

use super::negotiate::{accepts_gzip, choose_format};
use super::request::{read_head, Head, Refusal};

/// Connections answered at once by default; past this, new ones get a 503.
const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// Connections past the limit waiting for their 503; past this, they are closed unanswered.
const BUSY_BACKLOG: usize = 64;

/// How long a finished connection is drained before it is closed (see [`close_gently`]).
const DRAIN_TIME: Duration = Duration::from_millis(500);

/// The same for a connection refused with 503: short, since one thread answers them all.
const BUSY_DRAIN_TIME: Duration = Duration::from_millis(100);

/// The longest a request head may take to arrive (by default).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A source of metrics read at every scrape.
type Source = Arc<dyn Fn() -> Vec<ScopeMetrics> + Send + Sync>;

/// What the handlers share.
struct State {
    sources: RwLock<Vec<Source>>,
    resource: Option<Resource>,
    request_timeout: Duration,
}

/// Configures a [`PrometheusServer`].
///
/// ```
/// use nanotel::metrics::MeterProvider;
/// use nanotel::prometheus::PrometheusServer;
///
/// let provider = MeterProvider::builder().without_env().build();
/// let server = PrometheusServer::builder().address("127.0.0.1", 0).provider(&provider).start().unwrap();
/// assert!(server.local_addr().port() != 0);
/// ```
pub struct PrometheusServerBuilder {
    config: PrometheusConfig,
    resource: Option<Resource>,
    sources: Vec<Source>,
    request_timeout: Duration,
    max_connections: usize,
}

impl PrometheusServerBuilder {
    /// The host (name or address) and port to listen on (default `localhost:9464`; port 0 picks
    /// a free one, see [`PrometheusServer::local_addr`]).
    pub fn address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.config = PrometheusConfig { host: host.into(), port };
        self
    }

    /// The listening address as a [`PrometheusConfig`].
    pub fn config(mut self, config: PrometheusConfig) -> Self {
        self.config = config;
        self
    }

    /// The resource shown as `target_info` (none by default).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Serves the current values of a meter provider (its [`MeterProvider::snapshot`]).
    pub fn provider(self, provider: &MeterProvider) -> Self {
        let provider = provider.clone();
        self.source(move || provider.snapshot())
    }

    /// Serves what `source` returns, called at every scrape on a handler thread.
    pub fn source(mut self, source: impl Fn() -> Vec<ScopeMetrics> + Send + Sync + 'static) -> Self {
        self.sources.push(Arc::new(source));
        self
    }

    /// The longest a client may take to send its request head before it is answered 408
    /// (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The most connections answered at once (default 64, at least 1); others get a 503.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = limit.max(1);
        self
    }

    /// Binds the address and starts the server's threads.
    pub fn start(self) -> io::Result<PrometheusServer> {
        let addresses: Vec<SocketAddr> = (self.config.host.as_str(), self.config.port).to_socket_addrs()?.collect();
        let listener = TcpListener::bind(&addresses[..])?;
        let local_addr = listener.local_addr()?;
        let state = Arc::new(State {
            sources: RwLock::new(self.sources),
            resource: self.resource,
            request_timeout: self.request_timeout,
        });
        let state_for_handlers = state.clone();
        // Connections past the limit are answered 503 by a thread of their own, one at a time,
        // so the acceptor never waits on them; when even that backlog is full they are closed.
        let (busy, refusals) = channel::bounded::<TcpStream>(BUSY_BACKLOG);
        std::thread::Builder::new().name("nanotel-prom-busy".into()).spawn(move || {
            for stream in refusals {
                refuse_busy(stream);
            }
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let limit = self.max_connections;
        let acceptor = {
            let stop = stop.clone();
            std::thread::Builder::new().name("nanotel-prom-accept".into()).spawn(move || {
                let active = Arc::new(AtomicUsize::new(0));
                for stream in listener.incoming() {
                    // Acquire pairs with the Release store in drop: the wake-up connection that
                    // follows it must see the flag.
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else {
                        // Out of descriptors, say: accept fails at once until some are freed,
                        // so pause rather than spin.
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    // Only this thread increments, so load-then-add cannot overshoot; handlers
                    // decrement as they finish. Relaxed: the count orders nothing else.
                    if active.load(Ordering::Relaxed) >= limit {
                        let _ = busy.try_send(stream);
                        continue;
                    }
                    active.fetch_add(1, Ordering::Relaxed);
                    let slot = Slot(active.clone());
                    let state = state_for_handlers.clone();
                    let spawned = std::thread::Builder::new().name("nanotel-prom".into()).spawn(move || {
                        let _slot = slot;
                        handle(&state, stream);
                    });
                    // A thread that cannot start drops its closure, and with it the slot and the
                    // connection: the client sees the connection close.
                    drop(spawned);
                }
            })?
        };
        Ok(PrometheusServer { local_addr, state, stop, acceptor: Some(acceptor) })
    }
}

/// A Prometheus scrape endpoint serving `/metrics` on threads of its own, in text format 0.0.4
/// or OpenMetrics 1.0.0 as the scraper's `Accept` asks (OTLP-NOTES §9.4), gzipped when it
/// accepts gzip. Stops when dropped.
///
/// ```
/// use std::io::{Read, Write};
/// use nanotel::metrics::MeterProvider;
/// use nanotel::prometheus::PrometheusServer;
///
/// let provider = MeterProvider::builder().without_env().build();
/// provider.meter("gateway").u64_counter("orders").build().unwrap().add(3, &[]);
/// let server = PrometheusServer::builder().address("127.0.0.1", 0).provider(&provider).start().unwrap();
/// let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
/// client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
/// let mut answer = String::new();
/// client.read_to_string(&mut answer).unwrap();
/// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(answer.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
/// assert!(answer.ends_with("orders_total{otel_scope_name=\"gateway\"} 3\n"));
/// ```
pub struct PrometheusServer {
    local_addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PrometheusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusServer").field("local_addr", &self.local_addr).finish()
    }
}

impl PrometheusServer {
    /// A builder: `localhost:9464`, no sources, no resource.
    pub fn builder() -> PrometheusServerBuilder {
        PrometheusServerBuilder {
            config: PrometheusConfig::default(),
            resource: None,
            sources: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// The address the server listens on (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Adds a meter provider to what every later scrape shows.
    pub fn add_provider(&self, provider: &MeterProvider) {
        let provider = provider.clone();
        self.add_source(move || provider.snapshot());
    }

    /// Adds a source of metrics to what every later scrape shows.
    pub fn add_source(&self, source: impl Fn() -> Vec<ScopeMetrics> + Send + Sync + 'static) {
        self.state.sources.write().push(Arc::new(source));
    }

    /// The exposition a scrape in `format` gets now.
    pub fn render(&self, format: Format) -> String {
        self.state.render(format)
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        // Release pairs with the acceptor's Acquire load.
        self.stop.store(true, Ordering::Release);
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        // The acceptor is blocked in accept(): a connection wakes it to see the flag. Should that
        // connection fail, it is left to end at the next one rather than waited for.
        let woken = TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok();
        if let Some(acceptor) = self.acceptor.take().filter(|_| woken) {
            let _ = acceptor.join();
        }
    }
}

impl State {
    fn render(&self, format: Format) -> String {
        let sources: Vec<Source> = self.sources.read().clone();
        let scopes: Vec<ScopeMetrics> = sources.iter().flat_map(|source| source()).collect();
        encode(&scopes, self.resource.as_ref(), format)
    }
}

/// A connection's place in the count of those being answered, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An answer: status line, extra headers, body.
struct Answer {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// For HEAD: the head of the full answer (its length included), without the body.
    head_only: bool,
}

impl Answer {
    fn error(status: &'static str) -> Self {
        let body = format!("{status}\n").into_bytes();
        let headers = vec![("Content-Type", "text/plain; charset=utf-8".to_owned())];
        Answer { status, headers, body, head_only: false }
    }
}

fn handle(state: &State, mut stream: TcpStream) {
    let deadline = Instant::now() + state.request_timeout;
    // A client that does not read its answer is given up on after the same time.
    let _ = stream.set_write_timeout(Some(state.request_timeout.max(Duration::from_millis(100))));
    let answer = match read_head(&mut stream, deadline) {
        Ok(head) => {
            let mut answer = answer(state, &head);
            // A HEAD request gets the head of whatever a GET would get, errors included.
            answer.head_only = head.method == "HEAD";
            answer
        }
        Err(Refusal::Gone) => return,
        Err(Refusal::BadRequest) => Answer::error("400 Bad Request"),
        Err(Refusal::Timeout) => Answer::error("408 Request Timeout"),
        Err(Refusal::TooLarge) => Answer::error("431 Request Header Fields Too Large"),
        Err(Refusal::Version) => Answer::error("505 HTTP Version Not Supported"),
    };
    send(&mut stream, &answer);
    close_gently(stream, DRAIN_TIME);
}

fn answer(state: &State, head: &Head) -> Answer {
    if head.path != "/metrics" {
        return Answer::error("404 Not Found");
    }
    if head.method != "GET" && head.method != "HEAD" {
        let mut answer = Answer::error("405 Method Not Allowed");
        answer.headers.push(("Allow", "GET, HEAD".into()));
        return answer;
    }
    let format = choose_format(head.header("accept").as_deref());
    let text = state.render(format);
    let mut headers =
        vec![("Content-Type", format.content_type().to_owned()), ("Vary", "Accept, Accept-Encoding".to_owned())];
    let body = match accepts_gzip(head.header("accept-encoding").as_deref()).then(|| gzip(text.as_bytes())) {
        Some(Ok(compressed)) => {
            headers.push(("Content-Encoding", "gzip".into()));
            compressed
        }
        // Compressing into memory does not fail; should it, the plain text is as good an answer.
        Some(Err(_)) | None => text.into_bytes(),
    };
    Answer { status: "200 OK", headers, body, head_only: false }
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn send(stream: &mut TcpStream, answer: &Answer) {
    let mut head = format!("HTTP/1.1 {}\r\n", answer.status);
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", answer.body.len()));
    let body: &[u8] = if answer.head_only { &[] } else { &answer.body };
    // A client gone or too slow to read gets nothing more; there is no one to tell.
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).and_then(|()| stream.flush());
}

/// Ends the connection so the client reads the whole answer: closing with unread request bytes
/// still buffered would reset the connection and could discard the answer in flight. What the
/// client still sends is read and thrown away, for `drain` at most and up to 1 MiB.
fn close_gently(mut stream: TcpStream, drain: Duration) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + drain;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 1 << 20 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// Answers a connection past the limit: a small write that fits the socket's buffer, then a
/// short drain.
fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(BUSY_DRAIN_TIME));
    send(&mut stream, &Answer::error("503 Service Unavailable"));
    close_gently(stream, BUSY_DRAIN_TIME);
}
