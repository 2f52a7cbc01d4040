//! A batch too large for the collector, split in two.
//!
//! A collector caps the requests it reads: the OpenTelemetry Collector's gRPC receiver at 4 MiB
//! by default (grpc-go's limit, after decompression), HTTP servers and proxies at their own
//! sizes. Over it, the whole batch was refused (HTTP 413, gRPC `RESOURCE_EXHAUSTED` without
//! `RetryInfo`) and dropped, up to 512 spans lost for one large log body or span among them, and
//! every batch of large records lost for good. Now a refused batch of more than one item is
//! split into two halves that take its place at the head of the lane, each sent, and split again
//! if refused in turn: one item too large is dropped alone (`rejected`), and a batch of many
//! costs about two requests per halving. A refused batch no larger than one the collector
//! accepted before, or than 64 KiB (`worker`'s `SMALLEST_REQUEST_LIMIT`), is not split: that
//! refusal is not about size (a quota's `RESOURCE_EXHAUSTED`). The same applies before sending, to a batch over the
//! pipeline's own request limit (`max_request_size`, counted `too_large` when one item is over it).
//!
//! Splitting reads the encoded body back (decompressed) and cuts the request after half its
//! items, each half keeping its items' resource and scope: a protobuf body down to its items only,
//! which stay as encoded ([`envelope`]: a value nested past prost's recursion limit does not stop
//! it), an OTLP/JSON body decoded whole; a batch of one metric is decoded whole and cut between
//! its data points. It runs only on these rare paths, on the exporter thread.

mod envelope;

use prost::Message;
use serde::de::DeserializeOwned;

use super::encode::{EncodedBody, Encoder, ExportRequest};
use super::lane::Batch;
use super::pipeline::data_point_count_of;
use super::Signal;
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::logs::v1::{ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans};

/// `body` (of `signal`, made by `encoder`) as two bodies of about half its items each, or `None`
/// when it cannot be split (one item, or a body that does not read back).
pub(super) fn split(signal: Signal, encoder: &mut Encoder, body: &EncodedBody) -> Option<[Batch; 2]> {
    let plain = encoder.decompressed(body)?;
    if encoder.is_protobuf() {
        let request = envelope::Request::decode(&plain[..]).ok()?;
        if signal != Signal::Metrics || request.items().nth(1).is_some() {
            return envelope_halves(signal, encoder, request);
        }
    }
    match signal {
        Signal::Traces => {
            let request: ExportTraceServiceRequest = decode(encoder, &plain)?;
            halves(encoder, request, split_traces)
        }
        Signal::Logs => {
            let request: ExportLogsServiceRequest = decode(encoder, &plain)?;
            halves(encoder, request, split_logs)
        }
        Signal::Metrics => {
            let request: ExportMetricsServiceRequest = decode(encoder, &plain)?;
            halves(encoder, request, split_metrics)
        }
    }
}

fn decode<M: Message + Default + DeserializeOwned>(encoder: &Encoder, plain: &[u8]) -> Option<M> {
    if encoder.is_protobuf() {
        M::decode(plain).ok()
    } else {
        serde_json::from_slice(plain).ok()
    }
}

/// Cuts `request` with `cut` (which returns the second half and each half's item count) and
/// encodes both halves.
fn halves<M: ExportRequest>(
    encoder: &mut Encoder,
    mut request: M,
    cut: fn(&mut M) -> Option<(M, u64, u64)>,
) -> Option<[Batch; 2]> {
    let (second, first_items, second_items) = cut(&mut request)?;
    let first = Batch { body: encoder.encode(&request).ok()?, items: first_items };
    let second = Batch { body: encoder.encode(&second).ok()?, items: second_items };
    Some([first, second])
}

/// `request` (protobuf, read down to its items) cut after about half its items, spans and log
/// records counted one each, metrics by their data points; both halves encoded.
fn envelope_halves(signal: Signal, encoder: &mut Encoder, mut request: envelope::Request) -> Option<[Batch; 2]> {
    let weight = |item: &Vec<u8>| if signal == Signal::Metrics { envelope::data_points(item) } else { 1 };
    let total = request.items().map(weight).sum();
    let (rest, first_items, second_items) = cut_in_half(&mut request.resources, total, weight)?;
    let mut encode = |half: &envelope::Request| match encoder.encode_protobuf_with(|out| half.encode(out)) {
        (Ok(body), Ok(())) => Some(body),
        _ => None,
    };
    let first = Batch { body: encode(&request)?, items: first_items };
    let second = Batch { body: encode(&envelope::Request { resources: rest })?, items: second_items };
    Some([first, second])
}

/// A message that holds a list of others (a resource's scopes, a scope's items).
trait Holder: Clone {
    type Held;
    fn held(&mut self) -> &mut Vec<Self::Held>;

    /// A copy without what it holds.
    fn emptied_copy(&mut self) -> Self {
        let held = std::mem::take(self.held());
        let copy = self.clone();
        *self.held() = held;
        copy
    }
}

macro_rules! holder {
    ($($outer:ty => $field:ident: $held:ty),* $(,)?) => {
        $(impl Holder for $outer {
            type Held = $held;
            fn held(&mut self) -> &mut Vec<$held> {
                &mut self.$field
            }
        })*
    };
}

holder!(
    ResourceSpans => scope_spans: ScopeSpans,
    ScopeSpans => spans: crate::proto::trace::v1::Span,
    ResourceLogs => scope_logs: ScopeLogs,
    ScopeLogs => log_records: crate::proto::logs::v1::LogRecord,
    ResourceMetrics => scope_metrics: ScopeMetrics,
    ScopeMetrics => metrics: Metric,
);

/// Moves what follows the first items of `resources` whose weight (`weight`) stays within `keep`
/// (at least one item) into a list of its own, each item with copies of its resource and scope.
/// Returns it and the weight kept.
fn cut_after<R, S, L>(resources: &mut Vec<R>, keep: u64, weight: impl Fn(&L) -> u64) -> (Vec<R>, u64)
where
    R: Holder<Held = S>,
    S: Holder<Held = L>,
{
    let mut kept = 0;
    // Set at the first item left out: every item after it goes too, whatever its weight.
    let mut full = false;
    let mut rest = Vec::new();
    for r in 0..resources.len() {
        if full {
            rest.extend(resources.drain(r..));
            break;
        }
        let resource = &mut resources[r];
        let mut moved = Vec::new();
        for s in 0..resource.held().len() {
            let scope = &mut resource.held()[s];
            if full {
                let emptied = scope.emptied_copy();
                moved.push(std::mem::replace(scope, emptied));
                continue;
            }
            let leaves = scope.held();
            let at = leaves
                .iter()
                .position(|leaf| {
                    full = kept > 0 && kept + weight(leaf) > keep;
                    kept += if full { 0 } else { weight(leaf) };
                    full
                })
                .unwrap_or(leaves.len());
            if at < leaves.len() {
                let tail = leaves.split_off(at);
                let mut copy = scope.emptied_copy();
                *copy.held() = tail;
                moved.push(copy);
            }
        }
        resource.held().retain_mut(|scope| !scope.held().is_empty());
        if !moved.is_empty() {
            let mut copy = resource.emptied_copy();
            *copy.held() = moved;
            rest.push(copy);
        }
    }
    // A resource whose first item was the one left out has nothing left here.
    resources.retain_mut(|resource| !resource.held().is_empty());
    (rest, kept)
}

/// Cuts a request of `total` items after about half of them; `None` when all of them stayed in
/// the first half (one item, or one whose weight is all of it).
fn cut_in_half<R, S, L>(resources: &mut Vec<R>, total: u64, weight: impl Fn(&L) -> u64) -> Option<(Vec<R>, u64, u64)>
where
    R: Holder<Held = S>,
    S: Holder<Held = L>,
{
    if total < 2 {
        return None;
    }
    let (rest, kept) = cut_after(resources, total / 2, weight);
    if rest.is_empty() {
        return None;
    }
    Some((rest, kept, total - kept))
}

fn split_traces(request: &mut ExportTraceServiceRequest) -> Option<(ExportTraceServiceRequest, u64, u64)> {
    let total = request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum();
    let (rest, a, b) = cut_in_half(&mut request.resource_spans, total, |_| 1)?;
    Some((ExportTraceServiceRequest { resource_spans: rest }, a, b))
}

fn split_logs(request: &mut ExportLogsServiceRequest) -> Option<(ExportLogsServiceRequest, u64, u64)> {
    let total = request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len() as u64).sum();
    let (rest, a, b) = cut_in_half(&mut request.resource_logs, total, |_| 1)?;
    Some((ExportLogsServiceRequest { resource_logs: rest }, a, b))
}

/// Metrics are counted in data points: cut between metrics, or, for a request of one metric,
/// between its points.
fn split_metrics(request: &mut ExportMetricsServiceRequest) -> Option<(ExportMetricsServiceRequest, u64, u64)> {
    let points = |metric: &Metric| data_point_count_of(metric);
    let metrics = request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics);
    let total: u64 = metrics.clone().map(points).sum();
    if metrics.count() > 1 {
        let (rest, a, b) = cut_in_half(&mut request.resource_metrics, total, points)?;
        return Some((ExportMetricsServiceRequest { resource_metrics: rest }, a, b));
    }
    let mut rest = request.clone();
    let first = request.resource_metrics.iter_mut().flat_map(|r| &mut r.scope_metrics).flat_map(|s| &mut s.metrics);
    let second = rest.resource_metrics.iter_mut().flat_map(|r| &mut r.scope_metrics).flat_map(|s| &mut s.metrics);
    let (first, second) = first.zip(second).next()?;
    let keep = usize::try_from(total / 2).ok().filter(|keep| *keep > 0)?;
    keep_points(first.data.as_mut()?, ..keep);
    keep_points(second.data.as_mut()?, keep..);
    let kept = points(first);
    Some((rest, kept, total - kept))
}

/// Keeps the data points of `data` in `range` (by index).
fn keep_points(data: &mut metric::Data, range: impl std::ops::RangeBounds<usize> + Clone) {
    fn keep<T>(points: &mut Vec<T>, range: impl std::ops::RangeBounds<usize>) {
        *points = points.drain(range).collect();
    }
    match data {
        metric::Data::Gauge(g) => keep(&mut g.data_points, range),
        metric::Data::Sum(s) => keep(&mut s.data_points, range),
        metric::Data::Histogram(h) => keep(&mut h.data_points, range),
        metric::Data::ExponentialHistogram(h) => keep(&mut h.data_points, range),
        metric::Data::Summary(s) => keep(&mut s.data_points, range),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::common::v1::InstrumentationScope;
    use crate::proto::metrics::v1::{Gauge, NumberDataPoint};
    use crate::proto::resource::v1::Resource;
    use crate::proto::trace::v1::Span;

    /// Resources (numbered by their `dropped_attributes_count`) holding scopes (named `r.s`)
    /// holding `counts[r][s]` spans each.
    fn traces(counts: &[&[usize]]) -> ExportTraceServiceRequest {
        let resource_spans = counts
            .iter()
            .enumerate()
            .map(|(r, scopes)| ResourceSpans {
                resource: Some(Resource { dropped_attributes_count: r as u32, ..Default::default() }),
                scope_spans: scopes
                    .iter()
                    .enumerate()
                    .map(|(s, &n)| ScopeSpans {
                        scope: Some(InstrumentationScope { name: format!("{r}.{s}"), ..Default::default() }),
                        spans: (0..n).map(|i| Span { name: format!("{r}.{s}.{i}"), ..Default::default() }).collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }

    /// Each span as (its resource, its scope, its name), in order; and whether any scope or
    /// resource is empty.
    fn placed(request: &ExportTraceServiceRequest) -> (Vec<(u32, String, String)>, bool) {
        let mut spans = Vec::new();
        let mut empty = request.resource_spans.iter().any(|r| r.scope_spans.is_empty());
        for resource in &request.resource_spans {
            let r = resource.resource.as_ref().map_or(u32::MAX, |r| r.dropped_attributes_count);
            for scope in &resource.scope_spans {
                empty |= scope.spans.is_empty();
                let name = scope.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                spans.extend(scope.spans.iter().map(|span| (r, name.clone(), span.name.clone())));
            }
        }
        (spans, empty)
    }

    #[test]
    fn a_request_is_cut_after_half_its_items_each_keeping_its_resource_and_scope() {
        for counts in [&[&[3, 2][..], &[1, 4]][..], &[&[1, 1]], &[&[10]], &[&[1, 2], &[5]], &[&[1], &[1], &[1]]] {
            let whole = traces(counts);
            let mut first = whole.clone();
            let (second, a, b) = split_traces(&mut first).expect("more than one span");
            let ((mut spans, first_empty), (rest, second_empty)) = (placed(&first), placed(&second));
            assert_eq!((a, b), (spans.len() as u64, rest.len() as u64));
            assert!(a.abs_diff(b) <= 1, "{a} and {b}");
            assert!(!first_empty && !second_empty, "{counts:?}: no empty resource or scope is sent");
            spans.extend(rest);
            assert_eq!(spans, placed(&whole).0, "{counts:?}");
        }
        assert!(split_traces(&mut traces(&[&[1]])).is_none(), "one span cannot be split");
    }

    #[test]
    fn metrics_are_cut_between_metrics_or_within_the_only_one() {
        let gauge = |name: &str, points: usize| Metric {
            name: name.into(),
            data: Some(metric::Data::Gauge(Gauge { data_points: vec![NumberDataPoint::default(); points] })),
            ..Default::default()
        };
        let request = |metrics: Vec<Metric>| ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
                ..Default::default()
            }],
        };
        let mut two = request(vec![gauge("a", 3), gauge("b", 5)]);
        let (rest, a, b) = split_metrics(&mut two).expect("two metrics");
        assert_eq!((a, b), (3, 5), "a whole metric stays whole");
        assert_eq!(rest.resource_metrics[0].scope_metrics[0].metrics[0].name, "b");
        let mut one = request(vec![gauge("a", 7)]);
        let (rest, a, b) = split_metrics(&mut one).expect("seven points");
        assert_eq!((a, b), (3, 4));
        let names = |r: &ExportMetricsServiceRequest| r.resource_metrics[0].scope_metrics[0].metrics[0].name.clone();
        assert_eq!((names(&one), names(&rest)), ("a".into(), "a".into()));
        assert!(split_metrics(&mut request(vec![gauge("a", 1)])).is_none());
    }

    /// Protobuf halves, read down to the items only, are byte for byte what encoding the halves
    /// of the decoded request makes.
    #[test]
    fn protobuf_halves_are_the_encodings_of_the_decoded_halves() {
        use super::super::config::{Compression, Protocol};
        for counts in [&[&[3, 2][..], &[1, 4]][..], &[&[1, 1]], &[&[10]], &[&[1, 2], &[5]]] {
            let mut encoder = Encoder::new(Protocol::HttpProtobuf, Compression::None);
            let whole = traces(counts);
            let body = encoder.encode(&whole).unwrap();
            let [first, second] = split(Signal::Traces, &mut encoder, &body).unwrap();
            let mut expected = whole.clone();
            let (rest, a, b) = split_traces(&mut expected).unwrap();
            assert_eq!((first.items, second.items), (a, b), "{counts:?}");
            assert_eq!(first.body.body, encoder.encode(&expected).unwrap().body, "{counts:?}");
            assert_eq!(second.body.body, encoder.encode(&rest).unwrap().body, "{counts:?}");
        }
        // Metrics weigh their data points, read without decoding them.
        let gauge = |name: &str, points: usize| Metric {
            name: name.into(),
            data: Some(metric::Data::Gauge(Gauge { data_points: vec![NumberDataPoint::default(); points] })),
            ..Default::default()
        };
        let metrics = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics { metrics: vec![gauge("a", 3), gauge("b", 5)], ..Default::default() }],
                ..Default::default()
            }],
        };
        let mut encoder = Encoder::new(Protocol::Grpc, Compression::Gzip);
        let body = encoder.encode(&metrics).unwrap();
        let [first, second] = split(Signal::Metrics, &mut encoder, &body).unwrap();
        assert_eq!((first.items, second.items), (3, 5));
    }

    /// A span whose attribute nests maps past prost's recursion limit does not stop the split
    /// (until session 40 the request did not read back, and the batch was dropped whole).
    #[test]
    fn a_value_nested_past_the_decoders_limit_does_not_stop_a_split() {
        use super::super::config::{Compression, Protocol};
        use crate::proto::common::v1::{any_value, AnyValue, KeyValue, KeyValueList};
        let mut value = AnyValue { value: Some(any_value::Value::IntValue(1)) };
        for _ in 0..40 {
            let inner = KeyValue { key: "k".into(), value: Some(value), ..Default::default() };
            value = AnyValue { value: Some(any_value::Value::KvlistValue(KeyValueList { values: vec![inner] })) };
        }
        let mut request = traces(&[&[2]]);
        let deep = KeyValue { key: "deep".into(), value: Some(value), ..Default::default() };
        request.resource_spans[0].scope_spans[0].spans[1].attributes.push(deep);
        let mut encoder = Encoder::new(Protocol::HttpProtobuf, Compression::Gzip);
        let body = encoder.encode(&request).unwrap();
        assert!(
            ExportTraceServiceRequest::decode(&encoder.decompressed(&body).unwrap()[..]).is_err(),
            "past prost's limit"
        );
        let [first, second] = split(Signal::Traces, &mut encoder, &body).expect("two spans");
        assert_eq!((first.items, second.items), (1, 1));
        let mut expected = request.clone();
        let (rest, ..) = split_traces(&mut expected).unwrap();
        assert_eq!(encoder.decompressed(&second.body), Some(encoder.encode_uncompressed(&rest).unwrap().to_vec()));
    }

    #[test]
    fn bodies_read_back_in_each_protocol_and_compression() {
        use super::super::config::{Compression, Protocol};
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc, Protocol::HttpJson] {
            for compression in [Compression::Gzip, Compression::None] {
                let mut encoder = Encoder::new(protocol, compression);
                let body = encoder.encode(&traces(&[&[2, 3]])).unwrap();
                let [first, second] = split(Signal::Traces, &mut encoder, &body).expect("five spans");
                assert_eq!((first.items, second.items), (2, 3), "{protocol:?} {compression:?}");
                let read = |half: &Batch| -> ExportTraceServiceRequest {
                    decode(&encoder, &encoder.decompressed(&half.body).unwrap()).unwrap()
                };
                assert_eq!(placed(&read(&second)).0.len(), 3);
            }
        }
    }
}
