//! The `tracing` layer end to end: `tracing` spans and events through a real pipeline to the
//! loopback collector, decoded there, with nanotel spans in the same traces.

use std::collections::HashMap;
use std::time::Duration;

use nanotel::export::{Compression, Protocol};
use nanotel::logs::Severity;
use nanotel::proto::common::v1::{any_value::Value as Any, AnyValue, KeyValue as OtlpKeyValue};
use nanotel::proto::logs::v1::LogRecord;
use nanotel::proto::trace::v1::{span::SpanKind as OtlpKind, status::StatusCode, Span as OtlpSpan};
use nanotel::trace::{Sampler, SpanContext};
use nanotel::tracing_layer::NanotelLayer;
use nanotel::Telemetry;
use nanotel_testing::TestCollector;
use tracing_subscriber::layer::SubscriberExt;

const WAIT: Duration = Duration::from_secs(10);

/// What the collector received.
struct Exported {
    /// By name; each name is used once per test.
    spans: HashMap<String, OtlpSpan>,
    logs: Vec<LogRecord>,
}

impl Exported {
    fn span(&self, name: &str) -> &OtlpSpan {
        self.spans.get(name).unwrap_or_else(|| panic!("{name} not exported: {:?}", self.spans.keys()))
    }

    fn log(&self, body: &str) -> &LogRecord {
        self.logs
            .iter()
            .find(|log| log.body.as_ref().and_then(|b| b.value.as_ref()) == Some(&Any::StringValue(body.into())))
            .unwrap_or_else(|| panic!("no log {body:?}: {:?}", self.logs))
    }
}

/// Runs `f` with a registry and the telemetry's `tracing` layer as this thread's subscriber, then
/// flushes and decodes what reached the collector.
fn exported(sampler: Sampler, span_events: bool, f: impl FnOnce(&Telemetry)) -> Exported {
    exported_with(sampler, |layer| layer.with_span_events(span_events), f)
}

/// [`exported`] with the layer as `configure` leaves it.
fn exported_with(
    sampler: Sampler,
    configure: impl FnOnce(NanotelLayer) -> NanotelLayer,
    f: impl FnOnce(&Telemetry),
) -> Exported {
    let collector = TestCollector::start().unwrap();
    let telemetry = nanotel::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_sampler(sampler)
        .configure_pipeline(|pipeline| pipeline.with_compression(Compression::None).with_self_telemetry(false))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(configure(telemetry.tracing_layer()));
    tracing::subscriber::with_default(subscriber, || f(&telemetry));
    telemetry.force_flush(WAIT).unwrap();
    let mut exported = Exported { spans: HashMap::new(), logs: Vec::new() };
    for received in collector.received() {
        let Ok(request) = received.request.as_ref() else { continue };
        for resource in request.as_traces().map_or(&[][..], |r| &r.resource_spans[..]) {
            for scope in &resource.scope_spans {
                for span in &scope.spans {
                    assert!(exported.spans.insert(span.name.clone(), span.clone()).is_none(), "{} twice", span.name);
                }
            }
        }
        for resource in request.as_logs().map_or(&[][..], |r| &r.resource_logs[..]) {
            for scope in &resource.scope_logs {
                exported.logs.extend(scope.log_records.iter().cloned());
            }
        }
    }
    exported
}

fn any(value: &Option<AnyValue>) -> &Any {
    value.as_ref().and_then(|v| v.value.as_ref()).expect("a value")
}

fn attributes(attributes: &[OtlpKeyValue]) -> HashMap<&str, &Any> {
    attributes.iter().map(|kv| (kv.key.as_str(), any(&kv.value))).collect()
}

fn text(value: &str) -> Any {
    Any::StringValue(value.into())
}

fn id(context: &SpanContext) -> Vec<u8> {
    context.span_id().to_bytes().to_vec()
}

#[derive(Debug)]
#[allow(dead_code)] // Read through `Debug` only.
enum Side {
    Buy,
}

#[test]
fn span_fields_become_typed_attributes() {
    let exported = exported(Sampler::AlwaysOn, false, |_| {
        let cause = std::io::Error::other("socket closed");
        let error = std::io::Error::new(std::io::ErrorKind::ConnectionReset, Wrapped(cause));
        let span = tracing::info_span!(
            "order",
            qty = 100,
            big = u64::MAX,
            price = 187.25,
            ioc = true,
            venue = "XNAS",
            side = ?Side::Buy,
            reason = %format_args!("band {}", 3),
            failure = &error as &(dyn std::error::Error + 'static),
            bytes = &b"\x00\xff"[..],
            wide = -(1i128 << 100),
            late = tracing::field::Empty,
        );
        span.record("late", 5);
        span.record("qty", 200);
    });
    let order = exported.span("order");
    let attributes = attributes(&order.attributes);
    assert_eq!(attributes["tracing.target"], &text("tracing_layer"));
    assert_eq!(attributes["qty"], &Any::IntValue(200), "recorded later, replaced");
    assert_eq!(attributes["big"], &text("18446744073709551615"), "beyond i64: the digits");
    assert_eq!(attributes["price"], &Any::DoubleValue(187.25));
    assert_eq!(attributes["ioc"], &Any::BoolValue(true));
    assert_eq!(attributes["venue"], &text("XNAS"));
    assert_eq!(attributes["side"], &text("Buy"));
    assert_eq!(attributes["reason"], &text("band 3"));
    assert_eq!(attributes["failure"], &text("connection lost: socket closed"));
    assert_eq!(attributes["bytes"], &Any::BytesValue(vec![0, 0xff]));
    assert_eq!(attributes["wide"], &text("-1267650600228229401496703205376"));
    assert_eq!(attributes["late"], &Any::IntValue(5));
    assert_eq!(attributes.len(), 12, "{attributes:?}");
    assert_eq!(order.kind, OtlpKind::Internal as i32);
    assert_eq!(order.status, None);
}

/// An error with a source, to see the chain.
#[derive(Debug)]
struct Wrapped(std::io::Error);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection lost")
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn tracing_and_nanotel_spans_nest_in_one_trace() {
    let mut contexts = HashMap::new();
    let exported = exported(Sampler::AlwaysOn, false, |telemetry| {
        let tracer = telemetry.tracer("direct");
        let root = tracer.span("nanotel.root").start();
        let _in_root = root.enter();
        let outer = tracing::info_span!("tracing.outer");
        let _in_outer = outer.enter();
        let middle = tracer.span("nanotel.middle").start();
        {
            let _in_middle = middle.enter();
            let inner = tracing::info_span!("tracing.inner");
            inner.in_scope(|| {
                let leaf = tracer.span("nanotel.leaf").start();
                contexts.insert("leaf", leaf.context().clone());
            });
        }
        let sibling = tracing::info_span!("tracing.sibling");
        let explicit = tracing::info_span!(parent: &sibling, "tracing.explicit");
        let new_root = tracing::info_span!(parent: None, "tracing.new_root");
        drop((explicit, new_root, sibling));
        contexts.insert("root", root.context().clone());
        contexts.insert("middle", middle.context().clone());
    });
    let span = |name| exported.span(name);
    assert_eq!(exported.spans.len(), 8);
    let trace = &span("nanotel.root").trace_id;
    for name in
        ["tracing.outer", "nanotel.middle", "tracing.inner", "nanotel.leaf", "tracing.sibling", "tracing.explicit"]
    {
        assert_eq!(&span(name).trace_id, trace, "{name}: one trace");
    }
    assert_eq!(span("tracing.outer").parent_span_id, id(&contexts["root"]));
    assert_eq!(span("nanotel.middle").parent_span_id, span("tracing.outer").span_id);
    assert_eq!(span("tracing.inner").parent_span_id, id(&contexts["middle"]), "the innermost entered span");
    assert_eq!(span("nanotel.leaf").parent_span_id, span("tracing.inner").span_id);
    assert_eq!(span("nanotel.leaf").span_id, id(&contexts["leaf"]));
    assert_eq!(span("tracing.sibling").parent_span_id, span("tracing.outer").span_id, "exited: outer again");
    assert_eq!(span("tracing.explicit").parent_span_id, span("tracing.sibling").span_id, "explicit parent");
    assert_ne!(&span("tracing.new_root").trace_id, trace, "parent: None starts a trace");
    assert!(span("tracing.new_root").parent_span_id.is_empty());
    let outer = span("tracing.outer");
    assert!(outer.start_time_unix_nano <= span("tracing.inner").start_time_unix_nano);
    assert!(outer.end_time_unix_nano >= span("tracing.inner").end_time_unix_nano);
}

#[test]
fn spans_past_the_layers_table_keep_their_tree_fields_and_links() {
    // A table of one bucket (4 spans): the other live spans are kept in the registry's extensions.
    let exported = exported_with(
        Sampler::AlwaysOn,
        |layer| layer.with_span_capacity(4),
        |_| {
            let mut open = Vec::new();
            for depth in 0..12 {
                let span =
                    tracing::info_span!("nested", otel.name = %format!("nested.{depth}"), late = tracing::field::Empty);
                span.record("late", depth * 10);
                open.push((span.clone(), span.entered()));
            }
            let explicit = tracing::info_span!(parent: &open[9].0, "explicit");
            explicit.follows_from(&open[1].0);
            drop(explicit);
            while let Some((_, entered)) = open.pop() {
                drop(entered);
            }
        },
    );
    assert_eq!(exported.spans.len(), 13);
    for depth in 0..12 {
        let span = exported.span(&format!("nested.{depth}"));
        assert_eq!(attributes(&span.attributes)["late"], &Any::IntValue(depth * 10), "nested.{depth}");
        if depth > 0 {
            let parent = exported.span(&format!("nested.{}", depth - 1));
            assert_eq!(span.parent_span_id, parent.span_id, "nested.{depth}");
        }
    }
    let explicit = exported.span("explicit");
    assert_eq!(explicit.parent_span_id, exported.span("nested.9").span_id);
    assert_eq!(explicit.links.len(), 1);
    assert_eq!(explicit.links[0].span_id, exported.span("nested.1").span_id);
}

#[test]
fn follows_from_becomes_a_link() {
    let exported = exported(Sampler::AlwaysOn, false, |_| {
        let cause = tracing::info_span!("cause");
        let effect = tracing::info_span!(parent: None, "effect");
        effect.follows_from(&cause);
    });
    let links = &exported.span("effect").links;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].span_id, exported.span("cause").span_id);
    assert_eq!(links[0].trace_id, exported.span("cause").trace_id);
}

#[test]
fn conventional_fields_set_name_kind_and_status() {
    let exported = exported(Sampler::AlwaysOn, false, |_| {
        let dynamic = String::from("GET /orders");
        tracing::info_span!("request", otel.name = %dynamic, otel.kind = "server", qty = 1);
        let failed = tracing::info_span!(
            "failed",
            otel.kind = "CLIENT",
            otel.status_code = "error",
            otel.status_message = tracing::field::Empty
        );
        failed.record("otel.status_message", "venue down");
        tracing::info_span!("ok", otel.status_code = "ok", error = true);
        tracing::info_span!("errored", error = %"timed out");
        let io = std::io::Error::other("refused");
        tracing::info_span!("errored.source", error = &io as &(dyn std::error::Error + 'static));
        tracing::info_span!("not.errored", error = false);
        tracing::info_span!("error.event").in_scope(|| tracing::error!("venue down"));
        tracing::info_span!("errored.then.event", error = %"timed out").in_scope(|| tracing::error!("retry failed"));
        tracing::info_span!("warn.event").in_scope(|| tracing::warn!("venue slow"));
        let late = tracing::info_span!("late.kind", otel.kind = tracing::field::Empty);
        late.record("otel.kind", "producer");
    });
    let request = exported.span("GET /orders");
    assert_eq!(request.kind, OtlpKind::Server as i32);
    assert_eq!(attributes(&request.attributes).len(), 2, "otel.* are not attributes: {:?}", request.attributes);
    let status = |name| exported.span(name).status.clone().map(|s| (s.code, s.message));
    let failed = exported.span("failed");
    assert_eq!(failed.kind, OtlpKind::Client as i32);
    assert_eq!(status("failed"), Some((StatusCode::Error as i32, "venue down".to_owned())));
    assert_eq!(status("ok"), Some((StatusCode::Ok as i32, String::new())), "Ok is final");
    assert_eq!(status("errored"), Some((StatusCode::Error as i32, "timed out".to_owned())));
    assert_eq!(attributes(&exported.span("errored").attributes)["error"], &text("timed out"));
    assert_eq!(status("errored.source"), Some((StatusCode::Error as i32, "refused".to_owned())));
    assert_eq!(status("not.errored"), None);
    assert_eq!(status("error.event"), Some((StatusCode::Error as i32, String::new())), "an error event fails its span");
    assert_eq!(status("warn.event"), None);
    assert_eq!(
        status("errored.then.event"),
        Some((StatusCode::Error as i32, "timed out".to_owned())),
        "an error event keeps the description set before (until session 39 it wiped it)"
    );
    assert_eq!(exported.span("late.kind").kind, OtlpKind::Producer as i32, "otel.kind recorded later");
}

#[test]
fn events_become_log_records_with_the_span_ids() {
    let mut contexts = HashMap::new();
    let exported = exported(Sampler::AlwaysOn, false, |telemetry| {
        tracing::warn!(venue = "XNAS", "outside");
        let order = tracing::info_span!("order");
        order.in_scope(|| {
            tracing::info!(qty = 100, price = 187.25, "order sent");
            tracing::error!(target: "venue", code = 17u64, "rejected {}", 42);
            tracing::trace!("fine");
            tracing::debug!(message = "explicit message");
            let nanotel_span = telemetry.tracer("direct").span("nanotel.inside").start();
            let _entered = nanotel_span.enter();
            tracing::info!("in nanotel span");
            contexts.insert("inside", nanotel_span.context().clone());
        });
        let other = tracing::info_span!("other");
        tracing::info!(parent: &other, "explicit parent");
        tracing::info!(parent: None, "no parent");
        tracing::info!(target: "log", { log.target = "gateway::venue", log.file = "src/venue.rs", log.line = 42u64 }, "forwarded");
    });
    let order = exported.span("order");
    let sent = exported.log("order sent");
    assert_eq!((sent.trace_id.as_slice(), sent.span_id.as_slice()), (&order.trace_id[..], &order.span_id[..]));
    assert_eq!(sent.flags, 1, "sampled");
    assert_eq!((sent.severity_number, sent.severity_text.as_str()), (Severity::Info.number(), "INFO"));
    let fields = attributes(&sent.attributes);
    assert_eq!(fields["qty"], &Any::IntValue(100));
    assert_eq!(fields["price"], &Any::DoubleValue(187.25));
    assert_eq!(fields["tracing.target"], &text("tracing_layer"));
    assert!(matches!(fields["code.file.path"], Any::StringValue(path) if path.ends_with("tracing_layer.rs")));
    assert!(matches!(fields["code.line.number"], Any::IntValue(line) if *line > 0));
    assert_eq!(fields.len(), 5);

    // A `log` record forwarded by `tracing-log` carries its target and location in fields.
    let forwarded = attributes(&exported.log("forwarded").attributes);
    assert_eq!(forwarded["tracing.target"], &text("gateway::venue"));
    assert_eq!(forwarded["code.file.path"], &text("src/venue.rs"));
    assert_eq!(forwarded["code.line.number"], &Any::IntValue(42));
    assert!(!forwarded.contains_key("log.file") && !forwarded.contains_key("log.target"), "{forwarded:?}");

    let rejected = exported.log("rejected 42");
    assert_eq!((rejected.severity_number, rejected.severity_text.as_str()), (17, "ERROR"));
    assert_eq!(attributes(&rejected.attributes)["tracing.target"], &text("venue"));
    assert_eq!(attributes(&rejected.attributes)["code"], &Any::IntValue(17));
    assert_eq!((exported.log("fine").severity_number, exported.log("explicit message").severity_number), (1, 5));
    assert_eq!(exported.log("outside").severity_number, 13);
    assert!(exported.log("outside").trace_id.is_empty());
    assert_eq!(exported.log("in nanotel span").span_id, id(&contexts["inside"]), "the innermost span");
    assert_eq!(exported.log("explicit parent").span_id, exported.span("other").span_id);
    assert!(exported.log("no parent").trace_id.is_empty());
    assert_eq!(exported.logs.len(), 9);
}

#[test]
fn events_can_be_span_events() {
    let exported = exported(Sampler::AlwaysOn, true, |_| {
        tracing::info_span!("order").in_scope(|| {
            tracing::info!(qty = 100, "order sent");
            tracing::warn!(code = 3);
            tracing::info!(target: "log", { log.target = "gateway::venue", log.file = "src/venue.rs", log.line = 42u64 }, "forwarded");
        });
        tracing::info!("outside any span");
    });
    let events = &exported.span("order").events;
    assert_eq!(events.len(), 3, "{events:?}");
    // A `log` record forwarded by `tracing-log` is normalised as its log record would be (until
    // session 41 a span event kept `tracing.target="log"` beside raw `log.*` attributes).
    let forwarded = attributes(&events[2].attributes);
    assert_eq!(forwarded["tracing.target"], &text("gateway::venue"));
    assert_eq!(forwarded["code.file.path"], &text("src/venue.rs"));
    assert_eq!(forwarded["code.line.number"], &Any::IntValue(42));
    assert_eq!(events[2].attributes.len(), 4, "level, target, file, line: {forwarded:?}");
    assert_eq!(events[0].name, "order sent");
    let fields = attributes(&events[0].attributes);
    assert_eq!(fields["qty"], &Any::IntValue(100));
    assert_eq!(fields["level"], &text("INFO"));
    assert_eq!(fields["tracing.target"], &text("tracing_layer"));
    assert!(events[1].name.starts_with("event "), "no message: the event's name ({})", events[1].name);
    assert_eq!(attributes(&events[1].attributes)["level"], &text("WARN"));
    assert_eq!(exported.logs.len(), 1, "outside any span: still a log record");
    assert!(exported.log("outside any span").trace_id.is_empty());
}

#[test]
fn refused_spans_are_not_exported_and_their_children_follow() {
    let mut refused = None;
    let exported = exported(Sampler::parent_based(Sampler::AlwaysOff), false, |telemetry| {
        let order = tracing::info_span!("order", qty = tracing::field::Empty);
        order.record("qty", 5);
        order.in_scope(|| {
            tracing::info_span!("child").in_scope(|| tracing::info!("inside"));
            assert!(!telemetry.tracer("direct").span("nanotel.child").start().is_recording());
            refused = Some(nanotel::trace::Context::current().span_context().clone());
        });
    });
    assert!(exported.spans.is_empty(), "{:?}", exported.spans.keys());
    let refused = refused.expect("a context");
    assert!(refused.is_valid() && !refused.is_sampled());
    let inside = exported.log("inside");
    assert_eq!(inside.trace_id, refused.trace_id().to_bytes(), "the log still carries the trace");
    assert_eq!(inside.flags, 0, "not sampled");
}

#[test]
fn a_span_closed_on_another_thread_keeps_its_parent_and_children() {
    let exported = exported(Sampler::AlwaysOn, false, |_| {
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let parent = tracing::info_span!("request");
        let moved = parent.in_scope(|| tracing::info_span!("moved"));
        let worker = std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                moved.in_scope(|| tracing::info_span!("worker.child").in_scope(|| tracing::info!("on the worker")));
                drop(moved);
            });
        });
        worker.join().unwrap();
        drop(parent);
    });
    let (request, moved) = (exported.span("request"), exported.span("moved"));
    assert_eq!(moved.parent_span_id, request.span_id);
    assert_eq!(exported.span("worker.child").parent_span_id, moved.span_id);
    assert_eq!(exported.log("on the worker").span_id, exported.span("worker.child").span_id);
    assert!(moved.end_time_unix_nano <= request.end_time_unix_nano);
}

/// With the layer as the process's subscriber, the exporter's and the collector's own work
/// (HTTP/2, TLS and gRPC libraries instrumented with `tracing`) is not recorded: only the test's
/// event arrives, however many exports run. The only test here with a global subscriber; the
/// others' threads have their own.
#[test]
fn nanotels_own_threads_are_not_recorded() {
    let collector = TestCollector::start().unwrap();
    let telemetry = nanotel::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .configure_pipeline(|pipeline| {
            pipeline.with_protocol(Protocol::Grpc).with_compression(Compression::None).with_self_telemetry(false)
        })
        .build()
        .unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(telemetry.tracing_layer())).unwrap();
    std::thread::spawn(|| tracing::info!("from the program")).join().unwrap();
    for _ in 0..3 {
        telemetry.force_flush(WAIT).unwrap();
    }
    drop(telemetry);
    let logs: usize = collector
        .received()
        .iter()
        .filter_map(|r| r.request.as_ref().ok()?.as_logs().cloned())
        .flat_map(|r| r.resource_logs)
        .flat_map(|r| r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    assert_eq!(logs, 1);
    assert_eq!(collector.accepted_items(nanotel::Signal::Traces), 0);
}

/// A value whose `Debug` emits an event of its own while it is formatted.
struct Noisy;

impl std::fmt::Debug for Noisy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!("formatting");
        f.write_str("noisy")
    }
}

#[test]
fn a_value_that_emits_an_event_while_formatted_finds_its_span_unlocked() {
    let exported = exported(Sampler::AlwaysOn, true, |_| {
        let order = tracing::info_span!("order", late = tracing::field::Empty);
        order.in_scope(|| {
            order.record("late", tracing::field::debug(Noisy));
            tracing::info!(value = ?Noisy, "outer");
        });
    });
    let order = exported.span("order");
    assert_eq!(attributes(&order.attributes)["late"], &text("noisy"));
    // `span.record` reaches the layer outside `tracing`'s dispatch guard, so the event made while
    // its value is formatted arrives; one made inside `on_event` is dropped by `tracing` itself.
    let names: Vec<&str> = order.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["formatting", "outer"]);
}

/// A future that is pending on its first poll and, on its second, starts a nanotel span and
/// returns its context.
struct TwoPolls {
    tracer: nanotel::trace::Tracer,
    polled: bool,
}

impl std::future::Future for TwoPolls {
    type Output = (SpanContext, nanotel::trace::Context);

    fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        if !std::mem::replace(&mut self.polled, true) {
            return std::task::Poll::Pending;
        }
        let child = self.tracer.span("nanotel.in_task").start();
        std::task::Poll::Ready((child.context().clone(), nanotel::trace::Context::current()))
    }
}

/// Polls `future` once on this thread.
fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    std::future::Future::poll(std::pin::Pin::new(future), &mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn an_instrumented_task_polled_on_two_threads_is_the_parent_on_each() {
    use tracing::Instrument;
    let mut seen = None;
    let exported = exported(Sampler::AlwaysOn, false, |telemetry| {
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let task = TwoPolls { tracer: telemetry.tracer("direct"), polled: false };
        let mut task = task.instrument(tracing::info_span!("task"));
        assert!(poll_once(&mut task).is_pending());
        assert_eq!(nanotel::trace::Context::current(), Default::default(), "exited after the poll");
        let (child, current, after) = std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let std::task::Poll::Ready((child, current)) = poll_once(&mut task) else { panic!("ready") };
                (child, current, nanotel::trace::Context::current())
            })
        })
        .join()
        .unwrap();
        assert_eq!(after, Default::default(), "the worker's context restored after the poll");
        seen = Some((child, current));
    });
    let (child, current) = seen.expect("polled");
    let task = exported.span("task");
    assert_eq!(current.span_context().span_id().to_bytes().to_vec(), task.span_id, "current while polled");
    assert_eq!(exported.span("nanotel.in_task").parent_span_id, task.span_id);
    assert_eq!(exported.span("nanotel.in_task").span_id, id(&child));
}

/// A layer that takes every span and event and does nothing with them: beside it, a span the
/// nanotel layer's own filter skips is still made (alone, its callsite is off altogether).
struct TakesEverything;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for TakesEverything {}

#[test]
fn a_level_filter_on_the_layer_skips_spans_and_events_and_their_children_reach_the_span_above() {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::Layer;
    let collector = TestCollector::start().unwrap();
    let telemetry = nanotel::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .configure_pipeline(|pipeline| pipeline.with_compression(Compression::None).with_self_telemetry(false))
        .build()
        .unwrap();
    let layer = telemetry.tracing_layer().with_filter(LevelFilter::INFO);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer).with(TakesEverything), || {
        tracing::info_span!("outer").in_scope(|| {
            tracing::debug_span!("filtered").in_scope(|| {
                tracing::debug!("filtered event");
                tracing::info_span!("inner").in_scope(|| tracing::info!("kept event"));
            });
        });
        // An explicit parent the filter skipped: a new trace, not the span current here.
        let skipped = tracing::debug_span!(parent: None, "skipped.parent");
        tracing::info_span!("unrelated").in_scope(|| {
            tracing::info_span!(parent: &skipped, "explicit.child");
        });
    });
    telemetry.force_flush(WAIT).unwrap();
    let received = collector.received();
    let requests: Vec<_> = received.iter().filter_map(|r| r.request.as_ref().ok()).collect();
    let spans: HashMap<&str, &OtlpSpan> = requests
        .iter()
        .filter_map(|r| r.as_traces())
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|span| (span.name.as_str(), span))
        .collect();
    assert_eq!(spans.len(), 4, "{:?}", spans.keys());
    assert_eq!(spans["inner"].parent_span_id, spans["outer"].span_id);
    assert!(spans["explicit.child"].parent_span_id.is_empty(), "a root: {:?}", spans["explicit.child"]);
    assert_ne!(spans["explicit.child"].trace_id, spans["unrelated"].trace_id);
    let logs: Vec<&LogRecord> = requests
        .iter()
        .filter_map(|r| r.as_logs())
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].span_id, spans["inner"].span_id);
}

/// A sampler of the program's that keeps server spans and spans marked `keep`, and tells what it
/// was shown: the name, kind and attribute keys of each span.
struct ServersAndMarked {
    seen: std::sync::Mutex<Vec<(String, nanotel::trace::SpanKind, Vec<String>)>>,
}

impl nanotel::trace::ShouldSample for ServersAndMarked {
    fn should_sample(&self, input: &nanotel::trace::SamplingInput<'_>) -> nanotel::trace::SamplingResult {
        let keys = input.attributes().iter().map(|kv| kv.key.as_str().to_owned()).collect::<Vec<_>>();
        let keep = input.kind() == nanotel::trace::SpanKind::Server || keys.iter().any(|key| key == "keep");
        self.seen.lock().unwrap().push((input.name().to_owned(), input.kind(), keys));
        if keep {
            nanotel::trace::SamplingResult::RECORD_AND_SAMPLE
        } else {
            nanotel::trace::SamplingResult::DROP
        }
    }

    fn description(&self) -> String {
        "ServersAndMarked".into()
    }
}

/// Under a sampler of the program's, the layer's spans are decided with their name (`otel.name`
/// included), kind and initial fields, as `tracing-opentelemetry` passes them: until session 39
/// the sampler saw every one as `Internal` with no attributes, and could keep none by them.
#[test]
fn a_custom_sampler_sees_the_kind_name_and_fields_of_a_tracing_span() {
    use nanotel::trace::SpanKind;
    let sampler = std::sync::Arc::new(ServersAndMarked { seen: std::sync::Mutex::new(Vec::new()) });
    let exported = exported(Sampler::Custom(sampler.clone()), false, |_| {
        let request = tracing::info_span!("request", otel.kind = "server", otel.name = "GET /orders", qty = 1);
        request.in_scope(|| {
            tracing::info_span!("internal.step").in_scope(|| {});
            tracing::info_span!("marked.step", keep = true, otel.status_code = "ok");
        });
        tracing::info_span!(parent: None, "root.marked", keep = true);
    });
    let names: std::collections::BTreeSet<&str> = exported.spans.keys().map(String::as_str).collect();
    assert_eq!(names, ["GET /orders", "marked.step", "root.marked"].into_iter().collect());
    assert_eq!(exported.span("marked.step").status.clone().map(|s| s.code), Some(StatusCode::Ok as i32));
    assert_eq!(exported.span("marked.step").trace_id, exported.span("GET /orders").trace_id, "under its parent");
    assert_ne!(exported.span("root.marked").trace_id, exported.span("GET /orders").trace_id, "a root");
    let seen = sampler.seen.lock().unwrap();
    let request = seen.iter().find(|(name, ..)| name == "GET /orders").expect("asked about the request");
    assert_eq!(request.1, SpanKind::Server);
    assert_eq!(request.2, ["tracing.target", "qty"]);
}
