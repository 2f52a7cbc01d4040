//! A real Prometheus server (Debian package `prometheus`; `NANOTEL_PROMETHEUS` names the binary)
//! scrapes a telemetry's endpoint every second; the series read back through its HTTP API carry
//! the values recorded, the pipeline's own telemetry and `target_info`; with exemplar storage
//! on, the exemplars it read back link to the span that was current when the value was recorded.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nanotel::attributes::KeyValue;
use nanotel::metrics::{Aggregation, View};
use nanotel::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue as OtlpKeyValue};
use nanotel::proto::resource::v1::Resource;
use nanotel::proto::trace::v1::Span;
use nanotel::trace::{Sampler, TracerProvider};
use nanotel::Signal;
use nanotel_testing::TestCollector;

/// How long Prometheus gets to start and to show a scraped value before the test gives up.
const PATIENCE: Duration = Duration::from_secs(90);

/// The prometheus binary, or `None` (after saying so) when the test is to be skipped.
fn prometheus_binary() -> Option<String> {
    let path =
        std::env::var("NANOTEL_PROMETHEUS").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "prometheus".into());
    let found = Command::new(&path).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if found {
        return Some(path);
    }
    let required = std::env::var("NANOTEL_REQUIRE_CONFORMANCE").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "NANOTEL_REQUIRE_CONFORMANCE=1 but prometheus ({path}) cannot be run: apt-get install prometheus"
    );
    let _ = writeln!(
        std::io::stderr(),
        "Prometheus scrape test skipped: prometheus not found (apt-get install prometheus)"
    );
    None
}

/// A Prometheus server with a data directory of its own; killed and cleaned up when dropped,
/// panics included.
struct PrometheusProcess {
    child: Child,
    dir: PathBuf,
    api: String,
    client: reqwest::blocking::Client,
}

impl PrometheusProcess {
    /// Starts the server; again, on a new port, when the port it was given was taken between its
    /// choice and the server's bind (another test's connection, say), at most three times.
    fn start(binary: &str, target: std::net::SocketAddr, extra_args: &[&str]) -> PrometheusProcess {
        let mut attempts = 1;
        loop {
            let mut process = Self::start_once(binary, target, extra_args);
            if attempts == 3 || !process.lost_its_port() {
                return process;
            }
            attempts += 1;
        }
    }

    /// Whether the server ended because its port was taken (waits until it answers or ends).
    fn lost_its_port(&mut self) -> bool {
        let give_up = Instant::now() + Duration::from_secs(20);
        while Instant::now() < give_up {
            if self.client.get(format!("{}/-/ready", self.api)).send().is_ok() {
                return false;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.log().contains("address already in use");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn start_once(binary: &str, target: std::net::SocketAddr, extra_args: &[&str]) -> PrometheusProcess {
        let unique = format!(
            "nanotel-prometheus-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        );
        let dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: nanotel\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        // A free port for its web API: bound, noted, released.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        PrometheusProcess { child, dir, api: format!("http://127.0.0.1:{port}"), client }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// The samples of an instant query, as (labels, value) pairs; empty while there are none (or
    /// while the server is still starting).
    fn query(&self, promql: &str) -> Vec<(serde_json::Value, String)> {
        let answer = self.client.get(format!("{}/api/v1/query", self.api)).query(&[("query", promql)]).send();
        let Ok(body) = answer.and_then(reqwest::blocking::Response::text) else { return Vec::new() };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&body) else { return Vec::new() };
        let Some(results) = json["data"]["result"].as_array() else { return Vec::new() };
        results
            .iter()
            .map(|sample| (sample["metric"].clone(), sample["value"][1].as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    /// Waits until `promql` returns exactly one sample with value `expected`, and returns its
    /// labels.
    fn wait_for(&mut self, promql: &str, expected: &str) -> serde_json::Value {
        let give_up = Instant::now() + PATIENCE;
        loop {
            let samples = self.query(promql);
            if let [(labels, value)] = &samples[..] {
                if value == expected {
                    return labels.clone();
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < give_up,
                "{promql} never read {expected}; last answer {samples:?}\n--- prometheus log ---\n{}\n--- targets ---\n{}",
                self.log(),
                self.client
                    .get(format!("{}/api/v1/targets", self.api))
                    .send()
                    .and_then(reqwest::blocking::Response::text)
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl PrometheusProcess {
    /// Waits until `/api/v1/query_exemplars` finds, for `promql` over the last hour, an exemplar
    /// with this trace id, and returns it with the labels of its series.
    /// Every series of `promql` holding an exemplar of `trace_id`, with that exemplar, once there
    /// is one.
    fn wait_for_exemplar(&mut self, promql: &str, trace_id: &str) -> Vec<(serde_json::Value, serde_json::Value)> {
        let give_up = Instant::now() + PATIENCE;
        loop {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            let (start, end) = ((now - 3600).to_string(), (now + 60).to_string());
            let answer = self
                .client
                .get(format!("{}/api/v1/query_exemplars", self.api))
                .query(&[("query", promql), ("start", &start), ("end", &end)])
                .send()
                .and_then(reqwest::blocking::Response::text)
                .unwrap_or_default();
            let json: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
            let mut found = Vec::new();
            for series in json["data"].as_array().into_iter().flatten() {
                for exemplar in series["exemplars"].as_array().into_iter().flatten() {
                    if exemplar["labels"]["trace_id"] == trace_id {
                        found.push((series["seriesLabels"].clone(), exemplar.clone()));
                    }
                }
            }
            if !found.is_empty() {
                return found;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < give_up,
                "no exemplar of trace {trace_id} for {promql}; last answer {answer}\n--- prometheus log ---\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(key: &str, value: &str) -> OtlpKeyValue {
    OtlpKeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

#[test]
fn prometheus_scrapes_the_recorded_values() {
    let Some(binary) = prometheus_binary() else { return };
    let collector = TestCollector::start().unwrap();
    let resource = Resource {
        attributes: vec![text("service.name", "order-gateway"), text("host.name", "h1")],
        ..Default::default()
    };
    // Switched on as the specification has it: `prometheus` listed in OTEL_METRICS_EXPORTER.
    let endpoint = collector.endpoint();
    let telemetry = nanotel::builder()
        .with_env_lookup(move |name| match name {
            "OTEL_METRICS_EXPORTER" => Some("otlp,prometheus".into()),
            "OTEL_EXPORTER_PROMETHEUS_HOST" => Some("127.0.0.1".into()),
            "OTEL_EXPORTER_PROMETHEUS_PORT" => Some("0".into()),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            _ => None,
        })
        .with_install_global(false)
        .configure_pipeline(|pipeline| pipeline.with_resource(resource))
        // A counter of fill sizes, aggregated as a histogram (and an up-down counter's, without sum).
        .configure_metrics(|metrics| {
            metrics
                .with_view(
                    View::new("fill.size")
                        .with_aggregation(Aggregation::ExplicitBucketHistogram { boundaries: vec![100.0] }),
                )
                .with_view(
                    View::new("depth.change")
                        .with_aggregation(Aggregation::ExplicitBucketHistogram { boundaries: vec![0.0] }),
                )
        })
        .build()
        .unwrap();
    let pipeline = telemetry.pipeline().expect("enabled");
    let meter = telemetry.meter_with_version("gateway", "1.0.0");
    let fill_size = meter.u64_counter("fill.size").build().unwrap();
    fill_size.add(50, &[]);
    fill_size.bind(&[]).add(500);
    let depth_change = meter.i64_up_down_counter("depth.change").build().unwrap();
    depth_change.add(-3, &[]);
    depth_change.add(2, &[]);
    let orders = meter.u64_counter("orders").with_unit("{order}").with_description("Orders sent.").build().unwrap();
    let xnas = orders.bind(&[KeyValue::new("venue", "XNAS")]);
    xnas.add(42);
    orders.add(7, &[KeyValue::new("venue", "BATS")]);
    meter.f64_gauge("quote.spread").with_unit("1").build().unwrap().record(0.25, &[KeyValue::new("symbol", "AAPL")]);
    let latency = meter.f64_histogram("order.latency").with_unit("s").build().unwrap();
    for seconds in [0.25, 0.5, 30.0] {
        latency.record(seconds, &[]);
    }
    // Spans through the pipeline, so its own telemetry has something to count.
    let scope = std::sync::Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    for i in 0..5u8 {
        let span =
            Span { name: "order".into(), trace_id: vec![i + 1; 16], span_id: vec![i + 1; 8], ..Default::default() };
        assert!(pipeline.handle().send_span(&scope, span));
    }
    pipeline.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(collector.accepted_items(Signal::Traces), 5);

    let target = telemetry.prometheus().expect("the endpoint was asked for").local_addr();
    let mut prometheus = PrometheusProcess::start(&binary, target, &[]);
    prometheus.wait_for("up{job=\"nanotel\"}", "1");
    let labels = prometheus.wait_for("orders_total{venue=\"XNAS\"}", "42");
    assert_eq!(labels["otel_scope_name"], "gateway");
    assert_eq!(labels["otel_scope_version"], "1.0.0");
    assert_eq!(labels["job"], "nanotel");
    prometheus.wait_for("orders_total{venue=\"BATS\"}", "7");
    prometheus.wait_for("quote_spread{symbol=\"AAPL\"}", "0.25");
    prometheus.wait_for("order_latency_seconds_count", "3");
    // OpenMetrics writes bounds canonically (`5.0`); Prometheus 2 keeps the text as it came.
    prometheus.wait_for("order_latency_seconds_bucket{le=~\"5(\\\\.0)?\"}", "2");
    prometheus.wait_for("order_latency_seconds_bucket{le=\"+Inf\"}", "3");
    prometheus.wait_for("order_latency_seconds_sum", "30.75");
    prometheus.wait_for("target_info{service_name=\"order-gateway\",host_name=\"h1\"}", "1");
    prometheus.wait_for("fill_size_bucket{le=~\"100(\\\\.0)?\"}", "1");
    prometheus.wait_for("fill_size_bucket{le=\"+Inf\"}", "2");
    prometheus.wait_for("fill_size_sum", "550");
    prometheus.wait_for("depth_change_bucket{le=~\"0(\\\\.0)?\"}", "1");
    prometheus.wait_for("depth_change_bucket{le=\"+Inf\"}", "2");
    assert!(prometheus.query("depth_change_sum").is_empty(), "an up-down counter's histogram has no sum");
    // The pipeline's own telemetry, in the same scrape.
    prometheus.wait_for("nanotel_exporter_items_exported_total{signal=\"traces\"}", "5");
    prometheus.wait_for("nanotel_exporter_queue_capacity{signal=\"traces\"}", "2048");
    prometheus.wait_for("nanotel_exporter_breaker_state{signal=\"traces\"}", "0");
    prometheus.wait_for("nanotel_exporter_export_duration_seconds_count{signal=\"traces\"}", "1");

    // Values recorded later show up in later scrapes.
    xnas.add(8);
    prometheus.wait_for("orders_total{venue=\"XNAS\"}", "50");
    drop(prometheus);
    telemetry.shutdown(Duration::from_secs(5));
}

/// The workflow exemplars are for: a latency recorded inside a sampled span is scraped (as
/// `OpenMetrics`, which Prometheus asks for) with its exemplar; Prometheus, run with exemplar
/// storage, returns it from `/api/v1/query_exemplars` with the span's trace and span id, on the
/// bucket the value fell in, with the order id a view removed from the series as an exemplar
/// label. A counter's exemplar comes back the same way.
#[test]
fn prometheus_reads_back_the_exemplar_of_a_span() {
    let Some(binary) = prometheus_binary() else { return };
    let telemetry = nanotel::builder()
        .with_env_lookup(move |name| match name {
            "OTEL_METRICS_EXPORTER" => Some("prometheus".into()),
            "OTEL_TRACES_EXPORTER" | "OTEL_LOGS_EXPORTER" => Some("none".into()),
            "OTEL_EXPORTER_PROMETHEUS_HOST" => Some("127.0.0.1".into()),
            "OTEL_EXPORTER_PROMETHEUS_PORT" => Some("0".into()),
            _ => None,
        })
        .with_install_global(false)
        // The order id is no label of the series, but the exemplar carries it.
        .configure_metrics(|metrics| {
            metrics.with_view(View::new("tick_to_trade").with_dropped_attributes(["order.id"]))
        })
        .build()
        .unwrap();
    let meter = telemetry.meter("desk");
    let tick_to_trade = meter
        .f64_histogram("tick_to_trade")
        .with_unit("s")
        .with_boundaries(vec![0.000_01, 0.000_1, 0.001])
        .build()
        .unwrap();
    let orders = meter.u64_counter("orders").build().unwrap();
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let span = tracers.tracer("desk").span("order").start();
    let (trace_id, span_id) = (span.context().trace_id().to_string(), span.context().span_id().to_string());
    {
        let _entered = span.enter();
        tick_to_trade.record(0.000_42, &[KeyValue::new("venue", "XNAS"), KeyValue::new("order.id", 4217)]);
        orders.add(1, &[KeyValue::new("venue", "XNAS")]);
    }
    // A faster one outside any span: its bucket has no exemplar.
    tick_to_trade.record(0.000_005, &[KeyValue::new("venue", "XNAS")]);

    let target = telemetry.prometheus().expect("the endpoint was asked for").local_addr();
    let mut prometheus = PrometheusProcess::start(&binary, target, &["--enable-feature=exemplar-storage"]);
    prometheus.wait_for("tick_to_trade_seconds_count{venue=\"XNAS\"}", "2");
    let found = prometheus.wait_for_exemplar("tick_to_trade_seconds_bucket", &trace_id);
    // Its own bucket's, and the `+Inf` bucket's, which has none of its own (the specification:
    // a bucket without one shows the highest of a lower bucket's).
    let mut buckets: Vec<&str> = found.iter().filter_map(|(series, _)| series["le"].as_str()).collect();
    buckets.sort_unstable();
    assert_eq!(buckets.len(), 2, "{found:?}");
    assert!(buckets[0] == "+Inf" && buckets[1].starts_with("0.001"), "the bucket of 0.00042 and +Inf: {found:?}");
    for (series, exemplar) in &found {
        assert_eq!(exemplar["labels"]["span_id"], span_id.as_str(), "{exemplar}");
        assert_eq!(exemplar["value"], "0.00042", "{exemplar}");
        assert_eq!(series["venue"], "XNAS");
        assert_eq!((series.get("order_id"), &exemplar["labels"]["order_id"]), (None, &serde_json::json!("4217")));
    }
    let (_, counted) = &prometheus.wait_for_exemplar("orders_total", &trace_id)[0];
    assert_eq!((counted["labels"]["span_id"].as_str(), counted["value"].as_str()), (Some(span_id.as_str()), Some("1")));
    drop(prometheus);
    telemetry.shutdown(Duration::from_secs(5));
}
