//! The requests to the collector, made on the exporter thread: OTLP/HTTP here, OTLP/gRPC in
//! [`super::grpc`], chosen per request by its protocol.
//!
//! The exporter thread drives reqwest's client on a current-thread tokio runtime it owns, up to
//! one request per signal at once ([`Transport::poll_for`] drives them together), one poll
//! interval at a time, so that between slices it can take commands and abandon a request when a
//! shutdown deadline passes: a blocking call could not be interrupted. Nothing async reaches the
//! user. Redirects are not followed: following one could carry the `OTEL_EXPORTER_OTLP_HEADERS`
//! credentials to another host, and OTLP does not ask for it.
//!
//! A response must arrive whole, headers and body, within the request's timeout; a body cut
//! short is a failed attempt. The body is read up to [`MAX_RESPONSE_BODY`] bytes, so a hostile
//! collector cannot make the exporter allocate more. A request that fails on an established
//! connection before any answer came (a collector may close a keep-alive connection after
//! answering, and the next request can race with that close) is sent once more at once, on a
//! fresh connection: it is part of the same attempt.
//!
//! TLS: each distinct TLS setting among the signals exporting over OTLP gets its own client (and
//! so its own connection pool), built from [`super::tls::client_config`]; signals that share the
//! settings, the usual case, share one client. Settings whose files cannot be used are returned
//! to the caller, which switches those signals off. A failed handshake is a connection failure
//! whose cause says what was wrong with the certificate ([`super::tls::explain`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::config::{ExporterKind, PipelineConfig, Protocol};
use super::grpc::GrpcClient;
use super::proxy::Proxy;
use super::response::{classify_response, ExportOutcome, HttpResponse, MAX_RESPONSE_BODY};
use super::tls::TlsError;
use super::Signal;

/// The most threads the collector's name is looked up on at once. While DNS does not answer, a
/// lookup (`getaddrinfo`, which cannot be cancelled) holds its thread for the resolver's
/// timeouts, tens of seconds, while attempts keep coming (three signals' retries and probes):
/// tokio would start up to 512 threads for them, each counted against the process's thread limit
/// (a container's `pids.max`), which the program's own threads need. More lookups wait their turn;
/// the request that asked for one is bounded by its timeout meanwhile.
const MAX_LOOKUP_THREADS: usize = 4;

/// How long an HTTP/2 connection with a request out may be silent before it is pinged, and how
/// long the ping's answer may take before the connection is closed: a live collector answers a
/// ping at once, however long its answer to the request takes.
const H2_PING_INTERVAL: Duration = Duration::from_secs(2);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(3);

/// The most time a new connection's TCP handshakes may take, shared among the addresses of the
/// collector's name (or the signals' shortest timeout, when shorter). Without it, the HTTP client
/// tries the addresses of one family one after the other, each for as long as the request's
/// timeout leaves: a name whose first address drops packets (a collector node gone, behind a
/// round-robin name) held every attempt until it timed out, and the addresses after it were never
/// tried. With it, each address has its share (5 s each of two): a live collector answers a
/// handshake in one round trip, and the share still covers two lost SYNs' retransmissions.
const MAX_CONNECT_TIME: Duration = Duration::from_secs(10);

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("OTel-OTLP-Exporter-Rust-nanotel/", env!("CARGO_PKG_VERSION"));

/// A request that could not be completed.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportError {
    /// No answer in time.
    Timeout(String),
    /// Connecting or talking to the collector failed.
    Connection(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Timeout(why) => write!(f, "timed out: {why}"),
            TransportError::Connection(why) => write!(f, "connection failed: {why}"),
        }
    }
}

/// The HTTP clients, one per signal (signals with the same TLS settings share one, and its
/// keep-alive connection pool), and the runtime that drives them.
pub(crate) struct Transport {
    clients: [reqwest::Client; 3],
    grpc: GrpcClient,
    /// Always `Some` until the transport is dropped (see `drop`).
    runtime: Option<tokio::runtime::Runtime>,
}

/// What to send.
pub(crate) struct Request {
    pub signal: Signal,
    pub protocol: Protocol,
    pub url: reqwest::Url,
    pub headers: Vec<(String, String)>,
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
    pub body: Bytes,
    pub timeout: Duration,
}

/// The outcome of one request.
pub(crate) type SendResult = Result<ExportOutcome, TransportError>;

/// A request under way, driven by [`Transport::poll_for`].
pub(crate) type Pending = Pin<Box<dyn Future<Output = SendResult>>>;

impl Transport {
    /// Reads the TLS files of the signals exporting over OTLP, and returns, per signal, why its
    /// TLS settings cannot be used (the error names the file): such a signal must not send.
    pub(super) fn new(config: &PipelineConfig) -> Result<(Self, [Option<TlsError>; 3]), String> {
        // Its blocking threads look up the collector's name.
        let runtime = crate::own_threads::runtime("nanotel-lookup", MAX_LOOKUP_THREADS)
            .map_err(|e| format!("cannot start the exporter's I/O runtime: {e}"))?;
        let clients = clients(config)?;
        let transport = Transport { clients: clients.http, grpc: GrpcClient::new(clients.tls), runtime: Some(runtime) };
        Ok((transport, clients.unusable))
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime is taken only when the transport is dropped")
    }

    /// Reads `signal`'s TLS files again and, when they can be used now, sends its requests with
    /// them from now on (a client of its own, even where its settings match another signal's).
    pub(super) fn use_tls_again(&mut self, config: &PipelineConfig, signal: Signal) -> Result<(), TlsError> {
        let settings = config.signal(signal);
        let tls = super::tls::client_config(&settings.tls)?;
        let http = http_client(Some(&tls), settings.proxy.as_ref(), connect_time(config, |other| other == signal))
            .map_err(|message| TlsError { item: super::tls::TlsItem::Setup, message })?;
        self.clients[signal as usize] = http;
        self.grpc.set_tls(signal, &tls);
        Ok(())
    }

    /// Starts a request; drive it with [`poll_for`](Self::poll_for).
    pub(super) fn start(&self, request: Request) -> Pending {
        match request.protocol {
            Protocol::Grpc => Box::pin(self.grpc.clone().send(request)),
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                Box::pin(send(self.clients[request.signal as usize].clone(), request))
            }
        }
    }

    /// Drives the requests in `requests` for at most `slice`, or until one or more finish: those
    /// are taken out of their place and returned with its index.
    ///
    /// A request whose code panics (the libraries' under it: tokio's, for one, panics when it
    /// cannot start the thread a name lookup runs on, as when the process is at its thread limit)
    /// finishes as a failed attempt, retried as any other, rather than ending the exporter thread
    /// and with it every signal's export for the rest of the program.
    pub(super) fn poll_for(&self, requests: &mut [Option<Pending>], slice: Duration) -> Vec<(usize, SendResult)> {
        let finished = std::future::poll_fn(|cx| {
            let mut done = Vec::new();
            for (index, place) in requests.iter_mut().enumerate() {
                let Some(request) = place.as_mut() else { continue };
                let polled = std::panic::catch_unwind(AssertUnwindSafe(|| request.as_mut().poll(cx)));
                let result = match polled {
                    Ok(Poll::Pending) => continue,
                    Ok(Poll::Ready(result)) => result,
                    Err(panic) => {
                        Err(TransportError::Connection(format!("the HTTP client panicked: {}", panic_message(&*panic))))
                    }
                };
                // A request that panicked is dropped here, its state whatever the panic left.
                *place = None;
                done.push((index, result));
            }
            if done.is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(done)
            }
        });
        self.runtime().block_on(async {
            let done = tokio::time::timeout(slice, finished).await.unwrap_or_default();
            if !done.is_empty() {
                // One turn of the runtime for what the finished requests left to it (a gRPC
                // connection let go of is ended as an aborted task, which runs only while the
                // runtime does, and it does not run between requests).
                tokio::task::yield_now().await;
            }
            done
        })
    }
}

/// What a panic said, when it said it with a string (as `panic!` does).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => message,
        (None, Some(message)) => message,
        (None, None) => "(no message)",
    }
}

impl Drop for Transport {
    /// Lets go of the runtime without waiting for its blocking threads. A collector's name is
    /// looked up on one (`getaddrinfo`, which cannot be cancelled), and while DNS is down a lookup
    /// takes the resolver's timeouts (5 s per try and server by default, tens of seconds in all):
    /// a runtime dropped the ordinary way waits for it, and so would the exporter thread's end,
    /// `shutdown` and the program's exit, long past the shutdown's deadline. The lookup's thread
    /// ends on its own when the lookup does.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Each signal's TLS client settings and HTTP client, and why a signal's TLS settings cannot be
/// used.
struct Clients {
    http: [reqwest::Client; 3],
    tls: [Arc<rustls::ClientConfig>; 3],
    unusable: [Option<TlsError>; 3],
}

/// One TLS setting and HTTP client per distinct TLS setting and proxy among the OTLP signals (the
/// TLS files are read once for each); the others (which never send) get the first usable one's.
/// A signal whose TLS files cannot be used gets a client without them but with its own proxy and
/// connect time: it sends only to a plaintext endpoint (until session 41 it was given another
/// signal's client, or one without a proxy, and went direct).
fn clients(config: &PipelineConfig) -> Result<Clients, String> {
    type Made = Result<(Arc<rustls::ClientConfig>, reqwest::Client), (TlsError, reqwest::Client)>;
    let key = |signal: Signal| (&config.signal(signal).tls, &config.signal(signal).proxy);
    let mut built: Vec<((&super::TlsSettings, &Option<Proxy>), Made)> = Vec::new();
    for signal in Signal::ALL {
        let settings = config.signal(signal);
        if settings.exporter != ExporterKind::Otlp || built.iter().any(|(made_for, _)| *made_for == key(signal)) {
            continue;
        }
        let connect_time = connect_time(config, |other| key(other) == key(signal));
        let proxy = settings.proxy.as_ref();
        let made = match super::tls::client_config(&settings.tls) {
            Ok(tls) => {
                let client = http_client(Some(&tls), proxy, connect_time)?;
                Ok((tls, client))
            }
            Err(error) => Err((error, http_client(None, proxy, connect_time)?)),
        };
        built.push((key(signal), made));
    }
    let fallback = if let Some((tls, client)) = built.iter().find_map(|(_, made)| made.as_ref().ok()) {
        (Arc::clone(tls), client.clone())
    } else {
        let tls = super::tls::client_config(&super::TlsSettings::default()).map_err(|e| e.to_string())?;
        (tls, http_client(None, None, MAX_CONNECT_TIME)?)
    };
    // What an OTLP signal's settings made; `None` for a signal that never sends.
    let made_for = |signal: Signal| {
        let settings = config.signal(signal);
        let found = built.iter().find(|(made_for, _)| *made_for == key(signal)).map(|(_, made)| made);
        found.filter(|_| settings.exporter == ExporterKind::Otlp)
    };
    let chosen = Signal::ALL.map(|signal| match made_for(signal) {
        Some(Ok((tls, client))) => (Arc::clone(tls), client.clone()),
        Some(Err((_, client))) => (Arc::clone(&fallback.0), client.clone()),
        None => fallback.clone(),
    });
    Ok(Clients {
        http: chosen.clone().map(|(_, client)| client),
        tls: chosen.map(|(tls, _)| tls),
        unusable: Signal::ALL
            .map(|signal| made_for(signal).and_then(|made| made.as_ref().err().map(|(error, _)| error.clone()))),
    })
}

/// The connect timeout of a client the OTLP signals that `shares` picks send through:
/// [`MAX_CONNECT_TIME`], or the shortest of their timeouts.
fn connect_time(config: &PipelineConfig, shares: impl Fn(Signal) -> bool) -> Duration {
    let sending = Signal::ALL.into_iter().filter(|&signal| config.signal(signal).exporter == ExporterKind::Otlp);
    sending
        .filter(|&signal| shares(signal))
        .map(|signal| config.signal(signal).timeout)
        .fold(MAX_CONNECT_TIME, Duration::min)
}

fn http_client(
    tls: Option<&rustls::ClientConfig>,
    proxy: Option<&Proxy>,
    connect_time: Duration,
) -> Result<reqwest::Client, String> {
    http_client_builder(tls, proxy, connect_time)?.build().map_err(|e| format!("cannot build the HTTP client: {e}"))
}

fn http_client_builder(
    tls: Option<&rustls::ClientConfig>,
    proxy: Option<&Proxy>,
    connect_time: Duration,
) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        // Shared among the name's addresses (see `MAX_CONNECT_TIME`).
        .connect_timeout(connect_time)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(4)
        // Over HTTP/2 (a collector whose TLS offers `h2`, as Go's HTTPS servers do) a request that
        // times out leaves its connection open in the pool, and the next request would go on it:
        // a collector gone without closing it (its host down, a partition) would hold every later
        // request until the kernel gave the connection up, some fifteen minutes. While a request
        // is out, a ping goes unanswered past the interval and the timeout closes the connection.
        .http2_keep_alive_interval(Some(H2_PING_INTERVAL))
        .http2_keep_alive_timeout(H2_PING_TIMEOUT)
        // The proxy was decided from the pipeline's environment (see `proxy`); reqwest's own
        // reading of the process environment would decide again, differently.
        .no_proxy();
    if let Some(proxy) = proxy {
        builder = builder.proxy(reqwest_proxy(proxy)?);
    }
    if let Some(tls) = tls {
        let mut tls = tls.clone();
        // What reqwest offers with its own TLS setup: HTTP/2 where the collector speaks it.
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        builder = builder.use_preconfigured_tls(tls);
    }
    Ok(builder)
}

/// `proxy` for every request of a client (made for one signal's collector).
fn reqwest_proxy(proxy: &Proxy) -> Result<reqwest::Proxy, String> {
    let mut made = reqwest::Proxy::all(&proxy.uri).map_err(|e| format!("cannot use the proxy {}: {e}", proxy.uri))?;
    if let Some(authorization) = &proxy.authorization {
        let value =
            http::HeaderValue::from_str(authorization).map_err(|_| "a proxy's credentials are not a header value")?;
        made = made.custom_http_auth(value);
    }
    Ok(made)
}

async fn send(client: reqwest::Client, request: Request) -> SendResult {
    let started = tokio::time::Instant::now();
    let first = build(&client, &request, request.timeout).send().await;
    let sent = match first {
        Err(error) if failed_before_an_answer(&error) => {
            // Once more on a fresh connection (the pool drops a connection that failed), within
            // what is left of the timeout.
            let left = request.timeout.saturating_sub(started.elapsed());
            build(&client, &request, left).send().await
        }
        other => other,
    };
    read_response(request.signal, sent.map_err(classify_error)?).await
}

fn build(client: &reqwest::Client, request: &Request, timeout: Duration) -> reqwest::RequestBuilder {
    let mut builder = client
        .post(request.url.clone())
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, request.content_type)
        .body(request.body.clone());
    if let Some(encoding) = request.content_encoding {
        builder = builder.header(reqwest::header::CONTENT_ENCODING, encoding);
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
}

/// Whether a request failed on a connection that was established, before any answer came: the
/// connection closed or was reset under it (not a failure to connect, not a timeout).
fn failed_before_an_answer(error: &reqwest::Error) -> bool {
    if error.is_connect() || error.is_timeout() || !error.is_request() {
        return false;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                return true;
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            if matches!(io.kind(), BrokenPipe | ConnectionAborted | ConnectionReset) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

async fn read_response(signal: Signal, mut response: reqwest::Response) -> SendResult {
    let status = response.status().as_u16();
    let header = |name: reqwest::header::HeaderName| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let content_encoding = header(reqwest::header::CONTENT_ENCODING);
    let retry_after = header(reqwest::header::RETRY_AFTER);
    let mut body = Vec::new();
    let mut body_truncated = false;
    // A body that does not arrive whole in time (reqwest's timeout covers it) fails the attempt,
    // whatever its status said: a collector dripping its answer is not healthy.
    while let Some(chunk) = response.chunk().await.map_err(|error| classify_body_error(status, error))? {
        let room = MAX_RESPONSE_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            body_truncated = true;
            break;
        }
    }
    let response = HttpResponse {
        status,
        content_type: content_type.as_deref(),
        content_encoding: content_encoding.as_deref(),
        retry_after: retry_after.as_deref(),
        body: &body,
        body_truncated,
    };
    Ok(classify_response(signal, &response, SystemTime::now()))
}

fn classify_body_error(status: u16, error: reqwest::Error) -> TransportError {
    match classify_error(error) {
        TransportError::Timeout(why) => {
            TransportError::Timeout(format!("the answer (HTTP {status}) did not arrive whole in time: {why}"))
        }
        TransportError::Connection(why) => {
            TransportError::Connection(format!("the answer (HTTP {status}) was cut short: {why}"))
        }
    }
}

fn classify_error(error: reqwest::Error) -> TransportError {
    if let Some(tls) = super::tls::explain(&error) {
        return TransportError::Connection(tls);
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        TransportError::Timeout(text)
    } else {
        TransportError::Connection(text)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::{Pending, Transport, TransportError};

    /// A request whose code panics finishes as a failed attempt; the request beside it, and the
    /// next one, are driven as before.
    #[test]
    fn a_request_that_panics_is_a_failed_attempt_and_the_transport_goes_on() {
        let (config, _) = crate::export::config::resolve(&|_| None, &Default::default()).unwrap();
        let (transport, _) = Transport::new(&config).unwrap();
        let answer = || Err(TransportError::Timeout("answered".into()));
        let panicking: Pending =
            Box::pin(async { panic!("OS can't spawn worker thread: Resource temporarily unavailable") });
        let mut requests = [Some(panicking), Some(Box::pin(async move { answer() }) as Pending), None];
        let mut finished = transport.poll_for(&mut requests, Duration::from_secs(5));
        finished.sort_by_key(|(index, _)| *index);
        let failed = TransportError::Connection(
            "the HTTP client panicked: OS can't spawn worker thread: Resource temporarily unavailable".into(),
        );
        assert_eq!(finished, [(0, Err(failed)), (1, answer())]);
        assert!(requests.iter().all(Option::is_none), "both taken out");
        requests[2] = Some(Box::pin(async move { answer() }));
        assert_eq!(transport.poll_for(&mut requests, Duration::from_secs(5)), [(2, answer())], "the runtime goes on");
    }

    /// A collector's name whose first address drops the handshake (a node gone behind a
    /// round-robin name) is reached at its next address within the request's timeout: each
    /// address has its share of the connect timeout. Without one, the request waited on the first
    /// address until its timeout, every time. Linux: 127.0.0.2 is a loopback address there.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_name_whose_first_address_does_not_answer_is_reached_at_the_next() {
        use std::io::{Read, Write};
        let (unanswered, _held) = crate::export::unanswered::listener_with_full_backlog("127.0.0.1");
        let answering = std::net::TcpListener::bind(("127.0.0.2", unanswered.port())).unwrap();
        let next = answering.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = answering.accept().unwrap();
            let mut request = Vec::new();
            let mut chunk = [0; 1024];
            while !request.ends_with(b"\r\n\r\nbody") {
                let read = stream.read(&mut chunk).unwrap();
                assert!(read > 0, "the request ended early: {}", String::from_utf8_lossy(&request));
                request.extend_from_slice(&chunk[..read]);
            }
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap();
        });
        let client = super::http_client_builder(None, None, Duration::from_secs(4))
            .unwrap()
            .resolve_to_addrs("collector.test", &[unanswered, next])
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let url = format!("http://collector.test:{}/v1/traces", next.port());
        let sent =
            runtime.block_on(async { client.post(url).timeout(Duration::from_secs(8)).body("body").send().await });
        assert_eq!(sent.expect("answered by the next address").status(), 200);
        server.join().unwrap();
    }

    /// The connect time is the signals' shortest timeout when shorter than `MAX_CONNECT_TIME`.
    #[test]
    fn the_connect_time_is_at_most_the_shortest_timeout_of_the_signals_sharing_the_client() {
        use crate::export::{config::resolve, Signal};
        let (defaults, _) = resolve(&|_| None, &Default::default()).unwrap();
        assert_eq!(super::connect_time(&defaults, |_| true), super::MAX_CONNECT_TIME);
        let short_traces = |name: &str| (name == "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT").then(|| "2500".to_owned());
        let (config, _) = resolve(&short_traces, &Default::default()).unwrap();
        assert_eq!(super::connect_time(&config, |_| true), Duration::from_millis(2500));
        assert_eq!(super::connect_time(&config, |signal| signal == Signal::Logs), super::MAX_CONNECT_TIME);
    }

    /// Lookups that do not return (DNS down) take at most `MAX_LOOKUP_THREADS` threads; the
    /// others wait their turn.
    #[test]
    fn lookups_run_on_a_few_threads_at_most() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let (config, _) = crate::export::config::resolve(&|_| None, &Default::default()).unwrap();
        let (transport, _) = Transport::new(&config).unwrap();
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let lookups: Vec<_> = (0..16)
            .map(|_| {
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                transport.runtime().spawn_blocking(move || {
                    most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for lookup in lookups {
            transport.runtime().block_on(lookup).unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), super::MAX_LOOKUP_THREADS);
    }

    /// A lookup under way on the runtime's blocking threads (a `getaddrinfo` waiting on a DNS
    /// server that does not answer, which no test can arrange) holds the transport's drop no
    /// longer than it takes to let go: the lookup is released only after the drop returns, and
    /// gives up by itself after a minute, so a drop that waited for it finds it gone.
    #[test]
    fn dropping_the_transport_does_not_wait_for_a_lookup_under_way() {
        let (config, _) = crate::export::config::resolve(&|_| None, &Default::default()).unwrap();
        let (transport, _) = Transport::new(&config).unwrap();
        let (started, running) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let lookup = transport.runtime().spawn_blocking(move || {
            started.send(()).unwrap();
            released.recv_timeout(Duration::from_secs(60)).is_ok()
        });
        running.recv().unwrap();
        drop(transport);
        let was_waiting = release.send(()).is_ok();
        assert!(was_waiting, "the drop waited until the lookup gave up");
        drop(lookup);
    }
}
