//! Turning a batch into a request body: protobuf or OTLP/JSON, then gzip or nothing.
//!
//! The encode and compression buffers live as long as the exporter thread and keep their
//! capacity, so a steady stream of batches allocates nothing but each finished body. The body is
//! `Bytes` because a retry re-sends it: cloning it is a reference-count increment, not a copy.

use std::io::{Read, Write};

use bytes::Bytes;
use flate2::write::GzEncoder;
use prost::Message;
use serde::Serialize;

use super::config::{Compression, Protocol};
use super::wire::encode_request;
use crate::proto::collector::{logs, metrics, trace};

mod sealed {
    pub trait Sealed {}
}

/// One of the three OTLP export requests.
///
/// Their protobuf form is written by nanotel's own encoder, which measures each nested message
/// once (see `wire.rs`) and produces exactly prost's bytes. This trait is sealed.
pub trait ExportRequest: Message + Serialize + Sized + sealed::Sealed {
    /// Writes the protobuf encoding to `out` (cleared first); `scratch` is working space kept
    /// between calls.
    #[doc(hidden)]
    fn write_protobuf(&self, scratch: &mut Vec<usize>, out: &mut Vec<u8>);
}

impl sealed::Sealed for trace::v1::ExportTraceServiceRequest {}
impl ExportRequest for trace::v1::ExportTraceServiceRequest {
    fn write_protobuf(&self, scratch: &mut Vec<usize>, out: &mut Vec<u8>) {
        encode_request(self, scratch, out);
    }
}

impl sealed::Sealed for metrics::v1::ExportMetricsServiceRequest {}
impl ExportRequest for metrics::v1::ExportMetricsServiceRequest {
    fn write_protobuf(&self, scratch: &mut Vec<usize>, out: &mut Vec<u8>) {
        encode_request(self, scratch, out);
    }
}

impl sealed::Sealed for logs::v1::ExportLogsServiceRequest {}
impl ExportRequest for logs::v1::ExportLogsServiceRequest {
    fn write_protobuf(&self, scratch: &mut Vec<usize>, out: &mut Vec<u8>) {
        encode_request(self, scratch, out);
    }
}

/// A request body ready to send.
#[derive(Clone, Debug)]
pub struct EncodedBody {
    /// The bytes on the wire.
    pub body: Bytes,
    /// The encoded size before compression.
    pub uncompressed_len: usize,
}

/// Encodes export requests, reusing its buffers from one batch to the next.
///
/// ```
/// use nanotel::export::{Compression, Encoder, Protocol};
/// use nanotel::proto::collector::logs::v1::ExportLogsServiceRequest;
///
/// let mut encoder = Encoder::new(Protocol::HttpJson, Compression::None);
/// let body = encoder.encode(&ExportLogsServiceRequest::default()).unwrap();
/// assert_eq!(&body.body[..], b"{}");
/// ```
pub struct Encoder {
    protocol: Protocol,
    compression: Compression,
    encoded: Vec<u8>,
    compressed: Vec<u8>,
    lengths: Vec<usize>,
}

impl Encoder {
    /// An encoder for one protocol and compression.
    #[must_use]
    pub fn new(protocol: Protocol, compression: Compression) -> Self {
        Encoder { protocol, compression, encoded: Vec::new(), compressed: Vec::new(), lengths: Vec::new() }
    }

    /// The `Content-Type` of the bodies it makes.
    #[must_use]
    pub fn content_type(&self) -> &'static str {
        self.protocol.content_type()
    }

    /// The `Content-Encoding` of the bodies it makes, if any.
    #[must_use]
    pub fn content_encoding(&self) -> Option<&'static str> {
        match self.compression {
            Compression::Gzip => Some("gzip"),
            Compression::None => None,
        }
    }

    /// Encodes one request without compressing it, into a buffer reused by the next call.
    ///
    /// # Errors
    ///
    /// When serialization or compression fails; writing into memory, only a request serde cannot
    /// represent does.
    pub fn encode_uncompressed<M: ExportRequest>(&mut self, request: &M) -> std::io::Result<&[u8]> {
        self.encoded.clear();
        match self.protocol {
            // gRPC carries the same protobuf; the transport adds its length prefix.
            Protocol::HttpProtobuf | Protocol::Grpc => request.write_protobuf(&mut self.lengths, &mut self.encoded),
            Protocol::HttpJson => serde_json::to_writer(&mut self.encoded, request)?,
        }
        Ok(&self.encoded)
    }

    /// Encodes (and compresses) one request.
    ///
    /// # Errors
    ///
    /// When serialization or compression fails; writing into memory, only a request serde cannot
    /// represent does.
    pub fn encode<M: ExportRequest>(&mut self, request: &M) -> std::io::Result<EncodedBody> {
        self.encode_uncompressed(request)?;
        self.finish()
    }

    /// Compresses (or copies) what `write` puts in the encode buffer (cleared first) into a
    /// body, with what `write` returned: for a request whose protobuf bytes are written without
    /// its message (the spans of `super::span_queue`). Only for a protobuf protocol: the caller
    /// writes protobuf.
    pub(crate) fn encode_protobuf_with<R>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> (std::io::Result<EncodedBody>, R) {
        self.encoded.clear();
        let written = write(&mut self.encoded);
        (self.finish(), written)
    }

    /// Whether bodies are protobuf (OTLP/HTTP with protobuf, or gRPC), not JSON.
    pub(crate) fn is_protobuf(&self) -> bool {
        matches!(self.protocol, Protocol::HttpProtobuf | Protocol::Grpc)
    }

    /// What `body` (one of this encoder's) holds before compression, read back: at most its
    /// `uncompressed_len` bytes; `None` if it does not decompress to that.
    pub(crate) fn decompressed(&self, body: &EncodedBody) -> Option<Vec<u8>> {
        match self.compression {
            Compression::None => Some(body.body.to_vec()),
            Compression::Gzip => {
                let mut plain = Vec::with_capacity(body.uncompressed_len);
                let limit = body.uncompressed_len as u64 + 1;
                flate2::read::GzDecoder::new(&body.body[..]).take(limit).read_to_end(&mut plain).ok()?;
                (plain.len() == body.uncompressed_len).then_some(plain)
            }
        }
    }

    /// The body of what the encode buffer holds, compressed as configured.
    fn finish(&mut self) -> std::io::Result<EncodedBody> {
        let uncompressed_len = self.encoded.len();
        let body = match self.compression {
            Compression::None => Bytes::copy_from_slice(&self.encoded),
            Compression::Gzip => {
                self.compressed.clear();
                // Level 1: the exporter thread shares the machine with latency-sensitive work, and
                // telemetry compresses well even at the fastest level.
                let mut gzip = GzEncoder::new(&mut self.compressed, flate2::Compression::fast());
                gzip.write_all(&self.encoded)?;
                gzip.finish()?;
                Bytes::copy_from_slice(&self.compressed)
            }
        };
        Ok(EncodedBody { body, uncompressed_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use std::io::Read;

    fn request() -> ExportTraceServiceRequest {
        let span = Span { name: "order".into(), trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![span; 50], ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn gzip_protobuf_round_trips_and_buffers_are_reused() {
        let mut encoder = Encoder::new(Protocol::HttpProtobuf, Compression::Gzip);
        let first = encoder.encode(&request()).unwrap();
        let capacity = (encoder.encoded.capacity(), encoder.compressed.capacity());
        let second = encoder.encode(&request()).unwrap();
        assert_eq!(capacity, (encoder.encoded.capacity(), encoder.compressed.capacity()));
        assert_eq!(first.body, second.body);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&second.body[..]).read_to_end(&mut plain).unwrap();
        assert_eq!(plain.len(), second.uncompressed_len);
        assert_eq!(ExportTraceServiceRequest::decode(plain.as_slice()).unwrap(), request());
        assert!(second.body.len() < second.uncompressed_len);
    }

    #[test]
    fn json_round_trips() {
        let mut encoder = Encoder::new(Protocol::HttpJson, Compression::None);
        let body = encoder.encode(&request()).unwrap();
        let decoded: ExportTraceServiceRequest = serde_json::from_slice(&body.body).unwrap();
        assert_eq!(decoded, request());
        assert_eq!(encoder.content_type(), "application/json");
        assert_eq!(encoder.content_encoding(), None);
    }
}
