//! OTLP/HTTP (and OTLP/gRPC) over TLS against the loopback collector serving HTTPS (or gRPC over
//! TLS), with certificates made here by rcgen: a custom CA, mTLS accepted and refused, the server certificates a client must refuse
//! (unknown CA, expired, another host's), and certificate and key files that cannot be used: by
//! default their signal is switched off and counted (`tls_config`), with `strict_tls` build fails.
//!
//! A refused handshake must be said once on stderr, with what was wrong. The exporter thread
//! writes there directly, out of the test harness's reach, so those scenarios run in a child
//! process of this binary (`scenario`, ignored in a normal run) and the parent reads its stderr;
//! the child asserts the accounting itself and fails when it does not hold.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nanotel::export::{BatchConfig, DropReason, Pipeline, PipelineBuilder, RetryPolicy, Snapshot};
use nanotel::proto::common::v1::InstrumentationScope;
use nanotel::proto::logs::v1::LogRecord;
use nanotel::proto::trace::v1::Span;
use nanotel::Signal;
use nanotel_testing::TestCollector;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

#[path = "support/relay.rs"]
mod relay;

use relay::FreezingRelay;

const WAIT: Duration = Duration::from_secs(10);
const SPANS: u64 = 5;
/// Attempts per batch in these tests: few and fast, so a refused handshake ends in a drop soon.
const ATTEMPTS: u32 = 3;

/// A certificate authority that signs the others.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca { pem, issuer: Issuer::new(params, key) }
}

/// A certificate for `names`, signed by `ca`, as (certificate PEM, key PEM).
fn leaf(ca: &Ca, names: &[&str], expired: bool) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(std::string::ToString::to_string).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("client"));
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    (params.signed_by(&key, &ca.issuer).unwrap().pem(), key.serialize_pem())
}

/// A directory of PEM files, removed when dropped.
struct Files(PathBuf);

impl Files {
    fn new(test: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("nanotel-tls-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A builder for `collector`, isolated from the environment, exporting spans within 20 ms.
fn builder(collector: &TestCollector) -> PipelineBuilder {
    Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint(collector.endpoint())
        .with_batch(
            Signal::Traces,
            BatchConfig { schedule_delay: Duration::from_millis(20), ..BatchConfig::defaults(Signal::Traces) },
        )
        .with_poll_interval(Duration::from_millis(5))
        .with_timeout(Duration::from_secs(2))
        .with_retry(RetryPolicy {
            max_attempts: ATTEMPTS,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        })
}

/// Sends `SPANS` spans through `builder`'s pipeline, flushes, shuts down, and returns the accounting.
fn export_spans(builder: PipelineBuilder) -> Snapshot {
    let pipeline = builder.build().unwrap();
    let handle = pipeline.handle();
    let scope = Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    for i in 0..SPANS {
        handle.send_span(
            &scope,
            Span { name: format!("order-{i}"), span_id: vec![1; 8], trace_id: vec![2; 16], ..Default::default() },
        );
    }
    // A failing export ends in a drop, which empties the backlog: the flush returns either way.
    let _ = pipeline.force_flush(WAIT);
    pipeline.shutdown(WAIT);
    handle.accounting()
}

fn assert_all_exported(snapshot: &Snapshot, collector: &TestCollector) {
    assert_eq!(snapshot.traces.enqueued, SPANS, "{}", snapshot.to_json());
    assert_eq!(snapshot.traces.exported, SPANS, "{}", snapshot.to_json());
    assert_eq!(snapshot.traces.dropped_total(), 0, "{}", snapshot.to_json());
    assert_eq!(collector.accepted_items(Signal::Traces), SPANS);
}

#[test]
fn a_custom_ca_set_in_code_is_trusted_over_https() {
    let (authority, files) = (ca("desk CA"), Files::new("custom-ca"));
    let (certificate, key) = leaf(&authority, &["127.0.0.1"], false);
    let collector = TestCollector::start_tls(&certificate, &key, None).unwrap();
    assert!(collector.endpoint().starts_with("https://"));
    let snapshot = export_spans(builder(&collector).with_certificate(files.write("ca.pem", &authority.pem)));
    assert_all_exported(&snapshot, &collector);
}

#[test]
fn mtls_with_the_right_client_certificate_from_the_environment_is_accepted() {
    let (servers, clients, files) = (ca("server CA"), ca("client CA"), Files::new("mtls-ok"));
    let (certificate, key) = leaf(&servers, &["127.0.0.1"], false);
    let collector = TestCollector::start_tls(&certificate, &key, Some(&clients.pem)).unwrap();
    let (client_certificate, client_key) = leaf(&clients, &["gateway-1"], false);
    let vars = [
        // The per-signal form for the CA; the others get the built-in roots, unused here.
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", files.write("ca.pem", &servers.pem)),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", files.write("client.pem", &client_certificate)),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", files.write("client.key", &client_key)),
    ];
    let lookup = move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.display().to_string());
    let snapshot = export_spans(builder(&collector).with_env_lookup(lookup));
    assert_all_exported(&snapshot, &collector);
}

/// OTLP/gRPC over TLS: the collector's ALPN offers `h2` only, and the exporter's gRPC client uses
/// the same TLS settings as its HTTP client: a custom CA set in code is trusted.
#[test]
fn grpc_over_tls_trusts_a_custom_ca() {
    let (authority, files) = (ca("desk CA"), Files::new("grpc-custom-ca"));
    let (certificate, key) = leaf(&authority, &["127.0.0.1"], false);
    let collector = TestCollector::start_grpc_tls(&certificate, &key, None).unwrap();
    let grpc = builder(&collector).with_protocol(nanotel::export::Protocol::Grpc);
    let snapshot = export_spans(grpc.with_certificate(files.write("ca.pem", &authority.pem)));
    assert_all_exported(&snapshot, &collector);
    assert!(collector.received().iter().all(|r| r.content_type.as_deref() == Some("application/grpc")));
}

/// mTLS over gRPC: accepted with the right client certificate, refused (counted, nothing
/// received) without one.
#[test]
fn grpc_over_mtls_is_accepted_with_the_client_certificate_and_refused_without() {
    let (servers, clients, files) = (ca("server CA"), ca("client CA"), Files::new("grpc-mtls"));
    let (certificate, key) = leaf(&servers, &["127.0.0.1"], false);
    let collector = TestCollector::start_grpc_tls(&certificate, &key, Some(&clients.pem)).unwrap();
    let (client_certificate, client_key) = leaf(&clients, &["gateway-1"], false);
    let ca_file = files.write("ca.pem", &servers.pem);
    let grpc = || builder(&collector).with_protocol(nanotel::export::Protocol::Grpc).with_certificate(ca_file.clone());
    let identity = (files.write("client.pem", &client_certificate), files.write("client.key", &client_key));
    let snapshot = export_spans(grpc().with_client_certificate(identity.0, identity.1));
    assert_all_exported(&snapshot, &collector);

    let refused = export_spans(grpc());
    assert_eq!(refused.traces.exported, 0, "{}", refused.to_json());
    assert_eq!(refused.traces.dropped(DropReason::RetriesExhausted), SPANS, "{}", refused.to_json());
    assert_eq!(collector.accepted_items(Signal::Traces), SPANS, "nothing more got past the refused handshakes");
}

#[test]
fn each_signal_connects_with_its_own_tls_settings() {
    let (authority, files) = (ca("desk CA"), Files::new("per-signal"));
    let (certificate, key) = leaf(&authority, &["127.0.0.1"], false);
    let collector = TestCollector::start_tls(&certificate, &key, Some(&authority.pem)).unwrap();
    let (client_certificate, client_key) = leaf(&authority, &["gateway-1"], false);
    let fast_logs = BatchConfig { schedule_delay: Duration::from_millis(20), ..BatchConfig::defaults(Signal::Logs) };
    let pipeline = builder(&collector)
        .with_batch(Signal::Logs, fast_logs)
        .with_certificate(files.write("ca.pem", &authority.pem))
        .with_signal_client_certificate(
            Signal::Traces,
            files.write("c.pem", &client_certificate),
            files.write("c.key", &client_key),
        )
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let scope = Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    handle.send_span(
        &scope,
        Span { name: "order".into(), span_id: vec![1; 8], trace_id: vec![2; 16], ..Default::default() },
    );
    handle.send_log(&scope, LogRecord { severity_number: 9, ..Default::default() });
    let _ = pipeline.force_flush(WAIT);
    pipeline.shutdown(WAIT);
    let snapshot = handle.accounting();
    assert_eq!(snapshot.traces.exported, 1, "traces present the client certificate: {}", snapshot.to_json());
    assert_eq!(snapshot.logs.exported, 0, "{}", snapshot.to_json());
    assert_eq!(snapshot.logs.dropped(DropReason::RetriesExhausted), 1, "logs present none: {}", snapshot.to_json());
    assert_eq!(collector.request_count(Signal::Logs), 0);
}

/// Sends `SPANS` spans through `pipeline` and waits for their export (or their drop).
fn send_and_flush(pipeline: &Pipeline, first: u64) {
    let scope = Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    for i in first..first + SPANS {
        let span =
            Span { name: format!("order-{i}"), span_id: vec![1; 8], trace_id: vec![2; 16], ..Default::default() };
        pipeline.handle().send_span(&scope, span);
    }
    let _ = pipeline.force_flush(WAIT);
}

/// Replaces `path`'s contents as a rotation does: a new file renamed over the old one.
fn rotate(path: &Path, contents: &str) {
    let fresh = path.with_extension("new");
    std::fs::write(&fresh, contents).unwrap();
    std::fs::rename(&fresh, path).unwrap();
}

/// A client certificate renewed on disk (by cert-manager, SPIRE) is presented at the next
/// connection, without a restart: the collector trusts only the new certificate's CA.
#[test]
fn a_client_certificate_renewed_on_disk_is_presented_at_the_next_connection() {
    let (servers, old_clients, new_clients) = (ca("server CA"), ca("retired client CA"), ca("client CA"));
    let files = Files::new("client-renewed");
    let (certificate, key) = leaf(&servers, &["127.0.0.1"], false);
    let collector = TestCollector::start_tls(&certificate, &key, Some(&new_clients.pem)).unwrap();
    let (old_certificate, old_key) = leaf(&old_clients, &["gateway-1"], false);
    let identity = (files.write("client.pem", &old_certificate), files.write("client.key", &old_key));
    let pipeline = builder(&collector)
        .with_certificate(files.write("ca.pem", &servers.pem))
        .with_client_certificate(identity.0.clone(), identity.1.clone())
        .build()
        .unwrap();
    let (new_certificate, new_key) = leaf(&new_clients, &["gateway-1"], false);
    assert_refused_then_exported(pipeline, &collector, || {
        // Written in place, the key first: the same inodes, only their contents and times change.
        std::fs::write(&identity.1, new_key).unwrap();
        std::fs::write(&identity.0, new_certificate).unwrap();
    });
}

/// The collector's CA rotated: the CA file replaced on disk is trusted at the next connection,
/// over OTLP/gRPC (which shares the HTTP client's TLS settings).
#[test]
fn a_ca_file_replaced_on_disk_is_trusted_at_the_next_grpc_connection() {
    let (old_servers, new_servers, files) = (ca("retired server CA"), ca("server CA"), Files::new("ca-replaced"));
    let (certificate, key) = leaf(&new_servers, &["127.0.0.1"], false);
    let collector = TestCollector::start_grpc_tls(&certificate, &key, None).unwrap();
    let ca_file = files.write("ca.pem", &old_servers.pem);
    let grpc = builder(&collector).with_protocol(nanotel::export::Protocol::Grpc);
    let pipeline = grpc.with_certificate(ca_file.clone()).build().unwrap();
    assert_refused_then_exported(pipeline, &collector, || rotate(&ca_file, &new_servers.pem));
}

/// `SPANS` spans refused at the handshake, then, after `renew` changes the files, `SPANS` more
/// exported.
fn assert_refused_then_exported(pipeline: Pipeline, collector: &TestCollector, renew: impl FnOnce()) {
    send_and_flush(&pipeline, 0);
    let refused = pipeline.handle().accounting();
    assert_eq!(refused.traces.dropped(DropReason::RetriesExhausted), SPANS, "{}", refused.to_json());
    renew();
    send_and_flush(&pipeline, SPANS);
    let handle = pipeline.handle();
    pipeline.shutdown(WAIT);
    let snapshot = handle.accounting();
    assert_eq!(snapshot.traces.exported, SPANS, "the renewed files were used: {}", snapshot.to_json());
    assert_eq!(collector.accepted_items(Signal::Traces), SPANS);
}

/// A signal switched off because its files could not be used when the pipeline was built (a
/// sidecar that writes the certificates a moment after the program starts) exports once they
/// appear, over HTTPS with mTLS and over gRPC alike.
#[test]
fn a_signal_switched_off_for_missing_files_exports_once_they_appear() {
    let (servers, clients, files) = (ca("server CA"), ca("client CA"), Files::new("files-appear"));
    let (certificate, key) = leaf(&servers, &["127.0.0.1"], false);
    let (client_certificate, client_key) = leaf(&clients, &["gateway-1"], false);
    for protocol in [nanotel::export::Protocol::HttpProtobuf, nanotel::export::Protocol::Grpc] {
        let collector = match protocol {
            nanotel::export::Protocol::Grpc => TestCollector::start_grpc_tls(&certificate, &key, Some(&clients.pem)),
            _ => TestCollector::start_tls(&certificate, &key, Some(&clients.pem)),
        }
        .unwrap();
        let (ca_file, identity) = (files.0.join("ca.pem"), (files.0.join("client.pem"), files.0.join("client.key")));
        let _ = std::fs::remove_file(&ca_file);
        let _ = std::fs::remove_file(&identity.0);
        files.write("client.key", &client_key);
        let pipeline = builder(&collector)
            .with_protocol(protocol)
            .with_certificate(&ca_file)
            .with_client_certificate(&identity.0, &identity.1)
            .build()
            .unwrap();
        send_and_flush(&pipeline, 0);
        let off = pipeline.handle().accounting();
        assert_eq!(off.traces.dropped(DropReason::TlsConfig), SPANS, "{protocol:?}: {}", off.to_json());

        files.write("ca.pem", &servers.pem);
        // The certificate still missing: the files cannot be used yet.
        std::thread::sleep(Duration::from_millis(1100));
        send_and_flush(&pipeline, SPANS);
        let still_off = pipeline.handle().accounting();
        assert_eq!(still_off.traces.dropped(DropReason::TlsConfig), 2 * SPANS, "{}", still_off.to_json());

        files.write("client.pem", &client_certificate);
        std::thread::sleep(Duration::from_millis(1100));
        send_and_flush(&pipeline, 2 * SPANS);
        let handle = pipeline.handle();
        pipeline.shutdown(WAIT);
        let snapshot = handle.accounting();
        assert_eq!(snapshot.traces.exported, SPANS, "{protocol:?}, on once whole: {}", snapshot.to_json());
        assert_eq!(collector.accepted_items(Signal::Traces), SPANS, "{protocol:?}");
    }
}

/// OTLP/HTTP over HTTP/2 (the collector's TLS offers `h2`, as a Go collector's does): a collector
/// that stops answering without closing the connection is found out by a ping the request's wait
/// sends, and the export goes on a new connection. Before session 36 the pool kept the connection,
/// so every later request timed out on it until the kernel gave it up.
#[test]
fn an_http2_connection_that_stops_answering_is_closed_and_the_export_goes_on() {
    let (authority, files) = (ca("desk CA"), Files::new("h2-frozen"));
    let (certificate, key) = leaf(&authority, &["127.0.0.1"], false);
    let collector = TestCollector::start_tls_http2(&certificate, &key, None).unwrap();
    let relay = FreezingRelay::start(collector.addr());
    let pipeline = builder(&collector)
        .with_endpoint(format!("https://{}", relay.addr))
        .with_certificate(files.write("ca.pem", &authority.pem))
        .with_timeout(Duration::from_secs(8))
        .build()
        .unwrap();
    send_and_flush(&pipeline, 0);
    assert_eq!(pipeline.handle().accounting().traces.exported, SPANS);
    relay.freeze_existing();
    send_and_flush(&pipeline, SPANS);
    let handle = pipeline.handle();
    pipeline.shutdown(WAIT);
    let snapshot = handle.accounting();
    assert_eq!(snapshot.traces.exported, 2 * SPANS, "on a new connection: {}", snapshot.to_json());
    assert_eq!(collector.accepted_items(Signal::Traces), 2 * SPANS);
}

/// Runs `scenario` in a child process and returns its stderr.
fn stderr_of(scenario: &str) -> String {
    stderr_of_with(scenario, &[])
}

/// Runs `scenario` in a child process with the variables `vars` set and returns its stderr.
fn stderr_of_with(scenario: &str, vars: &[(&str, String)]) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "scenario", "--ignored", "--nocapture", "--test-threads=1"])
        .env("NANOTEL_TLS_SCENARIO", scenario)
        .env_remove("OTEL_LOG_LEVEL")
        .envs(vars.iter().map(|(name, value)| (name, value)))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "scenario {scenario} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "scenario {scenario} did not run:\n{stdout}");
    stderr
}

/// The lines of nanotel on `stderr` that contain `needle`.
fn lines_with<'a>(stderr: &'a str, needle: &str) -> Vec<&'a str> {
    stderr.lines().filter(|line| line.starts_with("nanotel: ") && line.contains(needle)).collect()
}

/// A refused handshake: the first failure is said once with its TLS cause, the spans are dropped
/// after their retries and said so, nothing reached the collector.
fn assert_refused_once(scenario: &str, cause: &str) {
    let stderr = stderr_of(scenario);
    let failures = lines_with(&stderr, "traces export to https://127.0.0.1:");
    assert_eq!(failures.len(), 1, "one failure line expected:\n{stderr}");
    assert!(failures[0].contains(&format!("failed, will retry: TLS: {cause}")), "{}", failures[0]);
    let drops = lines_with(&stderr, &format!("{SPANS} spans dropped (retries_exhausted"));
    assert_eq!(drops.len(), 1, "{stderr}");
}

#[test]
fn an_unknown_ca_is_refused_reported_once_and_counted() {
    assert_refused_once("wrong_ca", "the server's certificate is not signed by a trusted CA");
}

#[test]
fn an_expired_server_certificate_is_refused_reported_once_and_counted() {
    assert_refused_once("expired", "the server's certificate has expired");
}

#[test]
fn a_server_certificate_for_another_host_is_refused_reported_once_and_counted() {
    assert_refused_once("other_host", "the server's certificate is not valid for the endpoint's host name");
}

#[test]
fn mtls_without_a_client_certificate_is_refused_reported_once_and_counted() {
    assert_refused_once("no_client_certificate", "the server refused the TLS handshake");
}

/// The child's side of the refused-handshake tests.
#[test]
#[ignore = "run in a child process by the refused-handshake tests"]
fn scenario() {
    let Ok(scenario) = std::env::var("NANOTEL_TLS_SCENARIO") else { return };
    if scenario == "init_with_an_unusable_traces_ca" {
        return init_with_an_unusable_traces_ca();
    }
    if scenario == "build_beside_an_unreadable_ssl_cert_file" {
        let pipeline = Pipeline::builder().without_env().build().expect("built without SSL_CERT_FILE's file");
        drop(pipeline.shutdown(WAIT));
        return;
    }
    let (authority, files) = (ca("desk CA"), Files::new(&scenario));
    let ca_file = files.write("ca.pem", &authority.pem);
    let (certificate, key) = match scenario.as_str() {
        "wrong_ca" => leaf(&ca("another CA"), &["127.0.0.1"], false),
        "expired" => leaf(&authority, &["127.0.0.1"], true),
        "other_host" => leaf(&authority, &["collector.example"], false),
        "no_client_certificate" => leaf(&authority, &["127.0.0.1"], false),
        other => panic!("no scenario {other}"),
    };
    let client_ca = (scenario == "no_client_certificate").then_some(authority.pem.as_str());
    let collector = TestCollector::start_tls(&certificate, &key, client_ca).unwrap();
    let snapshot = export_spans(builder(&collector).with_certificate(ca_file));
    let traces = &snapshot.traces;
    assert_eq!(traces.enqueued, SPANS, "{}", snapshot.to_json());
    assert_eq!(traces.exported, 0, "{}", snapshot.to_json());
    assert_eq!(traces.dropped(DropReason::RetriesExhausted), SPANS, "{}", snapshot.to_json());
    assert_eq!(traces.failed_requests, u64::from(ATTEMPTS), "{}", snapshot.to_json());
    assert!(collector.received().is_empty(), "no request gets past a refused handshake");
}

/// The child's side of `init_succeeds_...`: `nanotel::init()` from the environment the parent set.
fn init_with_an_unusable_traces_ca() {
    let telemetry = nanotel::init().expect("init succeeds with an unusable traces CA file");
    let (tracer, logger) = (telemetry.tracer("gateway"), telemetry.logger("gateway"));
    for _ in 0..SPANS {
        tracer.in_span("order", |_| ());
    }
    logger.emit(nanotel::logs::Severity::Info, "order sent", &[]);
    let snapshot = telemetry.shutdown(WAIT).accounting;
    let (traces, logs) = (&snapshot.traces, &snapshot.logs);
    assert_eq!(traces.enqueued, SPANS, "{}", snapshot.to_json());
    assert_eq!(traces.dropped(DropReason::TlsConfig), SPANS, "{}", snapshot.to_json());
    assert_eq!(traces.dropped_total(), SPANS, "{}", snapshot.to_json());
    assert_eq!((traces.exported, traces.queued), (0, 0), "{}", snapshot.to_json());
    assert_eq!((traces.requests, traces.retries), (0, 0), "nothing sent nor retried: {}", snapshot.to_json());
    assert_eq!(traces.breaker.transitions, 0, "the breaker is not involved: {}", snapshot.to_json());
    assert_eq!(logs.exported, 1, "the logs' settings are good: {}", snapshot.to_json());
    assert_eq!(logs.dropped_total(), 0, "{}", snapshot.to_json());
}

/// A traces CA file that does not exist, in the environment `nanotel::init()` reads: init
/// succeeds, one line on stderr names the variable, the file and the cause, the spans are counted
/// as dropped for `tls_config` without a request, and the logs (with a good CA) are exported.
#[test]
fn init_succeeds_with_an_unusable_ca_file_and_that_signal_is_switched_off() {
    let (authority, files) = (ca("desk CA"), Files::new("unusable-ca"));
    let (certificate, key) = leaf(&authority, &["127.0.0.1"], false);
    let collector = TestCollector::start_tls(&certificate, &key, None).unwrap();
    let missing = files.0.join("missing.pem");
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", files.write("ca.pem", &authority.pem).display().to_string()),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", missing.display().to_string()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
    ];
    let stderr = stderr_of_with("init_with_an_unusable_traces_ca", &vars);
    let off = lines_with(&stderr, "traces export is off");
    assert_eq!(off.len(), 1, "one line expected:\n{stderr}");
    assert_names(off[0], &missing, "cannot read the CA certificate file");
    assert!(off[0].contains("(set by OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE)"), "{}", off[0]);
    assert!(off[0].contains("counted as tls_config"), "{}", off[0]);
    assert_eq!(lines_with(&stderr, &format!("{SPANS} spans dropped (tls_config")).len(), 1, "{stderr}");
    assert!(lines_with(&stderr, "will retry").is_empty(), "{stderr}");
    assert_eq!(collector.request_count(Signal::Traces), 0);
    assert_eq!(collector.accepted_items(Signal::Logs), 1);
}

/// An `SSL_CERT_FILE` (read for the operating system's trust store, which every pipeline trusts
/// by default) that is a FIFO nobody writes to, or a device: the pipeline is built at once with a
/// warning naming it. Until session 42 rustls-native-certs opened it whatever it was: the FIFO held
/// `build()` (and `init`) for ever, `/dev/zero` filled memory.
#[test]
fn an_ssl_cert_file_that_is_not_a_regular_file_is_left_out() {
    let files = Files::new("ssl-cert-file");
    let fifo = files.0.join("fifo.pem");
    assert!(Command::new("mkfifo").arg(&fifo).status().is_ok_and(|status| status.success()), "mkfifo");
    for file in [fifo, PathBuf::from("/dev/zero")] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "scenario", "--ignored", "--nocapture", "--test-threads=1"])
            .env("NANOTEL_TLS_SCENARIO", "build_beside_an_unreadable_ssl_cert_file")
            .env("SSL_CERT_FILE", &file)
            .env_remove("SSL_CERT_DIR")
            .env_remove("OTEL_LOG_LEVEL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            let _ = child.kill();
        }
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(finished, "the build with SSL_CERT_FILE={file:?} did not return:\n{stderr}");
        assert!(output.status.success(), "{stderr}");
        let said = lines_with(&stderr, "SSL_CERT_FILE");
        assert_eq!(said.len(), 1, "one line:\n{stderr}");
        assert!(said[0].contains("not a regular file") && said[0].contains(&format!("{file:?}")), "{}", said[0]);
    }
}

/// Sends `SPANS` spans and one log record through `builder`'s pipeline, with logs batched fast.
fn export_spans_and_a_log(builder: PipelineBuilder) -> Snapshot {
    let fast_logs = BatchConfig { schedule_delay: Duration::from_millis(20), ..BatchConfig::defaults(Signal::Logs) };
    let pipeline = builder.with_batch(Signal::Logs, fast_logs).build().expect("the pipeline is built");
    let handle = pipeline.handle();
    let scope = Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    for i in 0..SPANS {
        handle.send_span(
            &scope,
            Span { name: format!("order-{i}"), span_id: vec![1; 8], trace_id: vec![2; 16], ..Default::default() },
        );
    }
    handle.send_log(&scope, LogRecord { severity_number: 9, ..Default::default() });
    pipeline.force_flush(WAIT).expect("a switched-off signal does not hold a flush up");
    pipeline.shutdown(WAIT);
    handle.accounting()
}

/// Each kind of unusable file, set for traces alone in code: the pipeline is built, the spans are
/// dropped as `tls_config` without a request, the logs are exported.
#[test]
fn unusable_certificate_and_key_files_switch_their_signal_off() {
    let (authority, files) = (ca("desk CA"), Files::new("switched-off"));
    let (certificate, key) = leaf(&authority, &["127.0.0.1"], false);
    let collector = TestCollector::start_tls(&certificate, &key, None).unwrap();
    let (client_certificate, client_key) = leaf(&authority, &["gateway-1"], false);
    let (_, other_key) = leaf(&authority, &["gateway-2"], false);
    let ca_file = files.write("ca.pem", &authority.pem);
    let cert_file = files.write("client.pem", &client_certificate);
    let key_file = files.write("client.key", &client_key);
    let other_key_file = files.write("other.key", &other_key);
    let not_pem = files.write("not.pem", "this is not a certificate\n");
    let missing = files.0.join("missing.pem");
    #[expect(clippy::items_after_statements, reason = "the alias is used only below, where it is declared")]
    type Configure<'a> = Box<dyn Fn(PipelineBuilder) -> PipelineBuilder + 'a>;
    let cases: Vec<(&str, Configure<'_>)> = vec![
        ("missing CA", Box::new(|b| b.with_signal_certificate(Signal::Traces, &missing))),
        ("CA not PEM", Box::new(|b| b.with_signal_certificate(Signal::Traces, &not_pem))),
        ("missing key", Box::new(|b| b.with_signal_client_certificate(Signal::Traces, &cert_file, &missing))),
        ("mismatched key", Box::new(|b| b.with_signal_client_certificate(Signal::Traces, &cert_file, &other_key_file))),
    ];
    let mut logs_exported = 0;
    for (case, configure) in cases {
        let snapshot = export_spans_and_a_log(configure(builder(&collector).with_certificate(&ca_file)));
        let json = snapshot.to_json();
        assert_eq!(snapshot.traces.dropped(DropReason::TlsConfig), SPANS, "{case}: {json}");
        assert_eq!((snapshot.traces.exported, snapshot.traces.requests), (0, 0), "{case}: {json}");
        assert!(json.contains(&format!(r#""tls_config":{SPANS}"#)), "{case}: {json}");
        assert_eq!(snapshot.logs.exported, 1, "{case}: {json}");
        logs_exported += 1;
        assert_eq!(collector.accepted_items(Signal::Logs), logs_exported, "{case}");
    }
    assert_eq!(collector.request_count(Signal::Traces), 0);
    let good = export_spans_and_a_log(
        builder(&collector).with_certificate(&ca_file).with_client_certificate(&cert_file, key_file),
    );
    assert_eq!(good.traces.exported, SPANS, "the same files, usable, export: {}", good.to_json());
}

/// A plaintext (`http`) endpoint does not use the TLS files: one that cannot be used is only
/// said, and the signal exports, strict or not.
#[test]
fn a_plaintext_endpoint_does_not_need_the_tls_files() {
    let (collector, files) = (TestCollector::start().unwrap(), Files::new("plaintext"));
    let missing = files.0.join("missing.pem");
    for strict in [false, true] {
        let plain = builder(&collector).with_strict_tls(strict).with_certificate(&missing);
        let snapshot = export_spans_and_a_log(plain);
        assert_eq!((snapshot.traces.exported, snapshot.logs.exported), (SPANS, 1), "{}", snapshot.to_json());
    }
}

/// `build()`'s error, with [`PipelineBuilder::with_strict_tls`], for a pipeline whose traces use `tls`.
fn build_error(configure: impl FnOnce(PipelineBuilder) -> PipelineBuilder) -> String {
    let builder = Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint("https://127.0.0.1:1")
        .with_strict_tls(true);
    match configure(builder).build() {
        Ok(_) => panic!("the pipeline was built"),
        Err(error) => error.to_string(),
    }
}

fn assert_names(error: &str, path: &Path, what: &str) {
    assert!(error.contains(&format!("{path:?}")), "the error does not name {path:?}: {error}");
    assert!(error.contains(what), "the error does not say {what:?}: {error}");
}

#[test]
fn with_strict_tls_unusable_certificate_and_key_files_fail_build_naming_the_file_and_setting() {
    let (authority, files) = (ca("desk CA"), Files::new("bad-files"));
    let (certificate, key) = leaf(&authority, &["gateway-1"], false);
    let (_, other_key) = leaf(&authority, &["gateway-2"], false);
    let missing = files.0.join("missing.pem");
    let not_pem = files.write("not.pem", "this is not a certificate\n");
    let cert_file = files.write("client.pem", &certificate);
    let key_file = files.write("client.key", &key);
    let other_key_file = files.write("other.key", &other_key);

    let error = build_error(|b| b.with_certificate(&missing));
    assert_names(&error, &missing, "cannot read the CA certificate file");
    assert!(error.starts_with("traces TLS: "), "{error}");
    assert!(error.ends_with("(set by the builder's certificate(..))"), "{error}");
    assert_names(&build_error(|b| b.with_certificate(&not_pem)), &not_pem, "holds no PEM certificate");
    // A path set by mistake fails at once, read no further than 16 MiB: a device that never ends,
    // a directory, a FIFO, a file far larger than any certificate bundle (sparse: nothing is written).
    let zeros = Path::new("/dev/zero");
    assert_names(&build_error(|b| b.with_certificate(zeros)), zeros, "not a regular file");
    assert_names(&build_error(|b| b.with_certificate(&files.0)), &files.0, "not a regular file");
    // A FIFO no one writes to: opened, it would hold `build()` forever.
    let fifo = files.0.join("fifo.pem");
    assert!(Command::new("mkfifo").arg(&fifo).status().is_ok_and(|status| status.success()), "mkfifo");
    assert_names(&build_error(|b| b.with_certificate(&fifo)), &fifo, "not a regular file");
    let huge = files.write("huge.pem", "");
    std::fs::File::options().write(true).open(&huge).and_then(|file| file.set_len(17 << 20)).expect("a sparse file");
    assert_names(&build_error(|b| b.with_certificate(&huge)), &huge, "larger than 16 MiB");
    assert_names(
        &build_error(|b| b.with_client_certificate(&missing, &key_file)),
        &missing,
        "cannot read the client certificate file",
    );
    assert_names(
        &build_error(|b| b.with_client_certificate(&cert_file, &missing)),
        &missing,
        "cannot read the client key file",
    );
    assert_names(
        &build_error(|b| b.with_client_certificate(&cert_file, &cert_file)),
        &cert_file,
        "holds no PEM private key",
    );
    let mismatch = build_error(|b| b.with_client_certificate(&cert_file, &other_key_file));
    assert_names(&mismatch, &other_key_file, "cannot be used with the client certificate");
    assert!(mismatch.contains("KeyMismatch") || mismatch.contains("key"), "{mismatch}");
    let half = build_error(|b| {
        b.with_env_lookup(move |name| (name == "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE").then(|| "/c.pem".into()))
    });
    assert!(half.starts_with("logs TLS: ") && half.contains("without its client key"), "{half}");
    assert!(half.ends_with("(set by OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE)"), "{half}");
}
