//! `StaticHistogram`: counted from the first record whatever runs, reported by the installed meter
//! provider (over real HTTP to a loopback collector, and through its own collections), exact
//! across thread churn (counts, sum, buckets and extremes), in cumulative and delta temporality,
//! under views, with boundaries of the program's own, and by no provider that is not the
//! installed one; what cannot be exported is said on stderr (a child process). The installed
//! provider is the process's, so this binary holds these tests alone, and they take turns.

use nanotel::attributes::KeyValue;
use nanotel::metrics::{Aggregation, Boundaries, DefaultBoundaries, StaticHistogram, TemporalityPreference, View};
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::{AggregationTemporality, HistogramDataPoint, Metric, ScopeMetrics};
use nanotel::Telemetry;
use nanotel_testing::TestCollector;

#[path = "support/installed.rs"]
mod installed;

use installed::{builder, last_exported, named, renaming_and_dropping, turn, warnings_of_child, WAIT};

/// What a point says, in integers: count, sum, bucket counts, bounds, minimum and maximum.
#[derive(Debug, PartialEq)]
struct Point {
    count: u64,
    sum: u64,
    buckets: Vec<u64>,
    bounds: Vec<u64>,
    extremes: Option<(u64, u64)>,
}

impl Point {
    fn of(point: &HistogramDataPoint) -> Point {
        assert!(point.attributes.is_empty(), "one series, no attributes");
        assert!(point.exemplars.is_empty());
        assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count, "the count is its buckets'");
        assert!(point.start_time_unix_nano > 0 && point.start_time_unix_nano <= point.time_unix_nano);
        let extremes = match (point.min, point.max) {
            (Some(min), Some(max)) => Some((min as u64, max as u64)),
            (None, None) => None,
            other => panic!("a minimum without a maximum: {other:?}"),
        };
        Point {
            count: point.count,
            sum: point.sum.expect("a sum") as u64,
            buckets: point.bucket_counts.clone(),
            bounds: point.explicit_bounds.iter().map(|&bound| bound as u64).collect(),
            extremes,
        }
    }
}

/// The points of a static histogram's metric, and their temporality.
fn points(metric: &Metric) -> (Vec<Point>, AggregationTemporality) {
    let Some(Data::Histogram(histogram)) = &metric.data else { panic!("a histogram: {metric:?}") };
    let temporality = AggregationTemporality::try_from(histogram.aggregation_temporality).unwrap();
    (histogram.data_points.iter().map(Point::of).collect(), temporality)
}

/// The one point of `name` in `scopes`.
fn only_point(scopes: &[ScopeMetrics], name: &str) -> (Point, AggregationTemporality) {
    let found = named(scopes, name);
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    let (mut points, temporality) = points(found[0].1);
    assert_eq!(points.len(), 1);
    (points.remove(0), temporality)
}

/// Microseconds, with boundaries of the program's own (the most a static histogram takes).
struct Micros;

impl Boundaries for Micros {
    const BOUNDS: &'static [u64] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 100, 1_000, u64::MAX - 1];
}

#[test]
fn recorded_before_init_and_across_thread_churn_and_exported_by_the_installed_provider() {
    static LATENCY: StaticHistogram<Micros> = StaticHistogram::new("static.latency").with_unit("us");
    let _turn = turn();
    LATENCY.record(u64::MAX);
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).build().unwrap();
    for round in 0..8u64 {
        std::thread::scope(|s| {
            for thread in 0..8u64 {
                s.spawn(move || (0..1000).for_each(|i| LATENCY.record(1 + (round + thread + i) % 60)));
            }
        });
    }
    telemetry.shutdown(WAIT);
    assert_eq!(LATENCY.count(), 64_001);
    // Every value 1 to 60 recorded as often as the others, u64::MAX once: in the last bucket, and
    // in the sum, which wraps as the bound histogram's `u64` sum does.
    let mut buckets = vec![0u64; Micros::BOUNDS.len() + 1];
    let (mut sum, mut count) = (u64::MAX, 0);
    for round in 0..8u64 {
        for thread in 0..8u64 {
            for i in 0..1000 {
                let value = 1 + (round + thread + i) % 60;
                buckets[Micros::BOUNDS.partition_point(|&bound| bound < value)] += 1;
                (sum, count) = (sum.wrapping_add(value), count + 1);
            }
        }
    }
    buckets[Micros::BOUNDS.len()] += 1;
    let expected = Point {
        count: count + 1,
        sum,
        buckets,
        bounds: Micros::BOUNDS.iter().map(|&bound| bound as f64 as u64).collect(),
        extremes: Some((1, u64::MAX)),
    };
    let (mut exported, temporality) = last_exported(&collector, "static.latency", points).expect("exported");
    assert_eq!(temporality, AggregationTemporality::Cumulative);
    assert_eq!(exported.remove(0), expected, "the last export holds every record");
}

#[test]
fn under_delta_temporality_each_record_is_reported_once_with_its_window_extremes() {
    static FILLS: StaticHistogram = StaticHistogram::new("static.fill_time").with_scope("gateway");
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).with_temporality(TemporalityPreference::Delta).build().unwrap();
    let provider = telemetry.meter_provider();
    let mut reported = 0;
    for values in [&[7u64, 3000][..], &[], &[12, 12, 9999, 20_000], &[0]] {
        values.iter().for_each(|&value| FILLS.record(value));
        let snapshot = provider.snapshot();
        let collected = provider.collect();
        if values.is_empty() {
            assert!(named(&snapshot, "static.fill_time").is_empty(), "an empty window has no point");
            assert!(named(&collected, "static.fill_time").is_empty());
            continue;
        }
        for scopes in [&snapshot, &collected] {
            assert_eq!(named(scopes, "static.fill_time")[0].0, "gateway", "reported in its scope's meter");
            let (point, temporality) = only_point(scopes, "static.fill_time");
            assert_eq!(temporality, AggregationTemporality::Delta);
            assert_eq!((point.count, point.sum), (values.len() as u64, values.iter().sum()));
            let (min, max) = (values.iter().min().copied(), values.iter().max().copied());
            assert_eq!(point.extremes, min.zip(max), "the window's own extremes");
            assert_eq!(point.bounds, [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]);
        }
        reported += only_point(&collected, "static.fill_time").0.count;
    }
    assert_eq!(reported, FILLS.count());
    telemetry.shutdown(WAIT);
}

#[test]
fn views_rename_and_drop_and_statics_of_one_name_are_one_series() {
    static FIRST: StaticHistogram = StaticHistogram::new("static.spread");
    static SECOND: StaticHistogram = StaticHistogram::new("static.spread");
    static DROPPED: StaticHistogram = StaticHistogram::new("static.noise");
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = renaming_and_dropping(&collector, ("static.spread", "static.spreads"), "static.noise");
    FIRST.record(1);
    SECOND.record(100);
    SECOND.record(200);
    DROPPED.record(1);
    let scopes = telemetry.meter_provider().collect();
    assert!(named(&scopes, "static.spread").is_empty());
    assert!(named(&scopes, "static.noise").is_empty(), "a view dropped it");
    assert_eq!(named(&scopes, "static.spreads")[0].0, StaticHistogram::<DefaultBoundaries>::DEFAULT_SCOPE);
    let (point, _) = only_point(&scopes, "static.spreads");
    assert_eq!((point.count, point.sum, point.extremes), (3, 301, Some((1, 200))), "one series of both");
    telemetry.shutdown(WAIT);
}

#[test]
fn a_provider_never_installed_or_replaced_reports_no_static_histogram() {
    static QUOTE_AGE: StaticHistogram = StaticHistogram::new("static.quote_age");
    let _turn = turn();
    let (first_collector, second_collector) = (TestCollector::start().unwrap(), TestCollector::start().unwrap());
    let private: Telemetry = builder(&first_collector).with_install_global(false).build().unwrap();
    QUOTE_AGE.record(1);
    assert!(named(&private.meter_provider().collect(), "static.quote_age").is_empty(), "never installed");

    let first = builder(&first_collector).build().unwrap();
    assert_eq!(only_point(&first.meter_provider().collect(), "static.quote_age").0.count, 1);
    let second = builder(&second_collector).build().unwrap();
    QUOTE_AGE.record(1);
    assert!(named(&first.meter_provider().collect(), "static.quote_age").is_empty(), "replaced");
    assert_eq!(only_point(&second.meter_provider().collect(), "static.quote_age").0.count, 2);
    private.shutdown(WAIT);
    first.shutdown(WAIT);
    second.shutdown(WAIT);
}

/// Set in the child's environment: the child runs [`child_reports_what_it_cannot_export`]'s work.
const CHILD: &str = "METRICS_STATIC_HISTOGRAM_CHILD";

/// The child's work (a process of its own, so that its stderr is its alone): a static histogram
/// whose name breaks the specification's syntax, one under a view asking for other buckets, and
/// one of the same name with other boundaries.
#[test]
fn child_reports_what_it_cannot_export() {
    static BAD_NAME: StaticHistogram = StaticHistogram::new("9 fills");
    static REBUCKETED: StaticHistogram = StaticHistogram::new("static.rebucketed");
    static OTHER_BOUNDS: StaticHistogram<Micros> = StaticHistogram::new("static.rebucketed");
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let collector = TestCollector::start().unwrap();
    let other = Aggregation::ExplicitBucketHistogram { boundaries: vec![1.0, 10.0] };
    let telemetry = builder(&collector)
        .configure_metrics(move |m| m.with_view(View::new("static.rebucketed").with_aggregation(other)))
        .build()
        .unwrap();
    BAD_NAME.record(1);
    REBUCKETED.record(30);
    OTHER_BOUNDS.record(30);
    let scopes = telemetry.meter_provider().collect();
    assert!(named(&scopes, "9 fills").is_empty(), "a bad name is not exported");
    let (point, _) = only_point(&scopes, "static.rebucketed");
    assert_eq!((point.count, point.bounds.len()), (1, 15), "its own buckets, and not the other's record");
    telemetry.shutdown(WAIT);
}

#[test]
fn a_bad_name_and_a_view_for_other_buckets_are_reported_on_stderr_and_nothing_else_breaks() {
    let warnings = warnings_of_child("child_reports_what_it_cannot_export", CHILD);
    let stderr = warnings.join("\n");
    assert!(
        warnings.iter().any(|line| line.contains("static histogram not exported") && line.contains("9 fills")),
        "{stderr}"
    );
    assert!(
        warnings
            .iter()
            .any(|line| line.contains("another aggregation of static histogram") && line.contains("static.rebucketed")),
        "{stderr}"
    );
    assert!(
        warnings.iter().any(|line| line.contains("static histogram \"static.rebucketed\" of scope")
            && line.contains("not those of the one registered before")),
        "{stderr}"
    );
}

#[test]
fn attributes_make_series_each_with_its_own_delta_window() {
    const XNAS: &[KeyValue] = &[KeyValue::static_str("venue", "XNAS")];
    const ARCA: &[KeyValue] = &[KeyValue::static_str("venue", "ARCA")];
    static ACK_XNAS: StaticHistogram = StaticHistogram::new("static.ack").with_attributes(XNAS);
    static ACK_ARCA: StaticHistogram = StaticHistogram::new("static.ack").with_attributes(ARCA);
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).with_temporality(TemporalityPreference::Delta).build().unwrap();
    let provider = telemetry.meter_provider();
    // Each series' points, by venue: (count, sum, extremes).
    let by_venue = |scopes: &[ScopeMetrics]| {
        let found = named(scopes, "static.ack");
        let Some(Data::Histogram(histogram)) = found.first().and_then(|(_, metric)| metric.data.as_ref()) else {
            return Vec::new();
        };
        let mut points: Vec<_> = histogram
            .data_points
            .iter()
            .map(|point| {
                let [venue] = &point.attributes[..] else { panic!("one attribute: {point:?}") };
                assert_eq!(venue.key, "venue");
                let xnas = format!("{:?}", venue.value).contains("\"XNAS\"");
                let point = Point::of(&HistogramDataPoint { attributes: Vec::new(), ..point.clone() });
                (xnas, (point.count, point.sum, point.extremes))
            })
            .collect();
        points.sort();
        points
    };
    ACK_XNAS.record(5);
    ACK_XNAS.record(50);
    ACK_ARCA.record(7);
    assert_eq!(by_venue(&provider.collect()), [(false, (1, 7, Some((7, 7)))), (true, (2, 55, Some((5, 50))))]);
    ACK_XNAS.record(9);
    assert_eq!(by_venue(&provider.collect()), [(true, (1, 9, Some((9, 9))))], "the other series' window is empty");
    assert!(by_venue(&provider.collect()).is_empty(), "no records, no points");
    telemetry.shutdown(WAIT);
}

#[test]
fn attributes_made_at_run_time_in_a_structure_leaked_for_the_process_make_series() {
    /// A part of the program that lives as long as it, with its histogram inline (the README's
    /// pattern for attributes known only at run time at a static's cold cost).
    struct Venue {
        acks: StaticHistogram<Micros>,
    }
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).build().unwrap();
    let configured = [String::from("XNAS"), String::from("ARCA")];
    let venue = |name: &String| {
        let attributes = Vec::leak(vec![KeyValue::new("venue", name.clone())]);
        Venue { acks: StaticHistogram::new("static.leaked_acks").with_attributes(attributes) }
    };
    let venues: &'static [Venue] = Vec::leak(configured.iter().map(venue).collect());
    venues[0].acks.record(5);
    venues[1].acks.record(30);
    venues[0].acks.record(9);
    let scopes = telemetry.meter_provider().collect();
    let found = named(&scopes, "static.leaked_acks");
    let Some(Data::Histogram(histogram)) = found.first().and_then(|(_, metric)| metric.data.as_ref()) else {
        panic!("one histogram: {found:?}")
    };
    let mut by_venue: Vec<(String, u64, u64)> = histogram
        .data_points
        .iter()
        .map(|point| {
            let [venue] = &point.attributes[..] else { panic!("one attribute: {point:?}") };
            (format!("{:?}", venue.value), point.count, point.sum.expect("a sum") as u64)
        })
        .collect();
    by_venue.sort();
    assert_eq!(by_venue.len(), 2, "one series per venue named at run time: {by_venue:?}");
    assert!(by_venue[0].0.contains("\"ARCA\"") && by_venue[1].0.contains("\"XNAS\""), "{by_venue:?}");
    assert_eq!((by_venue[0].1, by_venue[0].2, by_venue[1].1, by_venue[1].2), (1, 30, 2, 14));
    telemetry.shutdown(WAIT);
}

#[test]
fn the_prometheus_text_labels_each_series_of_static_histograms_with_its_attributes() {
    const XNAS: &[KeyValue] = &[KeyValue::static_str("venue", "XNAS")];
    const ARCA: &[KeyValue] = &[KeyValue::static_str("venue", "ARCA")];
    static FILL_XNAS: StaticHistogram = StaticHistogram::new("static.fill").with_attributes(XNAS);
    static FILL_ARCA: StaticHistogram = StaticHistogram::new("static.fill").with_attributes(ARCA);
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).build().unwrap();
    FILL_XNAS.record(3);
    FILL_XNAS.record(4);
    FILL_ARCA.record(30);
    let text = nanotel::prometheus::render(telemetry.meter_provider());
    let sum_of = |venue: &str| {
        let label = format!("venue=\"{venue}\"");
        let line = text.lines().find(|line| line.starts_with("static_fill_sum{") && line.contains(&label));
        line.unwrap_or_else(|| panic!("{venue}: {text}")).rsplit(' ').next().unwrap_or_default().to_owned()
    };
    assert_eq!((sum_of("XNAS").as_str(), sum_of("ARCA").as_str()), ("7", "30"));
    telemetry.shutdown(WAIT);
}

#[test]
fn the_prometheus_text_shows_a_static_histogram_with_its_buckets() {
    static SCRAPED: StaticHistogram = StaticHistogram::new("static.scraped").with_unit("us").with_scope("gateway");
    let _turn = turn();
    let collector = TestCollector::start().unwrap();
    let telemetry = builder(&collector).build().unwrap();
    SCRAPED.record(7);
    SCRAPED.record(70);
    let text = nanotel::prometheus::render(telemetry.meter_provider());
    let line = |prefix: &str| {
        text.lines().find(|line| line.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {text}")).to_owned()
    };
    let scope = "{otel_scope_name=\"gateway\"";
    assert!(line(&format!("static_scraped_microseconds_bucket{scope},le=\"10\"}}")).ends_with(" 1"));
    assert!(line(&format!("static_scraped_microseconds_bucket{scope},le=\"+Inf\"}}")).ends_with(" 2"));
    assert!(line(&format!("static_scraped_microseconds_sum{scope}}}")).ends_with(" 77"));
    telemetry.shutdown(WAIT);
}
