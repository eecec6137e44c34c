//! Durability for the in-process queue ([`super::memory::MemoryQueue`]): the local stack's
//! queues keep every message in the embedded store from `send` until `ack`, so a hard kill
//! (`kill -9`, an OOM kill, a power cut) at any instant loses no queued job.
//!
//! Where: items of the one store (`QUEUE#<queue>` partitions, keys in `store/keys.rs`), not
//! a redb file of their own. One file means one writer and one fsync stream: the embedded
//! store's writer commits concurrent writes in groups, so a bot turn's store writes and the
//! queue writes around it (receive, ack, the reply's send) share fsyncs instead of
//! competing with a second file's; and the data dir's one file holds the records and the
//! jobs that refer to them together.
//!
//! What is written, and when (each call returns only after its write is committed):
//! - `send`: the message (body, group, receive count 0, when visible) and, on a FIFO queue,
//!   its deduplication id, in one batch; the message becomes receivable only after that, so
//!   nothing can ack it before it is on disk. Ids that left the 5-minute window are deleted
//!   in the batches of later sends (a bounded number per send).
//! - `receive`: each delivered message's new receive count, marked in flight, before the
//!   batch is returned (so counts survive a crash and dead-lettering still happens after
//!   `max_receives`); a message moved to the dead letters is deleted here and put there in
//!   one batch.
//! - `retry`: the message's new visibility time, before it becomes visible again.
//! - `ack`: the delete. An ack lost to a crash redelivers the message: the exactly-once
//!   records (message markers, the chat state's claim and delivery mark) absorb that.
//!
//! On open, a queue loads its partition (1 query) in send order. A message that was in
//! flight when the process died is visible at once (its receipt died with the process); a
//! delayed or retried message keeps its due time, kept as wall-clock milliseconds.
//!
//! Cost: one store write per send, per receive batch, per retry and per ack, all group
//! committed; memory holds the queue as before (the store is written, and read only when
//! the queue opens).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::QueueError;
use crate::store::keys::{self, queue_pk};
use crate::store::{Cond, Item, Store, WriteOp};

/// Where a durable queue keeps its messages.
#[derive(Clone)]
pub(super) struct Durable {
    pub store: Arc<dyn Store>,
    pub pk: String,
}

/// A queued message as stored.
pub(super) struct Stored {
    pub seq: u64,
    pub body: String,
    pub group: Option<String>,
    pub receive_count: u32,
    /// Unix milliseconds when it is (or was) due.
    pub visible_at_ms: i64,
    pub in_flight: bool,
}

/// What a queue finds in its partition when it opens.
pub(super) struct Loaded {
    pub messages: Vec<Stored>,
    /// (group, deduplication id) and when it was sent (unix ms), oldest first.
    pub dedup: Vec<((String, String), i64)>,
}

fn unavailable(err: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(err.to_string())
}

/// Converts an in-process instant to wall-clock milliseconds, and back.
pub(super) fn wall_ms(at: Instant) -> i64 {
    let now = Instant::now();
    let ms = crate::ids::now_ms();
    if at >= now {
        ms + at.duration_since(now).as_millis() as i64
    } else {
        ms - now.duration_since(at).as_millis() as i64
    }
}

pub(super) fn instant_of(ms: i64) -> Instant {
    let ahead = ms - crate::ids::now_ms();
    let now = Instant::now();
    if ahead > 0 {
        now + Duration::from_millis(ahead as u64)
    } else {
        now.checked_sub(Duration::from_millis(ahead.unsigned_abs()))
            .unwrap_or(now)
    }
}

impl Durable {
    pub fn new(store: Arc<dyn Store>, queue: &str) -> Self {
        Self {
            store,
            pk: queue_pk(queue),
        }
    }

    pub fn put(&self, message: &Stored) -> WriteOp {
        let mut item = keys::item(self.pk.clone(), keys::queued_sk(message.seq))
            .set("body", message.body.clone())
            .set("receiveCount", message.receive_count)
            .set("visibleAt", message.visible_at_ms)
            .set("inFlight", message.in_flight);
        if let Some(group) = &message.group {
            item = item.set("group", group.clone());
        }
        WriteOp::Put {
            item: item.build(),
            cond: Cond::None,
        }
    }

    pub fn delete(&self, seq: u64) -> WriteOp {
        WriteOp::Delete {
            pk: self.pk.clone(),
            sk: keys::queued_sk(seq),
            cond: Cond::None,
        }
    }

    pub fn put_dedup(&self, (group, dedup_id): &(String, String), sent_ms: i64) -> WriteOp {
        WriteOp::Put {
            item: keys::item(self.pk.clone(), keys::dedup_sk(group, dedup_id))
                .set("group", group.clone())
                .set("dedupId", dedup_id.clone())
                .set("sentAt", sent_ms)
                .build(),
            cond: Cond::None,
        }
    }

    pub fn delete_dedup(&self, (group, dedup_id): &(String, String)) -> WriteOp {
        WriteOp::Delete {
            pk: self.pk.clone(),
            sk: keys::dedup_sk(group, dedup_id),
            cond: Cond::None,
        }
    }

    /// Commits `ops` as one atomic batch (nothing to do for none).
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), QueueError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.store.write(ops).await.map_err(unavailable)
    }

    /// Everything the partition holds: messages in send order, deduplication ids oldest
    /// first.
    pub async fn load(&self) -> Result<Loaded, QueueError> {
        let items = self.store.query(&self.pk, "").await.map_err(unavailable)?;
        let mut loaded = Loaded {
            messages: Vec::new(),
            dedup: Vec::new(),
        };
        for item in items {
            let sk = str_attr(&item, "sk").unwrap_or_default();
            if let Some(seq) = keys::queued_seq(&sk) {
                loaded.messages.push(Stored {
                    seq,
                    body: str_attr(&item, "body").ok_or_else(|| bad(&sk))?,
                    group: str_attr(&item, "group"),
                    receive_count: num_attr(&item, "receiveCount") as u32,
                    visible_at_ms: num_attr(&item, "visibleAt"),
                    in_flight: item.get("inFlight").and_then(Value::as_bool) == Some(true),
                });
            } else if sk.starts_with(keys::DEDUP_PREFIX) {
                let key = (
                    str_attr(&item, "group").ok_or_else(|| bad(&sk))?,
                    str_attr(&item, "dedupId").ok_or_else(|| bad(&sk))?,
                );
                loaded.dedup.push((key, num_attr(&item, "sentAt")));
            }
        }
        loaded.messages.sort_by_key(|m| m.seq);
        loaded.dedup.sort_by_key(|(_, at)| *at);
        Ok(loaded)
    }
}

fn bad(sk: &str) -> QueueError {
    QueueError::Unavailable(format!("unreadable queue record {sk}"))
}

fn str_attr(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn num_attr(item: &Item, name: &str) -> i64 {
    item.get(name).and_then(Value::as_i64).unwrap_or(0)
}
