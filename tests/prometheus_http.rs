//! The Prometheus endpoint over real HTTP on 127.0.0.1: content negotiation, gzip, `promtool
//! check metrics` on what a scrape returns (Debian package `prometheus`; `NANOTEL_PROMTOOL` names
//! it), and clean answers to malformed or hostile requests that never hold up other scrapers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{ExporterKind, Pipeline};
use nanotel::metrics::MeterProvider;
use nanotel::prometheus::PrometheusServer;
use nanotel::proto::common::v1::{any_value, AnyValue, KeyValue as OtlpKeyValue};
use nanotel::proto::resource::v1::Resource;
use nanotel::Signal;

#[path = "support/promtool.rs"]
mod promtool;

use promtool::assert_promtool_accepts;

/// What Prometheus 2.x sends.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A parsed answer.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> String {
        if self.header("content-encoding") == Some("gzip") {
            let mut plain = String::new();
            flate2::read::GzDecoder::new(&self.body[..]).read_to_string(&mut plain).expect("a gzip body");
            plain
        } else {
            String::from_utf8(self.body.clone()).expect("a UTF-8 body")
        }
    }
}

fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("the server closes after its answer");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head") + 4;
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
    Answer { status, head, body: raw[split..].to_vec() }
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).unwrap();
    // Only so that a broken server fails the test instead of hanging it.
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream
}

fn exchange(address: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = connect(address);
    stream.write_all(request).unwrap();
    read_answer(&mut stream)
}

fn get(address: SocketAddr, extra_headers: &str) -> Answer {
    exchange(address, format!("GET /metrics HTTP/1.1\r\nHost: test\r\n{extra_headers}\r\n").as_bytes())
}

fn text_attribute(key: &str, value: &str) -> OtlpKeyValue {
    OtlpKeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn provider() -> MeterProvider {
    let provider = MeterProvider::builder().without_env().build();
    let meter = provider.meter_with_version("gateway", "1.2.3");
    let attrs = [KeyValue::new("venue", "XNAS"), KeyValue::new("note", "a \"q\"\\\n")];
    meter.u64_counter("orders").with_unit("{order}").with_description("Orders sent.").build().unwrap().add(3, &attrs);
    meter.i64_up_down_counter("orders.open").build().unwrap().add(-2, &attrs);
    let latency = meter.f64_histogram("order.latency").with_unit("s").build().unwrap();
    for v in [0.001, 0.5, 7.0] {
        latency.record(v, &attrs);
    }
    provider
}

fn server(provider: &MeterProvider) -> PrometheusServer {
    let resource = Resource { attributes: vec![text_attribute("service.name", "gw")], ..Default::default() };
    PrometheusServer::builder()
        .address("127.0.0.1", 0)
        .provider(provider)
        .resource(resource)
        .request_timeout(Duration::from_millis(1500))
        .start()
        .unwrap()
}

#[test]
fn plain_scrape_is_text_format_that_promtool_accepts() {
    let provider = provider();
    let server = server(&provider);
    let answer = get(server.local_addr(), "");
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(answer.header("connection"), Some("close"));
    assert_eq!(answer.header("content-length"), Some(answer.body.len().to_string().as_str()));
    let text = answer.text();
    assert!(
        text.starts_with(
            "# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{service_name=\"gw\"} 1\n"
        ),
        "{text}"
    );
    assert!(text.contains("orders_total{note=\"a \\\"q\\\"\\\\\\n\",venue=\"XNAS\",otel_scope_name=\"gateway\",otel_scope_version=\"1.2.3\"} 3\n"), "{text}");
    assert!(!text.contains("# EOF"), "{text}");
    assert_promtool_accepts(&text);

    // The values are read at each scrape.
    provider
        .meter_with_version("gateway", "1.2.3")
        .u64_counter("orders")
        .with_unit("{order}")
        .build()
        .unwrap()
        .add(4, &[KeyValue::new("venue", "XNAS"), KeyValue::new("note", "a \"q\"\\\n")]);
    assert!(get(server.local_addr(), "").text().contains("otel_scope_version=\"1.2.3\"} 7\n"));
}

#[test]
fn openmetrics_and_gzip_are_negotiated() {
    let provider = provider();
    let server = server(&provider);
    let answer = get(server.local_addr(), &format!("Accept: {PROMETHEUS_ACCEPT}\r\nAccept-Encoding: gzip\r\n"));
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(
        answer.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores")
    );
    assert_eq!(answer.header("content-encoding"), Some("gzip"));
    let text = answer.text();
    assert!(
        text.starts_with("# TYPE target info\n# HELP target Target metadata\ntarget_info{service_name=\"gw\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE orders counter\n# HELP orders Orders sent.\norders_total{"), "{text}");
    assert!(text.contains("# TYPE order_latency_seconds histogram\n# UNIT order_latency_seconds seconds\n"), "{text}");
    for bucket in [",le=\"0.0\"} 0\n", ",le=\"5.0\"} 2\n", ",le=\"10.0\"} 3\n", ",le=\"+Inf\"} 3\n"] {
        assert!(text.contains(bucket), "no {bucket:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");

    // HEAD: the same head, no body.
    let mut stream = connect(server.local_addr());
    stream.write_all(b"HEAD /metrics HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let head = read_answer(&mut stream);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(head.header("content-length").is_some_and(|n| n != "0"), "{}", head.head);

    // A query string is not part of the path; an Accept we cannot serve falls back to 0.0.4.
    let answer = exchange(server.local_addr(), b"GET /metrics?debug=1 HTTP/1.0\r\nAccept: application/json\r\n\r\n");
    assert_eq!(answer.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
}

#[test]
fn the_pipeline_serves_its_own_telemetry_and_promtool_accepts_it() {
    let pipeline = Pipeline::builder()
        .without_env()
        .exporter(Signal::Metrics, ExporterKind::None)
        .endpoint("http://127.0.0.1:9")
        .prometheus("127.0.0.1", 0)
        .resource(Resource { attributes: vec![text_attribute("service.name", "gw")], ..Default::default() })
        .build()
        .unwrap();
    let provider = provider();
    provider.attach(&pipeline);
    let address = pipeline.prometheus().expect("the endpoint was asked for").local_addr();
    let text = get(address, "").text();
    for expected in [
        "target_info{service_name=\"gw\"} 1\n",
        "orders_total{",
        "nanotel_exporter_queue_capacity{signal=\"traces\",otel_scope_name=\"nanotel\",otel_scope_version=\"",
        "# TYPE nanotel_exporter_items_dropped_total counter\n",
        "nanotel_exporter_items_dropped_total{reason=\"queue_full\",signal=\"logs\",otel_scope_name=\"nanotel\"",
        "# TYPE nanotel_exporter_export_duration_seconds histogram\n",
        "# TYPE nanotel_exporter_sent_bytes_total counter\n",
        "# TYPE nanotel_exporter_uncompressed_bytes_total counter\n",
        "# TYPE nanotel_exporter_retries_total counter\n",
        "# TYPE nanotel_exporter_items_exported_total counter\n",
        "# TYPE nanotel_exporter_queue_size gauge\n",
        "nanotel_exporter_breaker_state{otel_scope_name=\"nanotel\"",
        "# TYPE nanotel_exporter_breaker_transitions_total counter\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    assert!(!text.contains("signal=\"metrics\""), "metrics are not exported, so they have no queue: {text}");
    assert_promtool_accepts(&text);
    pipeline.shutdown(Duration::from_secs(1));
    assert!(TcpStream::connect(address).is_err(), "the endpoint stops with the pipeline");
}

#[test]
fn wrong_paths_methods_and_garbage_get_clean_errors() {
    let server = server(&provider());
    let address = server.local_addr();
    let cases: [(&[u8], u16); 7] = [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", 404),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 405),
        (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 400),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
        (b"GET /metrics HTTP/1.1\r\nNo-Colon-Here\r\n\r\n", 400),
    ];
    for (request, status) in cases {
        let answer = exchange(address, request);
        assert_eq!(answer.status, status, "{}", String::from_utf8_lossy(request));
        assert_eq!(answer.header("connection"), Some("close"));
    }
    assert_eq!(exchange(address, b"POST /metrics HTTP/1.1\r\n\r\n").header("allow"), Some("GET, HEAD"));
    let missing = exchange(address, b"HEAD /nowhere HTTP/1.1\r\n\r\n");
    assert_eq!((missing.status, missing.body.len()), (404, 0), "HEAD answers carry no body");
    // A client that connects and leaves, or sends half a head and leaves, gets nothing and
    // costs nothing.
    drop(connect(address));
    let mut half = connect(address);
    half.write_all(b"GET /met").unwrap();
    drop(half);
    assert_eq!(get(address, "").status, 200);
}

#[test]
fn a_huge_head_gets_431() {
    let server = server(&provider());
    let mut stream = connect(server.local_addr());
    let filler = "x".repeat(64 * 1024);
    let request = format!("GET /metrics HTTP/1.1\r\nX-Filler: {filler}\r\n\r\n");
    // The server answers once it has 8 KiB, and reads (and drops) the rest while closing.
    stream.write_all(request.as_bytes()).unwrap();
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, 431, "{}", answer.head);
    assert_eq!(get(server.local_addr(), "").status, 200);
}

#[test]
fn slow_clients_do_not_hold_up_other_scrapes() {
    let server = server(&provider());
    let address = server.local_addr();
    // Three slowloris clients: connected, half a head sent, then a trickle.
    let mut slow: Vec<TcpStream> = (0..3).map(|_| connect(address)).collect();
    for stream in &mut slow {
        stream.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
    }
    for round in 0..3 {
        for stream in &mut slow {
            // Should the machine be so slow that the timeout already passed, the 408 below says so.
            let _ = stream.write_all(b"z");
        }
        // Meanwhile a scrape is answered in full: the slow heads are still incomplete, so the
        // server cannot have answered them yet.
        let answer = get(address, "");
        assert_eq!(answer.status, 200, "round {round}");
        assert!(answer.text().contains("orders_total"));
    }
    // Each slow client is cut off at the request timeout with a 408, never answered 200.
    for mut stream in slow {
        assert_eq!(read_answer(&mut stream).status, 408);
    }
}

#[test]
fn connections_past_the_limit_get_503_and_the_server_recovers() {
    let provider = provider();
    let server = PrometheusServer::builder()
        .address("127.0.0.1", 0)
        .provider(&provider)
        .max_connections(2)
        .request_timeout(Duration::from_millis(500))
        .start()
        .unwrap();
    let address = server.local_addr();
    let mut holding: Vec<TcpStream> = (0..2).map(|_| connect(address)).collect();
    for stream in &mut holding {
        stream.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    }
    // Both slots are taken once the two are accepted; the server frees them at the timeout.
    let mut saw_busy = false;
    for _ in 0..50 {
        match get(address, "").status {
            503 => {
                saw_busy = true;
                break;
            }
            200 => std::thread::sleep(Duration::from_millis(10)),
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(saw_busy, "two held connections fill a limit of two");
    for mut stream in holding {
        assert_eq!(read_answer(&mut stream).status, 408);
    }
    // Slots are given back as handlers finish.
    let mut recovered = false;
    for _ in 0..100 {
        if get(address, "").status == 200 {
            recovered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(recovered);
}

#[test]
fn concurrent_scrapes_all_get_the_whole_exposition() {
    let provider = provider();
    let server = server(&provider);
    let address = server.local_addr();
    let expected = get(address, "").text();
    std::thread::scope(|threads| {
        for t in 0..8 {
            let expected = &expected;
            threads.spawn(move || {
                for i in 0..25 {
                    let accept = if (t + i) % 2 == 0 { "Accept-Encoding: gzip\r\n" } else { "" };
                    let answer = get(address, accept);
                    assert_eq!(answer.status, 200, "scraper {t}, scrape {i}");
                    assert_eq!(&answer.text(), expected, "scraper {t}, scrape {i}");
                }
            });
        }
    });
}

#[test]
fn a_port_in_use_leaves_the_pipeline_running_without_the_endpoint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let pipeline = Pipeline::builder()
        .without_env()
        .exporter(Signal::Metrics, ExporterKind::None)
        .endpoint("http://127.0.0.1:9")
        .prometheus("127.0.0.1", port)
        .build()
        .expect("the pipeline starts anyway");
    assert!(pipeline.prometheus().is_none());
    pipeline.shutdown(Duration::from_secs(1));
}
