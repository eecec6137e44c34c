//! Platefull's shared library (package `platefull-shared`, imported as `platefull`):
//! everything with logic, used by every Lambda function, the gateway and the local stack.
//!
//! - `domain/`: user APIs, bot config, slots and their validation (no I/O, no HTTP);
//! - `inbox`: the console's view of the conversations (chat list, change feed);
//! - `knowledge`: the store's menu and profile in the table (one query with the config);
//! - `store/`: the storage port with its DynamoDB and embedded adapters; `records`: the
//!   table layout and the operations the routes perform on it;
//! - `auth/`: who is calling (user tokens, apiKeys, the local token signer); `crypto`:
//!   secrets at rest;
//! - `http/`: the axum routers every Lambda function and the local stack mount unchanged,
//!   their extractors and the JSON error contract (`error`);
//! - `bot/`, `queue/`, `whatsapp/`, `saipos/`: the reply pipeline, the queue port, the
//!   WhatsApp gateway, the Saipos client; `upstream`: the bounds on every call to an
//!   external service (capped bodies, `Retry-After`); `outbound`: the one guarded HTTP
//!   client for URLs an owner typed (no SSRF: public https hosts only, checked at connect);
//! - `notify`: texts to the owner's own phones (new orders, alerts) from a connected line;
//!   `order_webhook`: signed order events POSTed to an owner's URL, retried from the queue;
//!   `order_events`: what a placed or changed order sets off (Pix QR, notice, webhook);
//! - `panics`: a panic caught at the edge of one slot or job, so it stops only that one;
//! - `config/`: the settings of each deployed part from its environment; `local`: the local
//!   stack's data dir.
//!
//! Entrypoints stay thin: a `functions/*` main takes its part's builder from `config`
//! (an [`http::AppState`] or the webhook's own state for the HTTP functions, a bot worker
//! for `bot-reply`) and hands it to `lambda_http::run` or `lambda_runtime::run`; the
//! gateway's main adds the WhatsApp Web transport to `config::gateway_from_env`'s parts;
//! the `platefull` command (package `platefull-cli`) builds the whole system over
//! `local::open_state` and serves it with its own bounded accept loop (`cli/src/serve.rs`).

pub mod auth;
pub mod backoff;
pub mod bot;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod health;
pub mod http;
pub mod ids;
pub mod inbox;
pub mod jobs;
pub mod knowledge;
pub mod local;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod order_events;
pub mod order_webhook;
pub mod orders;
pub mod outbound;
pub mod panics;
pub mod private_file;
pub mod queue;
pub mod records;
pub mod saipos;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod whatsapp;

pub use error::ApiError;
