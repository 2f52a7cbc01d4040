//! The W3C Trace Context conformance cases (the harness's `test.py`, OTLP-NOTES §7.1 and §7.2) and
//! the W3C Baggage examples (§7.4), run through the propagators over `http::HeaderMap` carriers,
//! as a receiving service would see them.

use std::collections::HashMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use nanotel::propagation::{Baggage, BaggagePropagator, TraceContextPropagator};
use nanotel::trace::{SpanContext, TraceState};

const TRACE_ID: &str = "12345678901234567890123456789012";
const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

/// The headers in order, each name possibly repeated, as the harness sends them.
fn headers(list: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in list {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        map.append(name, HeaderValue::from_bytes(value.as_bytes()).unwrap());
    }
    map
}

fn extract(list: &[(&str, &str)]) -> Option<SpanContext> {
    TraceContextPropagator.extract(&headers(list))
}

fn trace_state(list: &[(&str, &str)]) -> TraceState {
    extract(list).expect("a valid traceparent").trace_state().clone()
}

/// `traceparent` plus the given `tracestate` lines.
fn with_tracestate(lines: &[&str]) -> TraceState {
    let mut list = vec![("traceparent", VALID)];
    list.extend(lines.iter().map(|line| ("tracestate", *line)));
    trace_state(&list)
}

fn assert_new_trace(value: &str) {
    assert_eq!(extract(&[("traceparent", value)]), None, "{value:?} must start a new trace");
}

fn assert_continued(value: &str) {
    let context = extract(&[("traceparent", value)]).unwrap_or_else(|| panic!("{value:?} must be accepted"));
    assert_eq!(context.trace_id().to_string(), TRACE_ID);
    assert_eq!(context.span_id().to_string(), "1234567890123456");
    assert!(context.is_sampled() && context.is_remote());
}

#[test]
fn no_headers_no_context() {
    assert_eq!(extract(&[]), None);
    assert_eq!(extract(&[("tracestate", "foo=1")]), None, "tracestate alone is discarded");
}

#[test]
fn traceparent_header_name() {
    assert_eq!(extract(&[("trace-parent", VALID)]), None);
    assert_eq!(extract(&[("trace.parent", VALID)]), None);
    for name in ["traceparent", "TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        assert!(extract(&[(name, VALID)]).is_some(), "{name}");
        // A plain map is matched ignoring case as well.
        let map = HashMap::from([(name.to_owned(), VALID.to_owned())]);
        assert!(TraceContextPropagator.extract(&map).is_some(), "{name}");
    }
}

#[test]
fn traceparent_duplicated() {
    let first = "00-12345678901234567890123456789011-1234567890123456-01";
    assert_eq!(extract(&[("traceparent", first), ("traceparent", VALID)]), None);
    assert_eq!(extract(&[("traceparent", VALID), ("traceparent", VALID)]), None);
}

#[test]
fn traceparent_version() {
    assert_new_trace("00-12345678901234567890123456789012-1234567890123456-01.");
    assert_new_trace("00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like");
    assert_continued("cc-12345678901234567890123456789012-1234567890123456-01");
    assert_continued("cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like");
    assert_new_trace("cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like");
    assert_new_trace("cc-1234567890123456789012345678901-1234567890123456-01");
    assert_new_trace("ff-12345678901234567890123456789012-1234567890123456-01");
    assert_new_trace(".0-12345678901234567890123456789012-1234567890123456-01");
    assert_new_trace("0.-12345678901234567890123456789012-1234567890123456-01");
    assert_new_trace("000-12345678901234567890123456789012-1234567890123456-01");
    assert_new_trace("0000-12345678901234567890123456789012-1234567890123456-01");
    assert_new_trace("0-12345678901234567890123456789012-1234567890123456-01");
    assert_new_trace("0C-12345678901234567890123456789012-1234567890123456-01");
}

#[test]
fn traceparent_future_version_is_sent_as_00() {
    let context = extract(&[("traceparent", "cc-12345678901234567890123456789012-1234567890123456-ff-x")]).unwrap();
    let mut out = HeaderMap::new();
    TraceContextPropagator.inject(&context, &mut out);
    assert_eq!(out["traceparent"], "00-12345678901234567890123456789012-1234567890123456-03");
}

#[test]
fn traceparent_trace_id() {
    assert_new_trace("00-00000000000000000000000000000000-1234567890123456-01");
    assert_new_trace("00-.2345678901234567890123456789012-1234567890123456-01");
    assert_new_trace("00-1234567890123456789012345678901.-1234567890123456-01");
    assert_new_trace("00-123456789012345678901234567890123-1234567890123456-01");
    assert_new_trace("00-1234567890123456789012345678901-1234567890123456-01");
    assert_new_trace("00-4BF92F3577B34DA6A3CE929D0E0E4736-1234567890123456-01");
}

#[test]
fn traceparent_parent_id() {
    assert_new_trace("00-12345678901234567890123456789012-0000000000000000-01");
    assert_new_trace("00-12345678901234567890123456789012-.234567890123456-01");
    assert_new_trace("00-12345678901234567890123456789012-123456789012345.-01");
    assert_new_trace("00-12345678901234567890123456789012-12345678901234567-01");
    assert_new_trace("00-12345678901234567890123456789012-123456789012345-01");
    assert_new_trace("00-12345678901234567890123456789012-1234567890ABCDEF-01");
}

#[test]
fn traceparent_trace_flags() {
    assert_new_trace("00-12345678901234567890123456789012-1234567890123456-.0");
    assert_new_trace("00-12345678901234567890123456789012-1234567890123456-0.");
    assert_new_trace("00-12345678901234567890123456789012-1234567890123456-001");
    assert_new_trace("00-12345678901234567890123456789012-1234567890123456-1");
    let unsampled = extract(&[("traceparent", "00-12345678901234567890123456789012-1234567890123456-00")]).unwrap();
    assert!(!unsampled.is_sampled());
    // Any two lowercase hex digits are acceptable; bits are tested by mask.
    let all = extract(&[("traceparent", "00-12345678901234567890123456789012-1234567890123456-ff")]).unwrap();
    assert!(all.is_sampled());
}

#[test]
fn traceparent_ows_handling() {
    for value in [
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        assert_continued(value);
    }
}

#[test]
fn tracestate_needs_a_valid_traceparent() {
    let invalid = "00-00000000000000000000000000000000-1234567890123456-01";
    assert_eq!(extract(&[("traceparent", invalid), ("tracestate", "foo=1")]), None);
    let state = trace_state(&[("traceparent", VALID), ("tracestate", "foo=1,bar=2")]);
    assert_eq!((state.get("foo"), state.get("bar")), (Some("1"), Some("2")));
}

#[test]
fn tracestate_header_name() {
    assert!(trace_state(&[("traceparent", VALID), ("trace-state", "foo=1")]).is_empty());
    assert!(trace_state(&[("traceparent", VALID), ("trace.state", "foo=1")]).is_empty());
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        assert_eq!(trace_state(&[("traceparent", VALID), (name, "foo=1")]).get("foo"), Some("1"), "{name}");
    }
}

#[test]
fn tracestate_empty_header() {
    assert!(with_tracestate(&[""]).is_empty());
    assert_eq!(with_tracestate(&["foo=1", ""]).get("foo"), Some("1"));
    assert_eq!(with_tracestate(&["", "foo=1"]).get("foo"), Some("1"));
}

#[test]
fn tracestate_multiple_headers_keep_their_order() {
    let state = with_tracestate(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]);
    assert_eq!(state.to_header(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
}

#[test]
fn tracestate_duplicated_keys_discard_it() {
    assert!(with_tracestate(&["foo=1,foo=1"]).is_empty());
    assert!(with_tracestate(&["foo=1,foo=2"]).is_empty());
    assert!(with_tracestate(&["foo=1", "foo=1"]).is_empty());
    assert!(with_tracestate(&["foo=1", "foo=2"]).is_empty());
    // The traceparent survives a bad tracestate.
    let context = extract(&[("traceparent", VALID), ("tracestate", "foo=1,foo=2")]).unwrap();
    assert_eq!(context.trace_id().to_string(), TRACE_ID);
}

#[test]
fn tracestate_all_allowed_characters() {
    let key: String = ('a'..='z').chain('0'..='9').chain("_-*/".chars()).collect();
    let key_with_vendor = format!("{key}@a-z0-9_-*/");
    let value: String = (0x20u8..=0x2b).chain(0x2d..=0x3c).chain(0x3e..=0x7e).map(char::from).collect();
    for key in [&key, &key_with_vendor] {
        assert_eq!(with_tracestate(&[&format!("{key}={value}")]).get(key), Some(value.as_str()));
    }
}

#[test]
fn tracestate_ows_handling() {
    for line in ["foo=1 \t , \t bar=2, \t baz=3", "foo=1\t \t,\t \tbar=2,\t \tbaz=3"] {
        assert_eq!(with_tracestate(&[line]).to_header(), "foo=1,bar=2,baz=3");
    }
    for line in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        assert_eq!(with_tracestate(&[line]).get("foo"), Some("1"), "{line:?}");
    }
}

#[test]
fn tracestate_key_illegal_characters() {
    for line in ["foo =1", "FOO=1", "foo.bar=1"] {
        assert!(with_tracestate(&[line]).is_empty(), "{line:?}");
    }
}

#[test]
fn tracestate_key_illegal_vendor_format() {
    for line in ["foo@=1,bar=2", "@foo=1,bar=2", "foo@@bar=1,bar=2", "foo@bar@baz=1,bar=2"] {
        assert!(with_tracestate(&[line]).is_empty(), "{line:?}");
    }
}

#[test]
fn tracestate_value_illegal_characters() {
    for line in ["foo=bar=baz", "foo=,bar=3", "foo=1,bar=\u{e9}"] {
        assert!(with_tracestate(&[line]).is_empty(), "{line:?}");
    }
}

#[test]
fn tracestate_member_count_limit() {
    let lines = [
        "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10",
        "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20",
        "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30",
        "bar31=31,bar32=32",
    ];
    let state = with_tracestate(&lines);
    assert_eq!((state.get("bar01"), state.len()), (Some("01"), 32));
    let mut too_many = lines;
    too_many[3] = "bar31=31,bar32=32,bar33=33";
    assert!(with_tracestate(&too_many).is_empty());
}

#[test]
fn tracestate_key_length_limit() {
    let key_256 = format!("{}=1", "z".repeat(256));
    assert_eq!(with_tracestate(&["foo=1", &key_256]).get("foo"), Some("1"));
    let key_257 = format!("{}=1", "z".repeat(257));
    assert!(with_tracestate(&["foo=1", &key_257]).is_empty());
    let tenant_241 = format!("{}@{}=1", "t".repeat(241), "v".repeat(14));
    assert_eq!(with_tracestate(&["foo=1", &tenant_241]).get("foo"), Some("1"));
    let tenant_242 = format!("{}@v=1", "t".repeat(242));
    assert!(with_tracestate(&["foo=1", &tenant_242]).is_empty());
    let system_15 = format!("t@{}=1", "v".repeat(15));
    assert!(with_tracestate(&["foo=1", &system_15]).is_empty());
}

#[test]
fn tracestate_is_injected_only_when_not_empty() {
    let context = extract(&[("traceparent", VALID)]).unwrap();
    let mut out = HeaderMap::new();
    TraceContextPropagator.inject(&context, &mut out);
    assert_eq!(out["traceparent"], VALID);
    assert!(!out.contains_key("tracestate"));

    let with_state = extract(&[("traceparent", VALID), ("tracestate", "rojo=1, congo=2")]).unwrap();
    TraceContextPropagator.inject(&with_state, &mut out);
    assert_eq!(out["tracestate"], "rojo=1,congo=2");

    // A reused carrier does not pass on the previous request's trace state.
    TraceContextPropagator.inject(&context, &mut out);
    assert!(!out.contains_key("tracestate"));
    let mut map = HashMap::from([("TraceState".to_owned(), "old=1".to_owned())]);
    TraceContextPropagator.inject(&context, &mut map);
    assert_eq!(map.len(), 1, "{map:?}");
}

#[test]
fn invalid_context_injects_nothing() {
    let mut out = HeaderMap::new();
    TraceContextPropagator.inject(&SpanContext::invalid(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn baggage_example() {
    let baggage =
        BaggagePropagator.extract(&headers(&[("baggage", "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false")]));
    assert_eq!(baggage.get("userId"), Some("Amélie"));
    assert_eq!(baggage.get("serverNode"), Some("DF 28"));
    assert_eq!(baggage.get("isProduction"), Some("false"));
}

#[test]
fn baggage_lines_are_combined_under_one_limit() {
    let first: Vec<String> = (0..40).map(|i| format!("a{i}=1")).collect();
    let second: Vec<String> = (0..40).map(|i| format!("b{i}=1")).collect();
    let baggage = BaggagePropagator.extract(&headers(&[("baggage", &first.join(",")), ("Baggage", &second.join(","))]));
    assert_eq!(baggage.len(), Baggage::MAX_ENTRIES);
    assert_eq!((baggage.get("a0"), baggage.get("b23"), baggage.get("b24")), (Some("1"), Some("1"), None));
}

#[test]
fn baggage_properties_travel_as_metadata() {
    let baggage = BaggagePropagator.extract(&headers(&[("baggage", "key1=value1;property1;property2, key2 = value2")]));
    assert_eq!(baggage.entry("key1").map(nanotel::propagation::BaggageEntry::metadata), Some("property1;property2"));
    let mut out = HeaderMap::new();
    BaggagePropagator.inject(&baggage, &mut out);
    assert_eq!(out["baggage"], "key1=value1;property1;property2,key2=value2");
}

#[test]
fn empty_baggage_injects_nothing() {
    let mut out = HeaderMap::new();
    BaggagePropagator.inject(&Baggage::new(), &mut out);
    assert!(out.is_empty());
    out.insert("baggage", HeaderValue::from_static("old=1"));
    BaggagePropagator.inject(&Baggage::new(), &mut out);
    assert!(out.is_empty(), "a reused carrier does not pass on the previous baggage");
}
