//! The web console as the local stack serves it: the static assets of `web/` (no build
//! step) under `/assets`, `index.html` at each page path of the app, and the dev-only
//! routes of `platefull::http::dev_sign_in` (`POST /dev/sign-in`, `GET
//! /console-config.json`). Lambda routers never serve these; in AWS the same files are
//! served from a private S3 bucket behind CloudFront (`infra/template.yaml`), with a
//! `console-config.json` that names Stack Auth.
//!
//! Every response of these routes carries the console's security headers
//! (`platefull::http::console_headers`: the CSP and the rest, the same as CloudFront's), and
//! the dev routes answer only the stack's own `Host` (`platefull::http::dev_host`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

/// The page paths of the console; each loads `index.html`, which routes on the client.
pub const PAGES: [&str; 8] = [
    "/",
    "/dashboard",
    "/connections",
    "/whatsapp-tools",
    "/cardapio",
    "/loja",
    "/pedidos",
    "/conversas",
];

/// The repo's `web/` folder, where a build from the source tree finds the console.
pub fn default_web_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../web"))
}

/// The console's routes, or `None` (with the reason) when `web_dir` has no console.
pub fn routes(
    web_dir: &Path,
    data_dir: &Path,
    simulator: bool,
    hosts: platefull::http::dev_host::DevHosts,
) -> Result<Router, String> {
    let index = web_dir.join("index.html");
    if !index.is_file() {
        return Err(format!(
            "no web console in {} (index.html missing; set --web-dir)",
            web_dir.display()
        ));
    }
    let signer = platefull::local::signer(data_dir)
        .map_err(|e| format!("data dir {}: {e}", data_dir.display()))?;
    let mut router = Router::new().nest_service("/assets", ServeDir::new(web_dir.join("assets")));
    for page in PAGES {
        router = router.route_service(page, ServeFile::new(&index));
    }
    let dev = platefull::http::dev_sign_in::router(Arc::new(signer), simulator);
    // ServeDir's and ServeFile's own 404s and 405s have no body: answered as JSON too.
    let console =
        platefull::http::error_contract(router).merge(platefull::http::dev_host::guard(dev, hosts));
    Ok(platefull::http::console_headers::apply(console))
}
