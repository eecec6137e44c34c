//! One turn's conversation with the model: tool rounds, then the price guard.
//!
//! 1. The model is asked with the store's tools offered. While it answers with tool calls,
//!    each call is run ([`Toolbox::call`]: in memory, over the data read once for the turn)
//!    and its JSON result goes back as a `tool` message; a call with malformed arguments or
//!    an unknown name gets a JSON error result, so the model can correct itself. At most
//!    [`MAX_TOOL_ROUNDS`] rounds (and [`MAX_CALLS_PER_ROUND`] calls in a round); then one
//!    more call with the tools withheld must answer in text (a model that still answers
//!    with calls only gets [`UNSURE_REPLY`] sent for it).
//! 2. The reply's amounts of money are checked ([`guard`]): one that isn't in the store's
//!    data or in a tool result of this turn sends the reply back once, tools withheld, with
//!    a message naming the amounts; a second failure (or a failed call then) is replaced by
//!    [`guard::SAFE_REPLY`].
//!
//! Everything runs within the model's per-turn deadline ([`Llm::deadline`]); running out
//! is an unavailable model (the turn goes back to the queue).

use serde_json::{json, Value};

use super::guard::{self, Allowed};
use super::llm::{Llm, LlmError, LlmMessage, ToolSpec, Tools, Usage};

/// Rounds of tool calls one turn may make before the model must answer.
pub const MAX_TOOL_ROUNDS: usize = 4;
/// Calls one round may make; the rest are answered with an error.
pub const MAX_CALLS_PER_ROUND: usize = 8;
/// What the customer gets when the model only calls tools, even when told to answer.
pub const UNSURE_REPLY: &str = "Vou verificar isso com a equipe e já te respondo.";

/// The tools a turn offers the model.
#[async_trait::async_trait]
pub trait Toolbox: Send + Sync {
    fn specs(&self) -> &[ToolSpec];
    /// Runs one call: its JSON result, or a JSON `{"error": …}` the model can read.
    async fn call(&self, name: &str, arguments: &str) -> Value;
}

/// What the price guard did to the turn's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// Every amount was the store's.
    Clean,
    /// The model was asked once to correct itself, and did.
    Corrected,
    /// The model invented amounts twice: the safe reply went out instead.
    Replaced,
}

/// The reply of a turn and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub model_calls: usize,
    pub tool_calls: usize,
    pub guarded: Guarded,
    /// The tokens and reported cost of every call of the turn, summed.
    pub usage: Usage,
}

fn add_usage(total: &mut Usage, call: &Usage) {
    total.prompt_tokens += call.prompt_tokens;
    total.completion_tokens += call.completion_tokens;
    // Known only if every call reported it (else the worker prices the tokens).
    total.cost_micros = total.cost_micros.zip(call.cost_micros).map(|(a, b)| a + b);
}

/// The turn's reply to `messages` (system prompt and history), with `toolbox`'s tools and
/// the amounts `allowed` by the store's data.
pub async fn converse(
    llm: &dyn Llm,
    messages: Vec<LlmMessage>,
    toolbox: &dyn Toolbox,
    allowed: Allowed,
) -> Result<Answer, LlmError> {
    let deadline = llm.deadline();
    tokio::time::timeout(deadline, rounds(llm, messages, toolbox, allowed))
        .await
        .unwrap_or_else(|_| {
            Err(LlmError::Unavailable {
                message: format!("no reply within the turn's deadline ({deadline:?})"),
                retry_after: None,
            })
        })
}

async fn rounds(
    llm: &dyn Llm,
    mut messages: Vec<LlmMessage>,
    toolbox: &dyn Toolbox,
    mut allowed: Allowed,
) -> Result<Answer, LlmError> {
    let specs = toolbox.specs();
    let withheld = if specs.is_empty() {
        Tools::None
    } else {
        Tools::Withheld(specs)
    };
    let (mut model_calls, mut tool_calls) = (0, 0);
    let mut usage = Usage {
        cost_micros: Some(0),
        ..Usage::default()
    };
    let mut text = String::new();
    for round in 0..=MAX_TOOL_ROUNDS {
        let offer = round < MAX_TOOL_ROUNDS && !specs.is_empty();
        let tools = if offer {
            Tools::Offered(specs)
        } else {
            withheld
        };
        let completion = llm.complete(&messages, tools).await?;
        model_calls += 1;
        add_usage(&mut usage, &completion.usage);
        if completion.tool_calls.is_empty() || !offer {
            text = completion.content;
            break;
        }
        let calls = completion.tool_calls;
        messages.push(LlmMessage::calls(completion.content, calls.clone()));
        for (n, call) in calls.iter().enumerate() {
            let result = if n < MAX_CALLS_PER_ROUND {
                tool_calls += 1;
                toolbox.call(&call.name, &call.arguments).await
            } else {
                json!({"error": {"code": "too_many_calls",
                    "message": format!("at most {MAX_CALLS_PER_ROUND} calls per round")}})
            };
            allowed.add_result(&result);
            messages.push(LlmMessage::tool_result(&call.id, &result));
        }
    }
    let answer = |text: String, model_calls, guarded, usage| Answer {
        text,
        model_calls,
        tool_calls,
        guarded,
        usage,
    };
    if text.trim().is_empty() {
        // Tool calls even when told to answer: nothing to say that we can vouch for.
        return Ok(answer(
            UNSURE_REPLY.into(),
            model_calls,
            Guarded::Clean,
            usage,
        ));
    }
    let invented = allowed.invented(&text);
    if invented.is_empty() {
        return Ok(answer(text, model_calls, Guarded::Clean, usage));
    }
    tracing::warn!(
        invented = invented.len(),
        "the reply cites amounts the store doesn't have; asking the model to correct it"
    );
    messages.push(LlmMessage::assistant(text));
    messages.push(LlmMessage::user(guard::correction(&invented)));
    let again = llm.complete(&messages, withheld).await;
    let calls = model_calls + 1;
    if let Ok(again) = &again {
        add_usage(&mut usage, &again.usage);
    }
    Ok(match again {
        Ok(again)
            if !again.content.trim().is_empty() && allowed.invented(&again.content).is_empty() =>
        {
            answer(again.content, calls, Guarded::Corrected, usage)
        }
        Ok(_) => {
            tracing::warn!(
                "the corrected reply still cites unknown amounts; sending the safe reply"
            );
            answer(guard::SAFE_REPLY.into(), calls, Guarded::Replaced, usage)
        }
        Err(err) => {
            tracing::warn!(error = %err, "the correction failed; sending the safe reply");
            answer(guard::SAFE_REPLY.into(), calls, Guarded::Replaced, usage)
        }
    })
}
