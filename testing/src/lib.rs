//! A loopback OTLP/HTTP and OTLP/gRPC collector for integration tests: nanotel's own, and those of a
//! program that exports with nanotel (add `nanotel-testing` as a dev-dependency).
//!
//! Both protocols are served on the one port: a connection that opens with the HTTP/2 preface
//! (a gRPC client over h2c) is served as OTLP/gRPC, any other as OTLP/HTTP, so
//! [`TestCollector::endpoint`] is the endpoint for either, e.g. with
//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`. The gRPC mapping of each [`Reply`] is described on
//! [`Reply`]'s variants and in the gRPC module's source.
//!
//! [`TestCollector`] listens on `127.0.0.1` and implements the receiving side of OTLP/HTTP:
//! `POST /v1/traces`, `/v1/metrics` and `/v1/logs` with protobuf (`application/x-protobuf`) or
//! OTLP/JSON (`application/json`) bodies, optionally gzip-compressed, over HTTP/1.1 (served by
//! hyper) with keep-alive and `Content-Length` or chunked bodies. Every export is decoded with the crate's
//! own generated types and recorded as a [`ReceivedRequest`]; answers mirror the request's
//! `Content-Type`, as OTLP requires.
//!
//! What the collector answers is scripted with [`Reply`]: success, partial success, any status
//! with an optional `Retry-After`, a hang, a dropped connection, or an unreadable body. That is
//! enough to drive an exporter through its retry, throttling, timeout and error paths.
//!
//! [`TestCollector::start_tls`] serves the same over HTTPS (rustls), optionally requiring a client
//! certificate (mTLS); [`TestCollector::start_tls_http2`] over HTTP/2 as well, to a client that
//! offers `h2` in ALPN.
//!
//! Other requests get the answers a real collector gives: 404 for another path, 405 for another
//! method, 415 for an unsupported `Content-Type` or `Content-Encoding`, 400 for a body that does
//! not decode, 413 for a body over 64 MiB (on the wire or after decompression; a smaller limit on
//! the decompressed message with [`TestCollector::set_max_message_bytes`], which its gRPC side
//! answers `RESOURCE_EXHAUSTED`, as grpc-go does past its 4 MiB). Their bodies are
//! a `google.rpc.Status`. Malformed HTTP gets hyper's own bodiless answer: 400, or 431 for a
//! request line and header section over 64 KiB. No input makes it panic, and a slow client only
//! ties up its own thread.
//!
//! ```
//! use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
//! use nanotel::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
//! use nanotel_testing::TestCollector;
//! use nanotel::Signal;
//! use prost::Message;
//!
//! let collector = TestCollector::start()?;
//!
//! let span = Span { name: "checkout".into(), ..Default::default() };
//! let scope = ScopeSpans { spans: vec![span], ..Default::default() };
//! let request = ExportTraceServiceRequest {
//!     resource_spans: vec![ResourceSpans { scope_spans: vec![scope], ..Default::default() }],
//! };
//! let response = reqwest::blocking::Client::new()
//!     .post(format!("{}/v1/traces", collector.endpoint()))
//!     .header("content-type", "application/x-protobuf")
//!     .body(request.encode_to_vec())
//!     .send()?;
//! assert_eq!(response.status(), 200);
//!
//! let received = collector.received();
//! assert_eq!(received.len(), 1);
//! assert_eq!(received[0].signal, Signal::Traces);
//! let traces = received[0].request.as_ref().ok().and_then(|r| r.as_traces());
//! assert_eq!(traces, Some(&request));
//! assert_eq!(collector.accepted_items(Signal::Traces), 1);
//!
//! collector.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod collector;
mod grpc;
mod http;
mod otlp;
mod server;
mod tls;

pub use collector::{ReceivedRequest, Reply, SignalSummary, Summary, TestCollector};
pub use otlp::{DecodeError, ExportRequest};
