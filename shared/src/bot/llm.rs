//! The LLM port and its adapters: an OpenAI-compatible chat-completions client (OpenRouter
//! by default; any compatible server through its base URL) and the offline stand-in used
//! when no key is configured, which says plainly that it is offline (the worker first tries
//! the store's data on it: [`super::offline`]).
//!
//! One [`Llm::complete`] is one model call. It may offer the model tools (OpenAI's
//! function-calling shape: `tools` of type `function` with JSON-schema parameters; the
//! model answers with `tool_calls` whose `arguments` are a JSON string, and each result goes
//! back as a `role:"tool"` message with its `tool_call_id`), or withhold them
//! (`tool_choice:"none"`, the tools still listed because a conversation holding tool calls
//! must name them for some providers). The rounds of a turn are run by
//! [`super::converse`].
//!
//! The client retries what can succeed later (timeouts, 408, 429, 5xx, errors reported
//! inside a 200 body) after `Retry-After` or exponential backoff with jitter
//! ([`crate::backoff`]); never 400/401/402/403; and tries the fallback model, if any,
//! before giving up. Giving up returns the turn to the queue (and after a few tries to its
//! DLQ): a reply is never silently dropped.
//!
//! Bounds: a reply body is read in chunks up to `max_body_bytes` (2 MiB; a 600-token reply
//! is a few KiB), and one call's tries, waits and fallback together stop at `deadline`
//! (40 s, inside the `bot-reply` function's 60 s), which also bounds all the calls of one
//! turn together ([`Llm::deadline`]), so a slow or huge answer can neither hold memory nor
//! outlive the invocation.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::backoff::Backoff;
use crate::upstream;

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    pub content: String,
    /// The calls an assistant message made (sent with `content: null` when it has no text).
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    pub tool_call_id: Option<String>,
    /// Images (data URLs) a `user` message shows a vision-capable model, sent as
    /// `image_url` content parts after the text.
    pub image_urls: Vec<String>,
}

impl LlmMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self::text("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::text("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text("assistant", content)
    }
    pub fn text(role: &'static str, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            ..Self::default()
        }
    }
    /// A user message with `text` and images (data URLs) for a vision-capable model.
    pub fn user_with_images(text: impl Into<String>, image_urls: Vec<String>) -> Self {
        Self {
            image_urls,
            ..Self::user(text)
        }
    }
    /// The model's message that asked for `calls` (its text, if any, kept).
    pub fn calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            role: "assistant",
            content: content.into(),
            tool_calls: calls,
            tool_call_id: None,
            image_urls: Vec::new(),
        }
    }
    /// The result of call `id`, a JSON document.
    pub fn tool_result(id: &str, result: &Value) -> Self {
        Self {
            role: "tool",
            content: result.to_string(),
            tool_calls: Vec::new(),
            tool_call_id: Some(id.to_owned()),
            image_urls: Vec::new(),
        }
    }
}

impl Serialize for LlmMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut message = json!({ "role": self.role, "content": self.content });
        if !self.image_urls.is_empty() {
            let mut parts = vec![json!({"type": "text", "text": self.content})];
            parts.extend(
                self.image_urls
                    .iter()
                    .map(|url| json!({"type": "image_url", "image_url": {"url": url}})),
            );
            message["content"] = parts.into();
        }
        if !self.tool_calls.is_empty() {
            if self.content.is_empty() {
                message["content"] = Value::Null;
            }
            message["tool_calls"] = self
                .tool_calls
                .iter()
                .map(|call| {
                    json!({"id": call.id, "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments}})
                })
                .collect();
        }
        if let Some(id) = &self.tool_call_id {
            message["tool_call_id"] = id.as_str().into();
        }
        message.serialize(serializer)
    }
}

/// A function the model may call: its name, what it is for, and its arguments' JSON schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

/// One call the model asked for; `arguments` as the model wrote them (JSON text, maybe bad).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Whether a call offers the model its tools.
#[derive(Debug, Clone, Copy)]
pub enum Tools<'a> {
    /// No tools in the conversation.
    None,
    /// The model may call these.
    Offered(&'a [ToolSpec]),
    /// The conversation used these, but the model must answer in text now.
    Withheld(&'a [ToolSpec]),
}

/// What one call returned: text, tool calls, or both.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    /// What the call cost, as the server reported it (zeros when it didn't).
    pub usage: Usage,
}

/// A response's `usage`: its tokens and, from OpenRouter (which reports it in every
/// response), its `cost` in dollars as micro-dollars. `None` cost: priced by tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micros: Option<i64>,
}

impl Usage {
    /// Reads a chat completion's `usage` object.
    pub fn of(body: &Value) -> Self {
        let usage = body.get("usage");
        let tokens = |name| {
            usage
                .and_then(|u| u.get(name))
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0)
        };
        let cost_micros = usage
            .and_then(|u| u.get("cost"))
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && *c >= 0.0)
            .map(|dollars| (dollars * 1_000_000.0).round() as i64);
        Self {
            prompt_tokens: tokens("prompt_tokens"),
            completion_tokens: tokens("completion_tokens"),
            cost_micros,
        }
    }
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

/// How long one turn may spend on the model unless the adapter says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(40);

#[async_trait]
pub trait Llm: Send + Sync + 'static {
    /// Describes the adapter for logs and `/health` (never the key).
    fn describe(&self) -> String;
    /// `true` for the stand-in of a stack without a model ([`Offline`]).
    fn offline(&self) -> bool {
        false
    }
    /// Everything one turn may spend on the model: every call, retry and wait.
    fn deadline(&self) -> Duration {
        DEFAULT_DEADLINE
    }
    /// The cheaper model a store past its AI budget is answered with (the configured
    /// fallback model alone), if there is one.
    fn economy(&self) -> Option<Arc<dyn Llm>> {
        None
    }
    /// One model call (with its retries and fallback).
    async fn complete(
        &self,
        messages: &[LlmMessage],
        tools: Tools<'_>,
    ) -> Result<Completion, LlmError>;
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
    fn offline(&self) -> bool {
        true
    }
    async fn complete(
        &self,
        _messages: &[LlmMessage],
        _tools: Tools<'_>,
    ) -> Result<Completion, LlmError> {
        Ok(Completion {
            content: OFFLINE_REPLY.into(),
            ..Completion::default()
        })
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
            deadline: DEFAULT_DEADLINE,
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

    async fn call(
        &self,
        model: &str,
        messages: &[LlmMessage],
        tools: Tools<'_>,
    ) -> Result<Completion, LlmError> {
        let mut body = json!({
            "model": model,
            "messages": messages,
            "max_tokens": self.settings.max_tokens,
            "temperature": 0.4,
        });
        if let Tools::Offered(specs) | Tools::Withheld(specs) = tools {
            body["tools"] = specs.iter().map(tool_json).collect();
            body["tool_choice"] = match tools {
                Tools::Withheld(_) => "none",
                _ => "auto",
            }
            .into();
        }
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
        let message = choice.and_then(|c| c.get("message"));
        let content = message
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        let tool_calls = message
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
            .map(|calls| calls.iter().enumerate().map(parse_call).collect())
            .unwrap_or_default();
        if content.is_empty() && Vec::is_empty(&tool_calls) {
            return Err(LlmError::Unavailable {
                message: "the model returned an empty reply".into(),
                retry_after: None,
            });
        }
        Ok(Completion {
            content: content.to_owned(),
            tool_calls,
            usage: Usage::of(&body),
        })
    }

    async fn with_retries(
        &self,
        model: &str,
        messages: &[LlmMessage],
        tools: Tools<'_>,
    ) -> Result<Completion, LlmError> {
        let mut attempt = 0;
        loop {
            match self.call(model, messages, tools).await {
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

/// A tool in the request's `tools` list.
fn tool_json(spec: &ToolSpec) -> Value {
    json!({"type": "function", "function": {
        "name": spec.name, "description": spec.description, "parameters": spec.parameters,
    }})
}

/// One entry of a reply's `tool_calls`; missing parts become empty (the turn answers the
/// model that the call was malformed rather than failing).
fn parse_call((n, call): (usize, &Value)) -> ToolCall {
    let function = call.get("function");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let arguments = match function.and_then(|f| f.get("arguments")) {
        // Some servers send the arguments as an object rather than JSON text.
        Some(Value::Object(map)) => Value::Object(map.clone()).to_string(),
        other => text(other),
    };
    let id = text(call.get("id"));
    ToolCall {
        id: if id.is_empty() {
            format!("call_{n}")
        } else {
            id
        },
        name: text(function.and_then(|f| f.get("name"))),
        arguments,
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

    fn deadline(&self) -> Duration {
        self.settings.deadline
    }

    fn economy(&self) -> Option<Arc<dyn Llm>> {
        let model = self.settings.fallback_model.clone()?;
        let settings = OpenAiSettings {
            model,
            fallback_model: None,
            ..self.settings.clone()
        };
        Some(Arc::new(OpenAiCompatible {
            http: self.http.clone(),
            settings,
        }))
    }

    async fn complete(
        &self,
        messages: &[LlmMessage],
        tools: Tools<'_>,
    ) -> Result<Completion, LlmError> {
        let deadline = self.settings.deadline;
        tokio::time::timeout(deadline, self.with_fallback(messages, tools))
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
    async fn with_fallback(
        &self,
        messages: &[LlmMessage],
        tools: Tools<'_>,
    ) -> Result<Completion, LlmError> {
        let primary = self
            .with_retries(&self.settings.model, messages, tools)
            .await;
        match (&primary, &self.settings.fallback_model) {
            // A bad key or no credits fail the fallback too; anything else may not.
            (Err(LlmError::Refused(m)), _)
                if m.starts_with("HTTP 401") || m.starts_with("HTTP 402") =>
            {
                primary
            }
            (Err(err), Some(fallback)) => {
                tracing::warn!(error = %err, fallback, "primary model failed; trying the fallback");
                self.with_retries(fallback, messages, tools).await
            }
            _ => primary,
        }
    }
}
