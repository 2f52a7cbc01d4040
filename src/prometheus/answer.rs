//! What a request gets: the exposition on `/metrics` for GET and HEAD (format and gzip by content
//! negotiation), 404 on other paths, 405 for other methods.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use parking_lot::RwLock;

use super::text::{encode, Format};
use crate::metrics::{Busy, MeterProvider};
use crate::proto::metrics::v1::ScopeMetrics;
use crate::proto::resource::v1::Resource;

use super::negotiate::{accepts_gzip, choose_format};

/// A source of metrics read at every scrape.
#[derive(Clone)]
pub(super) enum Source {
    /// A meter provider: a scrape waits for another collection of it only so long (see
    /// `metrics::collection_lock`).
    Provider(MeterProvider),
    /// The program's own function.
    Function(Arc<dyn Fn() -> Vec<ScopeMetrics> + Send + Sync>),
}

impl Source {
    /// What the source holds now; [`Busy`] when a provider's collection waited too long for
    /// another and `patient` is false (a scrape's).
    fn read(&self, patient: bool) -> Result<Vec<ScopeMetrics>, Busy> {
        match self {
            Source::Provider(provider) if patient => Ok(provider.snapshot()),
            Source::Provider(provider) => provider.snapshot_for_scrape(),
            Source::Function(function) => Ok(function()),
        }
    }
}

/// What every scrape reads.
pub(super) struct State {
    pub(super) sources: RwLock<Vec<Source>>,
    pub(super) resource: Option<Resource>,
}

impl State {
    /// The exposition in `format`; for a scrape (`patient` false), [`Busy`] when a provider's
    /// collection waited too long for another.
    pub(super) fn render(&self, format: Format, patient: bool) -> Result<String, Busy> {
        let sources: Vec<Source> = self.sources.read().clone();
        let mut scopes: Vec<ScopeMetrics> = Vec::new();
        for source in &sources {
            scopes.extend(source.read(patient)?);
        }
        Ok(encode(&scopes, self.resource.as_ref(), format))
    }
}

/// The answer to `request`. For HEAD, hyper sends the head of this answer without its body.
pub(super) fn answer<B>(state: &State, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return error(StatusCode::NOT_FOUND);
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut answer = error(StatusCode::METHOD_NOT_ALLOWED);
        answer.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return answer;
    }
    let format = choose_format(header(request, ACCEPT).as_deref());
    // A partial page would read as series gone; 503 reads as a failed scrape, which it is.
    let Ok(text) = state.render(format, false) else {
        return error(StatusCode::SERVICE_UNAVAILABLE);
    };
    let mut answer =
        Response::builder().header(CONTENT_TYPE, format.content_type()).header(VARY, "Accept, Accept-Encoding");
    let body = match accepts_gzip(header(request, ACCEPT_ENCODING).as_deref()).then(|| gzip(text.as_bytes())) {
        Some(Ok(compressed)) => {
            answer = answer.header(CONTENT_ENCODING, "gzip");
            compressed
        }
        // Compressing into memory does not fail; should it, the plain text is as good an answer.
        Some(Err(_)) | None => text.into_bytes(),
    };
    // Stated outright so that a HEAD answer carries the length its GET would have.
    let answer = answer.header(CONTENT_LENGTH, body.len()).body(Full::new(Bytes::from(body)));
    // Every header above is a valid constant or number, so building cannot fail.
    answer.unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR))
}

/// A request header as text; repeated headers are joined with `,` as HTTP allows for lists, and
/// one that is not visible ASCII counts as absent.
fn header<B>(request: &Request<B>, name: http::header::HeaderName) -> Option<String> {
    let values: Vec<&str> = request.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join(","))
}

pub(super) fn error(status: StatusCode) -> Response<Full<Bytes>> {
    let text = format!("{} {}\n", status.as_str(), status.canonical_reason().unwrap_or(""));
    let mut answer = Response::new(Full::new(Bytes::from(text)));
    *answer.status_mut() = status;
    answer.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    answer
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}
