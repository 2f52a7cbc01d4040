//! For tests: an address whose connection attempts go unanswered, as a collector's that is gone
//! behind a firewall dropping packets (a listener whose backlog is full: the kernel drops the
//! handshake). An attempt to it waits until its caller gives up.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A listener on `ip` (a port of the kernel's choosing) with a backlog of none, filled: further
/// connection attempts to it go unanswered. The connections that filled it are held with it.
pub(crate) fn listener_with_full_backlog(ip: &str) -> (SocketAddr, (TcpListener, Vec<TcpStream>)) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("a runtime");
    let _entered = runtime.enter();
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.bind(SocketAddr::new(ip.parse().expect("an IPv4 address"), 0)).expect("a port");
    // Back to a standard listener while the runtime it was made in still runs.
    let listener = socket.listen(0).expect("listening").into_std().expect("a standard listener");
    let address = listener.local_addr().expect("its address");
    let mut held = Vec::new();
    while let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
        held.push(stream);
    }
    (address, (listener, held))
}
