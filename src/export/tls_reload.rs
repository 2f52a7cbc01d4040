//! Certificate files that change while the program runs: a CA bundle replaced when the collector's
//! CA rotates, a client certificate and key renewed before they expire (cert-manager, SPIFFE/SPIRE,
//! Vault agents renew them every few hours and write the new files over the old ones).
//!
//! The protocol, once: the files are read when the pipeline is built ([`super::tls`]), and a file
//! that cannot be used then switches its signal off until its files change into ones that can be
//! ([`Stamps`] tell the exporter thread that they changed). Afterwards, at each TLS handshake (a new
//! connection to the collector, on the exporter thread; never on a recording thread) the files'
//! stamps (device, inode, size, modification and change times, through symbolic links, as a
//! Kubernetes secret volume swaps its `..data` link) are compared with those of the files read.
//! When one differs, the files are read again:
//! - usable, they replace the ones before, for this handshake and every later one, said at the
//!   `info` level; connections already open keep what they were made with (TLS does not look again);
//! - not usable (a rotation caught half-written: a new certificate beside the old key, a file
//!   removed), the ones before are kept, said once as a warning until a reading succeeds again,
//!   and the files are read again at the next handshake, so that the rotation takes as soon as its
//!   files are whole.
//!
//! Before session 36 the files were read once, so a process that outlived its client certificate
//! failed every export until it was restarted.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::diag;

use super::tls::TlsError;

/// What a file's metadata says of its contents, compared to tell that the file was replaced or
/// written since it was read. A file written over in place, to the same size, within the same tick
/// of the file system's clock as the reading before (a few milliseconds) looks unchanged; renewals
/// come hours apart, and a file replaced by a rename is a new inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    /// Device, inode and change time: a file renamed over this one (or a link swapped) is a new
    /// inode even where it has the old one's size and modification time.
    #[cfg(unix)]
    identity: (u64, u64, i64, i64),
}

impl FileStamp {
    /// The stamp of the file `path` names now (following links); `None` when it cannot be read.
    fn of(path: &PathBuf) -> Option<FileStamp> {
        let metadata = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let identity = {
            use std::os::unix::fs::MetadataExt;
            (metadata.dev(), metadata.ino(), metadata.ctime(), metadata.ctime_nsec())
        };
        Some(FileStamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            identity,
        })
    }
}

/// The stamps of a set of files, compared to tell that one of them changed (or appeared, or went).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stamps(Vec<Option<FileStamp>>);

impl Stamps {
    /// The stamps of the files `paths` name now.
    pub(crate) fn of(paths: &[PathBuf]) -> Stamps {
        Stamps(paths.iter().map(FileStamp::of).collect())
    }
}

/// Reads what a set of files holds, or says why it cannot be used.
pub(crate) type Load<T> = Box<dyn Fn() -> Result<T, TlsError> + Send + Sync>;

/// What a set of files last gave, read again when one of them changes.
pub(crate) struct Watched<T> {
    /// What the files hold, for the messages: "the client certificate and key".
    what: &'static str,
    paths: Vec<PathBuf>,
    load: Load<T>,
    state: Mutex<WatchState<T>>,
}

struct WatchState<T> {
    current: Arc<T>,
    /// The files' stamps as they were just before the reading that gave `current`. A reading
    /// that fails leaves them, so the files are read again at the next handshake.
    stamps: Stamps,
    /// Whether the files changed into something that cannot be used, and that was said.
    failing: bool,
}

impl<T> Watched<T> {
    /// Reads the files (`load`) for the first time; its error is the caller's to report.
    pub(crate) fn new(what: &'static str, paths: Vec<PathBuf>, load: Load<T>) -> Result<Watched<T>, TlsError> {
        let stamps = Stamps::of(&paths);
        let current = Arc::new(load()?);
        Ok(Watched { what, paths, load, state: Mutex::new(WatchState { current, stamps, failing: false }) })
    }

    /// What the files hold now: read again if one has changed since the last good reading.
    pub(crate) fn current(&self) -> Arc<T> {
        // Stamped before reading: a file written during the reading has a later stamp, so it is
        // read again at the next handshake rather than taken as read.
        let stamps = Stamps::of(&self.paths);
        let mut state = self.state.lock();
        if stamps != state.stamps {
            self.reload(&mut state, stamps);
        }
        Arc::clone(&state.current)
    }

    fn reload(&self, state: &mut WatchState<T>, stamps: Stamps) {
        match (self.load)() {
            Ok(loaded) => {
                state.current = Arc::new(loaded);
                state.stamps = stamps;
                state.failing = false;
                diag::info!("{} {} changed: read again, for the connections made from now on", self.what, self.names());
            }
            Err(TlsError { message: why, .. }) => {
                // `stamps` stays as it was: the next handshake reads the files again. `why` names
                // the file at fault.
                if !state.failing {
                    state.failing = true;
                    diag::warning!(
                        "{} changed and cannot be used: {why}; the one read before is used until it can",
                        self.what
                    );
                }
            }
        }
    }

    fn names(&self) -> String {
        let names: Vec<_> = self.paths.iter().map(|path| format!("{path:?}")).collect();
        names.join(" and ")
    }
}

impl<T> fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched").field("what", &self.what).field("paths", &self.paths).finish_non_exhaustive()
    }
}

/// The client certificate and key presented to a collector that asks for one, from files that are
/// read again when they change.
#[derive(Debug)]
pub(crate) struct ReloadingIdentity(pub(crate) Watched<CertifiedKey>);

impl ResolvesClientCert for ReloadingIdentity {
    fn resolve(&self, _root_hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        // As rustls's own single-certificate resolver: the one identity, whatever the server hints.
        Some(self.0.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Checks the collector's certificate against the roots of a CA file read again when it changes
/// (with the built-in roots chosen beside it), through rustls's own web-PKI verifier: only which
/// roots it holds changes, never how it checks.
#[derive(Debug)]
pub(crate) struct ReloadingRoots {
    pub(crate) verifier: Watched<Arc<rustls::client::WebPkiServerVerifier>>,
    /// The provider's signature algorithms, which the roots do not change.
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ReloadingRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier.current().verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::export::tls::TlsItem;

    /// Replaces `path` as a rotation does: a new file renamed over it (a new inode, so the test
    /// does not depend on the file system's clock ticking between two writes).
    pub(crate) fn replace(path: &std::path::Path, contents: &str) {
        let fresh = path.with_extension("new");
        std::fs::write(&fresh, contents).unwrap();
        std::fs::rename(&fresh, path).unwrap();
    }

    /// A file whose text is its value; text starting with "bad" cannot be used.
    fn watched_text(path: &std::path::Path, reads: &Arc<AtomicUsize>) -> Watched<String> {
        let (file, reads) = (path.to_path_buf(), Arc::clone(reads));
        let load: Load<String> = Box::new(move || {
            reads.fetch_add(1, Ordering::Relaxed);
            let text =
                std::fs::read_to_string(&file).map_err(|e| TlsError { item: TlsItem::Ca, message: e.to_string() })?;
            if text.starts_with("bad") {
                return Err(TlsError { item: TlsItem::Ca, message: "bad".into() });
            }
            Ok(text)
        });
        Watched::new("the test file", vec![path.to_path_buf()], load).unwrap()
    }

    #[test]
    fn a_file_is_read_again_only_when_it_changes_and_a_bad_change_keeps_the_value_before() {
        let dir = std::env::temp_dir().join(format!("nanotel-tls-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("value");
        replace(&path, "one");
        let reads = Arc::new(AtomicUsize::new(0));
        let watched = watched_text(&path, &reads);
        for _ in 0..3 {
            assert_eq!(*watched.current(), "one");
        }
        assert_eq!(reads.load(Ordering::Relaxed), 1, "an unchanged file is not read again");

        replace(&path, "two");
        assert_eq!(*watched.current(), "two");
        replace(&path, "bad, half written");
        assert_eq!(*watched.current(), "two", "a change that cannot be used keeps the value before");
        let before = reads.load(Ordering::Relaxed);
        assert_eq!(*watched.current(), "two");
        assert_eq!(reads.load(Ordering::Relaxed), before + 1, "and it is read again at the next use");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(*watched.current(), "two", "a file removed keeps the value before");
        replace(&path, "three");
        assert_eq!(*watched.current(), "three", "once whole again, the new value is taken");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
