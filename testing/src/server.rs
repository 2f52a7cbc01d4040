//! The threads behind a [`TestCollector`](crate::TestCollector): one accepting connections and
//! one per connection, sharing the recorded requests and the reply scripts.

use std::collections::{HashMap, VecDeque};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::collector::{ReceivedRequest, Reply};
use crate::grpc;
use crate::http;
use crate::tls;
use nanotel::Signal;

/// Largest accepted request body, on the wire and after decompression (OTLP's recommended server
/// limit).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Everything the collector's threads and its handle share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The largest request message it decodes, after decompression (see
    /// `TestCollector::set_max_message_bytes`).
    max_message: AtomicUsize,
    /// Signalled when a request is recorded and when the collector stops.
    changed: Condvar,
    connections: Mutex<Connections>,
}

/// Recorded requests and reply scripts, under one lock so that a reply is taken and its request
/// recorded atomically.
pub(crate) struct State {
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
    pub(crate) fn next_reply(&mut self, signal: Signal) -> Reply {
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
pub(crate) fn slot(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

impl Shared {
    pub fn new() -> Self {
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
            max_message: AtomicUsize::new(MAX_BODY_BYTES),
        }
    }

    /// The largest request message decoded, after decompression.
    pub(crate) fn max_message(&self) -> usize {
        self.max_message.load(Ordering::Relaxed)
    }

    pub(crate) fn set_max_message(&self, bytes: usize) {
        self.max_message.store(bytes.min(MAX_BODY_BYTES), Ordering::Relaxed);
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Waits until `done` holds for the recorded requests or `timeout` passes; returns whether
    /// `done` held.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&[ReceivedRequest]) -> bool) -> bool {
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

    pub(crate) fn is_stopping(&self) -> bool {
        self.state.lock().stopping
    }

    /// Wakes whoever waits for a request to be recorded.
    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Waits `duration`, or until the collector stops: returns whether it is stopping.
    pub(crate) fn pause(&self, duration: Duration) -> bool {
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
    pub fn stop(&self) {
        self.state.lock().stopping = true;
        self.changed.notify_all();
    }

    /// Shuts every open connection down, which fails their pending reads and writes, and joins
    /// their threads. Call after the accept thread is gone, so no connection can be added.
    pub fn close_connections(&self) {
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

/// A connection handed to async code: a current-thread runtime of the connection's own thread,
/// the socket in tokio's hands (non-blocking, as tokio needs it; no Nagle: answers are single
/// small writes that clients wait on), and a duplicate of the socket for what acts on it beneath
/// the protocol (a reset, draining after close). `None` when any step fails: the connection is
/// then dropped, as a failed accept would be.
pub(crate) fn take_over(stream: TcpStream) -> Option<(tokio::runtime::Runtime, tokio::net::TcpStream, TcpStream)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build().ok()?;
    let raw = stream.try_clone().ok()?;
    stream.set_nonblocking(true).ok()?;
    let io = {
        let _inside = runtime.enter();
        tokio::net::TcpStream::from_std(stream).ok()?
    };
    let _ = io.set_nodelay(true);
    Some((runtime, io, raw))
}

/// Accepts connections until the collector stops, serving each on its own thread so a slow
/// client never delays another.
/// With `tls`, each connection is served over TLS.
pub(crate) fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tls: Option<Arc<rustls::ServerConfig>>) {
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
        nanotel::internal::mark_own_thread();
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

fn serve(shared: &Arc<Shared>, stream: TcpStream, connection: u64, tls: Option<Arc<rustls::ServerConfig>>) {
    // On plain connections gRPC is recognised by its first bytes; a TLS collector speaks one
    // protocol, HTTP/1 or (its ALPN offering `h2` only) gRPC.
    if tls.is_none() && grpc::is_http2(&stream) {
        return grpc::serve(shared, stream, connection, None);
    }
    if let Some(config) = tls.as_ref().filter(|config| tls::speaks_grpc(config)) {
        return grpc::serve(shared, stream, connection, Some(Arc::clone(config)));
    }
    http::serve(shared, stream, connection, tls);
}
