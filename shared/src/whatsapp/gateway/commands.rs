//! The gateway's command loop: session commands from the command queue, one at a time in
//! the order received (the queue orders them per slot). `start` launches the slot's
//! supervised task if no live task holds its lease; `logout` stops this task's connection
//! with an unlink, or unlinks a slot nobody runs. Both are idempotent, because a queue may
//! deliver a command twice; a command meant for another task goes back to the queue. A
//! `start` for a slot task that is waiting (a backoff, a temporary ban) ends the wait at
//! once; for one that is ending for good (replaced, QR expired, refused: the slot already
//! shows it) it waits for that end and starts the slot anew.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::super::commands::SessionCommand;
use super::super::events::SlotKey;
use super::super::slots;
use super::{Gateway, Phase, SlotTask, Stop, TaskPhase};
use crate::queue::consumer::{Concurrency, Consumer, Outcome, RetryAfter};

/// A store hiccup: try the command again after this.
const STORE_RETRY: RetryAfter = RetryAfter(Duration::from_secs(2));

impl Gateway {
    /// Takes session commands until `shutdown`, one after another.
    pub(super) async fn take_commands(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let consumer = Consumer::new(
            self.commands.clone(),
            "command",
            "session command",
            Concurrency::Sequential,
        );
        let handle = move |command: SessionCommand| {
            let gateway = self.clone();
            async move { gateway.handle(command).await }
        };
        consumer.run(handle, shutdown).await;
    }

    /// Handles one command; `Err(RetryAfter(delay))` asks for it to be delivered again later.
    pub async fn handle(self: &Arc<Self>, command: SessionCommand) -> Outcome {
        let key = command.slot().clone();
        // This task's running slot task, taken out while the command decides its fate.
        let mine = {
            let mut slots = self.slots.lock().expect("lock");
            match slots.get(&key) {
                Some(task) if !task.handle.is_finished() => slots.remove(&key),
                _ => None,
            }
        };
        match (command, mine) {
            (SessionCommand::Start { pair_phone, .. }, Some(task)) => {
                self.restart_for_phone(key, task, pair_phone).await
            }
            (SessionCommand::Start { pair_phone, .. }, None) => {
                self.start_pairing(&key, pair_phone).await
            }
            (SessionCommand::Logout { .. }, Some(task)) => {
                let _ = task.stop.send(Stop::Logout);
                let _ = task.handle.await;
                Ok(())
            }
            (SessionCommand::Logout { .. }, None) => self.unlink_idle(&key).await,
        }
    }

    /// `start` on a slot this task runs: a no-op while it follows a connection, except
    /// that pairing by phone asked of a slot already pairing by QR restarts it with the
    /// phone (a linked slot ignores it: it has credentials). A waiting task tries again at
    /// once; an ending one is let finish, then the slot starts anew (a fresh connection).
    async fn restart_for_phone(
        self: &Arc<Self>,
        key: SlotKey,
        task: SlotTask,
        pair_phone: Option<String>,
    ) -> Outcome {
        match (pair_phone, task.phase.get()) {
            (Some(phone), _) => {
                let _ = task.stop.send(Stop::Close);
                let _ = task.handle.await;
                self.start_pairing(&key, Some(phone)).await
            }
            (None, TaskPhase::Ending) => {
                let _ = task.handle.await;
                self.start_pairing(&key, None).await
            }
            (None, phase) => {
                if phase == TaskPhase::Waiting {
                    let _ = task.stop.send(Stop::Restart);
                }
                self.slots.lock().expect("lock").insert(key, task);
                Ok(())
            }
        }
    }

    /// `logout` of a slot this task doesn't run: unlink it if no live task holds it either.
    async fn unlink_idle(&self, key: &SlotKey) -> Outcome {
        let store = self.store.as_ref();
        let me = &self.config.task_id;
        match slots::acquire_lease(store, key, me, self.lease_ms()).await {
            // Another live task holds it: let the command reach that task.
            Ok(None) => Err(RetryAfter(Duration::from_millis(500))),
            Ok(Some(_)) => {
                let _ = self.transport.forget(key).await;
                let _ = slots::mark_logged_out(store, key, None).await;
                let _ = slots::release_lease(store, key, me, false).await;
                let _ = slots::refresh_connection_status(store, key).await;
                Ok(())
            }
            Err(_) => Err(STORE_RETRY),
        }
    }

    /// Starts the slot's supervised task (reconnecting with stored credentials), unless its
    /// connection was deleted or a live task holds its lease.
    pub(super) async fn start(self: &Arc<Self>, key: &SlotKey) -> Outcome {
        self.start_pairing(key, None).await
    }

    /// Starts the slot's supervised task; without credentials it pairs (QR, and with
    /// `pair_phone` also a code to type on that phone).
    async fn start_pairing(self: &Arc<Self>, key: &SlotKey, pair_phone: Option<String>) -> Outcome {
        match slots::get_slot(self.store.as_ref(), key).await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()), // the connection was deleted
            Err(_) => return Err(STORE_RETRY),
        }
        let leased = slots::acquire_lease(
            self.store.as_ref(),
            key,
            &self.config.task_id,
            self.lease_ms(),
        );
        let fence = match leased.await {
            Ok(Some(fence)) => fence,
            Ok(None) => return Ok(()), // a live task runs it already
            Err(_) => return Err(STORE_RETRY),
        };
        let (stop, stop_rx) = watch::channel(Stop::Run);
        let connection = Arc::new(tokio::sync::RwLock::new(None));
        let phase = Arc::new(Phase::default());
        let handle = tokio::spawn(self.clone().run_slot(
            key.clone(),
            stop_rx,
            connection.clone(),
            phase.clone(),
            pair_phone,
            fence,
        ));
        self.slots.lock().expect("lock").insert(
            key.clone(),
            SlotTask {
                stop,
                connection,
                phase,
                handle,
            },
        );
        Ok(())
    }
}
