//! A signal's TLS settings: which certificate authorities it trusts, the client certificate it
//! presents (mTLS), and the gRPC `insecure` flag, read from the `OTEL_EXPORTER_OTLP_*` variables
//! of the specification and from code (code wins, then the per-signal variable, then the generic
//! one).
//!
//! - `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE`: a PEM bundle of CA certificates to trust.
//! - `OTEL_EXPORTER_OTLP[_SIGNAL]_CLIENT_CERTIFICATE` and `..._CLIENT_KEY`: a PEM certificate
//!   chain and its private key, presented when the server asks for one.
//! - `OTEL_EXPORTER_OTLP[_SIGNAL]_INSECURE`: for OTLP/gRPC to an endpoint without a scheme only;
//!   for OTLP/HTTP the URL's scheme decides (`https` is TLS, `http` is not).
//! - `NANOTEL_EXPORTER_TLS_ROOTS` (ours, all signals): `webpki` (the bundled Mozilla roots),
//!   `native` (the operating system's store) or `both`.
//!
//! The files are read when the pipeline is built (see [`super::tls`]), so a bad file is said once,
//! with the file's name and where it was set, rather than at every export.

use std::path::PathBuf;

use crate::config::EnvReader;

use super::Signal;

/// Which built-in certificate authorities a signal trusts, besides a CA file of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustRoots {
    /// The Mozilla roots bundled into nanotel (`webpki-roots`): the same on every machine, and
    /// present in a fresh container that has no CA store.
    WebPki,
    /// The operating system's trust store, where a firm installs its own CA.
    Native,
    /// Both (the default when no CA file is given).
    Both,
}

/// How a signal's HTTPS (or gRPC over TLS) connections are secured.
///
/// ```
/// use nanotel::export::{TlsSettings, TrustRoots};
///
/// let tls = TlsSettings::default();
/// assert_eq!(tls.effective_roots(), Some(TrustRoots::Both));
/// let own_ca = TlsSettings { certificate: Some("/etc/otel/ca.pem".into()), ..TlsSettings::default() };
/// assert_eq!(own_ca.effective_roots(), None, "a CA file alone replaces the built-in roots");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// A PEM file of CA certificates to trust (`OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE`).
    pub certificate: Option<PathBuf>,
    /// A PEM certificate chain presented to a server that asks for one
    /// (`OTEL_EXPORTER_OTLP[_SIGNAL]_CLIENT_CERTIFICATE`); needs [`client_key`](Self::client_key).
    pub client_certificate: Option<PathBuf>,
    /// The PEM private key of the client certificate (`OTEL_EXPORTER_OTLP[_SIGNAL]_CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
    /// The built-in roots trusted (`NANOTEL_EXPORTER_TLS_ROOTS`); see
    /// [`effective_roots`](Self::effective_roots) for what `None` means.
    pub roots: Option<TrustRoots>,
    /// `OTEL_EXPORTER_OTLP[_SIGNAL]_INSECURE`: plaintext for an OTLP/gRPC endpoint given without
    /// a scheme. OTLP/HTTP ignores it: its URL's scheme decides.
    pub insecure: bool,
}

impl TlsSettings {
    /// The files these settings name (read when the pipeline is built, and again when they change).
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        [&self.certificate, &self.client_certificate, &self.client_key].into_iter().flatten().cloned().collect()
    }

    /// The built-in roots in force: those chosen, else none when a CA file is given (as the
    /// other OpenTelemetry SDKs do: the file names exactly whom to trust), else
    /// [`TrustRoots::Both`].
    #[must_use]
    pub fn effective_roots(&self) -> Option<TrustRoots> {
        match (self.roots, &self.certificate) {
            (Some(roots), _) => Some(roots),
            (None, Some(_)) => None,
            (None, None) => Some(TrustRoots::Both),
        }
    }
}

/// TLS settings made in code, for every signal and per signal; `None` leaves the environment's.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsOverrides {
    pub all: TlsFields,
    pub signals: [TlsFields; 3],
    /// For every signal, like `NANOTEL_EXPORTER_TLS_ROOTS`.
    pub roots: Option<TrustRoots>,
}

/// The settings of one scope of [`TlsOverrides`].
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsFields {
    pub certificate: Option<PathBuf>,
    pub client_identity: Option<(PathBuf, PathBuf)>,
    pub insecure: Option<bool>,
}

/// Where a signal's TLS files were set: the variable, or the builder method, named in the message
/// about a file that cannot be used. Empty for a file that is not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsOrigin {
    pub certificate: String,
    pub client_certificate: String,
    pub client_key: String,
}

/// A signal's settings: code for the signal, code for all, the per-signal variable, the generic one;
/// and where each file was set.
pub(crate) fn resolve(
    env: &mut EnvReader<'_>,
    overrides: &TlsOverrides,
    signal: Signal,
    sig: &str,
) -> (TlsSettings, TlsOrigin) {
    let (own, all) = (&overrides.signals[signal as usize], &overrides.all);
    let path = |env: &EnvReader<'_>, suffix: &str| {
        let names = [format!("OTEL_EXPORTER_OTLP_{sig}_{suffix}"), format!("OTEL_EXPORTER_OTLP_{suffix}")];
        env.first_text(&[&names[0], &names[1]]).map(|(name, value)| (PathBuf::from(value), name))
    };
    let in_code = |method: &str, own: bool| {
        if own {
            format!("the builder's signal_{method}(Signal::{signal:?}, ..)")
        } else {
            format!("the builder's {method}(..)")
        }
    };
    let identity = match (&own.client_identity, &all.client_identity) {
        (Some(identity), _) => Some((identity.clone(), in_code("client_certificate", true))),
        (None, Some(identity)) => Some((identity.clone(), in_code("client_certificate", false))),
        (None, None) => None,
    };
    let ((client_certificate, client_certificate_origin), (client_key, client_key_origin)) = match identity {
        Some(((certificate, key), origin)) => ((Some(certificate), origin.clone()), (Some(key), origin)),
        None => (split(path(env, "CLIENT_CERTIFICATE")), split(path(env, "CLIENT_KEY"))),
    };
    let (certificate, certificate_origin) = match (&own.certificate, &all.certificate) {
        (Some(file), _) => (Some(file.clone()), in_code("certificate", true)),
        (None, Some(file)) => (Some(file.clone()), in_code("certificate", false)),
        (None, None) => split(path(env, "CERTIFICATE")),
    };
    let settings = TlsSettings {
        certificate: certificate.map(anchored),
        client_certificate: client_certificate.map(anchored),
        client_key: client_key.map(anchored),
        roots: overrides.roots.or_else(|| roots_from_env(env)),
        insecure: own.insecure.or(all.insecure).unwrap_or_else(|| insecure_from_env(env, sig)),
    };
    let origin = TlsOrigin {
        certificate: certificate_origin,
        client_certificate: client_certificate_origin,
        client_key: client_key_origin,
    };
    (settings, origin)
}

/// `path` made absolute against the working directory now: the files are read again at each
/// reload, and a program that changes directory later (a daemon's `chdir("/")`) found its
/// relative paths missing, warned that they could not be used, and never reloaded them again
/// (until session 41).
fn anchored(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

fn split(found: Option<(PathBuf, String)>) -> (Option<PathBuf>, String) {
    found.map_or((None, String::new()), |(path, name)| (Some(path), name))
}

fn roots_from_env(env: &mut EnvReader<'_>) -> Option<TrustRoots> {
    let choices =
        [("webpki", Some(TrustRoots::WebPki)), ("native", Some(TrustRoots::Native)), ("both", Some(TrustRoots::Both))];
    env.choice("NANOTEL_EXPORTER_TLS_ROOTS", &choices, ("the default", None))
}

fn insecure_from_env(env: &mut EnvReader<'_>, sig: &str) -> bool {
    let names = [&format!("OTEL_EXPORTER_OTLP_{sig}_INSECURE"), "OTEL_EXPORTER_OTLP_INSECURE"];
    env.first_bool(&names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)], overrides: &TlsOverrides, signal: Signal) -> (TlsSettings, Vec<String>) {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = |name: &str| map.get(name).cloned();
        let mut env = EnvReader::new(&lookup);
        let sig = signal.name().to_ascii_uppercase();
        let (settings, _) = resolve(&mut env, overrides, signal, &sig);
        (settings, env.problems)
    }

    #[test]
    fn per_signal_variables_win_over_generic_ones() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/logs-ca.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/client.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/client.key"),
            ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "/logs.key"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "TRUE"),
            ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "false"),
        ];
        let (traces, problems) = settings(&vars, &TlsOverrides::default(), Signal::Traces);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(traces.certificate, Some("/ca.pem".into()));
        assert_eq!(traces.client_key, Some("/client.key".into()));
        assert!(traces.insecure);
        let (logs, _) = settings(&vars, &TlsOverrides::default(), Signal::Logs);
        assert_eq!(logs.certificate, Some("/logs-ca.pem".into()));
        assert_eq!(logs.client_certificate, Some("/client.pem".into()));
        assert_eq!(logs.client_key, Some("/logs.key".into()));
        assert!(!logs.insecure);
    }

    #[test]
    fn where_each_file_was_set_is_named() {
        let origin = |vars: &[(&str, &str)], overrides: &TlsOverrides, signal: Signal| {
            let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let lookup = |name: &str| map.get(name).cloned();
            resolve(&mut EnvReader::new(&lookup), overrides, signal, &signal.name().to_ascii_uppercase()).1
        };
        let vars = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/c.pem"),
            ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "/c.key"),
        ];
        let from_env = origin(&vars, &TlsOverrides::default(), Signal::Logs);
        assert_eq!(from_env.certificate, "OTEL_EXPORTER_OTLP_CERTIFICATE");
        assert_eq!(from_env.client_certificate, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE");
        assert_eq!(from_env.client_key, "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY");
        assert_eq!(origin(&[], &TlsOverrides::default(), Signal::Logs), TlsOrigin::default(), "nothing set");
        let mut overrides = TlsOverrides::default();
        overrides.all.certificate = Some("/all.pem".into());
        overrides.signals[Signal::Traces as usize].client_identity = Some(("/t.pem".into(), "/t.key".into()));
        let in_code = origin(&vars, &overrides, Signal::Traces);
        assert_eq!(in_code.certificate, "the builder's certificate(..)");
        assert_eq!(in_code.client_certificate, "the builder's signal_client_certificate(Signal::Traces, ..)");
        assert_eq!(in_code.client_key, in_code.client_certificate);
    }

    #[test]
    fn code_wins_per_signal_then_for_all() {
        let vars = [("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/env.pem"), ("NANOTEL_EXPORTER_TLS_ROOTS", "native")];
        let mut overrides = TlsOverrides::default();
        overrides.all.certificate = Some("/all.pem".into());
        overrides.all.client_identity = Some(("/c.pem".into(), "/c.key".into()));
        overrides.signals[Signal::Logs as usize].certificate = Some("/logs.pem".into());
        overrides.roots = Some(TrustRoots::WebPki);
        let (metrics, _) = settings(&vars, &overrides, Signal::Metrics);
        assert_eq!(metrics.certificate, Some("/all.pem".into()), "code for all wins over the per-signal variable");
        assert_eq!((metrics.client_certificate, metrics.client_key), (Some("/c.pem".into()), Some("/c.key".into())));
        assert_eq!(metrics.roots, Some(TrustRoots::WebPki), "code wins over NANOTEL_EXPORTER_TLS_ROOTS");
        let (logs, _) = settings(&vars, &overrides, Signal::Logs);
        assert_eq!(logs.certificate, Some("/logs.pem".into()), "code for the signal wins over code for all");
    }

    #[test]
    fn the_roots_variable_selects_the_root_source_and_odd_values_are_reported() {
        let roots =
            |value: &str| settings(&[("NANOTEL_EXPORTER_TLS_ROOTS", value)], &TlsOverrides::default(), Signal::Traces);
        assert_eq!(roots("webpki").0.roots, Some(TrustRoots::WebPki));
        assert_eq!(roots("Native").0.roots, Some(TrustRoots::Native));
        assert_eq!(roots("both").0.roots, Some(TrustRoots::Both));
        let (odd, problems) = roots("system");
        assert_eq!(odd.roots, None);
        assert_eq!(odd.effective_roots(), Some(TrustRoots::Both));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("NANOTEL_EXPORTER_TLS_ROOTS=\"system\" is ignored"), "{}", problems[0]);
        let (bad, problems) =
            settings(&[("OTEL_EXPORTER_OTLP_INSECURE", "yes")], &TlsOverrides::default(), Signal::Traces);
        assert!(!bad.insecure);
        assert!(problems[0].contains("OTEL_EXPORTER_OTLP_INSECURE"), "{problems:?}");
    }

    /// A boolean is false unless it reads `true` (the specification's rule), so a per-signal
    /// `_INSECURE=no` keeps that signal on TLS even where the general variable says `true`.
    /// (Session 40's rule for invalid values, the next name set, sent it in plaintext.)
    #[test]
    fn a_per_signal_insecure_that_is_not_true_is_false() {
        let general = ("OTEL_EXPORTER_OTLP_INSECURE", "true");
        for value in ["no", "0", "off", "FALSE"] {
            let vars = [general, ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", value)];
            let (traces, problems) = settings(&vars, &TlsOverrides::default(), Signal::Traces);
            assert!(!traces.insecure, "{value}");
            assert_eq!(problems.len(), usize::from(value != "FALSE"), "{value}: {problems:?}");
            assert!(settings(&vars, &TlsOverrides::default(), Signal::Logs).0.insecure, "{value}");
        }
    }

    #[test]
    fn relative_paths_are_made_absolute_where_they_are_read() {
        let vars = [("OTEL_EXPORTER_OTLP_CERTIFICATE", "certs/ca.pem"), ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem")];
        let overrides = TlsOverrides::default();
        let (read, _) = settings(&vars, &overrides, Signal::Traces);
        let here = std::env::current_dir().unwrap();
        assert_eq!(read.certificate, Some(here.join("certs/ca.pem")));
        assert_eq!(read.client_key, Some(PathBuf::from("/k.pem")));
    }

    #[test]
    fn a_ca_file_alone_replaces_the_built_in_roots_unless_they_are_chosen() {
        let file = Some(PathBuf::from("/ca.pem"));
        assert_eq!(TlsSettings::default().effective_roots(), Some(TrustRoots::Both));
        assert_eq!(TlsSettings { certificate: file.clone(), ..Default::default() }.effective_roots(), None);
        let chosen = TlsSettings { certificate: file, roots: Some(TrustRoots::Native), ..Default::default() };
        assert_eq!(chosen.effective_roots(), Some(TrustRoots::Native));
    }
}
