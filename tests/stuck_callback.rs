//! An observable callback that does not return, in one collection of a meter provider, holds
//! only that collection: the exporter thread, collecting the same provider, gives up waiting for
//! it after a second and goes on exporting every signal; a Prometheus scrape that finds the
//! exporter's collection, or another scrape's, stuck is answered 503 instead of hanging. Before,
//! either waited for ever (a stuck scrape stopped the export of traces and logs too, and every
//! later scrape until session 38).

#[path = "support/loopback.rs"]
mod loopback;

use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nanotel::export::Pipeline;
use nanotel::metrics::MeterProvider;
use nanotel::prometheus::PrometheusServer;
use nanotel::trace::TracerProvider;
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

/// A gauge whose callback, on the thread named `stuck_on`, tells `entered` and then waits until
/// `release` is dropped.
struct StuckGauge {
    entered: Receiver<()>,
    release: Option<Sender<()>>,
}

impl StuckGauge {
    fn register(provider: &MeterProvider, stuck_on: &'static str) -> StuckGauge {
        let (entered_tx, entered) = channel::<()>();
        let (release, released) = channel::<()>();
        let (entered_tx, released) = (Mutex::new(entered_tx), Arc::new(Mutex::new(released)));
        let gauge = provider
            .meter("book")
            .i64_observable_gauge("book.depth")
            .with_callback(move |observer| {
                if std::thread::current().name() == Some(stuck_on) {
                    let _ = entered_tx.lock().unwrap().send(());
                    let _ = released.lock().unwrap().recv();
                }
                observer.observe(7, &[]);
            })
            .build()
            .unwrap();
        std::mem::forget(gauge);
        StuckGauge { entered, release: Some(release) }
    }

    fn wait_until_stuck(&self) {
        self.entered.recv_timeout(WAIT).expect("the callback was called on the thread it sticks on");
    }

    fn release(&mut self) {
        self.release = None;
    }
}

struct Setup {
    collector: TestCollector,
    pipeline: Pipeline,
    meters: MeterProvider,
    tracers: TracerProvider,
    server: PrometheusServer,
}

fn setup() -> Setup {
    let collector = TestCollector::start().unwrap();
    let pipeline = loopback::pipeline_to(&collector);
    let meters = MeterProvider::builder().without_env().build();
    let tracers = TracerProvider::builder().without_env().build();
    meters.attach(&pipeline);
    tracers.attach(&pipeline);
    let server = PrometheusServer::builder().with_address("127.0.0.1", 0).with_provider(&meters).start().unwrap();
    Setup { collector, pipeline, meters, tracers, server }
}

/// A scrape of `server` whose callback (of a gauge registered in `meters`) is stuck: the gauge
/// that holds it, the endpoint's address, and the thread that scraped, which returns its answer.
fn a_stuck_scrape(meters: &MeterProvider, server: &PrometheusServer) -> (StuckGauge, SocketAddr, JoinHandle<String>) {
    let gauge = StuckGauge::register(meters, "nanotel-scrape");
    let address = server.local_addr();
    let scraper = std::thread::spawn(move || loopback::scrape(address));
    gauge.wait_until_stuck();
    (gauge, address, scraper)
}

#[test]
fn a_callback_stuck_in_a_scrape_does_not_hold_the_exporter() {
    let Setup { collector, pipeline, meters, tracers, server } = setup();
    let (mut gauge, _, scraper) = a_stuck_scrape(&meters, &server);
    tracers.tracer("orders").span("order").start().end();
    pipeline.force_flush(WAIT).expect("the exporter thread is not held by the scrape");
    assert_eq!(collector.accepted_items(Signal::Traces), 1);
    assert_eq!(collector.accepted_items(Signal::Metrics), 0, "that collection gave up");
    gauge.release();
    assert!(scraper.join().unwrap().starts_with("HTTP/1.1 200"));
    pipeline.force_flush(WAIT).expect("flushed");
    assert_eq!(collector.accepted_items(Signal::Metrics), 1, "the next collection goes through");
}

#[test]
fn a_scrape_finding_the_exporters_collection_stuck_is_answered_503() {
    let Setup { collector: _collector, pipeline, meters, server, .. } = setup();
    let mut gauge = StuckGauge::register(&meters, "nanotel-export");
    let pipeline = Arc::new(pipeline);
    let flusher = std::thread::spawn({
        let pipeline = pipeline.clone();
        move || pipeline.force_flush(WAIT)
    });
    gauge.wait_until_stuck();
    let answer = loopback::scrape(server.local_addr());
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    gauge.release();
    flusher.join().unwrap().expect("flushed once the callback returned");
    let answer = loopback::scrape(server.local_addr());
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("book_depth"), "{answer}");
}

#[test]
fn a_callback_stuck_in_a_scrape_leaves_the_endpoint_answering_the_next_503() {
    let Setup { meters, server, .. } = setup();
    let (mut gauge, address, first) = a_stuck_scrape(&meters, &server);
    let asked = std::time::Instant::now();
    let answer = loopback::scrape(address);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(asked.elapsed() < Duration::from_secs(5), "answered after the collection's second of waiting");
    gauge.release();
    assert!(first.join().unwrap().starts_with("HTTP/1.1 200"));
    let answer = loopback::scrape(address);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("book_depth"), "{answer}");
}

#[test]
fn an_endpoint_with_a_scrape_stuck_in_a_callback_stops_when_dropped() {
    let Setup { meters, server, .. } = setup();
    let (mut gauge, _, first) = a_stuck_scrape(&meters, &server);
    let (dropped, wait_until_dropped) = channel();
    std::thread::spawn(move || {
        drop(server);
        let _ = dropped.send(());
    });
    let stopped = wait_until_dropped.recv_timeout(Duration::from_secs(5));
    gauge.release();
    assert!(stopped.is_ok(), "the drop waited for the stuck scrape");
    assert!(!first.join().unwrap().starts_with("HTTP/1.1 200"), "the connection closed unanswered");
}

/// A source of the program's whose calls wait while its gate is shut, and count themselves.
struct GatedSource {
    shut: Arc<(Mutex<bool>, std::sync::Condvar)>,
    entered: Receiver<()>,
}

impl GatedSource {
    fn serve(request_timeout: Duration) -> (GatedSource, PrometheusServer) {
        let shut = Arc::new((Mutex::new(true), std::sync::Condvar::new()));
        let (entered_tx, entered) = channel::<()>();
        let entered_tx = Mutex::new(entered_tx);
        let gate = shut.clone();
        let server = PrometheusServer::builder()
            .with_address("127.0.0.1", 0)
            .with_request_timeout(request_timeout)
            .with_source(move || {
                let _ = entered_tx.lock().unwrap().send(());
                let (shut, opened) = &*gate;
                let _unused = opened.wait_while(shut.lock().unwrap(), |shut| *shut).unwrap();
                Vec::new()
            })
            .start()
            .unwrap();
        (GatedSource { shut, entered }, server)
    }

    fn wait_until_entered(&self) {
        self.entered.recv_timeout(WAIT).expect("the source was called");
    }

    fn open(&self) {
        *self.shut.0.lock().unwrap() = false;
        self.shut.1.notify_all();
    }
}

/// Set in the child's environment: the child runs the scrapes, the parent reads its stderr.
const CHILD: &str = "STUCK_CALLBACK_CHILD";

#[test]
fn a_source_that_does_not_return_gets_its_scrapes_answered_503_said_once() {
    if std::env::var_os(CHILD).is_some() {
        let (source, server) = GatedSource::serve(Duration::from_secs(1));
        for _ in 0..2 {
            let asked = std::time::Instant::now();
            let answer = loopback::scrape(server.local_addr());
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(asked.elapsed() >= Duration::from_secs(1), "answered when the answer's time was up");
            source.wait_until_entered();
        }
        source.open();
        let answer = loopback::scrape(server.local_addr());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_source_that_does_not_return_gets_its_scrapes_answered_503_said_once", "--nocapture"])
        .env(CHILD, "1")
        .env("OTEL_LOG_LEVEL", "info")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let said: Vec<&str> = stderr.lines().filter(|line| line.contains("Prometheus endpoint")).collect();
    assert_eq!(
        said,
        [
            "nanotel: warning: the Prometheus endpoint answered a scrape 503: an answer was not made within 1s (a \
             source of metrics given to it may not be returning; said once until an answer is made in time)",
            "nanotel: info: the Prometheus endpoint answers scrapes again; 2 were answered 503 before",
        ],
        "{stderr}"
    );
}

#[test]
fn a_scrape_finding_every_scrape_thread_stuck_is_answered_503_at_once() {
    let request_timeout = Duration::from_secs(6);
    let (source, server) = GatedSource::serve(request_timeout);
    let address = server.local_addr();
    let stuck: Vec<JoinHandle<String>> =
        (0..4).map(|_| std::thread::spawn(move || loopback::scrape(address))).collect();
    for _ in &stuck {
        source.wait_until_entered();
    }
    for scrape in stuck {
        let answer = scrape.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "answered when its time was up: {answer}");
    }
    // Queued behind the four stuck threads, it would be answered when its own time was up.
    let asked = std::time::Instant::now();
    let answer = loopback::scrape(address);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(asked.elapsed() < request_timeout / 2, "answered at once, after {:?}", asked.elapsed());
    source.open();
    // The four threads are free again once their answers are made.
    let answered = std::time::Instant::now();
    while !loopback::scrape(address).starts_with("HTTP/1.1 200") {
        assert!(answered.elapsed() < WAIT, "never answered again");
        std::thread::sleep(Duration::from_millis(50));
    }
}
