//! The endpoint's public face: a builder, and a handle that stops the endpoint's thread when
//! dropped. What runs on that thread is in [`serve`](super::serve).

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::RwLock;
use tokio::sync::oneshot;

use super::text::Format;
use crate::export::endpoint::unbracketed;
use crate::export::PrometheusConfig;
use crate::metrics::MeterProvider;
use crate::proto::metrics::v1::ScopeMetrics;
use crate::proto::resource::v1::Resource;

use super::answer::{Source, State};
use super::serve::{serve, Settings};

/// The most scrapes answered at once (each on a `nanotel-scrape` thread); more wait for a thread,
/// within their time. One whose callback or source does not return keeps its thread; while all
/// of them are kept so, a scrape is answered 503 at once (see `late_answers`).
const MAX_SCRAPE_THREADS: usize = 4;

/// The most connections open at once by default; past it the oldest idle one is closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The longest a request head may take to arrive (by default).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Configures a [`PrometheusServer`].
///
/// ```
/// use nanotel::metrics::MeterProvider;
/// use nanotel::prometheus::PrometheusServer;
///
/// let provider = MeterProvider::builder().without_env().build();
/// let server = PrometheusServer::builder().with_address("127.0.0.1", 0).with_provider(&provider).start().unwrap();
/// assert!(server.local_addr().port() != 0);
/// ```
#[must_use = "a builder does nothing until started"]
pub struct PrometheusServerBuilder {
    config: PrometheusConfig,
    resource: Option<Resource>,
    sources: Vec<Source>,
    request_timeout: Duration,
    max_connections: usize,
    thread_cpus: Option<Vec<usize>>,
}

impl PrometheusServerBuilder {
    /// The CPUs the endpoint's thread runs on (default: where the thread that starts it may run),
    /// as [`PipelineBuilder::with_thread_cpus`](crate::export::PipelineBuilder::with_thread_cpus)
    /// for the exporter; an empty list, or one with a number past 1023, is reported and ignored.
    pub fn with_thread_cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        let cpus: Vec<usize> = cpus.into_iter().collect();
        self.thread_cpus = crate::thread_cpus::checked(cpus.clone())
            .map_err(|why| {
                crate::diag::warning!(
                    "with_thread_cpus({cpus:?}) is ignored: {why}; the endpoint's thread runs where it starts"
                );
            })
            .ok();
        self
    }

    /// The host (name or address) and port to listen on (default `localhost:9464`; port 0 picks
    /// a free one, see [`PrometheusServer::local_addr`]).
    pub fn with_address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.config = PrometheusConfig { host: host.into(), port };
        self
    }

    /// The listening address as a [`PrometheusConfig`].
    pub fn with_config(mut self, config: PrometheusConfig) -> Self {
        self.config = config;
        self
    }

    /// The resource shown as `target_info` (none by default).
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Serves the current values of a meter provider (its [`MeterProvider::snapshot`]). A scrape
    /// that finds another collection of it running (the exporter's) waits for it at most 1 s,
    /// then is answered 503, so that a callback stuck there does not hold every scrape.
    pub fn with_provider(mut self, provider: &MeterProvider) -> Self {
        self.sources.push(Source::Provider(provider.clone()));
        self
    }

    /// Serves what `source` returns, called at every scrape on a handler thread. A scrape whose
    /// sources have not returned within the request timeout is answered 503 (said on stderr),
    /// while the call goes on, on its thread, until it returns.
    pub fn with_source(mut self, source: impl Fn() -> Vec<ScopeMetrics> + Send + Sync + 'static) -> Self {
        self.sources.push(Source::Function(Arc::new(source)));
        self
    }

    /// The longest a client may take to send its request head (default 5 s): the connection is
    /// closed then, unanswered. An answer not made within as long again (a source that does not
    /// return) is a 503, and one the client does not read is given up on after as long again.
    /// Zero means no limit, and no limit (or `Duration::MAX`) is a day, as for the exporter's
    /// timeouts (until session 40 `Duration::MAX` panicked every connection's task, unanswered,
    /// and zero closed every connection at once).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = crate::config::usable_timeout(timeout);
        self
    }

    /// The most connections open at once (default [`DEFAULT_MAX_CONNECTIONS`], at least 1). When
    /// a new connection finds them all open, the oldest idle one (no request in progress) is
    /// closed to make room; when none is idle, the new one waits until one ends.
    pub fn with_max_connections(mut self, limit: usize) -> Self {
        self.max_connections = limit.max(1);
        self
    }

    /// Binds the address and starts the endpoint's thread.
    ///
    /// # Errors
    ///
    /// The I/O error when the address cannot be resolved or bound, or the endpoint's thread cannot be spawned.
    pub fn start(self) -> io::Result<PrometheusServer> {
        let addresses: Vec<SocketAddr> =
            (unbracketed(&self.config.host), self.config.port).to_socket_addrs()?.collect();
        let listener = TcpListener::bind(&addresses[..])?;
        let local_addr = listener.local_addr()?;
        // tokio takes the socket over only in non-blocking mode.
        listener.set_nonblocking(true)?;
        let state = Arc::new(State { sources: RwLock::new(self.sources), resource: self.resource });
        let settings = Settings {
            state: state.clone(),
            header_timeout: self.request_timeout,
            max_connections: self.max_connections,
            scrape_threads: MAX_SCRAPE_THREADS,
        };
        let (stop, stopped) = oneshot::channel();
        let (started, wait_until_started) = std::sync::mpsc::sync_channel(1);
        let thread_cpus = self.thread_cpus;
        let thread = crate::own_threads::spawn(std::thread::Builder::new().name("nanotel-prom".into()), move || {
            crate::own_threads::mark_current();
            crate::thread_cpus::leave_real_time_policy();
            if let Some(cpus) = &thread_cpus {
                crate::thread_cpus::place_current_thread(cpus);
            }
            // Made here, not on the caller's thread: a runtime dropped there (had this thread not
            // started) panics when the caller runs inside an async runtime of its own.
            // Its blocking threads answer the scrapes (see `serve::serve_connection`).
            match crate::own_threads::runtime("nanotel-scrape", MAX_SCRAPE_THREADS) {
                Ok(runtime) => {
                    let _ = started.send(Ok(()));
                    runtime.block_on(serve(listener, settings, stopped));
                    // A scrape whose callback does not return keeps its thread; the endpoint
                    // stops without waiting for it (dropped, a runtime waits for its blocking
                    // threads, and the server's drop, and a shutdown, would wait for ever).
                    runtime.shutdown_background();
                }
                Err(error) => drop(started.send(Err(error))),
            }
        })?;
        let stopped_early = || io::Error::other("the Prometheus endpoint's thread stopped while starting");
        wait_until_started.recv().map_err(|_| stopped_early())??;
        Ok(PrometheusServer { local_addr, state, stop: Some(stop), thread: Some(thread) })
    }
}

/// A Prometheus scrape endpoint serving `/metrics` on a thread of its own, in text format 0.0.4
/// or `OpenMetrics` 1.0.0 as the scraper's `Accept` asks (OTLP-NOTES §9.4), gzipped when it
/// accepts gzip. Stops when dropped.
///
/// ```
/// use std::io::{Read, Write};
/// use nanotel::metrics::MeterProvider;
/// use nanotel::prometheus::PrometheusServer;
///
/// let provider = MeterProvider::builder().without_env().build();
/// provider.meter("gateway").u64_counter("orders").build().unwrap().add(3, &[]);
/// let server = PrometheusServer::builder().with_address("127.0.0.1", 0).with_provider(&provider).start().unwrap();
/// let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
/// client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
/// let mut answer = String::new();
/// client.read_to_string(&mut answer).unwrap();
/// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(answer.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
/// assert!(answer.ends_with("orders_total{otel_scope_name=\"gateway\"} 3\n"));
/// ```
#[must_use = "the endpoint stops serving when dropped"]
pub struct PrometheusServer {
    local_addr: SocketAddr,
    state: Arc<State>,
    /// Dropped to stop the endpoint.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[expect(clippy::missing_fields_in_debug, reason = "the address is what tells servers apart; the rest are handles")]
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
            thread_cpus: None,
        }
    }

    /// The address the server listens on (with the port chosen when 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Adds a meter provider to what every later scrape shows (as
    /// [`PrometheusServerBuilder::with_provider`] does).
    pub fn add_provider(&self, provider: &MeterProvider) {
        self.state.sources.write().push(Source::Provider(provider.clone()));
    }

    /// Adds a source of metrics to what every later scrape shows.
    pub fn add_source(&self, source: impl Fn() -> Vec<ScopeMetrics> + Send + Sync + 'static) {
        self.state.sources.write().push(Source::Function(Arc::new(source)));
    }

    /// The exposition a scrape in `format` gets now (waiting for a collection in progress as long
    /// as it takes, where a scrape would be answered 503 after 1 s).
    #[must_use]
    pub fn render(&self, format: Format) -> String {
        self.state.render(format, true).unwrap_or_default()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        // The endpoint's thread returns from its accept loop at once and drops its runtime, which
        // closes the listener and every connection before the join returns.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
