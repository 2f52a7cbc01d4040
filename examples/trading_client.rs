//! A simulated order gateway instrumented with nanotel, exporting real OTLP over HTTP.
//!
//! ```text
//! cargo run --release --example trading_client -- [--duration SECS] [--orders-per-sec N] [--seed N]
//! ```
//!
//! A market-data thread publishes ticks and records the order book's depth; an order thread
//! answers each tick with an order: a span per order with the events `sent`, `acked` and `filled`
//! or `rejected`, a child span per venue round trip, the tick-to-trade latency in a histogram and
//! an order counter per venue and side, all through bound handles, a count of every order routed
//! in a `StaticCounter` and each venue round trip's time in its venue's `StaticHistogram` (no
//! handles: the instruments for cold caches). The pre-trade risk check is
//! instrumented the way libraries are, with `tracing` macros: its `risk.check` span and its event
//! reach the same trace through nanotel's `tracing` layer, a child of the order span.
//!
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set it exports there; without it, it starts nanotel's
//! loopback test collector in-process, exports to that, and prints what it received. At the end
//! it prints the hot-path costs it measured, then, as its last line, `nanotel-summary ` followed
//! by the pipeline's accounting as one JSON object. With `OTEL_METRICS_EXPORTER=otlp,prometheus`
//! it also serves `/metrics` for Prometheus (port 9464).

use std::process::ExitCode;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{self as channel, Receiver, Sender, TryRecvError, TrySendError};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use nanotel::attributes::KeyValue;
use nanotel::clock::now_unix_nanos;
use nanotel::logs::{Logger, Severity};
use nanotel::metrics::{BoundCounter, BoundGauge, BoundHistogram, Boundaries, Meter, StaticCounter, StaticHistogram};
use nanotel::resource::ResourceBuilder;
use nanotel::trace::{SpanKind, Status, Tracer};
use nanotel::{Signal, Telemetry};
use nanotel_testing::TestCollector;
use tracing_subscriber::layer::SubscriberExt;

const VENUES: [&str; 4] = ["XNAS", "XNYS", "BATS", "IEXG"];

/// Every order routed, in a counter without a handle: its add waits for one cache line when the
/// caches went cold, where a bound counter's waits for its handle's, then its cell's.
static ORDERS_ROUTED: StaticCounter = StaticCounter::new("trading.orders.routed")
    .with_unit("{order}")
    .with_description("Orders routed to a venue")
    .with_scope("trading_client");

/// Microseconds from an order to its venue and back, the boundaries compiled into the record.
struct RoundTripMicros;

impl Boundaries for RoundTripMicros {
    const BOUNDS: &'static [u64] = &[2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 25, 50, 100];
}

/// Each venue's attribute, known when the program is written: a `const` slice per venue, as a
/// static's attributes are given.
const VENUE_ATTRIBUTES: [&[KeyValue]; VENUES.len()] = [
    &[KeyValue::static_str("venue", VENUES[0])],
    &[KeyValue::static_str("venue", VENUES[1])],
    &[KeyValue::static_str("venue", VENUES[2])],
    &[KeyValue::static_str("venue", VENUES[3])],
];

/// The round trips to one venue, in a histogram without a handle: like the counter above, its
/// record waits for one cache line when the caches went cold; its series is the venue's.
const fn round_trip(venue: &'static [KeyValue]) -> StaticHistogram<RoundTripMicros> {
    StaticHistogram::new("trading.venue.round_trip")
        .with_unit("us")
        .with_description("Order to venue and back")
        .with_scope("trading_client")
        .with_attributes(venue)
}

/// Every venue round trip, in its venue's static histogram.
static ROUND_TRIP: [StaticHistogram<RoundTripMicros>; VENUES.len()] = [
    round_trip(VENUE_ATTRIBUTES[0]),
    round_trip(VENUE_ATTRIBUTES[1]),
    round_trip(VENUE_ATTRIBUTES[2]),
    round_trip(VENUE_ATTRIBUTES[3]),
];

/// The instruments kept in statics, handed to the order thread when telemetry runs.
#[derive(Clone, Copy)]
struct Statics {
    routed: &'static StaticCounter,
    /// Per venue.
    round_trip: &'static [StaticHistogram<RoundTripMicros>; VENUES.len()],
}
const SIDES: [&str; 2] = ["buy", "sell"];
const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "NVDA", "AMZN"];

/// One operation in this many is timed for the hot-path figures: enough samples for a stable p99,
/// few enough that the timing itself does not shape the run.
const SAMPLE_EVERY: u64 = 4;

/// The longest run `--duration` asks for: a century.
const MAX_DURATION_SECS: u64 = 100 * 365 * 24 * 3600;

struct Options {
    duration: Duration,
    orders_per_sec: u64,
    seed: u64,
}

/// The usage line, printed for `--help` (to stdout) and after a bad flag (to stderr).
const USAGE: &str = "usage: trading_client [--duration SECS] [--orders-per-sec N] [--seed N]";

/// The options, or what to print and the exit code: the usage for `--help` (0), an error (2).
fn parse_options() -> Result<Options, (String, u8)> {
    let mut options = Options { duration: Duration::from_secs(10), orders_per_sec: 2_000, seed: 42 };
    // `args_os`: `args` panics on an argument that is not UTF-8 (until session 41, exit 101).
    let mut args =
        std::env::args_os().skip(1).map(|arg| arg.into_string().map_err(|arg| (format!("{arg:?} is not UTF-8"), 2)));
    while let Some(flag) = args.next() {
        let flag = flag?;
        let mut number = |name: &str| -> Result<u64, (String, u8)> {
            let value = args.next().ok_or_else(|| (format!("{name} needs a value"), 2))??;
            value.parse().map_err(|_| (format!("{name}: {value:?} is not a whole number"), 2))
        };
        match flag.as_str() {
            // Past a century (`u64::MAX` meant as "until stopped"), a century: the run's deadline
            // must fit the clock.
            "--duration" => options.duration = Duration::from_secs(number("--duration")?.min(MAX_DURATION_SECS)),
            "--orders-per-sec" => options.orders_per_sec = number("--orders-per-sec")?.clamp(1, 1_000_000),
            "--seed" => options.seed = number("--seed")?,
            "--help" | "-h" => return Err((USAGE.into(), 0)),
            other => return Err((format!("unknown flag {other:?} (try --help)"), 2)),
        }
    }
    Ok(options)
}

/// A market-data update, stamped when it arrived.
struct Tick {
    symbol: usize,
    arrived_ns: u64,
}

/// Timings of sampled hot-path operations, in nanoseconds, kept in buffers sized up front so
/// measuring never allocates during the run.
struct HotPathSamples {
    /// The cost of the two clock reads around an operation, subtracted from each sample.
    clock_overhead: u64,
    counter_add: Vec<u64>,
    static_counter_add: Vec<u64>,
    histogram_record: Vec<u64>,
    static_histogram_record: Vec<u64>,
    span: Vec<u64>,
}

impl HotPathSamples {
    fn with_capacity(capacity: usize) -> Self {
        HotPathSamples {
            clock_overhead: clock_overhead_ns(),
            counter_add: Vec::with_capacity(capacity),
            static_counter_add: Vec::with_capacity(capacity),
            histogram_record: Vec::with_capacity(capacity),
            static_histogram_record: Vec::with_capacity(capacity),
            span: Vec::with_capacity(capacity),
        }
    }
}

/// Keeps `sample` when there is room left (a full buffer stops sampling instead of growing).
fn keep(samples: &mut Vec<u64>, sample: u64) {
    if samples.len() < samples.capacity() {
        samples.push(sample);
    }
}

/// The instruments of the order thread, bound once to their series.
struct OrderInstruments {
    tick_to_trade: BoundHistogram<u64>,
    /// Per venue, then side.
    orders: Vec<[BoundCounter<u64>; 2]>,
    rejected: Vec<BoundCounter<u64>>,
}

impl OrderInstruments {
    fn new(meter: &Meter) -> Result<Self, Box<dyn std::error::Error>> {
        let tick_to_trade = meter
            .u64_histogram("trading.tick_to_trade")
            .with_unit("ns")
            .with_description("From a market-data tick's arrival to the order it triggered leaving")
            .with_boundaries(vec![1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6])
            .build()?
            .bind(&[]);
        let orders =
            meter.u64_counter("trading.orders").with_unit("{order}").with_description("Orders sent").build()?;
        let rejected = meter
            .u64_counter("trading.orders.rejected")
            .with_unit("{order}")
            .with_description("Orders rejected")
            .build()?;
        let venue = |v: &'static str| KeyValue::new("venue", v);
        Ok(OrderInstruments {
            tick_to_trade,
            orders: VENUES.iter().map(|v| SIDES.map(|s| orders.bind(&[venue(v), KeyValue::new("side", s)]))).collect(),
            rejected: VENUES.iter().map(|v| rejected.bind(&[venue(v)])).collect(),
        })
    }
}

/// The market-data thread: a tick per order slot, the book depth of its symbol, until `running`
/// goes false. Ticks the order thread has not taken yet are not queued past 1024: stale prices
/// are worth nothing to it.
fn market_data(meter: Meter, ticks: Sender<Tick>, running: Arc<AtomicBool>, period: Duration, seed: u64) {
    let depth_gauge = meter.i64_gauge("trading.book.depth").with_unit("{level}").build();
    let tick_counter = meter.u64_counter("trading.market_data.ticks").with_unit("{tick}").build();
    let (Ok(depth_gauge), Ok(tick_counter)) = (depth_gauge, tick_counter) else { return };
    let depth: Vec<BoundGauge<i64>> =
        SYMBOLS.iter().map(|s| depth_gauge.bind(&[KeyValue::new("symbol", *s)])).collect();
    let received = tick_counter.bind(&[]);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    while running.load(Ordering::Relaxed) {
        let symbol = rng.random_range(0..SYMBOLS.len());
        depth[symbol].record(rng.random_range(1..=50));
        received.add(1);
        match ticks.try_send(Tick { symbol, arrived_ns: now_unix_nanos() }) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => return,
        }
        std::thread::sleep(period);
    }
}

/// Waits `nanos` without sleeping, as a venue's round trip over a kernel-bypass network would.
fn spin_for(nanos: u64) {
    let until = now_unix_nanos() + nanos;
    while now_unix_nanos() < until {
        std::hint::spin_loop();
    }
}

/// The order thread: an order per tick until the market-data thread stops. Returns the orders sent
/// and the sampled hot-path timings. `statics` count every order and round trip (none in the
/// calibration pass, whose timed regions hold no telemetry).
fn order_gateway(
    tracer: Tracer,
    meter: Meter,
    logger: Logger,
    statics: Option<Statics>,
    ticks: Receiver<Tick>,
    seed: u64,
    capacity: usize,
) -> (u64, HotPathSamples) {
    let mut samples = HotPathSamples::with_capacity(capacity);
    let Ok(instruments) = OrderInstruments::new(&meter) else { return (0, samples) };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut sent = 0u64;
    loop {
        // Busy-polled, as a gateway on its own core does: a thread woken from sleep for each tick
        // would find its caches cold and time that instead of nanotel. It yields, so on a machine
        // with few cores the exporter and market-data threads still run.
        let tick = match ticks.try_recv() {
            Ok(tick) => tick,
            Err(TryRecvError::Empty) => {
                std::thread::yield_now();
                continue;
            }
            Err(TryRecvError::Disconnected) => break,
        };
        let timed = sent.is_multiple_of(SAMPLE_EVERY);
        let venue = rng.random_range(0..VENUES.len());
        let side = rng.random_range(0..SIDES.len());
        let quantity: i64 = rng.random_range(1..=10) * 100;
        let mut order = tracer
            .span("order")
            .with_attribute(KeyValue::new("venue", VENUES[venue]))
            .with_attribute(KeyValue::new("side", SIDES[side]))
            .with_attribute(KeyValue::new("symbol", SYMBOLS[tick.symbol]))
            .with_attribute(KeyValue::new("order.quantity", quantity))
            .start();
        let entered = order.enter();
        risk_check(SYMBOLS[tick.symbol], quantity);

        // A full fence before each timed stretch, so work still in flight from before it (the
        // clock read is not ordered with earlier instructions) is not timed with it.
        fence(Ordering::SeqCst);
        let t0 = now_unix_nanos();
        instruments.tick_to_trade.record(t0.saturating_sub(tick.arrived_ns));
        let t1 = now_unix_nanos();
        instruments.orders[venue][side].add(1);
        let t2 = now_unix_nanos();
        if let Some(statics) = statics {
            statics.routed.add(1);
        }
        let t2_routed = now_unix_nanos();
        order.add_event("sent", []);

        fence(Ordering::SeqCst);
        let t3 = now_unix_nanos();
        let round_trip = tracer
            .span("venue.round_trip")
            .with_kind(SpanKind::Client)
            .with_attribute(KeyValue::new("venue", VENUES[venue]))
            .start();
        let t4 = now_unix_nanos();
        spin_for(rng.random_range(2_000..20_000));
        let t5 = now_unix_nanos();
        round_trip.end();
        let t6 = now_unix_nanos();
        if let Some(statics) = statics {
            statics.round_trip[venue].record(t5.saturating_sub(t4) / 1_000);
        }
        let t7 = now_unix_nanos();
        if timed {
            // Saturating: the clock may be stepped when the wall clock itself was.
            let cost = |from: u64, to: u64| to.saturating_sub(from).saturating_sub(samples.clock_overhead);
            let (histogram, counter, span) = (cost(t0, t1), cost(t1, t2), cost(t3, t4) + cost(t5, t6));
            keep(&mut samples.histogram_record, histogram);
            keep(&mut samples.counter_add, counter);
            keep(&mut samples.static_counter_add, cost(t2, t2_routed));
            keep(&mut samples.static_histogram_record, cost(t6, t7));
            keep(&mut samples.span, span);
        }

        order.add_event("acked", []);
        // One log record per order, emitted inside the order span so it carries its trace and
        // span ids: the fast path (static body, inline attributes) for a fill, the builder for
        // the rarer rejection.
        if rng.random_bool(0.95) {
            order.add_event("filled", [KeyValue::new("fill.quantity", quantity)]);
            logger.emit(
                Severity::Info,
                "order filled",
                &[KeyValue::new("venue", VENUES[venue]), KeyValue::new("fill.quantity", quantity)],
            );
        } else {
            instruments.rejected[venue].add(1);
            order.add_event("rejected", [KeyValue::new("reason", "price out of band")]);
            order.set_status(Status::error("rejected by the venue"));
            logger
                .record(Severity::Warn)
                .event_name("order.rejected")
                .body("order rejected by the venue")
                .attribute(KeyValue::new("venue", VENUES[venue]))
                .attribute(KeyValue::new("reason", "price out of band"))
                .emit();
        }
        drop(entered);
        order.end();
        sent += 1;
    }
    (sent, samples)
}

/// The pre-trade risk check, instrumented with `tracing` as a library would be: through the
/// `tracing` layer its span is a child of the current (order) span, and its event a log record
/// carrying the check's span id.
fn risk_check(symbol: &'static str, quantity: i64) {
    let _check = tracing::info_span!("risk.check", symbol, order.quantity = quantity).entered();
    let notional_limit = 1_000;
    tracing::info!(limit = notional_limit, passed = quantity <= notional_limit * 100, "risk check done");
}

/// The cost of the clock reads around a timed operation, to subtract from each sample.
fn clock_overhead_ns() -> u64 {
    let mut reads: Vec<u64> = (0..10_000)
        .map(|_| {
            let start = now_unix_nanos();
            now_unix_nanos().saturating_sub(start)
        })
        .collect();
    percentile(&mut reads, 50.0)
}

fn percentile(samples: &mut [u64], p: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// Each figure of the run beside the same region timed with telemetry disabled.
fn print_hot_path(mut samples: HotPathSamples, mut calibration: HotPathSamples) {
    let overhead = samples.clock_overhead;
    println!(
        "hot path: one operation in {SAMPLE_EVERY} timed on the order thread, the clock reads' own {overhead} ns subtracted; \
         beside each, the same region with telemetry disabled (a calibration pass in this process)"
    );
    for (what, values, disabled) in [
        ("counter add", &mut samples.counter_add, &mut calibration.counter_add),
        ("static counter add", &mut samples.static_counter_add, &mut calibration.static_counter_add),
        ("histogram record", &mut samples.histogram_record, &mut calibration.histogram_record),
        ("static histogram record", &mut samples.static_histogram_record, &mut calibration.static_histogram_record),
        ("span", &mut samples.span, &mut calibration.span),
    ] {
        let count = values.len();
        let (p50, p99) = (percentile(values, 50.0), percentile(values, 99.0));
        let (off50, off99) = (percentile(disabled, 50.0), percentile(disabled, 99.0));
        println!(
            "hot path: {what} p50 {p50} ns p99 {p99} ns ({count} samples); disabled p50 {off50} ns p99 {off99} ns \
             ({} samples): nanotel adds p50 {} ns",
            disabled.len(),
            p50.saturating_sub(off50)
        );
    }
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err((usage, 0)) => {
            println!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err((message, code)) => {
            eprintln!("{message}");
            return ExitCode::from(code);
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
    // OTEL_SERVICE_NAME, when set, wins over the name given here.
    let mut builder = nanotel::builder().with_resource(
        ResourceBuilder::new().with_service_name("trading_client").with_service_version(env!("CARGO_PKG_VERSION")),
    );
    if let Some(collector) = &collector {
        println!("no OTEL_EXPORTER_OTLP_ENDPOINT: exporting to the embedded collector at {}", collector.endpoint());
        builder = builder.with_endpoint(collector.endpoint());
    }
    let telemetry = match builder.build() {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    if telemetry.is_disabled() {
        println!("OTEL_SDK_DISABLED=true: nothing is recorded or exported");
    }
    // `tracing` spans and events (the risk check's, and any library's) become nanotel spans and
    // log records.
    if let Err(err) =
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(telemetry.tracing_layer()))
    {
        eprintln!("the tracing layer is not installed: {err}");
    }
    // `OTEL_METRICS_EXPORTER=otlp,prometheus` (or `prometheus`) makes the telemetry serve a scrape
    // endpoint too, at `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT`.
    if let Some(server) = telemetry.prometheus() {
        println!("Prometheus metrics at http://{}/metrics", server.local_addr());
    }

    let (sent, samples) = run(&telemetry, &options);
    println!("sent {sent} orders in {:?}", options.duration);
    let calibration = calibrate(sent.min(CALIBRATION_ORDERS), options.seed);
    print_report(telemetry, collector.as_ref(), samples, calibration)
}

/// Orders the calibration pass sends at most.
const CALIBRATION_ORDERS: u64 = 20_000;

/// The calibration pass: the order thread's loop once more, over `orders` ticks queued up front,
/// with telemetry disabled (no-op handles), so its timed regions measure what the clock, the
/// loop and the machine cost without nanotel: the figures to hold the run's against.
fn calibrate(orders: u64, seed: u64) -> HotPathSamples {
    let Ok(disabled) = nanotel::builder().with_disabled(true).build() else { return HotPathSamples::with_capacity(0) };
    let (ticks_in, ticks_out) = channel::unbounded();
    for symbol in (0..SYMBOLS.len()).cycle().take(orders as usize) {
        let _ = ticks_in.send(Tick { symbol, arrived_ns: now_unix_nanos() });
    }
    drop(ticks_in);
    let capacity = (orders / SAMPLE_EVERY) as usize + 1;
    let (tracer, meter, logger) =
        (disabled.tracer("calibration"), disabled.meter("calibration"), disabled.logger("calibration"));
    // The risk check's `tracing` calls go to a layer on the disabled telemetry too (on this
    // thread only), not into the run's trace.
    let subscriber = tracing_subscriber::registry().with(disabled.tracing_layer());
    let calibration = std::thread::Builder::new().name("orders-calibration".into()).spawn(move || {
        tracing::subscriber::with_default(subscriber, || {
            order_gateway(tracer, meter, logger, None, ticks_out, seed, capacity).1
        })
    });
    match calibration.map(std::thread::JoinHandle::join) {
        Ok(Ok(samples)) => samples,
        _ => HotPathSamples::with_capacity(0),
    }
}

/// Runs the two threads for the configured duration.
fn run(telemetry: &Telemetry, options: &Options) -> (u64, HotPathSamples) {
    let meter = telemetry.meter_with_version("trading_client", env!("CARGO_PKG_VERSION"));
    let tracer = telemetry.tracer_with_version("trading_client", env!("CARGO_PKG_VERSION"));
    let logger = telemetry.logger_with_version("trading_client", env!("CARGO_PKG_VERSION"));
    let period = Duration::from_secs_f64(1.0 / options.orders_per_sec as f64);
    let expected = options.duration.as_secs().saturating_mul(options.orders_per_sec) / SAMPLE_EVERY;
    let capacity = (expected as usize).saturating_add(1024).min(1 << 20);
    let (ticks_in, ticks_out) = channel::bounded(1024);
    let running = Arc::new(AtomicBool::new(true));

    let market_data = {
        let (meter, running, seed) = (meter.clone(), running.clone(), options.seed);
        std::thread::Builder::new()
            .name("market-data".into())
            .spawn(move || market_data(meter, ticks_in, running, period, seed))
    };
    let orders = {
        let seed = options.seed;
        // A disabled run (`OTEL_SDK_DISABLED=true`) records nothing, the statics included.
        let statics = (!telemetry.is_disabled()).then_some(Statics { routed: &ORDERS_ROUTED, round_trip: &ROUND_TRIP });
        std::thread::Builder::new()
            .name("orders".into())
            .spawn(move || order_gateway(tracer, meter, logger, statics, ticks_out, seed, capacity))
    };
    let deadline = Instant::now() + options.duration;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10).min(deadline.saturating_duration_since(Instant::now())));
    }
    // The market-data thread stops and drops its sender; the order thread answers the ticks left.
    running.store(false, Ordering::Relaxed);
    if let Ok(thread) = market_data {
        let _ = thread.join();
    }
    match orders.map(std::thread::JoinHandle::join) {
        Ok(Ok(result)) => result,
        _ => (0, HotPathSamples::with_capacity(0)),
    }
}

/// Shuts down (delivering everything), prints what the collector received, the hot-path figures
/// and, last, the accounting.
fn print_report(
    telemetry: Telemetry,
    collector: Option<&TestCollector>,
    samples: HotPathSamples,
    calibration: HotPathSamples,
) -> ExitCode {
    let report = telemetry.shutdown(Duration::from_secs(10));
    let mut consistent = true;
    if let Some(collector) = collector {
        println!("the embedded collector received: {}", collector.summary());
        // Which protocols carried it (the collector serves OTLP/HTTP and OTLP/gRPC on one port).
        let mut content_types: Vec<String> =
            collector.received().into_iter().filter_map(|request| request.content_type).collect();
        content_types.sort();
        content_types.dedup();
        println!("the embedded collector received content types: {}", content_types.join(", "));
        for signal in Signal::ALL {
            let counts = report.accounting.signal(signal);
            let (exported, accepted) = (counts.exported, collector.accepted_items(signal));
            // A signal that made no request went elsewhere (`OTEL_LOGS_EXPORTER=console`, say):
            // its exports are lines on stdout, not the collector's (until session 41 the demo
            // compared them and failed).
            if counts.requests > 0 && exported != accepted {
                eprintln!("{}: {exported} reported exported, but the collector accepted {accepted}", signal.name());
                consistent = false;
            }
        }
    }
    if !report.completed {
        eprintln!("shutdown did not finish within 10 s; undelivered items are counted as dropped");
    }
    print_hot_path(samples, calibration);
    println!("nanotel-summary {}", report.accounting.to_json());
    if consistent {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
