//! HTTPS for the [`TestCollector`](crate::TestCollector): the rustls server configuration that
//! both sides use, tokio-rustls accepting on the connection's runtime. A handshake that fails (the
//! client does not trust the certificate, or presents none when `client_ca` asks for one) closes
//! the connection, with the alert rustls sends, before any request is recorded.

use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// The ALPN protocol of HTTP/2.
pub(crate) const H2: &[u8] = b"h2";

/// What a TLS collector offers in ALPN, and so what it speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alpn {
    /// OTLP/HTTP over HTTP/1.1 only.
    Http1,
    /// OTLP/HTTP over HTTP/2 (`h2`) to a client that offers it, else HTTP/1.1: what a Go
    /// collector's HTTPS receiver does.
    Http2AndHttp1,
    /// OTLP/gRPC: `h2` only.
    Grpc,
}

/// Whether a collector with this configuration speaks gRPC (its ALPN offers `h2` only).
pub(crate) fn speaks_grpc(config: &ServerConfig) -> bool {
    config.alpn_protocols == [H2]
}

/// The server's TLS configuration: its certificate chain and key, and, with `client_ca`, client
/// certificates required and checked against that CA (mTLS), with `alpn`'s protocols offered.
pub(crate) fn server_config(
    certificate_chain_pem: &str,
    key_pem: &str,
    client_ca_pem: Option<&str>,
    alpn: Alpn,
) -> io::Result<Arc<ServerConfig>> {
    // rustls 0.23.48 deprecates `ring`'s provider (it has no post-quantum key exchange); the
    // other built-in one, aws-lc-rs, compiles C with cmake, which nanotel's users should not need.
    // The lockfile holds 0.23.46; a build that resolves afresh would warn here without this.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(certificate_chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(invalid)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for certificate in certificates(pem)? {
                roots.add(certificate).map_err(invalid)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().map_err(invalid)?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(invalid)?;
    config.alpn_protocols = match alpn {
        Alpn::Http1 => vec![b"http/1.1".to_vec()],
        Alpn::Http2AndHttp1 => vec![H2.to_vec(), b"http/1.1".to_vec()],
        Alpn::Grpc => vec![H2.to_vec()],
    };
    Ok(Arc::new(config))
}

fn certificates(pem: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certificates =
        CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(invalid)?;
    if certificates.is_empty() {
        return Err(invalid("no PEM certificate found"));
    }
    Ok(certificates)
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error.to_string())
}
