//! Turns a signal's [`TlsSettings`] into the `rustls::ClientConfig` its connections use, and puts
//! a failed TLS handshake into words.
//!
//! [`client_config`] reads the files when the pipeline is built: a file that is missing,
//! unreadable, not a regular file, larger than 16 MiB, not PEM, or a key that does not match its
//! certificate is a [`TlsError`] naming the file and (with [`TlsError::describe`]) where it was
//! set. No export of that signal could succeed until the files are fixed, so the exporter switches
//! the signal off (or fails `build()` when asked to be strict) rather than retrying, and turns it
//! on when they change into ones that can be used (`Worker::tls_usable_now`); a signal whose
//! endpoint is plaintext does not need them, and exports. Files that could be used
//! are read again when they change ([`super::tls_reload`]): a renewed client certificate, a
//! rotated CA. The roots trusted are the CA file's certificates plus the built-in roots in
//! [`TlsSettings::effective_roots`]. The crypto provider is rustls's `ring`, named explicitly so
//! that another provider compiled into the program cannot make rustls panic over which to use.
//! ALPN is left to the caller: OTLP/HTTP offers `h2` and `http/1.1`, gRPC needs `h2`.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};

use crate::diag;

use super::tls_reload::{Load, ReloadingIdentity, ReloadingRoots, Watched};
use super::tls_settings::{TlsOrigin, TlsSettings, TrustRoots};

/// Which of a signal's TLS settings a [`TlsError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsItem {
    /// None in particular: rustls itself could not be set up.
    Setup,
    /// The CA certificate file.
    Ca,
    /// The client certificate file.
    ClientCertificate,
    /// The client key file.
    ClientKey,
    /// The client certificate and key together (they do not match).
    ClientIdentity,
}

/// A signal's TLS settings that cannot be used: which, and why (the text names the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsError {
    pub item: TlsItem,
    pub message: String,
}

impl TlsError {
    fn new(item: TlsItem) -> impl FnOnce(String) -> TlsError {
        move |message| TlsError { item, message }
    }

    /// The message followed by where the file was set (the variable, or the builder method).
    pub(super) fn describe(&self, origin: &TlsOrigin) -> String {
        let set_by = match self.item {
            TlsItem::Setup => String::new(),
            TlsItem::Ca => origin.certificate.clone(),
            TlsItem::ClientCertificate => origin.client_certificate.clone(),
            TlsItem::ClientKey => origin.client_key.clone(),
            TlsItem::ClientIdentity if origin.client_certificate == origin.client_key => {
                origin.client_certificate.clone()
            }
            TlsItem::ClientIdentity => format!("{} and {}", origin.client_certificate, origin.client_key),
        };
        if set_by.is_empty() {
            self.message.clone()
        } else {
            format!("{} (set by {set_by})", self.message)
        }
    }
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The client TLS configuration for `settings`: what the HTTP client, and any other client of
/// the same signal, connects with. A CA file and a client certificate and key are read again when
/// they change ([`super::tls_reload`]).
pub(crate) fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    // rustls 0.23.48 deprecates `ring`'s provider (it has no post-quantum key exchange); the
    // other built-in one, aws-lc-rs, compiles C with cmake, which nanotel's users should not need.
    // The lockfile holds 0.23.46; a build that resolves afresh would warn here without this.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new(TlsItem::Setup)(format!("cannot set TLS up: {e}")))?;
    let built_in = built_in_roots(settings);
    let builder = match &settings.certificate {
        None => builder.with_root_certificates(built_in),
        Some(path) => {
            let (file, for_load) = (path.clone(), Arc::clone(&provider));
            let load: Load<_> = Box::new(move || verifier(&built_in, &file, &for_load));
            let verifier = Watched::new("the CA certificate file", vec![path.clone()], load)?;
            let algorithms = provider.signature_verification_algorithms;
            // "Dangerous" in rustls's words only because the verifier is our own: it is rustls's
            // web-PKI verifier, whose roots alone are replaced when the file changes.
            builder.dangerous().with_custom_certificate_verifier(Arc::new(ReloadingRoots { verifier, algorithms }))
        }
    };
    let config = match (&settings.client_certificate, &settings.client_key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(certificate), Some(key)) => {
            let paths = vec![certificate.clone(), key.clone()];
            let (certificate, key) = (certificate.clone(), key.clone());
            let load: Load<_> = Box::new(move || certified_key(&certificate, &key, &provider));
            let watched = Watched::new("the client certificate and key files", paths, load)?;
            builder.with_client_cert_resolver(Arc::new(ReloadingIdentity(watched)))
        }
        (Some(path), None) => {
            let message = format!("a client certificate ({path:?}) is set without its client key");
            return Err(TlsError::new(TlsItem::ClientCertificate)(message));
        }
        (None, Some(path)) => {
            let message = format!("a client key ({path:?}) is set without its client certificate");
            return Err(TlsError::new(TlsItem::ClientKey)(message));
        }
    };
    Ok(Arc::new(config))
}

/// The certificate chain and key in these files, checked to belong together.
fn certified_key(certificate: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain =
        read_certificates(certificate, "client certificate").map_err(TlsError::new(TlsItem::ClientCertificate))?;
    let key_der = read_key(key).map_err(TlsError::new(TlsItem::ClientKey))?;
    CertifiedKey::from_der(chain, key_der, provider).map_err(|e| {
        TlsError::new(TlsItem::ClientIdentity)(format!(
            "the client key {key:?} cannot be used with the client certificate {certificate:?}: {e}"
        ))
    })
}

/// rustls's web-PKI verifier trusting `built_in` and the CA file's certificates.
fn verifier(
    built_in: &RootCertStore,
    path: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    let mut roots = built_in.clone();
    add_ca_file(&mut roots, path).map_err(TlsError::new(TlsItem::Ca))?;
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| TlsError::new(TlsItem::Ca)(format!("the CA certificate file {path:?} cannot be used: {e}")))
}

/// Which built-in sources are trusted: (the bundled web-pki roots, the operating system's store).
pub(crate) fn root_sources(settings: &TlsSettings) -> (bool, bool) {
    match settings.effective_roots() {
        None => (false, false),
        Some(TrustRoots::WebPki) => (true, false),
        Some(TrustRoots::Native) => (false, true),
        Some(TrustRoots::Both) => (true, true),
    }
}

/// The built-in roots `settings` trust (none when a CA file alone is trusted).
fn built_in_roots(settings: &TlsSettings) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let (webpki, native) = root_sources(settings);
    if webpki {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if native {
        add_native_roots(&mut roots, !webpki && settings.certificate.is_none());
    }
    roots
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), String> {
    for (index, certificate) in read_certificates(path, "CA certificate")?.into_iter().enumerate() {
        roots.add(certificate).map_err(|e| {
            format!("the CA certificate file {path:?}: certificate {} is not a usable CA: {e}", index + 1)
        })?;
    }
    Ok(())
}

/// Adds the operating system's roots. Finding none matters only when nothing else is trusted
/// (`alone`): then every https export will fail, which is said now rather than at each export.
fn add_native_roots(roots: &mut RootCertStore, alone: bool) {
    let found = load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 && alone {
        let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
        diag::warning!(
            "no CA certificates found in the operating system's trust store{why}; https exports will fail \
             (set OTEL_EXPORTER_OTLP_CERTIFICATE, or NANOTEL_EXPORTER_TLS_ROOTS=both)"
        );
    }
}

/// The operating system's roots, as `rustls_native_certs` finds them, but for an `SSL_CERT_FILE`
/// that is not a regular file of at most [`MAX_PEM_FILE`] bytes: that crate would open and read
/// it whatever it is, so a FIFO held the pipeline's build (and `init`) for ever and a device
/// such as `/dev/zero` filled memory (until session 42). Such a file is reported and left out;
/// `SSL_CERT_DIR`'s directories are still read (the crate reads only their regular files).
fn load_native_certs() -> rustls_native_certs::CertificateResult {
    let Some(file) = std::env::var_os("SSL_CERT_FILE") else {
        return rustls_native_certs::load_native_certs();
    };
    let file = Path::new(&file);
    let unusable = match std::fs::metadata(file) {
        Ok(metadata) if !metadata.is_file() => Some("not a regular file".to_owned()),
        Ok(metadata) if metadata.len() > MAX_PEM_FILE => Some(format!("larger than {} MiB", MAX_PEM_FILE >> 20)),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    let Some(why) = unusable else {
        return rustls_native_certs::load_native_certs();
    };
    // Said once per process: each signal's settings read the store.
    diag::config_problems([&format!(
        "SSL_CERT_FILE {file:?} cannot be read ({why}): left out of the trusted roots (SSL_CERT_DIR's \
         directories, if any, are still read)"
    )]);
    let mut found = rustls_native_certs::CertificateResult::default();
    let directories = std::env::var_os("SSL_CERT_DIR").unwrap_or_default();
    for directory in std::env::split_paths(&directories).filter(|d| !d.as_os_str().is_empty()) {
        let more = rustls_native_certs::load_certs_from_paths(None, Some(&directory));
        found.certs.extend(more.certs);
        found.errors.extend(more.errors);
    }
    found
}

/// The most a CA, certificate or key file may hold: far more than any real one (a system's whole
/// CA bundle is about 200 KiB), so that a path set by mistake (a device such as `/dev/zero`, a
/// log file) is refused at once instead of filling memory.
const MAX_PEM_FILE: u64 = 16 << 20;

/// The file's bytes: a regular file of at most [`MAX_PEM_FILE`] bytes. Anything else (a FIFO,
/// which would block the build until something wrote to it, a device, a directory) is refused
/// from its metadata, before it is opened.
fn read_file(path: &Path, role: &str) -> Result<Vec<u8>, String> {
    let cannot = |e: std::io::Error| format!("cannot read the {role} file {path:?}: {e}");
    if !std::fs::metadata(path).map_err(cannot)?.is_file() {
        return Err(format!("cannot read the {role} file {path:?}: not a regular file"));
    }
    let mut bytes = Vec::new();
    // One byte past the limit, to tell a file of exactly the limit from a larger one.
    File::open(path).and_then(|file| file.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes)).map_err(cannot)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(format!("cannot read the {role} file {path:?}: larger than {} MiB", MAX_PEM_FILE >> 20));
    }
    Ok(bytes)
}

fn read_certificates(path: &Path, role: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(path, role)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the {role} file {path:?} is not valid PEM: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("the {role} file {path:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certificates)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file(path, "client key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("the client key file {path:?} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
        }
        e => format!("the client key file {path:?} is not valid PEM: {e}"),
    })
}

/// When `error` (or one of its causes) is a TLS failure, what went wrong in words a person can act
/// on, followed by rustls's own text.
pub(crate) fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let tls = find_rustls_error(error)?;
    let what = match tls {
        rustls::Error::InvalidCertificate(why) => explain_certificate(why),
        rustls::Error::AlertReceived(alert) => format!(
            "the server refused the TLS handshake ({alert:?}): it may require a client certificate \
             (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY) or not trust the one sent"
        ),
        _ => "the TLS handshake failed".to_owned(),
    };
    Some(format!("TLS: {what} ({tls})"))
}

fn explain_certificate(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match why {
        E::UnknownIssuer => {
            "the server's certificate is not signed by a trusted CA (set OTEL_EXPORTER_OTLP_CERTIFICATE \
                             to the CA that signed it)"
                .to_owned()
        }
        E::Expired | E::ExpiredContext { .. } => "the server's certificate has expired".to_owned(),
        E::NotValidYet | E::NotValidYetContext { .. } => "the server's certificate is not valid yet".to_owned(),
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "the server's certificate is not valid for the endpoint's host name".to_owned()
        }
        E::Revoked => "the server's certificate is revoked".to_owned(),
        _ => "the server's certificate was refused".to_owned(),
    }
}

/// The rustls error in a chain of causes. An `io::Error` hides what it wraps from `source()`
/// (it forwards to the inner error's own source), so it is unwrapped by hand.
fn find_rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = current.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            if let Some(tls) = find_rustls_error(inner) {
                return Some(tls);
            }
        }
        cause = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tls_reload::tests::replace;
    use super::*;

    #[test]
    fn the_roots_setting_selects_the_root_sources() {
        let with = |roots| TlsSettings { roots, ..TlsSettings::default() };
        assert_eq!(root_sources(&with(None)), (true, true), "default: both");
        assert_eq!(root_sources(&with(Some(TrustRoots::WebPki))), (true, false));
        assert_eq!(root_sources(&with(Some(TrustRoots::Native))), (false, true));
        assert_eq!(root_sources(&with(Some(TrustRoots::Both))), (true, true));
        let own_ca = TlsSettings { certificate: Some("/ca.pem".into()), ..TlsSettings::default() };
        assert_eq!(root_sources(&own_ca), (false, false), "a CA file alone is all that is trusted");
    }

    #[test]
    fn the_web_pki_roots_are_trusted_without_any_file() {
        let settings = TlsSettings { roots: Some(TrustRoots::WebPki), ..TlsSettings::default() };
        let roots = built_in_roots(&settings);
        assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(client_config(&settings).is_ok());
    }

    #[test]
    fn a_half_given_client_identity_is_refused() {
        let settings = TlsSettings { client_certificate: Some("/c.pem".into()), ..TlsSettings::default() };
        let error = client_config(&settings).unwrap_err().message;
        assert!(error.contains("\"/c.pem\"") && error.contains("without its client key"), "{error}");
        let settings = TlsSettings { client_key: Some("/c.key".into()), ..TlsSettings::default() };
        assert!(client_config(&settings).unwrap_err().message.contains("without its client certificate"));
    }

    /// A rotation caught half-written (the new certificate beside the old key) keeps presenting
    /// the identity before it; once the key is written too, the new one is presented.
    #[test]
    fn a_client_identity_renewed_half_way_is_taken_once_whole() {
        let dir = std::env::temp_dir().join(format!("nanotel-tls-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (certificate, key) = (dir.join("client.pem"), dir.join("client.key"));
        let old = rcgen::generate_simple_self_signed(vec!["gateway-1".to_owned()]).unwrap();
        let new = rcgen::generate_simple_self_signed(vec!["gateway-1".to_owned()]).unwrap();
        std::fs::write(&certificate, old.cert.pem()).unwrap();
        std::fs::write(&key, old.signing_key.serialize_pem()).unwrap();
        let settings = TlsSettings {
            client_certificate: Some(certificate.clone()),
            client_key: Some(key.clone()),
            roots: Some(TrustRoots::WebPki),
            ..TlsSettings::default()
        };
        let config = client_config(&settings).unwrap();
        let presented = || config.client_auth_cert_resolver.resolve(&[], &[]).unwrap().cert[0].clone();
        assert_eq!(presented(), *old.cert.der());
        replace(&certificate, &new.cert.pem());
        assert_eq!(presented(), *old.cert.der(), "the new certificate does not match the old key");
        replace(&key, &new.signing_key.serialize_pem());
        assert_eq!(presented(), *new.cert.der());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_error_names_where_its_file_was_set() {
        let origin = TlsOrigin {
            certificate: "OTEL_EXPORTER_OTLP_CERTIFICATE".into(),
            client_certificate: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE".into(),
            client_key: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY".into(),
        };
        let error = |item| TlsError { item, message: "bad".into() };
        assert_eq!(error(TlsItem::Ca).describe(&origin), "bad (set by OTEL_EXPORTER_OTLP_CERTIFICATE)");
        assert_eq!(error(TlsItem::ClientKey).describe(&origin), "bad (set by OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY)");
        assert_eq!(
            error(TlsItem::ClientIdentity).describe(&origin),
            "bad (set by OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY)"
        );
        assert_eq!(error(TlsItem::Setup).describe(&origin), "bad");
        let in_code = TlsOrigin { client_certificate: "x".into(), client_key: "x".into(), ..TlsOrigin::default() };
        assert_eq!(error(TlsItem::ClientIdentity).describe(&in_code), "bad (set by x)");
        assert_eq!(error(TlsItem::Ca).describe(&in_code), "bad", "a file not set has no origin");
    }

    #[test]
    fn a_tls_error_is_found_inside_an_io_error_and_explained() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        let text = explain(&wrapped).unwrap();
        assert!(text.starts_with("TLS: the server's certificate is not signed by a trusted CA"), "{text}");
        assert!(text.ends_with("(invalid peer certificate: UnknownIssuer)"), "{text}");
        assert_eq!(explain(&std::io::Error::other("reset")), None);
    }
}
