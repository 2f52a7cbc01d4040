//! The loopback set-ups several tests share: a pipeline to the test collector, and a plain
//! Prometheus scrape.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use nanotel::export::Pipeline;
use nanotel_testing::TestCollector;

/// A pipeline from defaults (no environment, no self-telemetry) to `collector`.
pub(crate) fn pipeline_to(collector: &TestCollector) -> Pipeline {
    Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint(collector.endpoint())
        .build()
        .expect("a pipeline to the test collector")
}

/// `GET /metrics` from the Prometheus endpoint at `address`: the whole answer, head and body, as
/// text (read within 10 s).
pub(crate) fn scrape(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).expect("the endpoint accepts");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").expect("the request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer before the read timeout");
    answer
}
