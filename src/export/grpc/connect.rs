//! Opening the HTTP/2 connection to a collector: TCP, then TLS for `https`, then the HTTP/2
//! handshake (prior knowledge for `http`, h2c), the connection driven by a task on the exporter
//! thread's runtime.
//!
//! A name with several addresses (IPv6 and IPv4, say) is connected to as Happy Eyeballs does
//! (RFC 8305): the addresses in turn, families alternating, the next started beside the last when
//! that one has not connected within [`ATTEMPT_DELAY`], the first connection made kept. Tried one
//! after the other, an address whose packets are dropped (an IPv6 route that is down) held each
//! attempt until the request's timeout, and the address after it was never reached.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::AbortHandle;
use tokio_rustls::TlsConnector;

use super::connection_error;
use crate::export::transport::TransportError;

/// How long a connection attempt to one address has before the next address is tried beside it
/// (RFC 8305's recommended Connection Attempt Delay).
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The largest header section accepted from a collector. Status details arrive as a header, and
/// this bounds what decoding them can cost.
const MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;

/// Connects to the collector at `url` (with `tls` for `https`) and starts HTTP/2 on the
/// connection; the task driving it (see [`handshake`]) can be ended with the handle returned.
pub(super) async fn connect(
    url: &reqwest::Url,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(SendRequest<Bytes>, AbortHandle), TransportError> {
    let host = url.host_str().unwrap_or_default();
    // The URL parser keeps IPv6 literals in brackets, which resolving does not take.
    let address = crate::export::endpoint::unbracketed(host);
    let port = super::port_of(url);
    let failed = |e: io::Error| TransportError::Connection(format!("gRPC, connecting to {host}:{port}: {e}"));
    let addresses = tokio::net::lookup_host((address, port)).await.map_err(failed)?;
    let tcp = connect_first(&interleaved(addresses.collect())).await.map_err(failed)?;
    // Requests are single writes that the collector answers; Nagle would only delay them.
    let _ = tcp.set_nodelay(true);
    if url.scheme() == "https" {
        let name = rustls::pki_types::ServerName::try_from(address.to_owned())
            .map_err(|e| TransportError::Connection(format!("gRPC, {host} is not a TLS server name: {e}")))?;
        let tls = TlsConnector::from(Arc::clone(tls)).connect(name, tcp).await.map_err(|e| {
            let why = crate::export::tls::explain(&e).unwrap_or_else(|| e.to_string());
            TransportError::Connection(format!("gRPC, TLS with {host}:{port}: {why}"))
        })?;
        handshake(tls).await
    } else {
        handshake(tcp).await
    }
}

async fn handshake<T>(io: T) -> Result<(SendRequest<Bytes>, AbortHandle), TransportError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // No server push, and no stream the collector opens: h2 allows both by default, with no
    // bound, and keeps each pushed stream (its promised request's headers, up to the header
    // limit) until the call it came with ends, so a collector pushing streams while it holds
    // its answer back grew the program's memory without bound (until session 40; hyper turns
    // push off for the HTTP client the same way).
    let (sender, connection) = h2::client::Builder::new()
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        .enable_push(false)
        .max_concurrent_streams(0)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| connection_error("the HTTP/2 handshake", e))?;
    // The connection makes progress whenever the runtime runs, i.e. while requests are driven;
    // it ends, and its streams fail, when the collector closes it or it breaks, or when the
    // connection is let go of (a collector that stopped reading never lets it end by itself).
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((sender, task.abort_handle()))
}

/// The addresses in the order to try them (RFC 8305): families alternating, starting with the
/// first's (the resolver's preference), each family in the resolver's order.
fn interleaved(addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_is_v6 = addresses.first().is_some_and(SocketAddr::is_ipv6);
    let (mut preferred, mut other): (VecDeque<_>, VecDeque<_>) =
        addresses.into_iter().partition(|address| address.is_ipv6() == first_is_v6);
    let mut ordered = Vec::with_capacity(preferred.len() + other.len());
    while !preferred.is_empty() || !other.is_empty() {
        ordered.extend(preferred.pop_front().into_iter().chain(other.pop_front()));
    }
    ordered
}

/// A TCP connection to the first of `addresses` that takes one: each attempt started
/// [`ATTEMPT_DELAY`] after the one before, or at once when every earlier one has failed; the
/// attempts still under way are dropped when one connects. The last failure when all fail.
async fn connect_first(addresses: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut remaining = addresses.iter();
    let mut attempts: Vec<Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>> = Vec::new();
    let mut last_error = None;
    let mut delay = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    std::future::poll_fn(|cx| loop {
        let mut index = 0;
        while index < attempts.len() {
            match attempts[index].as_mut().poll(cx) {
                Poll::Ready(Ok(stream)) => return Poll::Ready(Ok(stream)),
                Poll::Ready(Err(error)) => {
                    last_error = Some(error);
                    drop(attempts.swap_remove(index));
                }
                Poll::Pending => index += 1,
            }
        }
        // The next address is due when nothing is under way, or the last one started has had its
        // delay (polling the delay also has it wake this task when it passes).
        if !attempts.is_empty() && delay.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let Some(address) = remaining.next() else {
            if attempts.is_empty() {
                let none = || io::Error::new(io::ErrorKind::NotFound, "the name has no address");
                return Poll::Ready(Err(last_error.take().unwrap_or_else(none)));
            }
            return Poll::Pending;
        };
        attempts.push(Box::pin(TcpStream::connect(*address)));
        delay.as_mut().reset(tokio::time::Instant::now() + ATTEMPT_DELAY);
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpListener};
    use std::time::Duration;

    use super::{connect_first, interleaved};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build().unwrap()
    }

    #[test]
    fn address_families_alternate_from_the_resolvers_first() {
        let [v6a, v6b, v4a, v4b]: [SocketAddr; 4] =
            ["[::1]:1", "[::2]:1", "127.0.0.1:1", "127.0.0.2:1"].map(|address| address.parse().unwrap());
        assert_eq!(interleaved(vec![v6a, v6b, v4a]), [v6a, v4a, v6b]);
        assert_eq!(interleaved(vec![v4a, v4b, v6a, v6b]), [v4a, v6a, v4b, v6b]);
        assert_eq!(interleaved(vec![v4b]), [v4b]);
        assert_eq!(interleaved(vec![]), []);
    }

    /// An address whose connection attempts go unanswered (a listener whose backlog is full: the
    /// kernel drops the handshake, as a firewall dropping packets does) does not keep the next
    /// address from being reached. One after the other, the first attempt would wait for the
    /// kernel's connect timeout (minutes).
    #[test]
    fn an_address_that_does_not_answer_leaves_the_next_one_tried() {
        let runtime = runtime();
        let (unanswered, _held) = crate::export::unanswered::listener_with_full_backlog("127.0.0.1");
        let answering = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = answering.local_addr().unwrap();
        let connected = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), connect_first(&[unanswered, good])).await
        });
        let stream = connected.expect("connected before the test's deadline").expect("connected");
        assert_eq!(stream.peer_addr().unwrap(), good);
    }

    /// When every address refuses, the last refusal is the error; with no address, a clear one.
    #[test]
    fn when_every_address_fails_the_last_failure_is_the_error() {
        let runtime = runtime();
        let refusing: Vec<SocketAddr> =
            (0..2).map(|_| TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()).collect();
        let error = runtime.block_on(connect_first(&refusing)).expect_err("nothing listens");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        let error = runtime.block_on(connect_first(&[])).expect_err("no address");
        assert_eq!(error.to_string(), "the name has no address");
    }
}
