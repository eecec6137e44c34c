//! The web console's security headers, defined once: the local stack sends them on every
//! console response (pages, assets, `console-config.json`, dev sign-in), and in AWS the
//! CloudFront distribution sends the same ones from its `ConsoleHeadersPolicy`
//! (`infra/template.yaml`); `tests/it/template_drift.rs` checks the template against this file.
//!
//! The Content-Security-Policy allows only the console's own files: scripts and styles from
//! its origin (no inline script, style attribute or handler, no `eval`), images from it and
//! `data:` (the QR codes are PNG data URLs), and network calls to itself plus the origins it
//! is given: in AWS the HTTP API and Stack Auth, locally none (the API is the same origin).
//! Nothing may frame the console, forms post only to it, and `<base>` is refused. So a
//! script injected into a page can neither run inline nor send a token elsewhere.
//!
//! The other headers: `nosniff` (a JSON or text answer is never run as a script), no
//! `Referer` (a page path can hold a storeId), no framing (also for browsers without CSP
//! level 2), a cross-origin-isolated window, and no camera, microphone or location. HSTS is
//! CloudFront's alone (the local stack is plain HTTP on loopback).

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use axum::Router;

/// The CSP's directives; `connect-src` gets the extra origins after `'self'`.
const DIRECTIVES: &[(&str, &str)] = &[
    ("default-src", "'none'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data:"),
    ("connect-src", "'self'"),
    ("base-uri", "'none'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
];

/// The Content-Security-Policy with `connect` (origins such as `https://api.example.com`)
/// allowed beside `'self'` in `connect-src`.
pub fn content_security_policy(connect: &[&str]) -> String {
    DIRECTIVES
        .iter()
        .map(|(name, sources)| {
            let mut directive = format!("{name} {sources}");
            if *name == "connect-src" {
                for origin in connect {
                    directive.push(' ');
                    directive.push_str(origin);
                }
            }
            directive
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `X-Content-Type-Options`.
pub const CONTENT_TYPE_OPTIONS: &str = "nosniff";
/// `Referrer-Policy`.
pub const REFERRER_POLICY: &str = "no-referrer";
/// `X-Frame-Options`.
pub const FRAME_OPTIONS: &str = "DENY";
/// Headers without a field of their own in CloudFront's security headers (its custom headers).
pub const CUSTOM: &[(&str, &str)] = &[
    ("Cross-Origin-Opener-Policy", "same-origin"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

/// Every header as the local stack sends it (the CSP with `connect-src 'self'` only).
pub fn local_headers() -> Vec<(HeaderName, HeaderValue)> {
    let csp = content_security_policy(&[]);
    let mut headers = vec![
        ("content-security-policy", csp.as_str()),
        ("x-content-type-options", CONTENT_TYPE_OPTIONS),
        ("referrer-policy", REFERRER_POLICY),
        ("x-frame-options", FRAME_OPTIONS),
    ];
    headers.extend(CUSTOM.iter().copied());
    headers
        .into_iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .expect("a valid header name"),
                HeaderValue::from_str(value).expect("a valid header value"),
            )
        })
        .collect()
}

/// `routes` with [`local_headers`] on every response (replacing any the routes set).
/// Applies to the routes present. Costs a few header inserts per response.
pub fn apply(routes: Router) -> Router {
    let headers = std::sync::Arc::new(local_headers());
    routes.layer(axum::middleware::map_response(
        move |mut response: Response| {
            let headers = headers.clone();
            async move {
                for (name, value) in headers.iter() {
                    response.headers_mut().insert(name.clone(), value.clone());
                }
                response
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_the_consoles_origin_and_the_origins_given() {
        assert_eq!(
            content_security_policy(&[]),
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        let aws = content_security_policy(&["https://api.example.com", "https://auth.example"]);
        assert!(aws.contains("; connect-src 'self' https://api.example.com https://auth.example;"));
        assert!(!aws.contains("unsafe"), "{aws}");
        assert_eq!(local_headers().len(), 4 + CUSTOM.len());
    }
}
