//! Settings per part, from the environment: all environment parsing of the deployed parts
//! lives in this folder, one builder per part, each reading only what that part needs.
//! Only non-secret settings live in the environment: table and queue names, the Stack Auth
//! project, and the KMS-*encrypted* data key (useless without KMS access).
//!
//! | part                                        | builder                               |
//! |---------------------------------------------|---------------------------------------|
//! | user-apis, client-config, whatsapp-sessions | [`state_from_env`] ([`api`])          |
//! | whatsapp-webhook                            | [`webhook_state_from_env`] ([`webhook`]) |
//! | bot-reply                                   | [`bot_from_env`] ([`bot`])            |
//! | gateway                                     | [`gateway_from_env`] ([`gateway`])    |
//!
//! | variable                        | read by            | meaning                                                   |
//! |---------------------------------|--------------------|-----------------------------------------------------------|
//! | `PLATEFULL_TABLE`               | every part         | DynamoDB table name                                       |
//! | `STACK_PROJECT_ID`              | API functions      | Stack Auth project id (token `aud`, issuer and JWKS URL)  |
//! | `STACK_API_URL`                 | API functions      | Stack Auth API base (default `https://api.stack-auth.com`)|
//! | `PLATEFULL_DATA_KEY_CIPHERTEXT` | API, bot, gateway  | base64 KMS-encrypted 256-bit data key for secrets at rest |
//! | `PLATEFULL_COMMANDS_QUEUE_URL`  | sessions, gateway  | SQS queue of session commands (optional for the API functions: only whatsapp-sessions sends) |
//! | `PLATEFULL_SESSION_WAIT_MS`     | API functions      | how long start/logout wait for the gateway (default 3000) |
//! | `PLATEFULL_INBOUND_QUEUE_URL`   | webhook, bot, gateway, API | the bot's inbound queue (optional for the gateway and the API functions: client-config leaves order-status notices on it) |
//! | `PLATEFULL_OUTBOUND_QUEUE_URL`  | bot, gateway       | the gateway's reply queue (optional for the gateway)      |
//! | `PLATEFULL_META_SECRET_ARN`     | webhook            | Secrets Manager secret `{"metaAppSecret","metaVerifyToken"}` (nothing else) |
//! | `PLATEFULL_OPENROUTER_SECRET_ARN` | bot              | Secrets Manager secret `{"openrouterApiKey","resendApiKey"?,"transcribeApiKey"?}` (nothing else) |
//! | `OPENROUTER_MODEL`              | bot                | model id (default `openai/gpt-4o-mini`)                   |
//! | `OPENROUTER_FALLBACK_MODEL`     | bot                | (optional) model tried when the first one fails           |
//! | `OPENROUTER_BASE_URL`           | bot                | any OpenAI-compatible API (default OpenRouter)            |
//! | `OPENROUTER_VISION`             | bot                | `true`: the chat model sees customers' pictures           |
//! | `TRANSCRIBE_BASE_URL`, `TRANSCRIBE_MODEL` | bot      | speech-to-text API and model (default OpenAI, `whisper-1`) |
//! | `META_GRAPH_URL`                | bot, sessions      | Graph API base (default `https://graph.facebook.com/v25.0`): replies; proving a Cloud API number's token |
//! | `OPENROUTER_PROMPT_PRICE`, `OPENROUTER_COMPLETION_PRICE` | bot | (optional) US$ per million tokens, when a response has no `usage.cost` |
//! | `PLATEFULL_AI_BUDGET_MICROS`    | bot                | (optional) platform default monthly AI budget per store   |
//! | `PLATEFULL_ATTENDANT_ALERT_SECS`| bot                | model failing this long alerts the owner (default 300)    |
//! | `RESEND_BASE_URL`, `RESEND_FROM`| bot                | Resend API base (default `https://api.resend.com`) and sender of alert e-mails |
//! | `PLATEFULL_SILENT_SECS`         | gateway            | a connected slot silent this long is reconnected (default 180) |
//! | `PLATEFULL_LEASE_SECS`          | gateway            | how long a slot's lease lasts (default 30, at least 3)    |
//! | `PLATEFULL_PRINT_QR`            | gateway            | `1`: QR codes on stderr                                   |
//! | `AWS_ENDPOINT_URL`              | the AWS SDK        | (optional) endpoint override, e.g. a moto server in tests |
//!
//! Without those two (the local stack, tests) the platform secrets are read from
//! `OPENROUTER_API_KEY`, `TRANSCRIBE_API_KEY`, `META_APP_SECRET` and `META_VERIFY_TOKEN`
//! ([`platform`]).
//!
//! Each builder's file also declares its part's table grant (the IAM actions and
//! partitions its code needs, [`aws::TableGrant`]; all of them in [`aws::TABLE_GRANTS`]),
//! which infra/template.yaml grants exactly.
//!
//! A blank variable counts as unset. The local stack (`platefull dev`) takes its settings
//! from its command line and reads only the platform secrets and the `OPENROUTER_*` /
//! `META_GRAPH_URL` settings from here.

pub mod api;
pub mod aws;
pub mod bot;
pub mod env;
pub mod gateway;
pub mod health;
pub mod platform;
pub mod webhook;

pub use api::state_from_env;
pub use aws::{aws_loader, sqs_queue};
pub use bot::bot_from_env;
pub use gateway::{gateway_from_env, GatewayParts};
pub use platform::{graph_url, llm, PlatformSecrets};
pub use webhook::webhook_state_from_env;

pub const DEFAULT_STACK_API_URL: &str = "https://api.stack-auth.com";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}
