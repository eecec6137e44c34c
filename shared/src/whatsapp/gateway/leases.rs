//! The gateway's slot leases: a slot is run only by the task holding its lease. Every
//! third of the lease this task renews the leases of the slots it runs (closing any whose
//! lease another task took) and takes over slots whose task stopped renewing. A sole
//! gateway (the local stack) takes back, at start, the slots the last run left wanted; on
//! shutdown every lease is released.

use std::sync::Arc;

use tokio::sync::watch;

use super::super::slots;
use super::{Gateway, Stop};

impl Gateway {
    pub(super) fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    /// The local stack: restarts the slots its last run left wanted, taking back their
    /// leases (held by a task id of a process that is gone).
    pub(super) async fn resume_last_run(self: &Arc<Self>) {
        match slots::wanted_slots(self.store.as_ref()).await {
            Ok(wanted) => {
                for key in wanted {
                    let _ = slots::release_lease_of_dead_task(self.store.as_ref(), &key).await;
                    let _ = self.start(&key).await;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not resume the slots of the last run")
            }
        }
    }

    /// Renews leases and takes over orphans, now and every third of the lease, until
    /// `shutdown`.
    pub(super) async fn maintain_leases(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = self.config.lease / 3;
        loop {
            self.renew_leases().await;
            self.take_over_orphans().await;
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Renews the lease of every slot this task runs; a slot whose lease another task took
    /// is closed here (its link kept).
    async fn renew_leases(&self) {
        let running = self.running();
        crate::metrics::gauge(
            "SlotsRunning",
            running.len() as f64,
            &[("Service", "gateway")],
        );
        crate::health::liveness::emit_metrics();
        let me = &self.config.task_id;
        for key in running {
            match slots::renew_lease(self.store.as_ref(), &key, me, self.lease_ms()).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(slot = %key, "lease lost to another task; closing the connection");
                    if let Some(task) = self.slots.lock().expect("lock").remove(&key) {
                        let _ = task.stop.send(Stop::Close);
                    }
                }
                Err(err) => {
                    tracing::warn!(slot = %key, error = %err, "lease renewal failed; will retry")
                }
            }
        }
    }

    /// Starts the slots that are wanted but whose lease has expired (their task died).
    async fn take_over_orphans(self: &Arc<Self>) {
        match slots::orphaned_slots(self.store.as_ref()).await {
            Ok(orphans) => {
                for key in orphans {
                    tracing::info!(slot = %key, "taking over a slot whose task stopped renewing");
                    let _ = self.start(&key).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not look for orphaned slots"),
        }
    }

    /// Shutdown: closes every slot this task runs (links kept) and releases its lease.
    pub(super) async fn stop_all(&self) {
        let tasks: Vec<_> = self.slots.lock().expect("lock").drain().collect();
        for (key, task) in tasks {
            let _ = task.stop.send(Stop::Close);
            let _ = task.handle.await;
            let _ =
                slots::release_lease(self.store.as_ref(), &key, &self.config.task_id, true).await;
        }
    }
}
