//! A minimal OTLP/HTTP server that reads each request's body and throws it away, answering
//! `200 OK` with an empty protobuf body (an `Export*ServiceResponse` with nothing to report:
//! everything accepted). It decodes nothing, so on a small machine the time measured is the
//! exporter's, not a collector's: the loopback `TestCollector` gunzips and decodes every request
//! on the same cores.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The server's address and what it has read so far.
pub struct DiscardServer {
    endpoint: String,
    bodies: Arc<AtomicU64>,
}

impl DiscardServer {
    /// Listens on a free loopback port; each connection is served on a thread of its own.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let bodies = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&bodies);
        std::thread::Builder::new().name("discard-server".into()).spawn(move || {
            for stream in listener.incoming().flatten() {
                let counted = Arc::clone(&counted);
                let _ = std::thread::Builder::new().name("discard-conn".into()).spawn(move || serve(stream, &counted));
            }
        })?;
        Ok(DiscardServer { endpoint, bodies })
    }

    /// The base URL to give the pipeline (`/v1/traces` is added by it).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Requests whose whole body was read.
    pub fn requests(&self) -> u64 {
        self.bodies.load(Ordering::Relaxed)
    }
}

/// Serves one keep-alive connection until the client closes it or sends something it cannot read.
fn serve(stream: TcpStream, bodies: &AtomicU64) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        // The request line, then headers up to the empty line; only Content-Length matters.
        let mut length = None;
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = line.trim_end();
            if header.is_empty() && !first {
                break;
            }
            first = false;
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let Some(length) = length else { return };
        body.resize(length, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        bodies.fetch_add(1, Ordering::Relaxed);
        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer).is_err() {
            return;
        }
    }
}
