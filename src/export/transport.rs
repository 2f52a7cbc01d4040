//! One HTTP request to the collector, made on the exporter thread.
//!
//! The exporter thread drives reqwest's client on a current-thread tokio runtime it owns, one
//! poll interval at a time, so that between slices it can take commands and abandon a request
//! when a shutdown deadline passes: a blocking call could not be interrupted. Nothing async
//! reaches the user. Redirects are not followed: following one could carry the
//! `OTEL_EXPORTER_OTLP_HEADERS` credentials to another host, and OTLP does not ask for it. The
//! response body is read up to [`MAX_RESPONSE_BODY`] bytes, so a hostile collector cannot make
//! the exporter allocate more.

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::response::{classify_response, ExportOutcome, HttpResponse, MAX_RESPONSE_BODY};
use super::Signal;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("OTel-OTLP-Exporter-Rust-nanotel/", env!("CARGO_PKG_VERSION"));

/// A request that could not be completed.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportError {
    /// No answer in time.
    Timeout(String),
    /// Connecting or talking to the collector failed.
    Connection(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Timeout(why) => write!(f, "timed out: {why}"),
            TransportError::Connection(why) => write!(f, "connection failed: {why}"),
        }
    }
}

/// The HTTP client, with one keep-alive connection pool for every signal, and the runtime that
/// drives it.
pub(crate) struct Transport {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

/// What to send.
pub(crate) struct Request {
    pub signal: Signal,
    pub url: reqwest::Url,
    pub headers: Vec<(String, String)>,
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
    pub body: Bytes,
    pub timeout: Duration,
}

/// The outcome of one request.
pub(crate) type SendResult = Result<ExportOutcome, TransportError>;

impl Transport {
    pub fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the exporter's I/O runtime: {e}"))?;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Transport { client, runtime })
    }

    /// Starts a request; drive it with [`poll_for`](Self::poll_for).
    pub fn start(&self, request: Request) -> impl Future<Output = SendResult> + 'static {
        let client = self.client.clone();
        async move { send(client, request).await }
    }

    /// Drives `request` for at most `slice`: `Some` when it has finished, `None` when it is still
    /// running.
    pub fn poll_for<F: Future<Output = SendResult>>(
        &self,
        request: &mut std::pin::Pin<Box<F>>,
        slice: Duration,
    ) -> Option<SendResult> {
        self.runtime.block_on(async { tokio::time::timeout(slice, request.as_mut()).await.ok() })
    }
}

async fn send(client: reqwest::Client, request: Request) -> SendResult {
    let mut builder = client
        .post(request.url)
        .timeout(request.timeout)
        .header(reqwest::header::CONTENT_TYPE, request.content_type)
        .body(request.body);
    if let Some(encoding) = request.content_encoding {
        builder = builder.header(reqwest::header::CONTENT_ENCODING, encoding);
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let mut response = builder.send().await.map_err(classify_error)?;
    let status = response.status().as_u16();
    let header = |name: reqwest::header::HeaderName| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let content_encoding = header(reqwest::header::CONTENT_ENCODING);
    let retry_after = header(reqwest::header::RETRY_AFTER);
    let mut body = Vec::new();
    let mut body_truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    body_truncated = true;
                    break;
                }
            }
            Ok(None) => break,
            // A body cut short still lets the status decide what happens; only the detail of
            // the answer is lost.
            Err(_) => {
                body_truncated = true;
                break;
            }
        }
    }
    let response = HttpResponse {
        status,
        content_type: content_type.as_deref(),
        content_encoding: content_encoding.as_deref(),
        retry_after: retry_after.as_deref(),
        body: &body,
        body_truncated,
    };
    Ok(classify_response(request.signal, &response, SystemTime::now()))
}

fn classify_error(error: reqwest::Error) -> TransportError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        TransportError::Timeout(text)
    } else {
        TransportError::Connection(text)
    }
}
