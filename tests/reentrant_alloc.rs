//! A global allocator that records spans and log records itself (one that reports large
//! allocations, say): a thread's first span and first log record make its buffers, allocating
//! megabytes, and the allocator's own span and record come back into nanotel while they are being
//! made. They are dropped and counted (as a full buffer's), and nothing panics: until session 42 a
//! `RefCell` borrowed across the making panicked inside the allocator, which aborts the process.
//!
//! The same allocator also shuts a pipeline down while a thread makes its buffers, the widest
//! window there is between a span's end reading that its pipeline runs and the span reaching its
//! thread's ring.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use nanotel::export::Pipeline;
use nanotel::logs::{Logger, LoggerProvider, Severity};
use nanotel::trace::{Sampler, Tracer, TracerProvider};

static TRACER: OnceLock<Tracer> = OnceLock::new();
static LOGGER: OnceLock<Logger> = OnceLock::new();
/// The logger of [`OnLarge::LogAtEach`] (a test of its own).
static EACH_LOGGER: OnceLock<Logger> = OnceLock::new();
/// Shut down by the allocator at the next large allocation of a thread armed to.
static TO_SHUT_DOWN: Mutex<Option<Pipeline>> = Mutex::new(None);

/// What the allocator does at a large allocation on a thread.
#[derive(Clone, Copy, PartialEq)]
enum OnLarge {
    Nothing,
    Record,
    ShutDown,
    /// A log record at every allocation, large or not.
    LogAtEach,
}

thread_local! {
    /// Set on the test's threads: what the allocator does at their large allocations.
    static ARMED: Cell<OnLarge> = const { Cell::new(OnLarge::Nothing) };
    /// Set while the allocator reports, so its own allocations report nothing.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

/// What "large" is: a thread's span and log buffers are made of allocations this large or more
/// (a span slab of megabytes, a log ring of hundreds of KiB); nothing else here comes near.
const LARGE: usize = 256 << 10;

struct ReportingAllocator;

impl ReportingAllocator {
    fn report(size: usize) {
        let armed = ARMED.with(Cell::get);
        let least = if armed == OnLarge::LogAtEach { 1 } else { LARGE };
        if size < least || armed == OnLarge::Nothing || REPORTING.with(|r| r.replace(true)) {
            return;
        }
        if armed == OnLarge::LogAtEach {
            if let Some(logger) = EACH_LOGGER.get() {
                logger.emit(Severity::Warn, "allocation", &[]);
            }
        }
        if armed == OnLarge::Record {
            if let Some(tracer) = TRACER.get() {
                tracer.span("large allocation").start().end();
            }
            if let Some(logger) = LOGGER.get() {
                logger.emit(Severity::Warn, "large allocation", &[]);
            }
        }
        let pipeline =
            if armed == OnLarge::ShutDown { TO_SHUT_DOWN.lock().ok().and_then(|mut p| p.take()) } else { None };
        if let Some(pipeline) = pipeline {
            pipeline.shutdown(Duration::from_secs(10));
        }
        REPORTING.with(|r| r.set(false));
    }
}

// SAFETY: every call goes to `System`; the report around it allocates through this allocator
// again only with `REPORTING` set, which makes those calls plain ones.
unsafe impl GlobalAlloc for ReportingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::report(layout.size());
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::report(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::report(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: ReportingAllocator = ReportingAllocator;

/// Runs `record` on a new thread with the allocator reporting, once it has recorded; the thread
/// lives on (keeping its buffers from the next thread, which would take them) until `exit` is
/// dropped, and the handle joins it.
fn on_an_armed_thread(
    armed: OnLarge,
    record: impl FnOnce() + Send + 'static,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (exit, exited) = std::sync::mpsc::channel::<()>();
    let (done, recorded) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        ARMED.with(|cell| cell.set(armed));
        record();
        ARMED.with(|cell| cell.set(OnLarge::Nothing));
        let _ = done.send(());
        let _ = exited.recv();
    });
    let _ = recorded.recv();
    (exit, thread)
}

#[test]
fn records_made_from_inside_the_allocator_while_buffers_are_made_are_dropped_and_counted() {
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let loggers = LoggerProvider::builder().without_env().build();
    assert!(TRACER.set(tracers.tracer("allocator")).is_ok());
    assert!(LOGGER.set(loggers.logger("allocator")).is_ok());
    let (tracer, logger) = (tracers.tracer("gateway"), loggers.logger("gateway"));
    // A log record first: the allocator's log records come back while the thread's log buffers
    // are made (its spans find their buffers made at once, inside the report).
    let first = logger.clone();
    let logs_first = on_an_armed_thread(OnLarge::Record, move || first.emit(Severity::Info, "order sent", &[]));
    // A span first: the allocator's spans come back while the span buffers are made.
    let spans_first = on_an_armed_thread(OnLarge::Record, move || tracer.span("order").start().end());
    for (exit, thread) in [logs_first, spans_first] {
        drop(exit);
        assert!(thread.join().is_ok(), "the thread recorded without a panic");
    }
    let mut spans = Vec::new();
    let lost_spans = tracers.drain(usize::MAX, |_, span| spans.push(span.name));
    let mut records = Vec::new();
    let lost_records = loggers.drain(usize::MAX, |_, record| records.push(record.body));
    assert_eq!(spans.iter().filter(|name| *name == "order").count(), 1, "{spans:?}");
    assert_eq!(records.len() as u64, 1 + lost_spans, "the record, and one per span lost: {records:?}");
    assert_eq!(spans.len() as u64, 1 + lost_records, "the span, and one per record lost: {spans:?}");
    assert!(lost_spans >= 1 && lost_records >= 1, "lost while the buffers were made: {lost_spans} {lost_records}");
    drop(logger);
}

/// A span started on one thread and ended on a fresh one, whose buffers are being made when the
/// pipeline shuts down: its end read "running" before, and it reaches the new ring after the
/// pipeline's last drain. It is counted as dropped at shutdown; until session 42 it stayed in the
/// ring, neither exported nor counted.
#[test]
fn a_span_ended_on_a_fresh_thread_while_the_pipeline_shuts_down_is_counted() {
    let collector = nanotel_testing::TestCollector::start().unwrap();
    let pipeline = Pipeline::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    tracers.attach(&pipeline);
    let handle = pipeline.handle();
    let span = tracers.tracer("gateway").span("handed over").start();
    *TO_SHUT_DOWN.lock().unwrap() = Some(pipeline);
    let (exit, thread) = on_an_armed_thread(OnLarge::ShutDown, move || span.end());
    drop(exit);
    assert!(thread.join().is_ok());
    assert!(TO_SHUT_DOWN.lock().unwrap().is_none(), "shut down while the thread made its buffers");
    let traces = handle.accounting().traces;
    assert_eq!(traces.enqueued, 1, "{traces:?}");
    assert_eq!(traces.dropped["shutdown"], 1, "counted, not left in the new ring: {traces:?}");
    assert_eq!(tracers.drain(usize::MAX, |_, _| ()), 0);
}

/// A warm thread emitting a record with more attributes than are held inline, under an allocator
/// that logs every allocation: keeping the attributes past the inline ones allocates, and that
/// allocation's record must not reach the ring the first is being written into. Both records
/// arrive whole; until session 42 the spill was made inside the ring's borrow, and the two were
/// written into one slot.
#[test]
fn a_record_spilling_its_attributes_under_a_logging_allocator_arrives_whole() {
    let loggers = LoggerProvider::builder().without_env().build();
    assert!(EACH_LOGGER.set(loggers.logger("allocator")).is_ok());
    let logger = loggers.logger("gateway");
    let attributes: Vec<nanotel::attributes::KeyValue> =
        (0..12).map(|i| nanotel::attributes::KeyValue::new(format!("k{i}"), i64::from(i))).collect();
    let (exit, thread) = on_an_armed_thread(OnLarge::Nothing, move || {
        logger.emit(Severity::Info, "warm", &[]);
        ARMED.with(|cell| cell.set(OnLarge::LogAtEach));
        logger.emit(Severity::Info, "wide", &attributes);
    });
    drop(exit);
    assert!(thread.join().is_ok());
    let mut records = Vec::new();
    loggers.drain(usize::MAX, |_, record| records.push(record));
    let body = |record: &nanotel::proto::logs::v1::LogRecord| format!("{:?}", record.body);
    let wide: Vec<_> = records.iter().filter(|r| body(r).contains("wide")).collect();
    assert_eq!(wide.len(), 1, "{records:?}");
    assert_eq!(wide[0].attributes.len(), 12, "{:?}", wide[0]);
    assert!(records.iter().any(|r| body(r).contains("allocation")), "the allocator's own record: {records:?}");
    assert!(records.iter().all(|r| ["warm", "wide", "allocation"].iter().any(|b| body(r).contains(b))), "{records:?}");
}
