//! The endpoint's event loop, run on its own thread by a current-thread tokio runtime: one task
//! accepts connections within the bound of [`Connections`], and one task per connection serves a
//! single request with hyper's HTTP/1 server, then closes it.
//!
//! An idle or slow client costs a socket and a parked task, never a thread, so it cannot hold up
//! a scrape; hyper's header read timeout ends a connection whose head is not in by then, and the
//! bound sheds the oldest idle connection when full.

use std::future::{poll_fn, Future};
use std::io::ErrorKind;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWrite;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::answer::{answer, error, State};
use super::connections::{Connections, Ticket};
use super::late_answers::LateAnswers;

/// The largest request head: hyper answers 431 past it (and 8 KiB is its smallest buffer).
const MAX_HEAD: usize = 8 * 1024;

/// How long an answered connection is drained before it is closed (see [`close_gently`]).
const DRAIN_TIME: Duration = Duration::from_millis(500);

/// The endpoint's settings, as the builder gave them.
pub(super) struct Settings {
    pub(super) state: Arc<State>,
    pub(super) header_timeout: Duration,
    pub(super) max_connections: usize,
    /// The runtime's blocking threads, which make the answers.
    pub(super) scrape_threads: usize,
}

/// Serves `listener` until `stop` fires or its sender is dropped. Returning drops the runtime's
/// remaining tasks, which closes every connection.
pub(super) async fn serve(listener: std::net::TcpListener, settings: Settings, mut stop: oneshot::Receiver<()>) {
    let Ok(listener) = TcpListener::from_std(listener) else { return };
    let connections = Connections::new(settings.max_connections);
    let http = http1_settings(settings.header_timeout);
    let answers = Arc::new(LateAnswers::new(settings.scrape_threads));
    loop {
        let Some(accepted) = unless_stopped(&mut stop, listener.accept()).await else { return };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, say: accept fails at once until some are freed, so pause
            // rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Room is made only for a connection that came: an idle one is never closed ahead.
        if unless_stopped(&mut stop, connections.make_room()).await.is_none() {
            return;
        }
        let ticket = connections.admit();
        let id = ticket.id();
        let answering =
            Answering { state: settings.state.clone(), answers: answers.clone(), time: http.header_timeout };
        let task = tokio::spawn(serve_connection(stream, answering, http.clone(), ticket));
        connections.spawned(id, task.abort_handle());
    }
}

/// Runs `work` unless `stop` fires first (`None` then).
async fn unless_stopped<F: Future>(stop: &mut oneshot::Receiver<()>, work: F) -> Option<F::Output> {
    let mut work = pin!(work);
    poll_fn(|cx| {
        if Pin::new(&mut *stop).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        work.as_mut().poll(cx).map(Some)
    })
    .await
}

/// hyper's settings for every connection, and the header timeout they hold.
#[derive(Clone)]
struct Http {
    builder: http1::Builder,
    header_timeout: Duration,
}

/// One request per connection (`Connection: close`), a head of at most [`MAX_HEAD`] arriving
/// within `header_timeout`, headers in the usual Title-Case.
fn http1_settings(header_timeout: Duration) -> Http {
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD)
        .title_case_headers(true);
    Http { builder, header_timeout }
}

/// What a connection's answer is made from: the sources, and the bound on answers in progress
/// and on the time each may take (the request timeout; see [`LateAnswers`]).
struct Answering {
    state: Arc<State>,
    answers: Arc<LateAnswers>,
    time: Duration,
}

impl Answering {
    /// The answer to `head`, made on one of the runtime's blocking threads (`nanotel-scrape`), not
    /// on the endpoint's: it collects, and a source that does not return holds the thread it runs
    /// on. Made inline, it held every later scrape (each waiting in the accept queue, answered by
    /// nothing); made there within [`Answering::time`], the endpoint goes on, and a scrape
    /// whose answer is not made by then, or that finds every scrape thread stuck in such answers,
    /// is answered 503.
    async fn answer(&self, head: Request<()>) -> Response<Full<Bytes>> {
        let Some(progress) = self.answers.admit() else { return error(StatusCode::SERVICE_UNAVAILABLE) };
        let progress = Arc::new(progress);
        let made = tokio::task::spawn_blocking({
            let (state, answers, progress) = (Arc::clone(&self.state), Arc::clone(&self.answers), progress.clone());
            move || answers.make(&progress, || answer(&state, &head))
        });
        match tokio::time::timeout(self.time, made).await {
            Ok(Ok(Some(answer))) => {
                // A 503 made in time (a provider's collection that gave up) ends no episode.
                if answer.status().is_success() {
                    self.answers.in_time();
                }
                answer
            }
            // A panic there (the collection catches the callbacks' own) is a failed scrape; an
            // answer never begun was abandoned by a `late`, after which this is not polled.
            Ok(Ok(None) | Err(_)) => error(StatusCode::INTERNAL_SERVER_ERROR),
            Err(_) => {
                self.answers.late(&progress, self.time);
                error(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }
}

/// Serves one request on `stream`, then closes it. `ticket` holds the connection's place in the
/// bound until the task ends, or is aborted when the connection is shed while idle.
async fn serve_connection(mut stream: TcpStream, answering: Answering, http: Http, ticket: Ticket) {
    let answering = &answering;
    let service = service_fn(|request: Request<Incoming>| {
        ticket.busy();
        // The body is not read (a scrape has none): only the head goes to the other thread.
        let head = Request::from_parts(request.into_parts().0, ());
        async move { Ok::<_, std::convert::Infallible>(answering.answer(head).await) }
    });
    let connection = http.builder.serve_connection(TokioIo::new(&mut stream), service);
    // The header timeout bounds the wait for a head, and [`Answering`] the answer's making; this
    // bounds the writing too, for a client that never reads it: a busy connection is never shed,
    // so it must end by itself.
    let _ = tokio::time::timeout(http.header_timeout * 3, connection).await;
    close_gently(&mut stream).await;
}

/// Ends the connection so the client reads the whole answer: closing with unread request bytes
/// still buffered would reset the connection and could discard the answer in flight. What the
/// client still sends is read and thrown away, for [`DRAIN_TIME`] at most and up to 1 MiB.
async fn close_gently(stream: &mut TcpStream) {
    // After a whole answer hyper has shut the writing side already; a second time is harmless.
    let _ = poll_fn(|cx| Pin::new(&mut *stream).poll_shutdown(cx)).await;
    let _ = tokio::time::timeout(DRAIN_TIME, drain(stream)).await;
}

async fn drain(stream: &TcpStream) {
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 1 << 20 {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut sink) {
            Ok(0) => return,
            Ok(n) => drained += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}
