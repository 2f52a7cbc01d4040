//! Sustained span rates with the default settings: how many spans a thread (and the process) can
//! end per second for a while without losing any (issue 19).
//!
//! ```text
//! cargo run --release --example sustained_rate -- [--exporter noop|encode|collector] \
//!     [--duration SECS] [--idle SECS] [--ring-capacity N] [SCENARIO...]
//! ```
//!
//! A scenario is `THREADSxRATE`, spans per second per thread (default: `1x500000 4x200000`). Each
//! recording thread ends spans of the demo's order-span shape (a client span with three
//! attributes: a static string, an integer and one set after the start) at its rate, paced: every
//! 100 µs it ends the spans that came due, then sleeps. The pipeline and the tracer provider use
//! their default settings (queue, batch size, ring capacity, poll interval; the environment is
//! not read); only the exporter differs:
//!
//! - `noop` (the default): an exporter of one's own that discards each batch. What is measured
//!   is the path from `end` to the batch: the per-thread rings, the drain, the queue.
//! - `encode`: an exporter of one's own that encodes and gzips each batch the way the OTLP
//!   exporter does, then discards it: the exporter thread's whole cost except the network.
//! - `collector`: OTLP/HTTP (gzip) to nanotel's loopback test collector in this process, which
//!   decodes every request on this machine's cores.
//!
//! For each scenario it prints the spans ended, the pipeline's accounting (exported, dropped by
//! reason) after a shutdown that waits for everything, and the CPU the exporter thread used. With
//! `--idle SECS` it then leaves the pipeline idle for that long and prints the exporter thread's
//! CPU meanwhile (the adaptive drain must not spin it). `--ring-capacity N` sets the provider's
//! ring capacity instead of its default, to see what the default buys. It exits with 1 when a
//! scenario lost spans.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use nanotel::attributes::KeyValue;
use nanotel::export::{Compression, Encoder, ExportError, Exporter, ExporterKind, Pipeline, Protocol};
use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
use nanotel::trace::{SpanKind, TracerProvider};
use nanotel::Signal;
use nanotel_testing::TestCollector;

#[derive(Clone, Copy, PartialEq)]
enum Export {
    Noop,
    Encode,
    Collector,
}

struct Options {
    export: Export,
    duration: Duration,
    idle: Duration,
    scenarios: Vec<(usize, u64)>,
    ring_capacity: Option<usize>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        export: Export::Noop,
        duration: Duration::from_secs(10),
        idle: Duration::ZERO,
        scenarios: Vec::new(),
        ring_capacity: None,
    };
    // `args_os`: `args` panics on an argument that is not UTF-8 (until session 42, exit 101).
    let mut args =
        std::env::args_os().skip(1).map(|arg| arg.into_string().map_err(|arg| format!("{arg:?} is not UTF-8")));
    while let Some(arg) = args.next() {
        let arg = arg?;
        let mut seconds = |name: &str| -> Result<Duration, String> {
            let value = args.next().ok_or_else(|| format!("{name} needs a value"))??;
            // At most a century: the run's deadline must fit the clock.
            let seconds: u64 = value.parse().map_err(|_| format!("{name}: {value:?} is not a whole number"))?;
            Ok(Duration::from_secs(seconds.min(100 * 365 * 24 * 3600)))
        };
        match arg.as_str() {
            "--duration" => options.duration = seconds("--duration")?,
            "--idle" => options.idle = seconds("--idle")?,
            "--ring-capacity" => {
                let value = args.next().ok_or("--ring-capacity needs a value")??;
                let capacity =
                    value.parse().map_err(|_| format!("--ring-capacity: {value:?} is not a whole number"))?;
                options.ring_capacity = Some(capacity);
            }
            "--exporter" => {
                options.export = match args.next().transpose()?.as_deref() {
                    Some("noop") => Export::Noop,
                    Some("encode") => Export::Encode,
                    Some("collector") => Export::Collector,
                    other => return Err(format!("--exporter: {other:?} is not noop, encode or collector")),
                }
            }
            "--help" | "-h" => {
                return Err("usage: sustained_rate [--exporter noop|encode|collector] [--duration SECS] \
                            [--idle SECS] [--ring-capacity N] [THREADSxRATE...]"
                    .into())
            }
            scenario => {
                let parsed = scenario.split_once('x').and_then(|(threads, rate)| {
                    Some((threads.parse::<usize>().ok()?.clamp(1, 256), rate.parse::<u64>().ok()?.max(1)))
                });
                options.scenarios.push(parsed.ok_or_else(|| format!("{scenario:?} is not THREADSxRATE"))?);
            }
        }
    }
    if options.scenarios.is_empty() {
        options.scenarios = vec![(1, 500_000), (4, 200_000)];
    }
    Ok(options)
}

/// Discards each batch.
struct Discard;

impl Exporter<ExportTraceServiceRequest> for Discard {
    fn export(&mut self, batch: ExportTraceServiceRequest) -> Result<(), ExportError> {
        drop(std::hint::black_box(batch));
        Ok(())
    }
}

/// Encodes and gzips each batch as the OTLP/HTTP exporter would, then discards the bytes.
struct EncodeAndDiscard(Encoder);

impl Exporter<ExportTraceServiceRequest> for EncodeAndDiscard {
    fn export(&mut self, batch: ExportTraceServiceRequest) -> Result<(), ExportError> {
        match self.0.encode(&batch) {
            Ok(body) => {
                std::hint::black_box(body);
                Ok(())
            }
            Err(error) => Err(ExportError::Rejected(error.to_string())),
        }
    }
}

/// Ends `rate` spans a second for `duration`, paced in steps of 100 µs; returns how many it ended
/// and the time spent ending them (the bursts, without the sleeps between).
fn record(provider: &TracerProvider, rate: u64, duration: Duration) -> (u64, Duration) {
    let tracer = provider.tracer("gateway");
    let start = Instant::now();
    let mut ended = 0u64;
    let mut busy = Duration::ZERO;
    loop {
        let burst = Instant::now();
        let elapsed = burst.duration_since(start);
        if elapsed >= duration {
            return (ended, busy);
        }
        let due = (elapsed.as_nanos() * u128::from(rate) / 1_000_000_000) as u64;
        while ended < due {
            let mut span = tracer
                .span("order.send")
                .with_kind(SpanKind::Client)
                .with_attribute(KeyValue::new("venue", "XNAS"))
                .with_attribute(KeyValue::new("order.qty", (ended % 500) as i64))
                .start();
            span.set_attribute(KeyValue::new("order.id", ended as i64));
            span.end();
            ended += 1;
        }
        busy += burst.elapsed();
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// CPU time (user + system) the `nanotel-export` thread has used so far, from `/proc` (Linux).
fn exporter_cpu() -> Option<Duration> {
    let ticks_per_second = 100; // USER_HZ, 100 on every Linux this runs on.
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).ok()?;
        if comm.trim_end() != "nanotel-export" {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        // Fields after the command name (which is in parentheses): state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        return Some(Duration::from_millis(ticks * 1000 / ticks_per_second));
    }
    None
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".into(), |line| line.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

#[expect(clippy::too_many_lines, reason = "the example's whole run, read top to bottom")]
fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let exporter = match options.export {
        Export::Noop => "noop (an exporter of one's own that discards)",
        Export::Encode => "encode (encode + gzip each batch, then discard)",
        Export::Collector => "collector (OTLP/HTTP, gzip, to the loopback test collector in this process)",
    };
    println!("exporter: {exporter}; default pipeline and provider settings");
    let mut lost_any = false;
    for &(threads, rate) in &options.scenarios {
        let collector = match options.export {
            Export::Collector => match TestCollector::start() {
                Ok(collector) => Some(collector),
                Err(error) => {
                    eprintln!("cannot start the test collector: {error}");
                    return ExitCode::from(2);
                }
            },
            _ => None,
        };
        // Metrics and logs are switched off: only spans are measured (their settings stay the defaults).
        let mut builder = Pipeline::builder()
            .without_env()
            .with_exporter(Signal::Metrics, ExporterKind::None)
            .with_exporter(Signal::Logs, ExporterKind::None);
        builder = match (&collector, options.export) {
            (Some(collector), _) => builder.with_endpoint(collector.endpoint()).with_protocol(Protocol::HttpProtobuf),
            (None, Export::Encode) => {
                builder.with_span_exporter(EncodeAndDiscard(Encoder::new(Protocol::HttpProtobuf, Compression::Gzip)))
            }
            (None, _) => builder.with_span_exporter(Discard),
        };
        let pipeline = match builder.build() {
            Ok(pipeline) => pipeline,
            Err(error) => {
                eprintln!("pipeline: {error}");
                return ExitCode::from(2);
            }
        };
        let mut provider = TracerProvider::builder().without_env();
        if let Some(capacity) = options.ring_capacity {
            provider = provider.with_ring_capacity(capacity);
        }
        let provider = provider.build();
        provider.attach(&pipeline);
        let load_before = load_average();
        let cpu_before = exporter_cpu();
        let started = Instant::now();
        let (ended, busy) = std::thread::scope(|scope| {
            let workers: Vec<_> =
                (0..threads).map(|_| scope.spawn(|| record(&provider, rate, options.duration))).collect();
            let results = workers.into_iter().map(|worker| worker.join().unwrap_or_default());
            results.fold((0, Duration::ZERO), |(ended, busy), (more, longer)| (ended + more, busy + longer))
        });
        let recording = started.elapsed();
        let cpu_recording = exporter_cpu().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
        let mut idle_cpu = None;
        if !options.idle.is_zero() {
            // Let the last spans go out first, then time the idle pipeline alone.
            std::thread::sleep(Duration::from_millis(200));
            let before = exporter_cpu();
            std::thread::sleep(options.idle);
            idle_cpu = exporter_cpu().zip(before).map(|(after, before)| after.saturating_sub(before));
        }
        let report = pipeline.shutdown(Duration::from_secs(60));
        let traces = &report.accounting.traces;
        let dropped: u64 = traces.dropped.values().sum();
        let reasons: Vec<String> = traces
            .dropped
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(reason, count)| format!("{reason} {count}"))
            .collect();
        println!(
            "{threads} thread(s) x {rate} spans/s for {:.1} s: ended {ended} ({:.0} spans/s in all), enqueued {}, \
             exported {}, dropped {dropped} ({}); load average before {load_before}, after {}",
            recording.as_secs_f64(),
            ended as f64 / recording.as_secs_f64(),
            traces.enqueued,
            traces.exported,
            if reasons.is_empty() { "none".to_string() } else { reasons.join(", ") },
            load_average(),
        );
        println!(
            "  recording threads: {:.0} ns per span ended (wall time in the bursts, clock reads and pacing included)",
            busy.as_nanos() as f64 / ended.max(1) as f64
        );
        if let Some(cpu) = cpu_recording {
            println!(
                "  exporter thread CPU while recording: {} ms ({:.0} % of one core)",
                cpu.as_millis(),
                cpu.as_secs_f64() * 100.0 / recording.as_secs_f64()
            );
        }
        if let Some(cpu) = idle_cpu {
            println!("  exporter thread CPU over {} s idle: {} ms", options.idle.as_secs(), cpu.as_millis());
        }
        if let Some(collector) = collector {
            println!("  the collector accepted {} spans", collector.accepted_items(Signal::Traces));
            collector.shutdown();
        }
        if dropped > 0 || traces.exported != ended {
            lost_any = true;
        }
    }
    if lost_any {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
