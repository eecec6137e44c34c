//! How every [`Backend`](whatsapp_rust::wacore::store::traits::Backend) call's writes reach
//! the store: all or nothing, and only while this task holds the slot's lease.
//!
//! **Fenced.** Every write transaction carries a condition check on the slot's fence
//! (`fence`, whose `epoch` the gateway claimed with the lease; see
//! [`crate::whatsapp::slots::Fence`]). Once another task has taken the lease, the check
//! fails, nothing of the batch is written, the call fails, and the backend raises its
//! *fenced out* signal, on which the transport ends the connection
//! ([`DisconnectReason::LeaseLost`](crate::whatsapp::events::DisconnectReason::LeaseLost)).
//!
//! **All or nothing.** A call whose writes fit one transaction (at most 99 writes beside
//! the check, under 3 MB: DynamoDB takes 100 items and 4 MB) is that transaction. A larger
//! one (the library stores 812 pre-keys at once, `prekeys.rs`; app-state snapshots put
//! thousands of mutation MACs, wacore's `appstate_sync.rs`; history sync seeds message
//! secrets in bulk, `history_sync.rs`; a flush puts every dirty session in one
//! `put_sessions_batch`, wacore's `store/signal_cache.rs`) goes through a journal:
//!
//! 1. its writes are staged in `journal#<batch>#<part>` records (each part up to ~300 KB,
//!    values already sealed for their final key), in as few fenced transactions as fit;
//! 2. the commit record `journal#<batch>` is written, in the same transaction as the last
//!    parts: its presence is the commit point. Staged parts without it are ignored by
//!    every reader (no query of the other records' prefixes reaches `journal#`) and
//!    deleted by the next roll-forward;
//! 3. roll-forward: the staged writes are applied to their keys in fenced transactions,
//!    then the commit record is deleted, then the parts. A crash or failure in between
//!    leaves the commit record, and the roll-forward is redone (its writes are idempotent)
//!    before any other read or write of the backend: at a backend's first access (a new
//!    connection, another task after a takeover) it looks for journals once (one query);
//!    afterwards only when one of its own roll-forwards failed.
//!
//! Calls are serialized against roll-forwards (a read-write lock: calls share it, a
//! journaled batch holds it alone from staging to cleanup), so no call of this backend
//! ever sees half a batch. The backend's transactions go one at a time (a mutex): every
//! one of them checks the same fence item, and DynamoDB cancels concurrent transactions on
//! a shared item (`TransactionConflict`). One task writes a slot, so this costs only the
//! slot's own write concurrency.
//!
//! The embedded store could commit a batch of any size at once, but goes through the same
//! journal: one code path for both stores, whose every step the tests fail on purpose on
//! the embedded store (and at a few steps on DynamoDB). What the library relies on, and why it matters: wacore's
//! `appstate_sync.rs` commits a collection's version before its mutation MACs, so MACs
//! half written would corrupt the next patch's LT-hash; `prekeys.rs` uploads only keys
//! whose `store_prekeys_batch` succeeded, so a batch reported failed must not have left
//! keys behind that a retry then generates again under other ids (it does not here:
//! a failed commit leaves none, a commit whose reply was lost leaves all 812, and the
//! library's next pass overwrites the same ids with fresh keys).
//!
//! Cost, in store round trips: a call that fits one transaction is one transaction (its
//! writes plus the fence check; a single write used to be a plain put, a flush of 30
//! sessions two transactions of at most 25); 812 pre-keys are 1 staging-and-commit
//! transaction and 9 roll-forward transactions (the last also deleting the journal), 10
//! in all where the unfenced writes took 33 transactions of 25. A backend's first access
//! adds one query (leftover journals); reads cost what they did.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use whatsapp_rust::wacore::store::error::{Result as WaResult, StoreError as WaStoreError};

use super::StoreBackend;
use crate::store::keys::{self, wa};
use crate::store::{attr_str, Cond, Item, StoreError, WriteOp, MAX_BATCH};

/// Writes per transaction beside the fence check.
const TX_WRITES: usize = MAX_BATCH - 1;
/// Bytes per transaction (DynamoDB: 4 MB), with room for attribute overhead.
const TX_BYTES: usize = 3 * 1024 * 1024;
/// Bytes of staged writes per journal part (DynamoDB: 400 KB per item).
const PART_BYTES: usize = 300 * 1024;

/// Whether the backend may have a journal left to roll forward.
#[derive(Debug, Default)]
pub(super) struct JournalState {
    /// Checked since this backend started, and no roll-forward of ours failed since.
    settled: bool,
}

/// One staged write: the item to put, or the sort key to delete.
#[derive(Serialize, Deserialize)]
enum Staged {
    #[serde(rename = "p")]
    Put(Item),
    #[serde(rename = "d")]
    Delete(String),
}

impl Staged {
    fn of(op: WriteOp) -> Option<Self> {
        match op {
            WriteOp::Put { item, .. } => Some(Staged::Put(item)),
            WriteOp::Delete { sk, .. } => Some(Staged::Delete(sk)),
            WriteOp::Check { .. } | WriteOp::Add { .. } => None,
        }
    }
}

/// The store's size of an op, roughly (its JSON).
fn size_of(op: &WriteOp) -> usize {
    match op {
        WriteOp::Put { item, .. } => serde_json::to_string(item).map_or(0, |s| s.len()),
        WriteOp::Delete { sk, .. } | WriteOp::Check { sk, .. } | WriteOp::Add { sk, .. } => {
            sk.len() + 64
        }
    }
}

/// Splits `ops` into transactions of at most [`TX_WRITES`] writes and [`TX_BYTES`] bytes.
fn transactions(ops: Vec<WriteOp>) -> Vec<Vec<WriteOp>> {
    let mut out: Vec<Vec<WriteOp>> = Vec::new();
    let mut bytes = 0;
    for op in ops {
        let size = size_of(&op);
        match out.last_mut() {
            Some(tx) if tx.len() < TX_WRITES && bytes + size <= TX_BYTES => {
                bytes += size;
                tx.push(op);
            }
            _ => {
                bytes = size;
                out.push(vec![op]);
            }
        }
    }
    out
}

fn db_err(e: StoreError) -> WaStoreError {
    WaStoreError::Database(Box::new(e))
}

fn data_err(e: serde_json::Error) -> WaStoreError {
    WaStoreError::Serialization(Box::new(e))
}

/// A time-ordered batch id: journals roll forward in the order they were committed.
fn batch_id() -> String {
    format!("{:013}{}", crate::ids::now_ms(), crate::ids::new_id(""))
}

impl StoreBackend {
    /// Waits until no journal is left to roll forward (rolling it forward if needed) and
    /// returns the shared guard under which a call reads and writes.
    pub(super) async fn settled(&self) -> WaResult<tokio::sync::RwLockReadGuard<'_, JournalState>> {
        loop {
            let state = self.journal.read().await;
            if state.settled {
                return Ok(state);
            }
            drop(state);
            let mut state = self.journal.write().await;
            if !state.settled {
                self.roll_forward_all().await?;
                state.settled = true;
            }
        }
    }

    /// One fenced transaction. A failed condition is the fence's (our writes carry none):
    /// another task holds the lease; the fenced-out signal is raised.
    async fn fenced_write(&self, mut ops: Vec<WriteOp>) -> WaResult<()> {
        ops.insert(0, self.fence.check());
        // One transaction at a time: DynamoDB cancels concurrent transactions on a shared
        // item (here the fence) with a conflict.
        let _one_at_a_time = self.writing.lock().await;
        match self.store.write(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => {
                let _ = self.fenced_out.send(true);
                tracing::warn!(slot = %self.fence.slot, "key-store write refused: another task holds the slot's lease");
                Err(WaStoreError::Database(
                    "the slot's lease was taken over by another task; write refused".into(),
                ))
            }
            Err(err) => Err(db_err(err)),
        }
    }

    /// Applies one call's writes (the last write to a key wins), all or nothing.
    pub(super) async fn apply_atomic(&self, ops: Vec<WriteOp>) -> WaResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let bytes: usize = ops.iter().map(size_of).sum();
        if ops.len() <= TX_WRITES && bytes <= TX_BYTES {
            let _settled = self.settled().await?;
            return self.fenced_write(ops).await;
        }
        let mut state = self.journal.write().await;
        if !state.settled {
            self.roll_forward_all().await?;
            state.settled = true;
        }
        let batch = batch_id();
        // From the first staging write on, a failure may leave a journal behind (committed
        // or not: a commit whose reply was lost is committed): the next access settles it
        // before anything else is read or written.
        state.settled = false;
        let parts = self.stage_and_commit(&batch, &ops).await?;
        // Committed: from here the batch is durable.
        match self.roll_forward(&batch, ops, parts).await {
            Ok(()) => {
                state.settled = true;
                Ok(())
            }
            Err(err) if *self.fenced_out.borrow() => Err(err),
            Err(err) => {
                tracing::warn!(error = %err, "a committed key-store batch is not applied yet; retried on the next access");
                Ok(())
            }
        }
    }

    /// Stages `ops` in journal parts and commits them (the commit record rides with the
    /// last parts). Returns the number of parts.
    async fn stage_and_commit(&self, batch: &str, ops: &[WriteOp]) -> WaResult<usize> {
        let mut parts: Vec<Vec<Staged>> = vec![Vec::new()];
        let mut bytes = 0;
        for op in ops {
            let size = size_of(op);
            if bytes + size > PART_BYTES && !parts.last().is_some_and(Vec::is_empty) {
                parts.push(Vec::new());
                bytes = 0;
            }
            bytes += size;
            if let (Some(part), Some(staged)) = (parts.last_mut(), Staged::of(op.clone())) {
                part.push(staged);
            }
        }
        let count = parts.len();
        let mut writes = Vec::with_capacity(count + 1);
        for (i, part) in parts.iter().enumerate() {
            let item = keys::item(self.pk.clone(), wa::journal_part(batch, i))
                .set("ops", serde_json::to_value(part).map_err(data_err)?)
                .build();
            writes.push(WriteOp::Put {
                item,
                cond: Cond::None,
            });
        }
        let commit = keys::item(self.pk.clone(), wa::journal(batch))
            .set("parts", count)
            .build();
        writes.push(WriteOp::Put {
            item: commit,
            cond: Cond::None,
        });
        for tx in transactions(writes) {
            self.fenced_write(tx).await?;
        }
        Ok(count)
    }

    /// Applies a committed batch's writes to their keys, then deletes the commit record,
    /// then its parts: each step only once the previous ones are durable.
    async fn roll_forward(&self, batch: &str, ops: Vec<WriteOp>, parts: usize) -> WaResult<()> {
        let cleanup = std::iter::once(wa::journal(batch))
            .chain((0..parts).map(|i| wa::journal_part(batch, i)))
            .map(|sk| self.del_op(&sk));
        for tx in transactions(ops.into_iter().chain(cleanup).collect()) {
            self.fenced_write(tx).await?;
        }
        Ok(())
    }

    /// Finds the journals left behind (by this slot's previous holder, or by a failed
    /// roll-forward of ours): committed ones are rolled forward in commit order, staged
    /// parts without a commit are deleted. Cost: one query when there are none.
    async fn roll_forward_all(&self) -> WaResult<()> {
        let items = self
            .store
            .query(&self.pk, wa::JOURNAL_PREFIX)
            .await
            .map_err(db_err)?;
        if items.is_empty() {
            return Ok(());
        }
        // batch -> (committed part count, parts by number)
        let mut batches: BTreeMap<String, (Option<usize>, BTreeMap<usize, &Item>)> =
            BTreeMap::new();
        for item in &items {
            let Some((batch, part)) = attr_str(item, "sk").and_then(wa::journal_of) else {
                continue;
            };
            let entry = batches.entry(batch.to_owned()).or_default();
            match part {
                Some(n) => {
                    entry.1.insert(n, item);
                }
                None => {
                    let parts = item.get("parts").and_then(serde_json::Value::as_u64);
                    entry.0 = Some(parts.unwrap_or(0) as usize);
                }
            }
        }
        for (batch, (committed, parts)) in batches {
            match committed {
                Some(count) => {
                    if parts.len() != count {
                        return Err(WaStoreError::Validation(format!(
                            "key-store batch {batch} is committed with {} of its {count} parts",
                            parts.len()
                        )));
                    }
                    let mut ops = Vec::new();
                    for item in parts.values() {
                        let staged: Vec<Staged> =
                            serde_json::from_value(item.get("ops").cloned().unwrap_or_default())
                                .map_err(data_err)?;
                        ops.extend(staged.into_iter().map(|s| match s {
                            Staged::Put(item) => WriteOp::Put {
                                item,
                                cond: Cond::None,
                            },
                            Staged::Delete(sk) => self.del_op(&sk),
                        }));
                    }
                    tracing::info!(slot = %self.fence.slot, %batch, writes = ops.len(), "rolling a committed key-store batch forward");
                    self.roll_forward(&batch, ops, count).await?;
                }
                None => {
                    let ops: Vec<WriteOp> = parts
                        .keys()
                        .map(|n| self.del_op(&wa::journal_part(&batch, *n)))
                        .collect();
                    for tx in transactions(ops) {
                        self.fenced_write(tx).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(sk: &str, bytes: usize) -> WriteOp {
        WriteOp::Put {
            item: keys::item("P", sk).set("v", "x".repeat(bytes)).build(),
            cond: Cond::None,
        }
    }

    #[test]
    fn transactions_respect_the_count_and_the_size() {
        let ops: Vec<WriteOp> = (0..250).map(|i| put(&format!("k{i}"), 10)).collect();
        let txs = transactions(ops);
        assert_eq!(txs.iter().map(Vec::len).collect::<Vec<_>>(), [99, 99, 52]);
        let big: Vec<WriteOp> = (0..12).map(|i| put(&format!("k{i}"), 350_000)).collect();
        let txs = transactions(big);
        assert!(txs.len() >= 2, "{} transactions", txs.len());
        assert!(txs
            .iter()
            .all(|tx| tx.iter().map(size_of).sum::<usize>() <= TX_BYTES));
    }
}
