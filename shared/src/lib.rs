//! Platefull's shared library: the domain (user APIs, bot config, slots), the storage port
//! with its DynamoDB and embedded adapters, authentication, secret encryption and the axum
//! routers that every Lambda function and the local stack mount unchanged.
//!
//! Entrypoints (the `functions/*` mains, the `platefull` CLI) stay thin: they build an
//! [`http::AppState`] from their environment and hand a router to `lambda_http::run` or to
//! `axum::serve`.

pub mod auth;
pub mod backoff;
pub mod bot;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod local;
pub mod metrics;
pub mod queue;
pub mod records;
pub mod saipos;
pub mod store;
pub mod telemetry;
pub mod whatsapp;

pub use error::ApiError;
