//! A simulated order gateway exporting real OTLP over HTTP.
//!
//! ```text
//! cargo run --release --example trading_client -- [--duration SECS] [--orders-per-sec N] [--seed N]
//! ```
//!
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set it exports there; without it, it starts nanotel's
//! loopback test collector in-process and exports to that, then prints what it received. The last
//! line is `nanotel-summary ` followed by the pipeline's accounting as one JSON object. With
//! `OTEL_METRICS_EXPORTER=otlp,prometheus` it also serves `/metrics` for Prometheus (port 9464).
//!
//! This first version drives the export pipeline directly with OTLP messages; the metric
//! registry, span recorder and logger replace that hand-built data as they land.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};

use nanotel::export::{MetricProducer, Pipeline, Scope};
use nanotel::proto::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use nanotel::proto::logs::v1::LogRecord;
use nanotel::proto::metrics::v1::{metric, number_data_point, Gauge, Metric, NumberDataPoint, ScopeMetrics, Sum};
use nanotel::proto::trace::v1::{span, Span, Status};
use nanotel::testing::TestCollector;

const VENUES: [&str; 4] = ["XNAS", "XNYS", "BATS", "IEXG"];

struct Options {
    duration: Duration,
    orders_per_sec: u64,
    seed: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options { duration: Duration::from_secs(10), orders_per_sec: 2_000, seed: 42 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            value.parse().map_err(|_| format!("{name}: {value:?} is not a whole number"))
        };
        match flag.as_str() {
            "--duration" => options.duration = Duration::from_secs(number("--duration")?),
            "--orders-per-sec" => options.orders_per_sec = number("--orders-per-sec")?.max(1),
            "--seed" => options.seed = number("--seed")?,
            "--help" | "-h" => {
                return Err("usage: trading_client [--duration SECS] [--orders-per-sec N] [--seed N]".into())
            }
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
    }
    Ok(options)
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

/// Order counts per venue and side, and the last book depth, read by the exporter at each
/// collection.
#[derive(Default)]
struct Book {
    orders: [[AtomicU64; 2]; 4],
    depth: AtomicU64,
}

struct BookMetrics {
    book: Arc<Book>,
    start_ns: u64,
}

impl MetricProducer for BookMetrics {
    fn produce(&mut self) -> Vec<ScopeMetrics> {
        let now = now_ns();
        let mut orders = Vec::new();
        for (v, venue) in VENUES.iter().enumerate() {
            for (s, side) in ["buy", "sell"].iter().enumerate() {
                orders.push(NumberDataPoint {
                    attributes: vec![text("venue", venue), text("side", side)],
                    start_time_unix_nano: self.start_ns,
                    time_unix_nano: now,
                    value: Some(number_data_point::Value::AsInt(self.book.orders[v][s].load(Ordering::Relaxed) as i64)),
                    ..Default::default()
                });
            }
        }
        let depth = NumberDataPoint {
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(self.book.depth.load(Ordering::Relaxed) as i64)),
            ..Default::default()
        };
        vec![ScopeMetrics {
            scope: Some(InstrumentationScope { name: "trading_client".into(), ..Default::default() }),
            metrics: vec![
                Metric {
                    name: "orders".into(),
                    unit: "{order}".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: orders,
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                },
                Metric {
                    name: "book.depth".into(),
                    unit: "{level}".into(),
                    data: Some(metric::Data::Gauge(Gauge { data_points: vec![depth] })),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }]
    }
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let external = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.trim().is_empty());
    let collector = if external {
        None
    } else {
        match TestCollector::start() {
            Ok(collector) => Some(collector),
            Err(err) => {
                eprintln!("cannot start the loopback collector: {err}");
                return ExitCode::FAILURE;
            }
        }
    };
    let mut builder = Pipeline::builder();
    if let Some(collector) = &collector {
        println!("no OTEL_EXPORTER_OTLP_ENDPOINT: exporting to the embedded collector at {}", collector.endpoint());
        builder = builder.endpoint(collector.endpoint());
    }
    let pipeline = match builder.build() {
        Ok(pipeline) => pipeline,
        Err(err) => {
            eprintln!("cannot start the pipeline: {err}");
            return ExitCode::FAILURE;
        }
    };

    // `OTEL_METRICS_EXPORTER=otlp,prometheus` (or `prometheus`) makes the pipeline serve a scrape
    // endpoint too, at `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT`.
    if let Some(server) = pipeline.prometheus() {
        println!("Prometheus metrics at http://{}/metrics", server.local_addr());
    }

    let book = Arc::new(Book::default());
    pipeline.add_metric_producer(BookMetrics { book: book.clone(), start_ns: now_ns() });
    let scope: Scope = Arc::new(InstrumentationScope {
        name: "trading_client".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    });
    let running = Arc::new(AtomicBool::new(true));
    let deadline = Instant::now() + options.duration;

    let market_data = {
        let (book, running) = (book.clone(), running.clone());
        let mut rng = rand::rngs::SmallRng::seed_from_u64(options.seed ^ 0x5eed);
        std::thread::Builder::new().name("market-data".into()).spawn(move || {
            while running.load(Ordering::Relaxed) {
                book.depth.store(rng.random_range(1..=50), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };

    let handle = pipeline.handle();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(options.seed);
    let pause = Duration::from_secs_f64(1.0 / options.orders_per_sec as f64);
    let mut order = 0u64;
    while Instant::now() < deadline {
        let venue = rng.random_range(0..VENUES.len());
        let side = rng.random_range(0..2usize);
        let trace_id: [u8; 16] = rng.random();
        let span_id: [u8; 8] = rng.random::<u64>().max(1).to_be_bytes();
        let start = now_ns();
        let filled = rng.random_bool(0.9);
        let end = start + rng.random_range(5_000..80_000);
        handle.send_span(
            &scope,
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                name: "order".into(),
                kind: span::SpanKind::Client as i32,
                flags: 0x101,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes: vec![text("venue", VENUES[venue]), text("side", ["buy", "sell"][side])],
                events: ["sent", "acked", if filled { "filled" } else { "rejected" }]
                    .iter()
                    .enumerate()
                    .map(|(i, name)| span::Event {
                        time_unix_nano: start + (end - start) * i as u64 / 2,
                        name: (*name).into(),
                        ..Default::default()
                    })
                    .collect(),
                status: Some(Status { code: if filled { 1 } else { 2 }, message: String::new() }),
                ..Default::default()
            },
        );
        handle.send_log(
            &scope,
            LogRecord {
                time_unix_nano: end,
                observed_time_unix_nano: end,
                severity_number: if filled { 9 } else { 13 },
                severity_text: if filled { "INFO" } else { "WARN" }.into(),
                body: Some(AnyValue {
                    value: Some(Value::StringValue(format!(
                        "order {order} {}",
                        if filled { "filled" } else { "rejected" }
                    ))),
                }),
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                flags: 1,
                ..Default::default()
            },
        );
        book.orders[venue][side].fetch_add(1, Ordering::Relaxed);
        order += 1;
        std::thread::sleep(pause);
    }
    running.store(false, Ordering::Relaxed);
    if let Ok(thread) = market_data {
        let _ = thread.join();
    }

    println!("sent {order} orders in {:?}", options.duration);
    let report = pipeline.shutdown(Duration::from_secs(10));
    if let Some(collector) = &collector {
        println!("the embedded collector received: {}", collector.summary());
    }
    println!("nanotel-summary {}", report.accounting.to_json());
    ExitCode::SUCCESS
}
