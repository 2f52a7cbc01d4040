//! A TCP relay whose connections can be frozen, for a collector that stops answering without
//! closing its connections.

/// A TCP relay to `target` whose connections can be frozen: a frozen one stays open and takes
/// what is sent, but passes nothing on either way (the collector's host gone without a word, a
/// partition); connections made afterwards relay as before.
pub(crate) struct FreezingRelay {
    pub(crate) addr: std::net::SocketAddr,
    /// Connections numbered below this are frozen.
    frozen_below: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FreezingRelay {
    pub(crate) fn start(target: std::net::SocketAddr) -> FreezingRelay {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (frozen_below, accepted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (frozen, count) = (Arc::clone(&frozen_below), Arc::clone(&accepted));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(target) else { return };
                let id = count.fetch_add(1, Ordering::SeqCst);
                for (from, to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                    let frozen = Arc::clone(&frozen);
                    std::thread::spawn(move || pump(from, to, || id < frozen.load(Ordering::SeqCst)));
                }
            }
        });
        FreezingRelay { addr, frozen_below, accepted }
    }

    pub(crate) fn freeze_existing(&self) {
        use std::sync::atomic::Ordering;
        self.frozen_below.store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either closes, dropping what comes while `frozen`.
fn pump(mut from: std::net::TcpStream, mut to: std::net::TcpStream, frozen: impl Fn() -> bool) {
    use std::io::{Read, Write};
    let mut buffer = [0; 16 * 1024];
    while let Ok(read) = from.read(&mut buffer) {
        if read == 0 || (!frozen() && to.write_all(&buffer[..read]).is_err()) {
            return;
        }
    }
}
