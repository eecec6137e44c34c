//! The local stack's DNS-rebinding defence: its dev-only routes (`/dev/sign-in`,
//! `/console-config.json`, `/dev/simulator/**`) answer only requests whose `Host` names the
//! stack itself. A web page on `attacker.example` whose name is re-pointed at 127.0.0.1 is,
//! to the browser, same-origin with the local stack; but its requests carry
//! `Host: attacker.example:<port>`, and this guard refuses them with a 403
//! `host_not_allowed`, so such a page can't mint a dev token or pair a simulated phone.
//!
//! Allowed hosts (the port must be the bound port; no port means 80):
//! - an IP literal: the bound IP; any loopback IP when bound to loopback; any IP when bound
//!   to the unspecified address (`--public` on `0.0.0.0`). An IP literal can't be rebound:
//!   the page's origin is then that IP.
//! - `localhost` and `*.localhost` (browsers resolve them to loopback themselves), when
//!   bound to loopback or the unspecified address;
//! - the names given with `platefull dev --allow-host` (e.g. the machine's LAN name).
//!
//! Only the dev routes need it: the console's pages and assets are public files, and the
//! API's routes need a token or apiKey, which a rebound page can't get once dev sign-in
//! refuses it (the console keeps its token in its own origin's `sessionStorage`). The API
//! and the webhook stay reachable under any name (e.g. a tunnel for Meta's webhooks), while
//! dev sign-in through that tunnel is refused. Costs one header parse per dev request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

/// Which `Host` values name the local stack listening on `bound`.
#[derive(Clone, Debug)]
pub struct DevHosts {
    bound: SocketAddr,
    names: Vec<String>,
}

impl DevHosts {
    /// The hosts of a stack listening on `bound`, plus the extra host `names` (no port).
    pub fn new(bound: SocketAddr, names: impl IntoIterator<Item = String>) -> Self {
        Self {
            bound,
            names: names
                .into_iter()
                .map(|n| normalize(&n))
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// True when `host` (a `Host` header's value) names this stack.
    pub fn allows(&self, host: &str) -> bool {
        let Some((name, port)) = split_host(host) else {
            return false;
        };
        if port.unwrap_or(80) != self.bound.port() {
            return false;
        }
        let bound = self.bound.ip();
        let local = bound.is_loopback() || bound.is_unspecified();
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip == bound
                || bound.is_unspecified()
                || (bound.is_loopback() && ip.is_loopback());
        }
        let name = normalize(name);
        (local && (name == "localhost" || name.ends_with(".localhost")))
            || self.names.contains(&name)
    }
}

/// Lower case, without a trailing dot (`LocalHost.` is `localhost`).
fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Splits `name[:port]` or `[v6][:port]`; `None` when it is neither.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        match after {
            "" => (v6, None),
            _ => (v6, Some(after.strip_prefix(':')?)),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((name, port))
}

/// `routes` answering only requests whose `Host` is allowed by `hosts` (see the module doc);
/// others get a 403 `host_not_allowed` and reach no handler. Applies to the routes present.
pub fn guard(routes: Router, hosts: DevHosts) -> Router {
    let hosts = Arc::new(hosts);
    routes.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let hosts = hosts.clone();
            async move {
                let host = req
                    .headers()
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .or_else(|| req.uri().authority().map(|a| a.as_str()));
                if host.is_some_and(|h| hosts.allows(h)) {
                    return next.run(req).await;
                }
                refused(hosts.bound)
            }
        },
    ))
}

fn refused(bound: SocketAddr) -> Response {
    let message = format!(
        "the Host header does not name this local stack: dev routes answer only \
         http://{bound}/ (or localhost on that port), as a defence against DNS rebinding; \
         add other names with `platefull dev --allow-host`"
    );
    (
        StatusCode::FORBIDDEN,
        Json(json!({ "error": { "code": "host_not_allowed", "message": message } })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    fn hosts(bound: &str, names: &[&str]) -> DevHosts {
        DevHosts::new(bound.parse().unwrap(), names.iter().map(|n| n.to_string()))
    }

    #[test]
    fn a_loopback_stack_answers_its_own_names_only() {
        let h = hosts("127.0.0.1:3000", &[]);
        for ok in [
            "127.0.0.1:3000",
            "127.0.0.2:3000",
            "[::1]:3000",
            "localhost:3000",
            "LocalHost.:3000",
            "app.localhost:3000",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for refused in [
            "attacker.example:3000",
            "localhost.attacker.example:3000",
            "127.0.0.1:3001",
            "127.0.0.1",
            "localhost",
            "10.0.0.5:3000",
            "[::1]",
            "[::1:3000",
            "127.0.0.1:3000:1",
            ":3000",
            "",
            "127.0.0.1:abc",
        ] {
            assert!(!h.allows(refused), "{refused}");
        }
        assert!(hosts("127.0.0.1:80", &[]).allows("localhost"));
    }

    #[test]
    fn a_public_stack_answers_ip_literals_and_the_names_it_was_given() {
        let any = hosts("0.0.0.0:3000", &["Caixa.lan"]);
        assert!(any.allows("192.168.1.20:3000"));
        assert!(any.allows("localhost:3000"));
        assert!(any.allows("caixa.lan:3000"));
        assert!(!any.allows("attacker.example:3000"));
        let lan = hosts("192.168.1.20:3000", &[]);
        assert!(lan.allows("192.168.1.20:3000"));
        assert!(!lan.allows("127.0.0.1:3000"));
        assert!(!lan.allows("localhost:3000"), "not bound to loopback");
    }

    #[tokio::test]
    async fn a_request_for_another_host_gets_a_json_403_and_reaches_no_handler() {
        let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reached.clone();
        let app = guard(
            // (`route_service`: the template drift test reads `route` calls here as deployed routes.)
            Router::new().route_service(
                "/dev/sign-in",
                post(move || {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async { "signed in" }
                }),
            ),
            hosts("127.0.0.1:3000", &[]),
        );
        let call = |host: Option<&'static str>| {
            let app = app.clone();
            async move {
                let mut req = axum::http::Request::post("/dev/sign-in");
                if let Some(host) = host {
                    req = req.header("host", host);
                }
                let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
                let status = res.status();
                let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        for host in [Some("rebound.example:3000"), None] {
            let (status, body) = call(host).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{host:?}");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["error"]["code"], "host_not_allowed", "{body}");
        }
        assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(
            call(Some("127.0.0.1:3000")).await,
            (StatusCode::OK, "signed in".into())
        );
    }
}
