//! The threads behind a [`TestCollector`](super::TestCollector): one accepting connections and
//! one per connection, sharing the recorded requests and the reply scripts.

use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::collector::{ReceivedRequest, Reply};
use super::grpc;
use super::http::{self, Framing, Head, ReadError, Response};
use super::otlp::{self, Format};
use super::tls::{self, Connection};
use crate::Signal;

/// Largest accepted request body, on the wire and after decompression (OTLP's recommended server
/// limit).
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How long, and how many bytes, a connection closed after an error is drained so the client
/// reads our answer instead of a reset (closing a socket with unread input makes the kernel send
/// RST, which can destroy the answer before the client reads it).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 2 * MAX_BODY_BYTES;

/// Everything the collector's threads and its handle share.
pub(super) struct Shared {
    state: Mutex<State>,
    /// Signalled when a request is recorded and when the collector stops.
    changed: Condvar,
    connections: Mutex<Connections>,
}

/// Recorded requests and reply scripts, under one lock so that a reply is taken and its request
/// recorded atomically.
pub(super) struct State {
    /// Every request routed to a signal, in arrival order.
    pub received: Vec<ReceivedRequest>,
    /// Replies scripted for one signal, indexed by [`slot`].
    pub signal_scripts: [VecDeque<Reply>; 3],
    /// Replies scripted for any signal, used when the signal's own script is empty.
    pub any_script: VecDeque<Reply>,
    /// The reply when both scripts are empty.
    pub default: Reply,
    stopping: bool,
}

impl State {
    pub(super) fn next_reply(&mut self, signal: Signal) -> Reply {
        self.signal_scripts[slot(signal)]
            .pop_front()
            .or_else(|| self.any_script.pop_front())
            .unwrap_or_else(|| self.default.clone())
    }
}

/// Open connections, so shutdown can close them, and their threads, so it can join them.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

/// The index of a signal's script.
pub(super) fn slot(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

impl Shared {
    pub(super) fn new() -> Self {
        Shared {
            state: Mutex::new(State {
                received: Vec::new(),
                signal_scripts: Default::default(),
                any_script: VecDeque::new(),
                default: Reply::Accept,
                stopping: false,
            }),
            changed: Condvar::new(),
            connections: Mutex::new(Connections::default()),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Waits until `done` holds for the recorded requests or `timeout` passes; returns whether
    /// `done` held.
    pub(super) fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&[ReceivedRequest]) -> bool) -> bool {
        // A timeout too large for an Instant means "no deadline".
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.state.lock();
        loop {
            if done(&state.received) {
                return true;
            }
            match deadline {
                Some(deadline) => {
                    if self.changed.wait_until(&mut state, deadline).timed_out() {
                        return done(&state.received);
                    }
                }
                None => self.changed.wait(&mut state),
            }
        }
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.state.lock().stopping
    }

    /// Wakes whoever waits for a request to be recorded.
    pub(super) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Sleeps for `duration` unless the collector stops first.
    /// Waits `duration`, or until the collector stops: returns whether it is stopping.
    fn pause(&self, duration: Duration) -> bool {
        let deadline = Instant::now().checked_add(duration);
        let mut state = self.state.lock();
        while !state.stopping {
            match deadline {
                Some(deadline) => {
                    if self.changed.wait_until(&mut state, deadline).timed_out() {
                        return false;
                    }
                }
                None => self.changed.wait(&mut state),
            }
        }
        true
    }

    /// Marks the collector as stopping and wakes every hang.
    pub(super) fn stop(&self) {
        self.state.lock().stopping = true;
        self.changed.notify_all();
    }

    /// Shuts every open connection down, which fails their pending reads and writes, and joins
    /// their threads. Call after the accept thread is gone, so no connection can be added.
    pub(super) fn close_connections(&self) {
        let (open, threads) = {
            let mut connections = self.connections.lock();
            (std::mem::take(&mut connections.open), std::mem::take(&mut connections.threads))
        };
        for stream in open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // The lock is released: exiting threads take it to unregister themselves.
        for thread in threads {
            // A panicked connection thread has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

/// Accepts connections until the collector stops, serving each on its own thread so a slow
/// client never delays another.
/// With `tls`, each connection is served over TLS.
pub(super) fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tls: Option<Arc<rustls::ServerConfig>>) {
    loop {
        let accepted = listener.accept();
        if shared.is_stopping() {
            return;
        }
        match accepted {
            Ok((stream, _)) => spawn_connection(&shared, stream, tls.clone()),
            // Typically out of file descriptors: back off instead of spinning, but stay
            // responsive to shutdown.
            Err(_) => {
                shared.pause(Duration::from_millis(20));
            }
        }
    }
}

fn spawn_connection(shared: &Arc<Shared>, stream: TcpStream, tls: Option<Arc<rustls::ServerConfig>>) {
    // Without a handle to shut it down, the connection could block shutdown forever: refuse it.
    let Ok(handle) = stream.try_clone() else {
        return;
    };
    let mut connections = shared.connections.lock();
    let id = connections.next_id;
    connections.next_id += 1;
    connections.open.insert(id, handle);
    connections.threads.retain(|t| !t.is_finished());
    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new().name("nanotel-test-collector-conn".into()).spawn(move || {
        crate::own_threads::mark_current();
        let _registration = Registration { shared: &thread_shared, id };
        serve(&thread_shared, stream, id, tls);
    });
    match spawned {
        Ok(thread) => connections.threads.push(thread),
        Err(_) => {
            // The stream went down with the closure; drop the duplicate too so the client sees
            // the connection close.
            connections.open.remove(&id);
        }
    }
}

/// Unregisters a connection when its thread ends, however it ends. Dropping the registered
/// duplicate matters: the socket only closes once every handle to it is gone.
struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shared.connections.lock().open.remove(&self.id);
    }
}

/// What to do with the connection after a request.
enum After {
    KeepAlive,
    Close,
}

fn serve(shared: &Arc<Shared>, stream: TcpStream, connection: u64, tls: Option<Arc<rustls::ServerConfig>>) {
    // On plain connections gRPC is recognised by its first bytes; a TLS collector speaks one
    // protocol, HTTP/1 or (its ALPN offering `h2` only) gRPC.
    if tls.is_none() && grpc::is_http2(&stream) {
        return grpc::serve(shared, stream, connection, None);
    }
    if let Some(config) = tls.as_ref().filter(|config| tls::speaks_grpc(config)) {
        return grpc::serve(shared, stream, connection, Some(Arc::clone(config)));
    }
    // Answers are single small writes that clients wait on; Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    match tls {
        None => serve_requests(shared, stream, connection),
        Some(config) => {
            if let Ok(stream) = tls::accept(&config, stream) {
                serve_requests(shared, stream, connection);
            }
        }
    }
}

fn serve_requests(shared: &Shared, stream: impl Connection, connection: u64) {
    let mut reader = BufReader::new(stream);
    while let After::KeepAlive = serve_one(shared, &mut reader, connection) {}
}

fn error_response(format: Format, status: u16, message: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type", format.content_type().to_owned())],
        body: otlp::status_body(format, status, message),
    }
}

fn send(stream: &mut impl Connection, response: &Response, keep_alive: bool, head_only: bool) -> After {
    match http::write_response(stream, response, !keep_alive, head_only) {
        Ok(()) if keep_alive => After::KeepAlive,
        _ => After::Close,
    }
}

/// Answers a request that could not be read to its end, then closes the connection gracefully:
/// our FIN goes out first, and what the client still sends is read and dropped for a bounded
/// time so that the kernel does not answer it with a reset that races our response.
fn reject_and_close(stream: &mut impl Connection, response: &Response, head_only: bool) -> After {
    send(stream, response, false, head_only);
    stream.close_write();
    let started = Instant::now();
    let mut drained = 0;
    let mut sink = [0u8; 16 * 1024];
    while drained < LINGER_BYTES {
        let Some(left) = LINGER_TIME.checked_sub(started.elapsed()).filter(|d| !d.is_zero()) else {
            break;
        };
        if stream.tcp().set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    After::Close
}

/// Maps the path and method to a signal, or to the error answer.
fn route(head: &Head, format: Format) -> Result<Signal, Response> {
    let signal = match head.path() {
        "/v1/traces" => Signal::Traces,
        "/v1/metrics" => Signal::Metrics,
        "/v1/logs" => Signal::Logs,
        path => return Err(error_response(format, 404, &format!("no OTLP endpoint at {path}"))),
    };
    if head.method != "POST" {
        let mut response = error_response(format, 405, &format!("{} is not allowed here", head.method));
        response.headers.push(("allow", "POST".to_owned()));
        return Err(response);
    }
    Ok(signal)
}

/// Reads, records and answers one request.
fn serve_one(shared: &Shared, reader: &mut BufReader<impl Connection>, connection: u64) -> After {
    let head = match http::read_head(reader) {
        Ok(Some(head)) => head,
        Ok(None) | Err(ReadError::Closed) => return After::Close,
        Err(ReadError::Reject { status, message }) => {
            return reject_and_close(reader.get_mut(), &error_response(Format::Protobuf, status, &message), false);
        }
    };
    // Error answers mirror the request's format too; anything unrecognised gets protobuf, the
    // OTLP default.
    let format = Format::of(head.header("content-type")).unwrap_or(Format::Protobuf);
    let head_only = head.method == "HEAD";
    let framing = match http::framing(&head, MAX_BODY_BYTES) {
        Ok(framing) => framing,
        Err(ReadError::Closed) => return After::Close,
        Err(ReadError::Reject { status, message }) => {
            return reject_and_close(reader.get_mut(), &error_response(format, status, &message), head_only);
        }
    };
    let route = route(&head, format);
    if head.expects_continue() && framing != Framing::Empty {
        match &route {
            // The client holds the body back until told to send it: tell it, or, when the answer
            // does not depend on the body, answer at once rather than accept a body to discard.
            Ok(_) => {
                if http::write_continue(reader.get_mut()).is_err() {
                    return After::Close;
                }
            }
            Err(response) => return reject_and_close(reader.get_mut(), response, head_only),
        }
    }
    let body = match http::read_body(reader, &framing, MAX_BODY_BYTES) {
        Ok(body) => body,
        Err(ReadError::Closed) => return After::Close,
        Err(ReadError::Reject { status, message }) => {
            return reject_and_close(reader.get_mut(), &error_response(format, status, &message), head_only);
        }
    };
    let arrived = Instant::now();
    let keep_alive = head.keep_alive();
    let signal = match route {
        Ok(signal) => signal,
        // The body was read in full, so the connection is still in sync and can be reused.
        Err(response) => return send(reader.get_mut(), &response, keep_alive, head_only),
    };

    let content_type = head.header("content-type").map(str::to_owned);
    let content_encoding = head.header("content-encoding").map(str::to_owned);
    let request = otlp::decode(signal, content_type.as_deref(), content_encoding.as_deref(), &body, MAX_BODY_BYTES);
    let reply = {
        let mut state = shared.lock();
        // An undecodable body is answered with its error whatever the script says, and leaves
        // the script for the next valid request: a script describes how the collector treats
        // exports, and a malformed export is an exporter bug the test should see.
        let reply = match &request {
            Ok(_) => state.next_reply(signal),
            Err(error) => Reply::Status { code: error.http_status(), retry_after: None, message: error.to_string() },
        };
        // Recorded before answering, so a client that has its answer always finds its request
        // in `received()`.
        state.received.push(ReceivedRequest {
            signal,
            path: head.target.clone(),
            connection,
            content_type,
            content_encoding,
            headers: head.headers,
            body_len: body.len(),
            request,
            arrived,
            reply: reply.clone(),
        });
        reply
    };
    shared.changed.notify_all();

    let response = match reply {
        Reply::Accept => success(signal, format, None),
        Reply::PartialSuccess { rejected, message } => success(signal, format, Some((rejected, &message))),
        Reply::Status { code, retry_after, message } => status_response(format, code, retry_after, &message),
        // A gRPC status is answered as its HTTP counterpart.
        Reply::GrpcStatus { code, message, retry_delay } => {
            let (status, retry_after) = grpc::http_status_of_grpc(code, retry_delay);
            status_response(format, status, retry_after, &message)
        }
        Reply::Garbage => Response {
            status: 200,
            headers: vec![("content-type", Format::Protobuf.content_type().to_owned())],
            body: otlp::GARBAGE.to_vec(),
        },
        Reply::Hang(duration) => {
            shared.pause(duration);
            return After::Close;
        }
        Reply::Drip(every) => {
            // An accepting answer with a warning, so that it has a body to drip.
            let answer = success(signal, format, Some((0, "this answer drips in one byte at a time")));
            return drip(shared, reader.get_mut(), &answer, every);
        }
        Reply::AcceptThenClose => {
            send(reader.get_mut(), &success(signal, format, None), true, head_only);
            return After::Close;
        }
        Reply::Reset => {
            // std cannot set SO_LINGER to 0 on stable Rust, which is what would turn the close
            // into an RST. Shutting both directions down closes at once with a FIN instead,
            // and the registry's duplicate handle does not keep the socket open meanwhile; a
            // client sees its request fail with a connection error and no response either way.
            let _ = reader.get_ref().tcp().shutdown(Shutdown::Both);
            return After::Close;
        }
    };
    send(reader.get_mut(), &response, keep_alive, head_only)
}

/// Writes `response`'s head at once, then its body a byte at a time, `every` apart, stopping
/// early when the collector stops or the client has gone; then closes the connection.
fn drip(shared: &Shared, stream: &mut impl Connection, response: &Response, every: Duration) -> After {
    let mut bytes = Vec::new();
    if http::write_response(&mut bytes, response, true, false).is_err() {
        return After::Close;
    }
    let head = bytes.windows(4).position(|end| end == b"\r\n\r\n").map_or(bytes.len(), |at| at + 4);
    if stream.write_all(&bytes[..head]).is_err() {
        return After::Close;
    }
    for byte in &bytes[head..] {
        if shared.pause(every) || stream.write_all(&[*byte]).is_err() {
            break;
        }
    }
    After::Close
}

fn status_response(format: Format, code: u16, retry_after: Option<String>, message: &str) -> Response {
    let mut response = error_response(format, code, message);
    if let Some(value) = retry_after {
        response.headers.push(("retry-after", value));
    }
    response
}

fn success(signal: Signal, format: Format, partial: Option<(i64, &str)>) -> Response {
    Response {
        status: 200,
        headers: vec![("content-type", format.content_type().to_owned())],
        body: otlp::success_body(signal, format, partial),
    }
}
