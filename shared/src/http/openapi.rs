//! The API description, `docs/openapi.json` (OpenAPI 3.1), as the local stack serves it at
//! `GET /openapi.json`. Hand-written and kept beside the code; `tests/it/openapi.rs` holds
//! it to the routers (every route documented and no other, sample answers validated against
//! its schemas) and `scripts/check_openapi.py` validates it. Lambda routers don't serve it.

use axum::http::header;
use axum::routing::get;
use axum::Router;

/// The document, embedded at build time.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// `GET /openapi.json`, with the error contract of the other routes.
pub fn router() -> Router {
    super::error_contract(Router::new().route(
        "/openapi.json",
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], DOCUMENT) }),
    ))
}
