//! Every outbound call to a URL an owner typed goes through here: a Saipos account's
//! `baseUrl` and order webhooks (`order_webhook`). An owner's URL is attacker-controlled input, and
//! without this a free account could make our functions fetch the Lambda Runtime API on
//! loopback, the instance metadata at `169.254.169.254` or anything in the VPC, and read
//! the answer back (server-side request forgery).
//!
//! [`OutboundClient`] is the one construction of an HTTP client for such calls:
//! - the URL rules (`target.rs`) are checked when the URL is saved and again before every
//!   request: `https://` to a host name on port 443, no IP literal, no credentials;
//! - every name is resolved by the guarded resolver (`resolver.rs`), which refuses the
//!   connection unless all its addresses are public (`address.rs`): the check is on the
//!   addresses actually dialled, so re-pointing a name after it was saved doesn't help;
//! - no redirect is followed (a 3xx is an answer like any other, reported by status code),
//!   so a public server can't bounce us to an internal one, or from https to http;
//! - no proxy from the environment (`HTTPS_PROXY` would resolve the name itself, past
//!   our resolver);
//! - callers report an unexpected answer by its status code only, never its body (an
//!   internal service's answer must not come back to the owner).
//!
//! The [`Policy`] is an explicit setting, chosen by configuration: the AWS builders
//! (`config/`) use [`Policy::Strict`], the local stack and the tests' fakes
//! [`Policy::LocalStack`], which also allows plain http to loopback. Nothing else relaxes
//! the rules.

pub mod address;
pub mod resolver;
pub mod target;

use std::sync::Arc;
use std::time::Duration;

use address::Range;

/// Who an outbound call may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// AWS: `https://` to host names whose every address is public. The default, so a
    /// builder that forgets to choose gets the safe one.
    #[default]
    Strict,
    /// The local stack (and tests): the strict rules, plus loopback (`localhost`,
    /// `127.0.0.0/8`, `::1`) over http or https on any port, where the local fakes listen.
    LocalStack,
}

/// Why a URL or the address it resolved to is not called. `Display` is the message the
/// owner sees (English; it never shows a resolved address).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("baseUrl is not a valid absolute URL")]
    Malformed,
    #[error("baseUrl must have at most {} characters", target::MAX_LEN)]
    TooLong,
    #[error("baseUrl must use https://")]
    Scheme,
    #[error("baseUrl must not carry a user name or password")]
    Credentials,
    #[error("baseUrl must not have a query (?…) or fragment (#…)")]
    QueryOrFragment,
    #[error("baseUrl must use the standard https port 443 (got {0})")]
    Port(u16),
    #[error("baseUrl must name its host, not an IP address{}", .0.map(|r| format!(" (this one is {r})")).unwrap_or_default())]
    IpLiteral(Option<Range>),
    #[error("baseUrl must name a public host ({0} is not one)")]
    PrivateName(String),
    #[error("{host} resolves to {range}, which Platefull does not call")]
    Address { host: String, range: Range },
    #[error("{0} does not resolve to any address")]
    Unresolved(String),
}

impl Refused {
    /// The stable error code a route answers with: `validation_error` for a URL that is
    /// not an https URL at all, `url_not_allowed` for one that points where we don't call.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::Malformed | Refused::TooLong | Refused::Scheme => "validation_error",
            _ => "url_not_allowed",
        }
    }
}

/// The guarded HTTP client for owner-supplied URLs (see the module docs). Cheap to keep,
/// not to build (TLS roots): build one per client of a service, not per request.
#[derive(Clone, Debug)]
pub struct OutboundClient {
    http: reqwest::Client,
    policy: Policy,
}

impl OutboundClient {
    /// A client under `policy`: `timeout` for a whole request, `connect_timeout` for the
    /// connection.
    pub fn new(policy: Policy, timeout: Duration, connect_timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .user_agent(concat!("platefull/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(policy == Policy::Strict)
            .dns_resolver(Arc::new(resolver::GuardedResolver::new(policy)))
            .build()
            .expect("HTTP client");
        Self { http, policy }
    }

    /// The client order webhooks are posted with: 10 s a request, 5 s to connect.
    pub fn for_webhooks(policy: Policy) -> Self {
        Self::new(policy, Duration::from_secs(10), Duration::from_secs(5))
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// A GET to `url`, once the URL rules allow it (the addresses are checked when it
    /// connects).
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, Refused> {
        Ok(self.http.get(target::check(self.policy, url)?))
    }

    /// A POST to `url`, under the same rules as [`get`](Self::get).
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, Refused> {
        Ok(self.http.post(target::check(self.policy, url)?))
    }
}

/// The refusal behind a failed request, when the guarded resolver refused its host.
pub fn refusal(err: &reqwest::Error) -> Option<Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server that answers every connection with `answer` and counts them.
    async fn server(answer: &'static str) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (port, hits)
    }

    fn client(policy: Policy) -> OutboundClient {
        OutboundClient::new(policy, Duration::from_secs(5), Duration::from_secs(2))
    }

    /// The status of a GET to `url` under the local stack's policy.
    async fn status_of(url: &str) -> u16 {
        let response = client(Policy::LocalStack).get(url).unwrap().send().await;
        response.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn strict_refuses_a_name_resolving_to_loopback_when_it_connects() {
        // The URL rules let `https://localhost` through at use (names are judged by their
        // addresses); the resolver refuses it before any connection.
        let err = client(Policy::Strict)
            .get("https://localhost/v1/search_sales")
            .unwrap()
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(
                refusal(&err),
                Some(Refused::Address {
                    range: Range::Loopback,
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!(
            refusal(&err).unwrap().to_string(),
            "localhost resolves to a loopback address, which Platefull does not call"
        );
    }

    #[tokio::test]
    async fn strict_refuses_literals_and_plain_http_before_sending() {
        let strict = client(Policy::Strict);
        for url in [
            "https://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
        ] {
            assert!(
                matches!(strict.get(url), Err(Refused::IpLiteral(Some(_)))),
                "{url}"
            );
        }
        assert_eq!(
            strict.get("http://localhost:9/").err(),
            Some(Refused::Scheme)
        );
    }

    #[tokio::test]
    async fn no_redirect_is_followed() {
        // A redirect to another loopback server: answered as the 302 it is, the target
        // never contacted.
        let (target_port, target_hits) =
            server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let location: &'static str = Box::leak(
            format!(
                "HTTP/1.1 302 Found\r\nlocation: http://localhost:{target_port}/x\r\ncontent-length: 0\r\n\r\n"
            )
            .into_boxed_str(),
        );
        let (port, _) = server(location).await;
        assert_eq!(status_of(&format!("http://127.0.0.1:{port}/v1")).await, 302);
        assert_eq!(
            target_hits.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "the redirect was followed"
        );
    }

    #[tokio::test]
    async fn the_local_stack_reaches_loopback_over_http() {
        let (port, hits) = server("HTTP/1.1 204 No Content\r\n\r\n").await;
        for host in ["127.0.0.1", "localhost"] {
            assert_eq!(status_of(&format!("http://{host}:{port}/")).await, 204);
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn the_default_policy_is_strict() {
        assert_eq!(Policy::default(), Policy::Strict);
    }
}
