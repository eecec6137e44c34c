//! Who is calling. Owners present a user token (a Stack Auth ES256 JWT; locally one the
//! stack signs itself); machines present a connection's apiKey, which opens only that
//! connection's store routes.
//!
//! This module is below the records and the routes: it reads headers and checks tokens,
//! and never touches the store or the router (the axum extractors that combine it with a
//! store read live in `crate::http::extract`).

pub mod api_key;
pub mod caller;
pub mod dev;
pub mod jwt;
