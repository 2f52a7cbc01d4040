//! The proxy an OTLP/HTTP export goes through.
//!
//! The variables curl, Go and Python read: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` (upper or
//! lower case) and `NO_PROXY`, matched by hyper-util's matcher, the one reqwest uses. They are
//! read through the pipeline's environment lookup (a pipeline built `without_env` uses none), and
//! reqwest's own reading of the process environment is off, so the one decision made here is the
//! one the client follows and the one failure messages name. Two rules beside the variables:
//!
//! - a collector on this machine (`localhost`, 127.0.0.0/8, `::1`) is never proxied, as in Go:
//!   the agent or sidecar a program exports to is reached directly, however the environment is set
//!   for other tools (before, `HTTP_PROXY` sent even a loopback export to the proxy, and a failure
//!   named only the collector);
//! - under CGI (`REQUEST_METHOD` set) `HTTP_PROXY` is not read: a request's `Proxy` header sets it
//!   ("httpoxy").
//!
//! OTLP/gRPC does not go through a proxy.

use std::net::IpAddr;

use hyper_util::client::proxy::matcher::Matcher;

use super::endpoint::unbracketed;
use crate::config::EnvReader;

/// The proxy a signal's requests go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proxy {
    /// The proxy's URI, without credentials.
    pub uri: String,
    /// Its `Proxy-Authorization` value, from credentials in the variable's URL.
    pub authorization: Option<String>,
}

/// The proxy for requests to `url`, from the proxy variables `env` holds; `None` for a direct
/// connection. A proxy that is not HTTP's (`socks5://`: reqwest is built without SOCKS) is
/// reported and not used.
pub(crate) fn proxy_for(env: &mut EnvReader<'_>, url: &reqwest::Url) -> Option<Proxy> {
    let host = url.host_str()?;
    if is_loopback(host) {
        return None;
    }
    let first = |names: &[&str]| env.first_text(names).map(|(_, value)| value).unwrap_or_default();
    let cgi = env.text("REQUEST_METHOD").is_some();
    let http_proxy = if cgi { String::new() } else { first(&["HTTP_PROXY", "http_proxy"]) };
    let (all, https) = (first(&["ALL_PROXY", "all_proxy"]), first(&["HTTPS_PROXY", "https_proxy"]));
    let matcher = Matcher::builder()
        .all(all.clone())
        .http(http_proxy.clone())
        .https(https.clone())
        .no(first(&["NO_PROXY", "no_proxy"]))
        .build();
    let uri: http::Uri = url.as_str().parse().ok()?;
    let Some(intercept) = matcher.intercept(&uri) else {
        let for_scheme = if url.scheme() == "https" { ("HTTPS_PROXY", https) } else { ("HTTP_PROXY", http_proxy) };
        report_unreadable(env, &uri, [for_scheme, ("ALL_PROXY", all)]);
        return None;
    };
    if !matches!(intercept.uri().scheme_str(), Some("http" | "https")) {
        // One line for every signal it would have served (the reader keeps one of each line).
        env.report(format!(
            "the proxy {} (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) is not used: only http:// and https:// proxies \
             are supported; OTLP/HTTP exports connect directly",
            intercept.uri()
        ));
        return None;
    }
    let authorization = intercept.basic_auth().and_then(|value| value.to_str().ok()).map(str::to_owned);
    Some(Proxy { uri: intercept.uri().to_string(), authorization })
}

/// Reports each of `candidates` (a variable's name and value) that is set but that the matcher
/// passed over, as it does a value it cannot parse or of a scheme it does not know: the request
/// then goes direct, which until session 41 nothing said. Told apart from a host `NO_PROXY`
/// excludes by asking a matcher of that value alone. The value is not shown: it may hold
/// credentials.
fn report_unreadable<const N: usize>(env: &mut EnvReader<'_>, uri: &http::Uri, candidates: [(&str, String); N]) {
    for (name, value) in candidates {
        if !value.is_empty() && Matcher::builder().all(value).build().intercept(uri).is_none() {
            env.report(format!(
                "{name} (or its lowercase twin) cannot be read as an http:// or https:// proxy URL and is not used; \
                 OTLP/HTTP exports it applies to connect directly"
            ));
        }
    }
}

/// Whether `host` (a URL's, IPv6 in brackets) names this machine.
fn is_loopback(host: &str) -> bool {
    let bare = unbracketed(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare.to_ascii_lowercase().ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(vars: &[(&str, &str)], url: &str) -> Option<Proxy> {
        let lookup = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
        proxy_for(&mut EnvReader::new(&lookup), &reqwest::Url::parse(url).expect("a URL"))
    }

    fn uri(proxy: Option<Proxy>) -> Option<String> {
        proxy.map(|proxy| proxy.uri)
    }

    #[test]
    fn the_scheme_picks_the_variable_and_all_proxy_is_the_fallback() {
        let vars = [("HTTP_PROXY", "http://plain:3128"), ("HTTPS_PROXY", "http://secure:3128")];
        assert_eq!(uri(proxy(&vars, "http://collector:4318/v1/traces")).as_deref(), Some("http://plain:3128/"));
        assert_eq!(uri(proxy(&vars, "https://collector:4318/v1/traces")).as_deref(), Some("http://secure:3128/"));
        let all = [("all_proxy", "http://every:8080")];
        assert_eq!(uri(proxy(&all, "https://collector:4318/")).as_deref(), Some("http://every:8080/"));
        assert_eq!(proxy(&[], "https://collector:4318/"), None);
    }

    #[test]
    fn loopback_collectors_and_no_proxy_hosts_are_reached_directly() {
        let vars = [("HTTP_PROXY", "http://proxy:3128"), ("NO_PROXY", "internal.example, 10.0.0.0/8")];
        for direct in [
            "http://localhost:4318/",
            "http://LOCALHOST:4318/",
            "http://agent.localhost:4318/",
            "http://127.0.0.1:4318/",
            "http://127.8.9.10:4318/",
            "http://[::1]:4318/",
            "http://collector.internal.example:4318/",
            "http://10.1.2.3:4318/",
        ] {
            assert_eq!(proxy(&vars, direct), None, "{direct}");
        }
        assert!(proxy(&vars, "http://collector.example:4318/").is_some());
        assert!(proxy(&vars, "http://[2001:db8::1]:4318/").is_some());
    }

    #[test]
    fn credentials_become_a_header_and_leave_the_uri() {
        let found = proxy(&[("HTTPS_PROXY", "http://amy:s%40cret@proxy:3128")], "https://collector/").expect("proxied");
        assert_eq!(found.uri, "http://proxy:3128/");
        assert_eq!(found.authorization.as_deref(), Some("Basic YW15OnNAY3JldA=="));
    }

    #[test]
    fn a_socks_proxy_is_reported_and_not_used() {
        let lookup = |name: &str| (name == "ALL_PROXY").then(|| "socks5://amy:secret@relay:1080".to_owned());
        let mut env = EnvReader::new(&lookup);
        assert_eq!(proxy_for(&mut env, &reqwest::Url::parse("https://collector/").expect("a URL")), None);
        assert_eq!(env.problems.len(), 1);
        assert!(env.problems[0].contains("socks5://relay:1080"), "{:?}", env.problems);
        assert!(!env.problems[0].contains("secret"), "{:?}", env.problems);
    }

    /// A value the matcher cannot read is reported (by name: it may hold credentials) and not
    /// used; a host `NO_PROXY` excludes is not a problem.
    #[test]
    fn an_unreadable_proxy_is_reported_and_not_used() {
        for value in ["http://proxy corp:3128", "socks://relay:1080", "http://[bad"] {
            let lookup = |name: &str| (name == "HTTPS_PROXY").then(|| value.to_owned());
            let mut env = EnvReader::new(&lookup);
            assert_eq!(proxy_for(&mut env, &reqwest::Url::parse("https://collector/").expect("a URL")), None);
            assert_eq!(env.problems.len(), 1, "{value}: {:?}", env.problems);
            assert!(env.problems[0].starts_with("HTTPS_PROXY (or its lowercase twin) cannot be read"), "{value}");
        }
        let vars = [("HTTPS_PROXY", "http://proxy:3128"), ("NO_PROXY", "collector")];
        let lookup = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
        let mut env = EnvReader::new(&lookup);
        assert_eq!(proxy_for(&mut env, &reqwest::Url::parse("https://collector/").expect("a URL")), None);
        assert!(env.problems.is_empty(), "{:?}", env.problems);
    }

    #[test]
    fn under_cgi_http_proxy_is_not_read() {
        let vars = [("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://from-a-header:1")];
        assert_eq!(proxy(&vars, "http://collector:4318/"), None);
    }
}
