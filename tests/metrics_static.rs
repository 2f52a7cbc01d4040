//! `StaticCounter`: counted from the first add whatever runs, reported by the installed meter
//! provider (over real HTTP to a loopback collector, and through its own collections), exact
//! across thread churn, in cumulative and delta temporality, under views, and by no provider
//! that is not the installed one; what cannot be exported is said on stderr (a child process). The installed provider is the process's, so this binary holds
//! these tests alone, and they take turns.

use nanotel::attributes::KeyValue;
use nanotel::metrics::{Aggregation, StaticCounter, TemporalityPreference, View};
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::number_data_point::Value;
use nanotel::proto::metrics::v1::{AggregationTemporality, Metric};
use nanotel::Telemetry;
use nanotel_testing::TestCollector;

#[path = "support/installed.rs"]
mod installed;

#[path = "support/otlp_attributes.rs"]
mod otlp_attributes;
use otlp_attributes::key_value_text;

use installed::{builder, last_exported, named, renaming_and_dropping, turn, warnings_of_child, WAIT};

/// The one point of a static counter's metric: its value and temporality.
fn point(metric: &Metric) -> (u64, AggregationTemporality) {
    let Some(Data::Sum(sum)) = &metric.data else { panic!("a static counter is a sum: {metric:?}") };
    assert!(sum.is_monotonic);
    assert_eq!(sum.data_points.len(), 1, "one series, no attributes");
    let point = &sum.data_points[0];
    assert!(point.attributes.is_empty());
    let Some(Value::AsInt(value)) = point.value else { panic!("an integer point: {point:?}") };
    (value as u64, AggregationTemporality::try_from(sum.aggregation_temporality).unwrap())
}

#[test]
fn counted_before_init_and_across_thread_churn_and_exported_by_the_installed_provider() {
    static ORDERS: StaticCounter = StaticCounter::new("static.orders").with_unit("{order}");
    let _turn = turn();
    ORDERS.add(5);
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).build().unwrap();
    for _round in 0..8 {
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| (0..1000).for_each(|_| ORDERS.add(1)));
            }
        });
    }
    telemetry.shutdown(WAIT);
    assert_eq!(ORDERS.total(), 64_005);
    let exported = last_exported(&collector, "static.orders", |metric| point(metric).0);
    assert_eq!(exported, Some(64_005), "the last export holds every add");
}

#[test]
fn under_delta_temporality_each_add_is_reported_once() {
    static FILLS: StaticCounter = StaticCounter::new("static.fills").with_scope("gateway");
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).with_temporality(TemporalityPreference::Delta).build().unwrap();
    let provider = telemetry.meter_provider();
    let mut reported = 0;
    for adds in [3u64, 0, 40, 7] {
        (0..adds).for_each(|_| FILLS.add(2));
        let snapshot = provider.snapshot();
        let collected = provider.collect();
        for scopes in [&snapshot, &collected] {
            let found = named(scopes, "static.fills");
            if adds == 0 {
                assert!(found.is_empty(), "a window without adds has no point (since session 40)");
                continue;
            }
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].0, "gateway", "reported in its scope's meter");
            assert_eq!(point(found[0].1), (2 * adds, AggregationTemporality::Delta));
        }
        reported += named(&collected, "static.fills").first().map_or(0, |found| point(found.1).0);
    }
    assert_eq!(reported, FILLS.total());
    telemetry.shutdown(WAIT);
}

#[test]
fn views_rename_and_drop_and_statics_of_one_name_report_their_sum() {
    static FIRST: StaticCounter = StaticCounter::new("static.rejects");
    static SECOND: StaticCounter = StaticCounter::new("static.rejects");
    static DROPPED: StaticCounter = StaticCounter::new("static.noise");
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = renaming_and_dropping(&collector, ("static.rejects", "static.rejections"), "static.noise");
    FIRST.add(1);
    SECOND.add(10);
    DROPPED.add(1);
    let scopes = telemetry.meter_provider().collect();
    assert!(named(&scopes, "static.rejects").is_empty());
    assert!(named(&scopes, "static.noise").is_empty(), "a view dropped it");
    let found = named(&scopes, "static.rejections");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, StaticCounter::DEFAULT_SCOPE);
    assert_eq!(point(found[0].1), (11, AggregationTemporality::Cumulative));
    telemetry.shutdown(WAIT);
}

/// Each point of a static counter's metric: its attributes (`key=value`, sorted) and its value.
fn points_by_attributes(metric: &Metric) -> Vec<(Vec<String>, u64)> {
    let Some(Data::Sum(sum)) = &metric.data else { panic!("a static counter is a sum: {metric:?}") };
    let mut points: Vec<_> = sum
        .data_points
        .iter()
        .map(|point| {
            let mut attributes: Vec<String> = point.attributes.iter().map(key_value_text).collect();
            attributes.sort();
            let Some(Value::AsInt(value)) = point.value else { panic!("an integer point: {point:?}") };
            (attributes, value as u64)
        })
        .collect();
    points.sort();
    points
}

#[test]
fn attributes_make_series_exported_over_http_and_a_view_filter_merges_them() {
    const XNAS_BUY: &[KeyValue] = &[KeyValue::static_str("venue", "XNAS"), KeyValue::static_str("side", "buy")];
    // The same set in another order, with a duplicate key whose last value counts.
    const BUY_XNAS: &[KeyValue] = &[
        KeyValue::static_str("side", "sell"),
        KeyValue::static_str("side", "buy"),
        KeyValue::static_str("venue", "XNAS"),
    ];
    const XNAS_SELL: &[KeyValue] = &[KeyValue::static_str("venue", "XNAS"), KeyValue::static_str("side", "sell")];
    const ACCOUNT: &[KeyValue] = &[KeyValue::static_i64("account", 7), KeyValue::static_bool("test", false)];
    static BUYS: StaticCounter = StaticCounter::new("static.routed").with_attributes(XNAS_BUY);
    static MORE_BUYS: StaticCounter = StaticCounter::new("static.routed").with_attributes(BUY_XNAS);
    static SELLS: StaticCounter = StaticCounter::new("static.routed").with_attributes(XNAS_SELL);
    static PLAIN: StaticCounter = StaticCounter::new("static.routed");
    static TYPED: StaticCounter = StaticCounter::new("static.routed").with_attributes(ACCOUNT);
    static VENUE_BUYS: StaticCounter = StaticCounter::new("static.by_venue").with_attributes(XNAS_BUY);
    static VENUE_SELLS: StaticCounter = StaticCounter::new("static.by_venue").with_attributes(XNAS_SELL);
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector)
        .configure_metrics(|m| m.with_view(View::new("static.by_venue").with_kept_attributes(["venue"])))
        .build()
        .unwrap();
    BUYS.add(1);
    MORE_BUYS.add(10);
    SELLS.add(100);
    PLAIN.add(1000);
    TYPED.add(10_000);
    VENUE_BUYS.add(2);
    VENUE_SELLS.add(20);
    telemetry.shutdown(WAIT);
    let routed = last_exported(&collector, "static.routed", points_by_attributes).expect("exported");
    let strings = |texts: &[&str]| texts.iter().map(|text| (*text).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        routed,
        [
            (strings(&[]), 1000),
            (strings(&["account=7", "test=false"]), 10_000),
            (strings(&["side=buy", "venue=XNAS"]), 11),
            (strings(&["side=sell", "venue=XNAS"]), 100),
        ],
        "one series per attribute set, whatever the order and duplicates of its keys"
    );
    let by_venue = last_exported(&collector, "static.by_venue", points_by_attributes).expect("exported");
    assert_eq!(by_venue, [(strings(&["venue=XNAS"]), 22)], "the view kept only the venue: one series");
}

/// A part of a program that lives as long as the program, with a counter of its own whose
/// attributes come from the program's configuration: the README's pattern for run-time attributes
/// at a static's cold cost.
struct Venue {
    fills: StaticCounter,
}

impl Venue {
    /// The venues named in `names`, leaked for the rest of the process, each counter's attributes
    /// made at run time and leaked with it.
    fn leaked(names: &[&str]) -> &'static [Venue] {
        let venue = |name: &&str| {
            let attributes = Vec::leak(vec![KeyValue::new("venue", (*name).to_owned())]);
            Venue { fills: StaticCounter::new("static.leaked_fills").with_attributes(attributes) }
        };
        Vec::leak(names.iter().map(venue).collect())
    }
}

#[test]
fn attributes_made_at_run_time_in_a_structure_leaked_for_the_process_make_series() {
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).build().unwrap();
    let names = [String::from("XNAS"), String::from("ARCA")];
    let venues = Venue::leaked(&names.iter().map(String::as_str).collect::<Vec<_>>());
    venues[0].fills.add(3);
    venues[1].fills.add(40);
    venues[0].fills.add(4);
    telemetry.shutdown(WAIT);
    let fills = last_exported(&collector, "static.leaked_fills", points_by_attributes).expect("exported");
    let series = |venue: &str, total| (vec![format!("venue={venue}")], total);
    assert_eq!(fills, [series("ARCA", 40), series("XNAS", 7)], "one series per venue named at run time");
}

#[test]
fn a_provider_never_installed_or_replaced_reports_no_static_counter() {
    static QUOTES: StaticCounter = StaticCounter::new("static.quotes");
    let _turn = turn();
    let (first_collector, second_collector) = (TestCollector::start().unwrap(), TestCollector::start().unwrap());
    let private: Telemetry = builder(&first_collector).with_install_global(false).build().unwrap();
    QUOTES.add(1);
    assert!(named(&private.meter_provider().collect(), "static.quotes").is_empty(), "never installed");

    let first = builder(&first_collector).build().unwrap();
    assert_eq!(point(named(&first.meter_provider().collect(), "static.quotes")[0].1).0, 1);
    let second = builder(&second_collector).build().unwrap();
    QUOTES.add(1);
    assert!(named(&first.meter_provider().collect(), "static.quotes").is_empty(), "replaced");
    assert_eq!(point(named(&second.meter_provider().collect(), "static.quotes")[0].1).0, 2);
    private.shutdown(WAIT);
    first.shutdown(WAIT);
    second.shutdown(WAIT);
}

/// Set in the child's environment: the child runs [`child_reports_what_it_cannot_export`]'s work.
const CHILD: &str = "METRICS_STATIC_CHILD";

/// The child's work (a process of its own, so that its stderr is its alone): a static counter
/// whose name breaks the specification's syntax, and one under a view asking for a histogram.
#[test]
fn child_reports_what_it_cannot_export() {
    static BAD_NAME: StaticCounter = StaticCounter::new("9 orders");
    static AS_HISTOGRAM: StaticCounter = StaticCounter::new("static.as_histogram");
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let collector = TestCollector::start().unwrap();
    let histogram = Aggregation::ExplicitBucketHistogram { boundaries: vec![1.0, 10.0] };
    let telemetry = builder(&collector)
        .configure_metrics(move |m| m.with_view(View::new("static.as_histogram").with_aggregation(histogram)))
        .build()
        .unwrap();
    BAD_NAME.add(1);
    AS_HISTOGRAM.add(3);
    let scopes = telemetry.meter_provider().collect();
    assert!(named(&scopes, "9 orders").is_empty(), "a bad name is not exported");
    let found = named(&scopes, "static.as_histogram");
    assert_eq!(point(found[0].1), (3, AggregationTemporality::Cumulative), "still a sum");
    telemetry.shutdown(WAIT);
}

#[test]
fn a_bad_name_and_a_histogram_view_are_reported_on_stderr_and_nothing_else_breaks() {
    let warnings = warnings_of_child("child_reports_what_it_cannot_export", CHILD);
    let stderr = warnings.join("\n");
    assert!(
        warnings.iter().any(|line| line.contains("static counter not exported") && line.contains("9 orders")),
        "{stderr}"
    );
    assert!(
        warnings
            .iter()
            .any(|line| line.contains("histogram of static counter") && line.contains("static.as_histogram")),
        "{stderr}"
    );
}

#[test]
fn the_prometheus_text_shows_a_static_counter_with_its_scope() {
    static SCRAPED: StaticCounter = StaticCounter::new("static.scraped").with_unit("{order}").with_scope("gateway");
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).build().unwrap();
    SCRAPED.add(7);
    let text = nanotel::prometheus::render(telemetry.meter_provider());
    let sample =
        text.lines().find(|line| line.starts_with("static_scraped_total{")).unwrap_or_else(|| panic!("{text}"));
    assert!(sample.contains("otel_scope_name=\"gateway\"") && sample.ends_with(" 7"), "{sample}");
    telemetry.shutdown(WAIT);
}

/// A signal handler may add to a `StaticCounter` (README, Guarantees): the handler's adds and
/// those of the code it interrupts, the same counter's, all count. A thread sends the recording
/// thread `SIGUSR2` while it adds in a loop, until a thousand handlers have run; each adds one.
#[cfg(target_os = "linux")]
#[test]
fn adds_from_a_signal_handler_interrupting_adds_to_the_same_counter_all_count() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    static INTERRUPTED: StaticCounter = StaticCounter::new("static.interrupted");
    static HANDLED: AtomicU64 = AtomicU64::new(0);
    const HANDLERS: u64 = 1_000;
    extern "C" fn on_signal(_: libc::c_int) {
        INTERRUPTED.add(1);
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: the handler does only what a handler may: atomic adds (the claim under test).
    let installed =
        unsafe { libc::signal(libc::SIGUSR2, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    assert_ne!(installed, libc::SIG_ERR);
    // SAFETY: `pthread_self` has no preconditions.
    let recording = unsafe { libc::pthread_self() };
    let done = AtomicBool::new(false);
    let adds = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                // SAFETY: the recording thread runs until `done` is set, after its last add.
                unsafe { libc::pthread_kill(recording, libc::SIGUSR2) };
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
        });
        let mut adds = 0;
        while HANDLED.load(Ordering::Relaxed) < HANDLERS {
            for _ in 0..10_000 {
                INTERRUPTED.add(1);
            }
            adds += 10_000;
        }
        done.store(true, Ordering::Relaxed);
        adds
    });
    let handled = HANDLED.load(Ordering::Relaxed);
    assert_eq!(INTERRUPTED.total(), adds + handled, "{handled} handlers");
}

/// A static's points start no later than its first add, whichever provider reports it: its
/// cumulative total counts from there (until session 41 the start was when a provider first
/// collected it, after the adds it counted, and a second provider's later start read as a reset
/// to backends that watch it).
#[test]
fn points_start_no_later_than_the_first_add() {
    static QUOTES: StaticCounter = StaticCounter::new("static.quotes");
    let _turn = turn();
    QUOTES.add(3);
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    std::thread::sleep(std::time::Duration::from_millis(20));
    for _provider in 0..2 {
        let collector = TestCollector::start().unwrap();
        let telemetry = builder(&collector).build().unwrap();
        let scopes = telemetry.meter_provider().collect();
        let found = named(&scopes, "static.quotes");
        let Some(Data::Sum(sum)) = &found.first().expect("reported").1.data else { panic!("a sum") };
        let start = sum.data_points[0].start_time_unix_nano;
        assert!(start > 0 && start <= after, "start {start}, first add before {after}");
        telemetry.shutdown(WAIT);
    }
}

/// Under delta temporality a second provider's first window starts where the first provider's
/// last one ended, not at the static's first use: the windows do not overlap (until session 41
/// the second started at the first use, over the first provider's windows).
#[test]
fn a_second_providers_first_delta_window_starts_where_the_last_ended() {
    static TRADES: StaticCounter = StaticCounter::new("static.trades");
    let _turn = turn();
    TRADES.add(1);
    let start_of = |telemetry: &Telemetry| {
        let scopes = telemetry.meter_provider().collect();
        let found = named(&scopes, "static.trades");
        let Some(Data::Sum(sum)) = &found.first().expect("reported").1.data else { panic!("a sum") };
        sum.data_points[0].start_time_unix_nano
    };
    let collector = TestCollector::start().unwrap();
    let first = builder(&collector).with_temporality(TemporalityPreference::Delta).build().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let last_window_ended_after =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    start_of(&first);
    TRADES.add(1);
    let second = builder(&collector).with_temporality(TemporalityPreference::Delta).build().unwrap();
    let start = start_of(&second);
    assert!(
        start >= last_window_ended_after,
        "start {start}, the first provider's window ended after {last_window_ended_after}"
    );
    second.shutdown(WAIT);
    first.shutdown(WAIT);
}
