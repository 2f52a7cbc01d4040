//! Where each signal is posted: the OTLP/HTTP endpoint rules applied to the configured values.
//!
//! ```
//! use nanotel::internal::signal_url;
//! use nanotel::Signal;
//!
//! let url = signal_url(Signal::Logs, Some("http://collector:4318/mycollector/"), None).unwrap();
//! assert_eq!(url.as_str(), "http://collector:4318/mycollector/v1/logs");
//! ```

use std::fmt;

use reqwest::Url;

use super::config::Protocol;
use super::Signal;

/// The endpoint used when neither the signal-specific nor the base endpoint is set.
pub(crate) const DEFAULT_BASE: &str = "http://localhost:4318";

/// The OTLP/gRPC default endpoint.
const DEFAULT_GRPC: &str = "http://localhost:4317";

/// [`signal_url`] for OTLP/HTTP; for OTLP/gRPC the endpoint the signal is sent to, used as given:
/// the signal-specific one, else the base one, else `http://localhost:4317`. No `v1/...` path is
/// added (the spec's rule for gRPC): the service's method path is the request's path.
///
/// ```
/// use nanotel::internal::signal_url_for;
/// use nanotel::export::Protocol;
/// use nanotel::Signal;
///
/// let url = signal_url_for(Protocol::Grpc, Signal::Logs, Some("http://collector:4317"), None).unwrap();
/// assert_eq!(url.as_str(), "http://collector:4317/");
/// let url = signal_url_for(Protocol::Grpc, Signal::Logs, None, None).unwrap();
/// assert_eq!(url.as_str(), "http://localhost:4317/");
/// ```
///
/// # Errors
///
/// When the endpoint that applies is not an absolute `http` or `https` URL ([`EndpointError`] says
/// what is wrong).
pub fn signal_url_for(
    protocol: Protocol,
    signal: Signal,
    base: Option<&str>,
    signal_specific: Option<&str>,
) -> Result<Url, EndpointError> {
    if protocol != Protocol::Grpc {
        return signal_url(signal, base, signal_specific);
    }
    match (non_empty(signal_specific), non_empty(base)) {
        (Some(value), _) => parse_http_url(Source::SignalSpecific(signal), value),
        (None, Some(value)) => parse_http_url(Source::Base, value),
        (None, None) => parse_http_url(Source::Default, DEFAULT_GRPC),
    }
}

/// Builds the URL a signal's export requests are posted to.
///
/// `signal_specific` is `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` and `base` is
/// `OTEL_EXPORTER_OTLP_ENDPOINT`; both are trimmed, and an empty value counts as unset.
///
/// - A signal-specific endpoint wins and is used as it is; a URL with no path at all is posted to `/`.
/// - Otherwise the signal's path (`v1/traces`, ...) is appended to the base URL's path with exactly
///   one `/` between them, so a base path such as `/mycollector/` is kept.
/// - With neither, the default `http://localhost:4318/v1/<signal>` is used.
///
/// Query strings are kept. Only `http` and `https` URLs with a host are accepted.
///
/// ```
/// use nanotel::internal::signal_url;
/// use nanotel::Signal;
///
/// let traces = signal_url(Signal::Traces, Some("https://otel.example.com"), None).unwrap();
/// assert_eq!(traces.as_str(), "https://otel.example.com/v1/traces");
///
/// // The signal-specific endpoint is not extended.
/// let metrics = signal_url(Signal::Metrics, Some("https://ignored"), Some("http://c:4318")).unwrap();
/// assert_eq!(metrics.as_str(), "http://c:4318/");
///
/// assert!(signal_url(Signal::Logs, Some("localhost:4318"), None).is_err());
/// ```
///
/// # Errors
///
/// When the endpoint that applies is not an absolute `http` or `https` URL ([`EndpointError`] says
/// what is wrong).
pub fn signal_url(signal: Signal, base: Option<&str>, signal_specific: Option<&str>) -> Result<Url, EndpointError> {
    if let Some(value) = non_empty(signal_specific) {
        let source = Source::SignalSpecific(signal);
        // The URL parser already turns an absent path into "/" for http(s), which is what the
        // rules ask for, so "as-is" needs no further work.
        return parse_http_url(source, value);
    }
    let (source, value) = match non_empty(base) {
        Some(value) => (Source::Base, value),
        None => (Source::Default, DEFAULT_BASE),
    };
    let mut url = parse_http_url(source, value)?;
    let separator = if url.path().ends_with('/') { "" } else { "/" };
    let path = format!("{}{}{}", url.path(), separator, signal.path());
    url.set_path(&path);
    Ok(url)
}

/// Checks a base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`) on its own, so that a bad one is found
/// once for the three signals.
pub(crate) fn check_base(base: &str) -> Result<(), EndpointError> {
    parse_http_url(Source::Base, base.trim()).map(drop)
}

/// Why a configured endpoint could not be used, naming the variable it came from.
///
/// Any `user:password@` part of the offending value is left out of the message.
///
/// ```
/// use nanotel::internal::signal_url;
/// use nanotel::Signal;
///
/// let error = signal_url(Signal::Traces, None, Some("ftp://c:21")).unwrap_err();
/// assert_eq!(error.variable(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
/// assert!(error.to_string().contains("http or https"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError {
    variable: &'static str,
    value: String,
    reason: String,
}

impl EndpointError {
    /// The environment variable whose value was rejected, e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`.
    #[must_use]
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// What is wrong with the value, without the value itself.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} {:?}: {}", self.variable, self.value, self.reason)
    }
}

impl std::error::Error for EndpointError {}

/// Which configured value a URL came from, for error messages.
#[derive(Clone, Copy)]
enum Source {
    SignalSpecific(Signal),
    Base,
    Default,
}

impl Source {
    fn variable(self) -> &'static str {
        match self {
            Source::SignalSpecific(Signal::Traces) => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Source::SignalSpecific(Signal::Metrics) => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            Source::SignalSpecific(Signal::Logs) => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            Source::Base | Source::Default => "OTEL_EXPORTER_OTLP_ENDPOINT",
        }
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

fn parse_http_url(source: Source, value: &str) -> Result<Url, EndpointError> {
    let error =
        |reason: String| EndpointError { variable: source.variable(), value: without_credentials(value), reason };
    let url = Url::parse(value).map_err(|parse_error| {
        let hint = if value.contains("://") {
            String::new()
        } else {
            " (expected an absolute URL such as http://host:4318)".to_owned()
        };
        error(format!("{parse_error}{hint}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(error(format!("the scheme must be http or https, not {:?}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(error("the URL has no host".to_owned()));
    }
    if url.username().is_empty() && url.password().is_none() && value.contains('@') {
        // `https://amy:12#34@collector` parses as host `amy`, port 12: the telemetry would go
        // there, and the password with it.
        return Err(error(
            "an '@' after the host: a user name or password holding '/', '?' or '#' must escape them \
             (%2F, %3F, %23), and an '@' in the path or query be written %40"
                .to_owned(),
        ));
    }
    Ok(url)
}

/// An IPv6 address as URLs write it (`[::1]`; a URL's `host_str`, or
/// `OTEL_EXPORTER_PROMETHEUS_HOST` as it may be given) without its brackets, which a resolver or
/// an address parser does not take; any other host as it is.
pub(crate) fn unbracketed(host: &str) -> &str {
    let inner = host.strip_prefix('[').and_then(|rest| rest.strip_suffix(']'));
    inner.filter(|inner| inner.parse::<std::net::Ipv6Addr>().is_ok()).unwrap_or(host)
}

/// `url` without its `user:password@` part, and that part as the `authorization` header value
/// HTTP Basic makes of it (percent-escapes decoded, as reqwest does with a URL's credentials).
/// The exporter sends the header over either protocol and shows only the URL, so credentials
/// never reach a message.
pub(crate) fn take_credentials(mut url: Url) -> (Url, Option<String>) {
    use base64::Engine;
    if url.username().is_empty() && url.password().is_none() {
        return (url, None);
    }
    let mut pair = crate::percent::decode_lenient(url.username().as_bytes()).into_owned();
    pair.push(b':');
    pair.extend_from_slice(&crate::percent::decode_lenient(url.password().unwrap_or_default().as_bytes()));
    // Neither can fail on a URL with a host, which every endpoint has (`http` and `https` only).
    let _ = url.set_username("");
    let _ = url.set_password(None);
    (url, Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))))
}

/// The value with anything between `://` and its last `@` replaced, so that a password in a
/// rejected URL does not end up in logs. The last `@` of the whole value, not of what a URL parser
/// takes for the authority: a password holding an unescaped `/`, `?` or `#` ends the authority
/// there (`https://amy:s3cr#t@c` reads as host `amy`, port `s3cr`), and until session 42 the
/// message quoted it.
fn without_credentials(value: &str) -> String {
    let authority_start = value.find("://").map_or(0, |at| at + 3);
    match value[authority_start..].rfind('@') {
        Some(at) => format!("{}***{}", &value[..authority_start], &value[authority_start + at..]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(signal: Signal, base: Option<&str>, specific: Option<&str>) -> String {
        match signal_url(signal, base, specific) {
            Ok(url) => url.to_string(),
            Err(error) => panic!("{base:?} / {specific:?} rejected: {error}"),
        }
    }

    fn rejected(signal: Signal, base: Option<&str>, specific: Option<&str>) -> EndpointError {
        match signal_url(signal, base, specific) {
            Ok(url) => panic!("{base:?} / {specific:?} accepted as {url}"),
            Err(error) => error,
        }
    }

    #[test]
    fn grpc_endpoints_are_used_as_given() {
        let grpc = |base, specific| match signal_url_for(Protocol::Grpc, Signal::Traces, base, specific) {
            Ok(url) => url.to_string(),
            Err(error) => panic!("{base:?} / {specific:?} rejected: {error}"),
        };
        assert_eq!(grpc(None, None), "http://localhost:4317/");
        assert_eq!(grpc(Some(" https://c:4317 "), None), "https://c:4317/");
        assert_eq!(grpc(Some("http://base:4317"), Some("http://c:9000/x")), "http://c:9000/x");
        let error = signal_url_for(Protocol::Grpc, Signal::Logs, Some("c:4317"), None).unwrap_err();
        assert_eq!(error.variable(), "OTEL_EXPORTER_OTLP_ENDPOINT");
        // The OTLP/HTTP rules are unchanged.
        let http = signal_url_for(Protocol::HttpJson, Signal::Logs, Some("http://c:4318"), None).unwrap();
        assert_eq!(http.as_str(), "http://c:4318/v1/logs");
    }

    #[test]
    fn default_endpoint_per_signal() {
        assert_eq!(url(Signal::Traces, None, None), "http://localhost:4318/v1/traces");
        assert_eq!(url(Signal::Metrics, None, None), "http://localhost:4318/v1/metrics");
        assert_eq!(url(Signal::Logs, None, None), "http://localhost:4318/v1/logs");
    }

    #[test]
    fn empty_and_blank_values_count_as_unset() {
        assert_eq!(url(Signal::Traces, Some(""), Some("  ")), "http://localhost:4318/v1/traces");
        assert_eq!(url(Signal::Logs, Some("http://c:4318"), Some("\t")), "http://c:4318/v1/logs");
    }

    #[test]
    fn spec_examples() {
        assert_eq!(url(Signal::Traces, Some("http://collector:4318"), None), "http://collector:4318/v1/traces");
        assert_eq!(url(Signal::Logs, Some("http://c:4318/mycollector/"), None), "http://c:4318/mycollector/v1/logs");
        assert_eq!(url(Signal::Traces, None, Some("http://c:4318")), "http://c:4318/");
    }

    #[test]
    fn base_path_without_trailing_slash_gets_exactly_one() {
        assert_eq!(
            url(Signal::Metrics, Some("http://c:4318/mycollector"), None),
            "http://c:4318/mycollector/v1/metrics"
        );
        assert_eq!(url(Signal::Metrics, Some("http://c:4318/"), None), "http://c:4318/v1/metrics");
    }

    #[test]
    fn values_are_trimmed() {
        assert_eq!(url(Signal::Traces, Some("  https://c  "), None), "https://c/v1/traces");
        assert_eq!(url(Signal::Traces, None, Some(" http://c:4318/custom/path \n")), "http://c:4318/custom/path");
    }

    #[test]
    fn signal_specific_wins_and_is_used_as_is() {
        assert_eq!(
            url(Signal::Traces, Some("http://base:4318"), Some("http://c:4318/v1/traces")),
            "http://c:4318/v1/traces"
        );
        assert_eq!(url(Signal::Logs, Some("http://base"), Some("https://c/ingest/otlp")), "https://c/ingest/otlp");
    }

    #[test]
    fn query_strings_are_kept() {
        assert_eq!(
            url(Signal::Traces, Some("http://c:4318/base?tenant=a&x=1"), None),
            "http://c:4318/base/v1/traces?tenant=a&x=1"
        );
        assert_eq!(url(Signal::Traces, Some("http://c:4318?tenant=a"), None), "http://c:4318/v1/traces?tenant=a");
        assert_eq!(url(Signal::Logs, None, Some("http://c:4318?tenant=a")), "http://c:4318/?tenant=a");
    }

    #[test]
    fn ipv6_hosts() {
        assert_eq!(url(Signal::Traces, Some("http://[::1]:4318"), None), "http://[::1]:4318/v1/traces");
        assert_eq!(url(Signal::Metrics, None, Some("https://[2001:db8::7]/otlp")), "https://[2001:db8::7]/otlp");
        let bad = rejected(Signal::Traces, Some("http://[::1:4318"), None);
        assert_eq!(bad.variable(), "OTEL_EXPORTER_OTLP_ENDPOINT");
    }

    #[test]
    fn default_ports_are_left_implicit() {
        let https = signal_url(Signal::Traces, Some("https://c:443"), None).unwrap();
        assert_eq!(https.as_str(), "https://c/v1/traces");
        assert_eq!(https.port_or_known_default(), Some(443));
    }

    #[test]
    fn only_http_and_https() {
        for bad in ["ftp://c:21", "grpc://c:4317", "file:///tmp/x", "unix:/run/otel.sock"] {
            let error = rejected(Signal::Traces, Some(bad), None);
            assert!(error.reason().contains("http or https"), "{bad}: {error}");
        }
        // Schemes are case-insensitive.
        assert_eq!(url(Signal::Logs, None, Some("HTTPS://C")), "https://c/");
    }

    #[test]
    fn garbage_is_rejected_with_the_variable_name() {
        let error = rejected(Signal::Metrics, Some("http://base"), Some("localhost:4318"));
        assert_eq!(error.variable(), "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        let message = error.to_string();
        assert!(message.starts_with("invalid OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), "{message}");
        assert!(message.contains("\"localhost:4318\""), "{message}");

        for bad in ["collector", "http://", "http://:4318", "http://c:99999", "://c", "http://c d/"] {
            let error = rejected(Signal::Traces, Some(bad), None);
            assert_eq!(error.variable(), "OTEL_EXPORTER_OTLP_ENDPOINT", "{bad}");
            assert!(!error.reason().is_empty());
        }
    }

    #[test]
    fn credentials_stay_out_of_error_messages() {
        let error = rejected(Signal::Traces, Some("ftp://user:hunter2@c:21/x"), None);
        let message = error.to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("ftp://***@c:21/x"), "{message}");
        assert_eq!(without_credentials("no-scheme@host"), "***@host");
        assert_eq!(without_credentials("http://c/path@x"), "http://***@x");
        // A password with an unescaped '#', '?' or '/' is not what a URL parser takes for one:
        // it is still left out, and the value refused rather than read as another host.
        for value in
            ["https://amy:s3cr#t@collector:4318", "https://amy:12#34@c", "https://amy:12?34@c", "https://amy:1/2@c"]
        {
            let message = rejected(Signal::Traces, Some(value), None).to_string();
            assert!(message.contains("https://***@"), "{message}");
            assert!(!message.contains("amy") && !message.contains("34") && !message.contains("s3cr"), "{message}");
        }
    }

    #[test]
    fn only_an_ipv6_address_loses_its_brackets() {
        assert_eq!(unbracketed("[::1]"), "::1");
        assert_eq!(unbracketed("[fe80::1:2]"), "fe80::1:2");
        for kept in ["::1", "localhost", "127.0.0.1", "[127.0.0.1]", "[localhost]", "[::1", "::1]", "[]", "["] {
            assert_eq!(unbracketed(kept), kept);
        }
    }
}
