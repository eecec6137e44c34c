//! Catching a panic at the edge of one unit of work — a slot's task, a queued job, a batch of
//! chat messages — so that a bug or a malformed frame in one tenant's slot fails that unit
//! only, not the process holding every tenant's connections. The callers decide what a
//! caught panic means: the gateway records it on the slot (`lastError`) and restarts the
//! slot with backoff; a queue consumer retries the job later (and after `max_receives`, it
//! goes to the dead letters); the WhatsApp Web commit refuses the batch (WhatsApp delivers
//! it again).
//!
//! It only works in a build that unwinds: the `dev`/`test` profiles and the `server` profile
//! the gateway and `platefull dev` are built with (Cargo.toml). The Lambda functions keep
//! `panic = "abort"` (`release`): one invocation dies and SQS delivers its batch again.
//! [`UNWINDS`] says which this build is, so the long-lived binaries can warn at start.
//!
//! Cost: one task spawn per unit of work (about a microsecond), nothing on the hot path of
//! the unit itself.

use std::any::Any;
use std::future::Future;

/// Does this build unwind on panic (so [`caught`] catches), or abort?
pub const UNWINDS: bool = cfg!(panic = "unwind");

/// A caught panic, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked: {0}")]
pub struct Panicked(pub String);

/// Runs `work` as a task of its own and returns its output, or the panic that ended it.
/// Dropping the returned future leaves `work` running to its end, detached.
pub async fn caught<F>(work: F) -> Result<F::Output, Panicked>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match tokio::spawn(work).await {
        Ok(output) => Ok(output),
        Err(err) if err.is_panic() => Err(Panicked(message(err.into_panic().as_ref()))),
        // Cancelled: only a runtime shutting down cancels these tasks (nothing aborts them),
        // and the caller's task goes with it; there is nothing to report to.
        Err(_) => std::future::pending().await,
    }
}

/// The text a panic was raised with (`panic!("…")` carries a `&str` or a `String`).
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_caught_with_its_message_and_output_passes_through() {
        const { assert!(UNWINDS, "tests build with unwinding") };
        assert_eq!(caught(async { 7 }).await, Ok(7));
        let who = "slot 2";
        let err = caught(async move { panic!("malformed frame in {who}") })
            .await
            .unwrap_err();
        assert_eq!(err, Panicked("malformed frame in slot 2".into()));
        let err = caught(async { std::panic::panic_any(42u8) })
            .await
            .unwrap_err();
        assert_eq!(err.0, "a panic without a message");
        assert_eq!(
            caught(async { panic!("static") }).await.unwrap_err().0,
            "static"
        );
    }
}
