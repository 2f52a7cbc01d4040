//! Opening the HTTP/2 connection to a collector: TCP, then TLS for `https`, then the HTTP/2
//! handshake (prior knowledge for `http`, h2c), the connection driven by a task on the exporter
//! thread's runtime.

use std::sync::Arc;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::connection_error;
use crate::export::transport::TransportError;

/// The largest header section accepted from a collector. Status details arrive as a header, and
/// this bounds what decoding them can cost.
const MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;

/// Connects to the collector at `url` (with `tls` for `https`) and starts HTTP/2 on the
/// connection.
pub(super) async fn connect(
    url: &reqwest::Url,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<SendRequest<Bytes>, TransportError> {
    let host = url.host_str().unwrap_or_default();
    // The URL parser keeps IPv6 literals in brackets, which resolving does not take.
    let address = host.trim_start_matches('[').trim_end_matches(']');
    let port = super::port_of(url);
    let tcp = TcpStream::connect((address, port))
        .await
        .map_err(|e| TransportError::Connection(format!("gRPC, connecting to {host}:{port}: {e}")))?;
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

async fn handshake<T>(io: T) -> Result<SendRequest<Bytes>, TransportError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = h2::client::Builder::new()
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| connection_error("the HTTP/2 handshake", e))?;
    // The connection makes progress whenever the runtime runs, i.e. while requests are driven;
    // it ends, and its streams fail, when the collector closes it or it breaks.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
