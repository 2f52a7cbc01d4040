//! Spans end to end through the recorder: parenting on one thread, across threads and in async
//! tasks, sampling, limits and dropped counts, status rules, exceptions, full rings.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::Thread;

use nanotel::attributes::{KeyValue, Value};
use nanotel::export::Scope;
use nanotel::proto::common::v1::any_value;
use nanotel::proto::trace::v1::{span::SpanKind as OtlpKind, status::StatusCode, Span as OtlpSpan};
use nanotel::trace::{
    Context, FutureExt, Sampler, SpanContext, SpanId, SpanKind, SpanLimits, Status, TraceFlags, TraceId, TraceState,
    TracerProvider,
};

fn provider() -> TracerProvider {
    TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build()
}

fn collect(provider: &TracerProvider) -> Vec<(Scope, OtlpSpan)> {
    let mut spans = Vec::new();
    provider.drain(usize::MAX, |scope, span| spans.push((scope.clone(), span)));
    spans
}

fn by_name<'a>(spans: &'a [(Scope, OtlpSpan)], name: &str) -> &'a OtlpSpan {
    &spans.iter().find(|(_, s)| s.name == name).unwrap_or_else(|| panic!("no span {name}")).1
}

fn string(value: &Option<nanotel::proto::common::v1::AnyValue>) -> &str {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn entered_spans_parent_the_spans_started_inside() {
    let provider = provider();
    let tracer = provider.tracer_with_version("gateway", "1.0");
    {
        let root = tracer.span("root").with_kind(SpanKind::Server).start();
        let _entered = root.enter();
        tracer.in_span("child", |child| {
            let grandchild = tracer.span("grandchild").start();
            assert_eq!(grandchild.context().trace_id(), child.context().trace_id());
        });
        let sibling = tracer.span("sibling").start();
        drop(sibling);
        let forced_root = tracer.root_span("new-root").start();
        assert_ne!(forced_root.context().trace_id(), root.context().trace_id());
    }
    let after = tracer.span("after").start();
    drop(after);

    let spans = collect(&provider);
    assert_eq!(spans.len(), 6);
    let (root, child, grandchild, sibling) =
        (by_name(&spans, "root"), by_name(&spans, "child"), by_name(&spans, "grandchild"), by_name(&spans, "sibling"));
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.kind, OtlpKind::Server as i32);
    assert_eq!(child.parent_span_id, root.span_id);
    assert_eq!(grandchild.parent_span_id, child.span_id);
    assert_eq!(sibling.parent_span_id, root.span_id, "leaving a span restores its parent");
    assert!(by_name(&spans, "after").parent_span_id.is_empty(), "nothing is current after the root");
    assert!(by_name(&spans, "new-root").parent_span_id.is_empty());
    for (scope, span) in &spans {
        assert_eq!((scope.name.as_str(), scope.version.as_str()), ("gateway", "1.0"));
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.span_id.len(), 8);
        assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
        assert_eq!(span.flags, 0x101, "sampled, local parent");
    }
}

#[test]
fn an_explicit_parent_carries_the_trace_to_another_thread() {
    let provider = provider();
    let tracer = provider.tracer("gateway");
    let parent = tracer.span("order").start();
    let context = {
        let _entered = parent.enter();
        Context::current()
    };
    let worker_tracer = tracer.clone();
    std::thread::spawn(move || {
        let mut span = worker_tracer.span_with_parent("risk-check", &context).start();
        span.set_attribute(KeyValue::new("thread", "worker"));
    })
    .join()
    .unwrap();
    let parent_ids = (parent.context().trace_id(), parent.context().span_id());
    drop(parent);

    // The worker thread is gone: its ring is drained all the same.
    let spans = collect(&provider);
    let child = by_name(&spans, "risk-check");
    assert_eq!(child.trace_id, parent_ids.0.to_bytes());
    assert_eq!(child.parent_span_id, parent_ids.1.to_bytes());
}

/// A waker that unparks the thread blocked on the future.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Pending once (waking itself), then ready: a suspension point.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn an_async_task_runs_in_its_context_on_every_poll() {
    let provider = provider();
    let tracer = provider.tracer("gateway");
    let request = tracer.span("request").start();
    let context = {
        let _entered = request.enter();
        Context::current()
    };
    let task_tracer = tracer.clone();
    let task = async move {
        let first = task_tracer.span("before-await").start();
        drop(first);
        YieldOnce(false).await;
        // Whatever the thread had current between polls, the task's context is back.
        let second = task_tracer.span("after-await").start();
        drop(second);
        Context::current()
    }
    .with_context(context.clone());
    let inside = std::thread::spawn(move || block_on(task)).join().unwrap();
    assert_eq!(inside, context);
    assert_eq!(Context::current(), Context::default(), "this thread's context is untouched");
    let request_span_id = request.context().span_id().to_bytes();
    drop(request);

    let spans = collect(&provider);
    for name in ["before-await", "after-await"] {
        assert_eq!(by_name(&spans, name).parent_span_id, request_span_id, "{name}");
    }
}

#[test]
fn a_remote_parent_is_followed_and_flagged() {
    let provider = TracerProvider::builder().without_env().build(); // ParentBased(AlwaysOn)
    let tracer = provider.tracer("gateway");
    let remote = |sampled: bool| {
        Context::from_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::new(0x02).with_sampled(sampled),
            true,
            Default::default(),
        ))
    };
    let sampled = tracer.span_with_parent("from-sampled", &remote(true)).start();
    assert!(sampled.is_recording());
    drop(sampled);
    let refused = tracer.span_with_parent("from-not-sampled", &remote(false)).start();
    assert!(!refused.is_recording());
    assert!(refused.context().is_valid() && !refused.context().is_sampled());
    assert_eq!(refused.context().trace_id(), remote(false).span_context().trace_id());
    {
        let _entered = refused.enter();
        let grandchild = tracer.span("under-not-sampled").start();
        assert!(!grandchild.is_recording(), "a local not-sampled parent is followed");
    }
    drop(refused);

    let spans = collect(&provider);
    assert_eq!(spans.len(), 1, "only the sampled span is recorded");
    let span = by_name(&spans, "from-sampled");
    assert_eq!(span.flags, 0x02 | 0x01 | 0x100 | 0x200, "trace flags kept, parent is remote");
    assert_eq!(span.parent_span_id, remote(true).span_context().span_id().to_bytes());
}

#[test]
fn limits_cut_and_count() {
    let limits = SpanLimits {
        attribute_count: 3,
        attribute_value_length: Some(4),
        event_count: 2,
        link_count: 1,
        attributes_per_event: 1,
        attributes_per_link: 1,
        ..SpanLimits::default()
    };
    let provider = TracerProvider::builder().without_env().with_span_limits(limits).build();
    let tracer = provider.tracer("gateway");
    let linked = SpanContext::new(
        TraceId::from_bytes([7; 16]),
        SpanId::from_bytes([8; 8]),
        TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    let mut span = tracer
        .span("limited")
        .with_attribute(KeyValue::new("a", "abcdefgh"))
        .with_link(linked.clone(), [KeyValue::new("l1", 1), KeyValue::new("l2", 2)])
        .start();
    for key in ["b", "c", "d", "e"] {
        span.set_attribute(KeyValue::new(key, 1));
    }
    span.set_attribute(KeyValue::new("a", vec![Value::from("123456"), Value::from(5)])); // overwrite: allowed
    span.add_link(linked, []);
    span.add_event("e1", [KeyValue::new("x", 1), KeyValue::new("y", 2), KeyValue::new("z", 3)]);
    span.add_event("e2", []);
    span.add_event("e3", []);
    span.end();

    let spans = collect(&provider);
    let span = by_name(&spans, "limited");
    let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert_eq!(span.dropped_attributes_count, 2);
    let Some(any_value::Value::ArrayValue(array)) = span.attributes[0].value.as_ref().and_then(|v| v.value.clone())
    else {
        panic!("a is an array")
    };
    assert_eq!(string(&Some(array.values[0].clone())), "1234", "values cut to 4 characters");
    assert_eq!(span.events.len(), 2);
    assert_eq!(span.dropped_events_count, 1);
    assert_eq!((span.events[0].attributes.len(), span.events[0].dropped_attributes_count), (1, 2));
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.dropped_links_count, 1);
    assert_eq!((span.links[0].attributes.len(), span.links[0].dropped_attributes_count), (1, 1));
    assert_eq!(span.links[0].flags, 0x301);
}

/// A link to an invalid context is recorded only with attributes (or a trace state) on it, as the
/// specification has it; an empty one, saying nothing, is not exported (until session 41 it was,
/// with zero ids).
#[test]
fn an_empty_link_to_an_invalid_context_is_not_recorded() {
    let provider = provider();
    let mut span = provider.tracer("gateway").span("linked").with_link(SpanContext::invalid(), []).start();
    span.add_link(SpanContext::invalid(), [KeyValue::new("why", "lost upstream")]);
    span.add_link(SpanContext::invalid(), []);
    span.end();
    let spans = collect(&provider);
    let links = &by_name(&spans, "linked").links;
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].attributes[0].key, "why");
}

#[derive(Debug)]
struct VenueError {
    cause: std::io::Error,
}

impl fmt::Display for VenueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("order rejected by venue")
    }
}

impl Error for VenueError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

#[test]
fn exceptions_and_status_follow_the_rules() {
    let provider = provider();
    let tracer = provider.tracer("gateway");
    let mut failed = tracer.span("failed").start();
    let error = VenueError { cause: std::io::Error::other("connection reset") };
    failed.record_exception(&error);
    failed.set_status(Status::error("rejected"));
    failed.set_status(Status::Unset); // ignored
    failed.end();
    let mut ok = tracer.span("ok").start();
    ok.set_status(Status::Ok);
    ok.set_status(Status::error("too late")); // Ok is final
    ok.end();
    let plain = tracer.span("plain").start();
    drop(plain);
    let mut boxed = tracer.span("boxed").start();
    let error: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::other("reset"));
    boxed.record_exception(&*error);
    boxed.end();

    let spans = collect(&provider);
    let failed = by_name(&spans, "failed");
    let status = failed.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (StatusCode::Error as i32, "rejected"));
    let event = &failed.events[0];
    assert_eq!(event.name, "exception");
    assert!(event.time_unix_nano >= failed.start_time_unix_nano && event.time_unix_nano <= failed.end_time_unix_nano);
    let attribute = |key: &str| string(&event.attributes.iter().find(|kv| kv.key == key).unwrap().value).to_owned();
    assert!(attribute("exception.type").ends_with("VenueError"), "{}", attribute("exception.type"));
    assert_eq!(attribute("exception.message"), "order rejected by venue: connection reset");
    let boxed = by_name(&spans, "boxed");
    let keys: Vec<&str> = boxed.events[0].attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["exception.message"], "a trait object's type name (dyn core::error::Error) is left out");
    let ok = by_name(&spans, "ok").status.as_ref().unwrap();
    assert_eq!((ok.code, ok.message.as_str()), (StatusCode::Ok as i32, ""));
    assert_eq!(by_name(&spans, "plain").status, None);
}

#[test]
fn a_full_ring_drops_and_counts() {
    let provider = TracerProvider::builder().without_env().with_ring_capacity(4).build();
    let tracer = provider.tracer("gateway");
    for i in 0..10 {
        let span = tracer.span("burst").start();
        // A span that found no slot does not record, and so does not say it is sampled (until
        // session 39 it did: its children and downstream services sampled a hole in the trace).
        assert_eq!(span.is_recording(), i < 4);
        assert_eq!(span.context().is_sampled(), span.is_recording(), "span {i}");
        span.end();
    }
    let mut kept = 0;
    let dropped = provider.drain(usize::MAX, |_, _| kept += 1);
    assert_eq!((kept, dropped), (4, 6));
    tracer.span("after").start().end();
    assert_eq!(collect(&provider).len(), 1);
    assert_eq!(provider.drain(usize::MAX, |_, _| {}), 0, "drops are reported once");
    // A child that finds no slot (its parent's context held in its builder) says the same.
    let held: Vec<_> = (0..4).map(|_| tracer.span("held").start()).collect();
    let parent = nanotel::trace::Context::from_span_context(held[0].context().clone());
    let child = tracer.span_with_parent("child", &parent).start();
    assert!(!child.is_recording() && !child.context().is_sampled());
    assert_eq!(child.context().trace_id(), parent.span_context().trace_id(), "in its parent's trace");
}

#[test]
fn a_limited_drain_serves_every_thread() {
    let provider = provider();
    let tracer = provider.tracer("gateway");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tracer = tracer.clone();
            std::thread::spawn(move || (0..100).for_each(|_| tracer.span("work").start().end()))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let mut total = 0;
    loop {
        let mut batch = 0;
        provider.drain(7, |_, _| batch += 1);
        assert!(batch <= 7);
        total += batch;
        if batch == 0 {
            break;
        }
    }
    assert_eq!(total, 400);
}

#[test]
fn a_span_outlives_the_thread_that_started_it() {
    let provider = provider();
    let tracer = provider.tracer("gateway");
    std::thread::scope(|scope| {
        let span = scope
            .spawn(|| {
                let mut span = tracer.span("handed-over").start();
                span.set_attribute(KeyValue::new("started", "elsewhere"));
                span
            })
            .join()
            .unwrap();
        // The starting thread is gone; its slots stay until the span is ended and drained.
        assert_eq!(collect(&provider).len(), 0);
        scope.spawn(move || span.end()).join().unwrap();
    });
    let spans = collect(&provider);
    assert_eq!(spans.len(), 1);
    assert_eq!(by_name(&spans, "handed-over").attributes[0].key, "started");
    assert_eq!(collect(&provider).len(), 0);
}

fn unix_nanos_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

#[test]
fn a_refused_span_has_stable_ids_that_its_children_and_other_threads_see() {
    let provider =
        TracerProvider::builder().without_env().with_sampler(Sampler::parent_based(Sampler::AlwaysOff)).build();
    let tracer = provider.tracer("gateway");
    let root = tracer.span("order").start();
    assert!(!root.is_recording());
    let first = root.context().clone();
    assert!(first.is_valid() && !first.is_sampled(), "ids exist although nothing is recorded");
    assert_eq!(root.context(), &first, "every read sees the same ids");
    let child = {
        let _entered = root.enter();
        tracer.span("risk").start()
    };
    assert_eq!(child.context().trace_id(), first.trace_id());
    assert_ne!(child.context().span_id(), first.span_id());
    assert!(!child.context().is_sampled());

    // Threads reading a refused span's context for the first time at the same moment agree.
    let shared = tracer.root_span("tick").start();
    let seen: Vec<SpanContext> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..4).map(|_| s.spawn(|| shared.context().clone())).collect();
        readers.into_iter().map(|reader| reader.join().unwrap()).collect()
    });
    assert!(seen.iter().all(|context| context == &seen[0] && context.is_valid()));

    // A builder's context is the span's.
    let mut builder = tracer.span("quote");
    let planned = builder.context().clone();
    assert_eq!(builder.start().context(), &planned);
    drop((root, child, shared));
    assert!(collect(&provider).is_empty(), "nothing refused reaches the recorder");
}

#[test]
fn a_sampler_that_refuses_roots_follows_a_current_sampled_parent() {
    // `Tracer::span` refuses a root without asking for the current context; with one entered,
    // the sampler's parent rule decides.
    let provider =
        TracerProvider::builder().without_env().with_sampler(Sampler::parent_based(Sampler::AlwaysOff)).build();
    let tracer = provider.tracer("gateway");
    let incoming = Context::from_span_context(SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        Default::default(),
    ));
    let child = {
        let _attached = incoming.attach();
        tracer.span("order.fill").start()
    };
    assert!(child.is_recording(), "the sampled parent is followed");
    assert_eq!(child.context().trace_id(), incoming.span_context().trace_id());
    let after = tracer.span("tick").start();
    assert!(!after.is_recording() && after.context().is_valid(), "with nothing current, a refused root");
    assert_ne!(after.context().trace_id(), incoming.span_context().trace_id());
    drop((child, after));
    let spans = collect(&provider);
    assert_eq!(spans.len(), 1);
    assert_eq!(by_name(&spans, "order.fill").parent_span_id, incoming.span_context().span_id().to_bytes());
}

#[test]
fn a_recorded_span_keeps_the_ids_it_was_seen_with_and_gets_ids_when_never_seen() {
    let provider = provider();
    let tracer = provider.tracer("gateway");
    let seen = {
        let order = tracer.span("order").start();
        let seen = order.context().clone();
        assert!(seen.is_valid() && seen.is_sampled());
        assert_eq!(order.context(), &seen, "every read sees the same ids");
        seen
    };
    // Roots and children whose contexts nobody reads: their ids are drawn when they are encoded.
    for _ in 0..50 {
        drop(tracer.root_span("unseen").start());
    }
    let parent = tracer.root_span("parent").start();
    let child = tracer.span_with_parent("child", &Context::from_span_context(parent.context().clone())).start();
    drop((child, parent));

    let spans = collect(&provider);
    let order = by_name(&spans, "order");
    assert_eq!(order.trace_id, seen.trace_id().to_bytes());
    assert_eq!(order.span_id, seen.span_id().to_bytes());
    let (parent, child) = (by_name(&spans, "parent"), by_name(&spans, "child"));
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(child.parent_span_id, parent.span_id);
    let mut ids = std::collections::HashSet::new();
    for (_, span) in &spans {
        assert_eq!(span.flags & 0xff, 0x01, "sampled");
        assert!(span.trace_id.iter().any(|&b| b != 0) && span.span_id.iter().any(|&b| b != 0));
        assert!(ids.insert(span.span_id.clone()), "span ids are distinct");
    }
    let unseen_traces: std::collections::HashSet<_> =
        spans.iter().filter(|(_, s)| s.name == "unseen").map(|(_, s)| s.trace_id.clone()).collect();
    assert_eq!(unseen_traces.len(), 50, "every new root starts its own trace");
}

#[test]
fn timestamps_are_wall_clock_nanoseconds_and_an_explicit_end_is_kept_unless_before_the_start() {
    let provider = provider();
    let tracer = provider.tracer("gateway");
    let before = unix_nanos_now();
    let mut span = tracer.span("order").start();
    span.add_event("ack", []);
    drop(span);
    let after = unix_nanos_now();
    let later = after + 5_000_000_000;
    tracer.span("replayed").start().end_at(later);
    // An end before the start (until session 39 sent as given) is taken as the start.
    tracer.span("ended.before.started").start().end_at(1_700_000_000_123_456_789);
    let spans = collect(&provider);
    let order = by_name(&spans, "order");
    // The clock is calibrated to the wall clock within microseconds; a millisecond is generous.
    let window = before - 1_000_000..=after + 1_000_000;
    assert!(window.contains(&order.start_time_unix_nano), "{order:?} outside {window:?}");
    assert!(window.contains(&order.end_time_unix_nano));
    assert!(order.start_time_unix_nano <= order.events[0].time_unix_nano);
    assert!(order.events[0].time_unix_nano <= order.end_time_unix_nano);
    assert_eq!(by_name(&spans, "replayed").end_time_unix_nano, later);
    let backwards = by_name(&spans, "ended.before.started");
    assert_eq!(backwards.end_time_unix_nano, backwards.start_time_unix_nano, "{backwards:?}");
}

#[test]
fn a_builder_dropped_unstarted_gives_back_its_slot_and_its_context() {
    let provider = TracerProvider::builder().without_env().with_ring_capacity(1).build();
    let tracer = provider.tracer("gateway");
    // A sampled builder holds this thread's one slot (and an owned attribute in it) until it is
    // started or dropped.
    let mut abandoned = tracer.span("abandoned");
    abandoned.with_attribute(KeyValue::new("venue", String::from("XNAS")));
    drop(abandoned);
    tracer.span("kept").start().end();
    let mut kept = Vec::new();
    let dropped = provider.drain(usize::MAX, |_, span| kept.push(span.name));
    assert_eq!((kept, dropped), (vec!["kept".to_owned()], 0));

    // A refused builder holds its parent's context, trace state and all: dropped unstarted, it
    // frees it (scripts/asan.sh runs this file under LeakSanitizer).
    let parent = Context::from_span_context(SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::NOT_SAMPLED,
        true,
        TraceState::parse("vendor=opaque").unwrap(),
    ));
    drop(tracer.span_with_parent("refused", &parent));
}

#[test]
fn a_span_ended_frees_the_trace_state_it_carried() {
    let provider = TracerProvider::builder().without_env().build();
    let tracer = provider.tracer("gateway");
    let parent = |flags| {
        Context::from_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            flags,
            true,
            TraceState::parse("vendor=opaque").unwrap(),
        ))
    };
    // A refused child holds its parent's context, trace state and all; one whose context was read
    // holds it too. Ended, each frees it (scripts/asan.sh runs this file under LeakSanitizer).
    tracer.span_with_parent("refused", &parent(TraceFlags::NOT_SAMPLED)).start().end();
    let read = tracer.span_with_parent("refused.read", &parent(TraceFlags::NOT_SAMPLED)).start();
    assert_eq!(read.context().trace_state().to_header(), "vendor=opaque");
    drop(read);
    // A recorded child's context lies in its slot, freed when the exporter thread is done with it.
    tracer.span_with_parent("sampled", &parent(TraceFlags::SAMPLED)).start().end();
    let mut states = Vec::new();
    provider.drain(usize::MAX, |_, span| states.push(span.trace_state));
    assert_eq!(states, vec!["vendor=opaque".to_owned()]);
}
