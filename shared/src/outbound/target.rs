//! The rules a URL an owner typed must meet before we call it: [`for_saving`] when the
//! owner saves it (a clear 400 then, with the normalised URL stored), [`check`] again before
//! every request (a URL saved before a rule existed is refused at use).
//!
//! Under [`Policy::Strict`] (AWS): `https://`, a host *name* (no IP literal in any of the
//! forms the WHATWG URL parser accepts: `127.1`, `0x7f000001`, `[::ffff:127.0.0.1]`), no
//! user name or password (they would be stored and shown with the URL, and sent as Basic
//! credentials), the default port 443 (another port is how one reaches a service that isn't
//! a web API: SMTP, Redis, a metadata proxy; Saipos and webhook receivers serve 443), and no
//! query or fragment (a base URL is a path prefix; a `#` would cut off the path we append).
//! At saving, names that can't be public are refused too: `localhost` and `*.localhost`,
//! single labels (`metadata`, which a resolver's search list completes to an internal
//! name), and the special-use and private-use suffixes (`.local`, `.internal`,
//! `.home.arpa`, …). None of this is the last word on a *name*: what it resolves to is
//! checked when we connect (`resolver.rs`), since a name may point anywhere and change.
//!
//! Under [`Policy::LocalStack`] a loopback host (`localhost`, `*.localhost`, `127.0.0.0/8`,
//! `[::1]`) may also be called over `http://` on any port: the local fakes. Everything else
//! follows the strict rules.

use std::net::IpAddr;

use reqwest::Url;

use super::address::{self, Range};
use super::{Policy, Refused};

/// Suffixes (last labels, or last two) that never name a public server.
const PRIVATE_SUFFIXES: [&str; 8] = [
    "localhost",
    "local",
    "localdomain",
    "internal",
    "home.arpa",
    "invalid",
    "test",
    "onion",
];

/// The longest URL we keep.
pub const MAX_LEN: usize = 300;

/// A URL's host: a name, or an IP address (the parser has already turned every numeric
/// IPv4 spelling into dotted decimal).
enum Host {
    Name(String),
    Ip(IpAddr),
}

fn host(url: &Url) -> Result<Host, Refused> {
    let raw = url.host_str().ok_or(Refused::Malformed)?;
    if let Some(v6) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return v6.parse().map(Host::Ip).map_err(|_| Refused::Malformed);
    }
    Ok(match raw.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(raw.trim_end_matches('.').to_owned()),
    })
}

/// Is `host` this machine?
fn is_loopback_host(host: &Host) -> bool {
    match host {
        Host::Name(name) => name == "localhost" || name.ends_with(".localhost"),
        Host::Ip(ip) => address::special(*ip) == Some(Range::Loopback),
    }
}

/// The structural rules, checked before every request: scheme, credentials, port, IP
/// literals, query and fragment. Returns the parsed URL.
pub fn check(policy: Policy, raw: &str) -> Result<Url, Refused> {
    let url = Url::parse(raw.trim()).map_err(|_| Refused::Malformed)?;
    let host = host(&url)?;
    let loopback_allowed = policy == Policy::LocalStack && is_loopback_host(&host);
    match url.scheme() {
        "https" => {}
        "http" if loopback_allowed => {}
        _ => return Err(Refused::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Refused::QueryOrFragment);
    }
    if loopback_allowed {
        return Ok(url);
    }
    if let Host::Ip(ip) = host {
        return Err(Refused::IpLiteral(address::special(ip)));
    }
    if let Some(port) = url.port() {
        return Err(Refused::Port(port));
    }
    Ok(url)
}

/// Every rule, for a URL being saved: [`check`] plus the host-name rules. Returns the URL
/// as it is stored: normalised by the URL parser (host lower-cased, IDNA), without a
/// trailing slash.
pub fn for_saving(policy: Policy, raw: &str) -> Result<String, Refused> {
    if raw.trim().chars().count() > MAX_LEN {
        return Err(Refused::TooLong);
    }
    let url = check(policy, raw)?;
    let host = host(&url)?;
    if !(policy == Policy::LocalStack && is_loopback_host(&host)) {
        if let Host::Name(name) = host {
            let labels: Vec<&str> = name.split('.').collect();
            let last = labels.last().copied().unwrap_or("");
            let last_two = labels[labels.len().saturating_sub(2)..].join(".");
            if labels.len() < 2
                || PRIVATE_SUFFIXES.contains(&last)
                || PRIVATE_SUFFIXES.contains(&last_two.as_str())
            {
                return Err(Refused::PrivateName(name));
            }
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(url: &str) -> Result<String, Refused> {
        for_saving(Policy::Strict, url)
    }

    #[test]
    fn public_https_names_are_kept_normalised() {
        assert_eq!(
            saved("https://data.saipos.io/v1/").unwrap(),
            "https://data.saipos.io/v1"
        );
        assert_eq!(
            saved(" HTTPS://Data.Saipos.IO:443/v1 ").unwrap(),
            "https://data.saipos.io/v1"
        );
        assert_eq!(
            saved("https://pdv.example.com").unwrap(),
            "https://pdv.example.com"
        );
    }

    #[test]
    fn ip_literals_are_refused_in_every_spelling() {
        for url in [
            "https://127.0.0.1/v1",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            "https://8.8.8.8/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://127.1/",
            "https://0177.0.0.1/",
        ] {
            assert!(
                matches!(saved(url), Err(Refused::IpLiteral(_))),
                "{url}: {:?}",
                saved(url)
            );
        }
        assert_eq!(
            saved("https://[::ffff:127.0.0.1]/")
                .unwrap_err()
                .to_string(),
            "baseUrl must name its host, not an IP address (this one is a loopback address)"
        );
    }

    #[test]
    fn scheme_credentials_port_query_and_fragment_are_checked() {
        assert_eq!(saved("http://data.saipos.io/v1"), Err(Refused::Scheme));
        assert_eq!(saved("ftp://data.saipos.io"), Err(Refused::Scheme));
        assert_eq!(saved("file:///etc/passwd"), Err(Refused::Malformed));
        assert_eq!(saved("data.saipos.io/v1"), Err(Refused::Malformed));
        assert_eq!(saved("https://"), Err(Refused::Malformed));
        assert_eq!(saved("https://a b.com"), Err(Refused::Malformed));
        assert_eq!(
            saved("https://user:pw@data.saipos.io/v1"),
            Err(Refused::Credentials)
        );
        assert_eq!(
            saved("https://user@data.saipos.io/v1"),
            Err(Refused::Credentials)
        );
        assert_eq!(
            saved("https://data.saipos.io:8443/v1"),
            Err(Refused::Port(8443))
        );
        assert_eq!(
            saved("https://data.saipos.io:6379"),
            Err(Refused::Port(6379))
        );
        assert_eq!(
            saved("https://data.saipos.io/v1?x=1"),
            Err(Refused::QueryOrFragment)
        );
        assert_eq!(
            saved("https://data.saipos.io/2018-06-01/runtime/invocation/next#"),
            Err(Refused::QueryOrFragment)
        );
        assert_eq!(
            saved(&format!("https://data.saipos.io/{}", "a".repeat(300))),
            Err(Refused::TooLong)
        );
    }

    #[test]
    fn names_that_cannot_be_public_are_refused_at_saving() {
        for url in [
            "https://localhost/v1",
            "https://LOCALHOST./v1",
            "https://api.localhost/v1",
            "https://metadata/computeMetadata/v1",
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://router.home.arpa/",
            "https://x.localdomain/",
        ] {
            assert!(
                matches!(saved(url), Err(Refused::PrivateName(_))),
                "{url}: {:?}",
                saved(url)
            );
        }
        // …but only at saving: at use, a name is judged by its addresses (resolver.rs).
        assert!(check(Policy::Strict, "https://localhost/v1").is_ok());
    }

    #[test]
    fn the_local_stack_may_call_loopback_over_http_and_nothing_else_more() {
        let local = |url| for_saving(Policy::LocalStack, url);
        for url in [
            "http://127.0.0.1:9000/v1",
            "http://localhost:3000/v1",
            "http://[::1]:8080",
            "https://localhost/v1",
            "http://127.0.0.2:1/",
        ] {
            assert!(local(url).is_ok(), "{url}: {:?}", local(url));
            assert!(saved(url).is_err(), "strict must refuse {url}");
        }
        assert_eq!(local("http://10.0.0.1/"), Err(Refused::Scheme));
        assert!(matches!(
            local("https://169.254.169.254/"),
            Err(Refused::IpLiteral(Some(Range::LinkLocal)))
        ));
        assert_eq!(local("http://example.com/"), Err(Refused::Scheme));
        assert_eq!(local("http://u:p@localhost:1/"), Err(Refused::Credentials));
        assert_eq!(
            local("http://localhost:1/#x"),
            Err(Refused::QueryOrFragment)
        );
    }
}
