//! The LLM port and its adapters: an OpenAI-compatible chat-completions client (OpenRouter
//! by default; any compatible server through its base URL) and the offline stand-in used
//! when no key is configured, which says plainly that it is offline.
//!
//! The client retries what can succeed later (timeouts, 408, 429, 5xx, errors reported
//! inside a 200 body) after `Retry-After` or exponential backoff with jitter
//! ([`crate::backoff`]); never 400/401/402/403; and tries the fallback model, if any,
//! before giving up. Giving up returns the turn to the queue (and after a few tries to its
//! DLQ): a reply is never silently dropped.
//!
//! Bounds: a reply body is read in chunks up to `max_body_bytes` (2 MiB; a 600-token reply
//! is a few KiB), and one turn's tries, waits and fallback together stop at `deadline`
//! (40 s, inside the `bot-reply` function's 60 s), so a slow or huge answer can neither
//! hold memory nor outlive the invocation.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{json, Value};

use crate::backoff::Backoff;
use crate::upstream;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmMessage {
    pub role: &'static str,
    pub content: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LlmError {
    /// Try the turn again later (after `retry_after` if the server said so).
    #[error("the model is unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying won't help until someone fixes something (key, credits, request).
    #[error("the model refused the request: {0}")]
    Refused(String),
}

#[async_trait]
pub trait Llm: Send + Sync + 'static {
    /// Describes the adapter for logs and `/health` (never the key).
    fn describe(&self) -> String;
    async fn complete(&self, messages: &[LlmMessage]) -> Result<String, LlmError>;
}

/// The reply of a stack without an LLM key: honest about being offline.
pub struct Offline;

pub const OFFLINE_REPLY: &str = "Olá! O atendente automático está offline no momento \
(nenhuma chave de IA configurada neste ambiente), então ainda não consigo responder. \
Sua mensagem foi recebida e a loja vai responder assim que possível.";

#[async_trait]
impl Llm for Offline {
    fn describe(&self) -> String {
        "offline (no OPENROUTER_API_KEY)".into()
    }
    async fn complete(&self, _messages: &[LlmMessage]) -> Result<String, LlmError> {
        Ok(OFFLINE_REPLY.into())
    }
}

#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    pub fallback_model: Option<String>,
    /// Per request.
    pub timeout: Duration,
    /// Tries per model, the first included.
    pub attempts: u32,
    pub backoff_base: Duration,
    /// A `Retry-After` longer than this ends the tries: the turn waits in the queue instead.
    pub max_wait: Duration,
    pub max_tokens: u32,
    /// The largest reply body read; a bigger one is an unavailable model (unread).
    pub max_body_bytes: usize,
    /// Everything one turn may spend on the model: tries, waits and the fallback.
    pub deadline: Duration,
}

pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";
pub const DEFAULT_MODEL: &str = "openai/gpt-4o-mini";

impl OpenAiSettings {
    pub fn new(base_url: &str, api_key: &str, model: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            model: model.to_owned(),
            fallback_model: None,
            timeout: Duration::from_secs(25),
            attempts: 3,
            backoff_base: Duration::from_millis(500),
            max_wait: Duration::from_secs(10),
            max_tokens: 600,
            max_body_bytes: 2 * 1024 * 1024,
            deadline: Duration::from_secs(40),
        }
    }
}

pub struct OpenAiCompatible {
    http: reqwest::Client,
    settings: OpenAiSettings,
}

impl OpenAiCompatible {
    pub fn new(settings: OpenAiSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .expect("an HTTP client builds");
        Self { http, settings }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        Backoff::uncapped(self.settings.backoff_base).delay(attempt)
    }

    async fn call(&self, model: &str, messages: &[LlmMessage]) -> Result<String, LlmError> {
        let body = json!({
            "model": model,
            "messages": messages,
            "max_tokens": self.settings.max_tokens,
            "temperature": 0.4,
        });
        let response = self
            .http
            .post(format!("{}/chat/completions", self.settings.base_url))
            .bearer_auth(&self.settings.api_key)
            .header("X-Title", "Platefull")
            .json(&body)
            .send()
            .await
            .map_err(|e| LlmError::Unavailable {
                message: if e.is_timeout() {
                    "timed out".into()
                } else {
                    format!("network error: {}", without_url(&e))
                },
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let retry_after = upstream::retry_after(response.headers());
        let text = upstream::read_capped(response, self.settings.max_body_bytes)
            .await
            .map_err(|e| LlmError::Unavailable {
                message: e.to_string(),
                retry_after: None,
            })?;
        let body: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        if status != 200 {
            return Err(classify(status, &body, retry_after));
        }
        // Failures after generation starts come back as 200 with an error inside.
        if let Some(error) = body.get("error") {
            let code = error.get("code").and_then(Value::as_u64).unwrap_or(502) as u16;
            return Err(classify(code, &body, retry_after));
        }
        let choice = body.get("choices").and_then(|c| c.get(0));
        if let Some(error) = choice.and_then(|c| c.get("error")) {
            return Err(LlmError::Unavailable {
                message: format!("the model failed mid-reply: {}", error_message(error)),
                retry_after,
            });
        }
        let content = choice
            .and_then(|c| c.pointer("/message/content"))
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if content.is_empty() {
            return Err(LlmError::Unavailable {
                message: "the model returned an empty reply".into(),
                retry_after: None,
            });
        }
        Ok(content.to_owned())
    }

    async fn with_retries(&self, model: &str, messages: &[LlmMessage]) -> Result<String, LlmError> {
        let mut attempt = 0;
        loop {
            match self.call(model, messages).await {
                Ok(reply) => return Ok(reply),
                Err(LlmError::Unavailable {
                    message,
                    retry_after,
                }) => {
                    attempt += 1;
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    if attempt >= self.settings.attempts || wait > self.settings.max_wait {
                        return Err(LlmError::Unavailable {
                            message,
                            retry_after,
                        });
                    }
                    tracing::warn!(model, attempt, error = %message, "LLM call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(refused) => return Err(refused),
            }
        }
    }
}

/// reqwest's errors name the URL; ours never needs it in logs.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<llm>");
    }
    text
}

fn error_message(error: &Value) -> String {
    error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .chars()
        .take(300)
        .collect()
}

fn classify(status: u16, body: &Value, retry_after: Option<Duration>) -> LlmError {
    let message = body
        .get("error")
        .map(error_message)
        .unwrap_or_else(|| "no error message".into());
    let message = format!("HTTP {status}: {message}");
    match status {
        408 | 429 | 500..=599 => LlmError::Unavailable {
            message,
            retry_after,
        },
        _ => LlmError::Refused(message),
    }
}

#[async_trait]
impl Llm for OpenAiCompatible {
    fn describe(&self) -> String {
        format!(
            "{} at {}{}",
            self.settings.model,
            self.settings.base_url,
            self.settings
                .fallback_model
                .as_deref()
                .map(|m| format!(" (fallback {m})"))
                .unwrap_or_default()
        )
    }

    async fn complete(&self, messages: &[LlmMessage]) -> Result<String, LlmError> {
        let deadline = self.settings.deadline;
        tokio::time::timeout(deadline, self.with_fallback(messages))
            .await
            .unwrap_or_else(|_| {
                Err(LlmError::Unavailable {
                    message: format!("no reply within the turn's deadline ({deadline:?})"),
                    retry_after: None,
                })
            })
    }
}

impl OpenAiCompatible {
    /// The primary model with its retries, then the fallback model with its own.
    async fn with_fallback(&self, messages: &[LlmMessage]) -> Result<String, LlmError> {
        let primary = self.with_retries(&self.settings.model, messages).await;
        match (&primary, &self.settings.fallback_model) {
            // A bad key or no credits fail the fallback too; anything else may not.
            (Err(LlmError::Refused(m)), _)
                if m.starts_with("HTTP 401") || m.starts_with("HTTP 402") =>
            {
                primary
            }
            (Err(err), Some(fallback)) => {
                tracing::warn!(error = %err, fallback, "primary model failed; trying the fallback");
                self.with_retries(fallback, messages).await
            }
            _ => primary,
        }
    }
}
