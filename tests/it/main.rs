//! The cross-crate suites, one module each, in one test binary: each binary links the whole
//! library and the AWS SDK, which on two cores costs more than compiling the tests, so one
//! link serves them all. Run one suite with its module path as the filter, e.g.
//! `cargo test -p platefull-tests --test it api::` (or `sessions::dynamodb::`). The tests
//! of all suites share one process: one that must change process-wide state runs alone in a
//! child process (`platefull_tests::process`).

mod api;
mod auth;
mod bot;
mod bot_tools;
mod env_example;
mod health;
mod inbox;
mod kitchen;
mod knowledge;
mod lambda_events;
mod lambda_runtime;
mod openapi;
mod orders;
mod queue_conformance;
mod saipos;
mod sessions;
mod store_conformance;
mod template_drift;
mod voice;
mod wa_keys;
