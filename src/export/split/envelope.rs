//! A protobuf export request read back down to its items only: each span, log record or metric
//! kept as the bytes it was encoded as, under copies of its resource's and scope's envelopes.
//!
//! Decoding whole messages stops at prost's recursion limit (100 nested messages): an attribute
//! value of maps about 30 deep, which the default depth limit (64) lets through, made the whole
//! request unreadable, and a batch holding one could not be split: dropped whole (until session
//! 40). Here the items are never decoded, so nothing nests. The three signals' requests share
//! one shape (`resource` = 1, the scopes = 2 and `schema_url` = 3 in a resource's message;
//! `scope` = 1, the items = 2 and `schema_url` = 3 in a scope's), and a message written back from
//! these is byte-identical to the request's own encoding of the same items (fields in tag order,
//! the items' bytes as they were).

use prost::Message;

use super::Holder;

/// `Export*ServiceRequest`: its resources.
#[derive(Clone, PartialEq, Message)]
pub(super) struct Request {
    #[prost(message, repeated, tag = "1")]
    pub(super) resources: Vec<ResourceEnvelope>,
}

/// `Resource{Spans,Logs,Metrics}`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct ResourceEnvelope {
    #[prost(bytes = "vec", optional, tag = "1")]
    resource: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "2")]
    scopes: Vec<ScopeEnvelope>,
    #[prost(string, tag = "3")]
    schema_url: String,
}

/// `Scope{Spans,Logs,Metrics}`: its items as encoded.
#[derive(Clone, PartialEq, Message)]
pub(super) struct ScopeEnvelope {
    #[prost(bytes = "vec", optional, tag = "1")]
    scope: Option<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    items: Vec<Vec<u8>>,
    #[prost(string, tag = "3")]
    schema_url: String,
}

impl Holder for ResourceEnvelope {
    type Held = ScopeEnvelope;
    fn held(&mut self) -> &mut Vec<ScopeEnvelope> {
        &mut self.scopes
    }
}

impl Holder for ScopeEnvelope {
    type Held = Vec<u8>;
    fn held(&mut self) -> &mut Vec<Vec<u8>> {
        &mut self.items
    }
}

impl Request {
    /// The items, in order.
    pub(super) fn items(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.resources.iter().flat_map(|resource| &resource.scopes).flat_map(|scope| &scope.items)
    }
}

/// A `Metric`'s data points, counted without decoding them: the data is one of these fields, each
/// a message whose field 1 holds the points.
#[derive(Clone, PartialEq, Message)]
struct MetricPoints {
    #[prost(message, optional, tag = "5")]
    gauge: Option<Points>,
    #[prost(message, optional, tag = "7")]
    sum: Option<Points>,
    #[prost(message, optional, tag = "9")]
    histogram: Option<Points>,
    #[prost(message, optional, tag = "10")]
    exponential_histogram: Option<Points>,
    #[prost(message, optional, tag = "11")]
    summary: Option<Points>,
}

#[derive(Clone, PartialEq, Message)]
struct Points {
    #[prost(bytes = "vec", repeated, tag = "1")]
    data_points: Vec<Vec<u8>>,
}

/// The data points of an encoded `Metric` (0 when it does not read back).
pub(super) fn data_points(metric: &[u8]) -> u64 {
    let Ok(read) = MetricPoints::decode(metric) else { return 0 };
    [read.gauge, read.sum, read.histogram, read.exponential_histogram, read.summary]
        .iter()
        .flatten()
        .map(|points| points.data_points.len() as u64)
        .sum()
}
