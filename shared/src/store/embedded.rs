//! The embedded adapter: a single-file, crash-safe store (redb) for the local stack, so
//! `platefull dev` keeps its data across restarts with no AWS account and no server.
//!
//! Items are stored as MessagePack under the composite key `(pk, sk)`, so a partition query is a
//! range scan, just as in DynamoDB. redb runs one write transaction at a time and commits
//! with fsync: conditions are checked and writes applied inside the same transaction, which
//! makes every batch atomic and race-free.
//!
//! Writes go to one writer thread that commits in groups: the batches and updates waiting
//! when a transaction starts are applied one after another in it (each checks its own
//! conditions against the state the previous ones left, and a batch whose condition fails
//! applies nothing), and one fsync makes the group durable before any caller is answered.
//! Under load this turns many fsyncs into one without weakening any guarantee.
//!
//! Time to live, as the table's in AWS: an item whose `expiresAt` is a number of epoch
//! seconds that has passed is deleted by the writer thread within [`SWEEP_EVERY`] (DynamoDB
//! takes up to a few days; readers that care filter on `expiresAt` themselves). As in
//! DynamoDB, a value more than five years old (a lease's epoch-ms deadline reads as far in
//! the future, a released lease's 0 as too old) is never acted on. A second table indexes
//! items by `(expiresAt, pk, sk)`, kept in the same transaction as every write, so a sweep
//! reads only what has expired, never the whole table.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition, TableHandle};

use super::{
    check_batch, check_update, cond_holds, item_key, op_key, Item, Store, StoreError, Update,
    WriteOp,
};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
/// `(expiresAt, pk, sk)` of every item with a numeric `expiresAt`.
const EXPIRY: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("expiry");

/// How often the writer deletes expired items.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// The most expired items one sweep deletes (the rest wait for the next).
const SWEEP_MAX: usize = 1000;
/// DynamoDB's TTL ignores deadlines more than five years old.
const TTL_HORIZON_SECS: i64 = 5 * 365 * 86_400;

pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Option<std::sync::mpsc::Sender<Job>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

type ItemsTable<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;
type ExpiryTable<'t> = redb::Table<'t, (i64, &'static str, &'static str), ()>;

/// The tables a write job works on.
struct Table<'t> {
    items: ItemsTable<'t>,
    expiry: ExpiryTable<'t>,
}

impl Table<'_> {
    /// Stores `item` at `(pk, sk)`, replacing `current`, keeping the expiry index.
    fn put(
        &mut self,
        pk: &str,
        sk: &str,
        current: Option<&Item>,
        item: &Item,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.unindex(pk, sk, current)?;
        if let Some(at) = expires_at(item) {
            self.expiry.insert((at, pk, sk), ()).map_err(io)?;
        }
        self.items.insert((pk, sk), bytes).map_err(io)?;
        Ok(())
    }

    /// Deletes the item at `(pk, sk)` (`current`), keeping the expiry index.
    fn remove(&mut self, pk: &str, sk: &str, current: Option<&Item>) -> Result<(), StoreError> {
        self.unindex(pk, sk, current)?;
        self.items.remove((pk, sk)).map_err(io)?;
        Ok(())
    }

    fn unindex(&mut self, pk: &str, sk: &str, current: Option<&Item>) -> Result<(), StoreError> {
        if let Some(at) = current.and_then(expires_at) {
            self.expiry.remove((at, pk, sk)).map_err(io)?;
        }
        Ok(())
    }

    /// Deletes up to [`SWEEP_MAX`] items whose `expiresAt` (epoch seconds) is at or before
    /// `now` but within the TTL horizon. Returns how many.
    fn sweep(&mut self, now: i64) -> Result<usize, StoreError> {
        let from = now.saturating_sub(TTL_HORIZON_SECS);
        let mut due: Vec<(i64, String, String)> = Vec::new();
        for entry in self.expiry.range((from, "", "")..).map_err(io)? {
            let (key, _) = entry.map_err(io)?;
            let (at, pk, sk) = key.value();
            if at > now || due.len() >= SWEEP_MAX {
                break;
            }
            due.push((at, pk.to_owned(), sk.to_owned()));
        }
        for (at, pk, sk) in &due {
            self.expiry
                .remove((*at, pk.as_str(), sk.as_str()))
                .map_err(io)?;
            let current = read_item(&self.items, pk, sk)?;
            if current.as_ref().and_then(expires_at) == Some(*at) {
                self.items.remove((pk.as_str(), sk.as_str())).map_err(io)?;
            }
        }
        Ok(due.len())
    }
}

/// An item's TTL attribute, when it is an integer.
fn expires_at(item: &Item) -> Option<i64> {
    item.get("expiresAt").and_then(serde_json::Value::as_i64)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One write job: applied inside the group's transaction; its result is sent back after
/// the commit. An `Err` from the closure other than a failed condition aborts the group.
type Apply = Box<dyn FnOnce(&mut Table<'_>) -> Result<Reply, StoreError> + Send>;

enum Reply {
    Written,
    Updated(Item),
    Swept(usize),
}

struct Job {
    apply: Apply,
    done: tokio::sync::oneshot::Sender<Result<Reply, StoreError>>,
}

/// The most jobs one transaction takes.
const GROUP_MAX: usize = 256;

fn writer_loop(db: Arc<Database>, jobs: std::sync::mpsc::Receiver<Job>) {
    let mut swept_at = std::time::Instant::now();
    loop {
        let wait = SWEEP_EVERY.saturating_sub(swept_at.elapsed());
        let first = match jobs.recv_timeout(wait) {
            Ok(job) => job,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                swept_at = std::time::Instant::now();
                let (done, _) = tokio::sync::oneshot::channel();
                let sweep: Apply = Box::new(|table| table.sweep(now_secs()).map(Reply::Swept));
                let mut group = [Job { apply: sweep, done }];
                match commit_group(&db, &mut group).pop() {
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "could not delete expired items")
                    }
                    Some(Ok(Reply::Swept(deleted))) if deleted > 0 => {
                        tracing::debug!(deleted, "expired items deleted")
                    }
                    _ => {}
                }
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let results = commit_group(&db, &mut group);
        for (job, result) in group.into_iter().zip(results) {
            let _ = job.done.send(result);
        }
    }
}

/// Applies every job of the group in one transaction and commits it. A condition failure
/// fails only its job; an I/O failure fails the whole group (nothing is committed).
fn commit_group(db: &Database, group: &mut [Job]) -> Vec<Result<Reply, StoreError>> {
    let size = group.len();
    let fail_all = |err: StoreError| {
        (0..size)
            .map(|_| Err(StoreError::Unavailable(err.to_string())))
            .collect()
    };
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(err) => return fail_all(io(err)),
    };
    let mut results = Vec::with_capacity(group.len());
    {
        let tables = txn
            .open_table(ITEMS)
            .and_then(|items| Ok((items, txn.open_table(EXPIRY)?)));
        let mut table = match tables {
            Ok((items, expiry)) => Table { items, expiry },
            Err(err) => return fail_all(io(err)),
        };
        for job in group.iter_mut() {
            let apply = std::mem::replace(&mut job.apply, Box::new(|_| Ok(Reply::Written)));
            match apply(&mut table) {
                Err(StoreError::ConditionFailed) => results.push(Err(StoreError::ConditionFailed)),
                Err(err @ (StoreError::Unavailable(_) | StoreError::Data(_))) => {
                    // The transaction may hold part of this job: drop it all, uncommitted.
                    return fail_all(err);
                }
                other => results.push(other),
            }
        }
    }
    match txn.commit() {
        Ok(()) => results,
        Err(err) => fail_all(io(err)),
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer; waiting for it releases the file at once.
        self.writer.take();
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

fn io(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

/// An item as stored: MessagePack, whose strings are length-prefixed bytes. A string that
/// holds JSON (a half-megabyte menu chunk) is copied in and out, where JSON would escape
/// every quote on the way in and unescape it on the way out: for a 500-item menu's PUT that
/// was most of the store's CPU time. Files written before hold JSON items, which start with
/// `{` — a byte no MessagePack map starts with — and still read; any write re-encodes.
fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    if bytes.first() == Some(&b'{') {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Data(e.to_string()))
    } else {
        rmp_serde::from_slice(bytes).map_err(|e| StoreError::Data(e.to_string()))
    }
}

fn encode(item: &Item) -> Result<Vec<u8>, StoreError> {
    // Sized up front from the strings it holds: a growing buffer would copy a half-megabyte
    // menu chunk at every doubling.
    let hint: usize = item
        .iter()
        .map(|(name, value)| name.len() + 9 + value.as_str().map_or(16, str::len))
        .sum();
    let mut bytes = Vec::with_capacity(hint + 16);
    rmp_serde::encode::write(&mut bytes, item).map_err(|e| StoreError::Data(e.to_string()))?;
    Ok(bytes)
}

/// Only the attributes `names` of a stored item: what a write needs of the item it
/// replaces (its condition's attributes and `expiresAt`). The other values are stepped
/// over without decoding ([`skip_value`]), so overwriting a half-megabyte menu chunk
/// neither copies nor re-checks the old one.
fn decode_attrs(bytes: &[u8], names: &[&str]) -> Result<Item, StoreError> {
    if bytes.first() == Some(&b'{') {
        let mut item = decode(bytes)?;
        item.retain(|name, _| names.contains(&name.as_str()));
        return Ok(item);
    }
    let bad = || StoreError::Data("a stored item is not a MessagePack map".into());
    let mut rd = bytes;
    let len = rmp::decode::read_map_len(&mut rd).map_err(|_| bad())?;
    let mut item = Item::new();
    for _ in 0..len {
        let key = rd;
        skip_value(&mut rd).ok_or_else(bad)?;
        let name: &str = rmp_serde::from_slice(&key[..key.len() - rd.len()])
            .map_err(|e| StoreError::Data(e.to_string()))?;
        let value = rd;
        skip_value(&mut rd).ok_or_else(bad)?;
        if names.contains(&name) {
            let value = rmp_serde::from_slice(&value[..value.len() - rd.len()])
                .map_err(|e| StoreError::Data(e.to_string()))?;
            item.insert(name.to_owned(), value);
        }
    }
    Ok(item)
}

/// Advances `rd` past one MessagePack value without decoding it; `None` if it is cut
/// short or malformed.
fn skip_value(rd: &mut &[u8]) -> Option<()> {
    use rmp::Marker::*;
    fn take<'a>(rd: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        (rd.len() >= n).then(|| {
            let (head, tail) = rd.split_at(n);
            *rd = tail;
            head
        })
    }
    fn len(rd: &mut &[u8], width: usize) -> Option<usize> {
        take(rd, width).map(|b| b.iter().fold(0, |n, &x| n << 8 | usize::from(x)))
    }
    let (&marker, rest) = rd.split_first()?;
    *rd = rest;
    // (bytes of data, values nested) after the marker and its length.
    let (data, nested) = match rmp::Marker::from_u8(marker) {
        FixPos(_) | FixNeg(_) | Null | True | False => (0, 0),
        U8 | I8 => (1, 0),
        U16 | I16 => (2, 0),
        U32 | I32 | F32 => (4, 0),
        U64 | I64 | F64 => (8, 0),
        FixStr(n) => (usize::from(n), 0),
        Str8 | Bin8 => (len(rd, 1)?, 0),
        Str16 | Bin16 => (len(rd, 2)?, 0),
        Str32 | Bin32 => (len(rd, 4)?, 0),
        FixArray(n) => (0, usize::from(n)),
        Array16 => (0, len(rd, 2)?),
        Array32 => (0, len(rd, 4)?),
        FixMap(n) => (0, 2 * usize::from(n)),
        Map16 => (0, 2 * len(rd, 2)?),
        Map32 => (0, 2 * len(rd, 4)?),
        FixExt1 => (2, 0),
        FixExt2 => (3, 0),
        FixExt4 => (5, 0),
        FixExt8 => (9, 0),
        FixExt16 => (17, 0),
        Ext8 => (len(rd, 1)? + 1, 0),
        Ext16 => (len(rd, 2)? + 1, 0),
        Ext32 => (len(rd, 4)? + 1, 0),
        Reserved => return None,
    };
    take(rd, data)?;
    (0..nested).try_for_each(|_| skip_value(rd))
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file at `path`. Only one process may hold it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
                "{} is already in use by another platefull process",
                path.display()
            )),
            other => io(other),
        })?;
        let txn = db.begin_write().map_err(io)?;
        let indexed = txn
            .list_tables()
            .map_err(io)?
            .any(|t| t.name() == EXPIRY.name());
        {
            let items = txn.open_table(ITEMS).map_err(io)?;
            let mut expiry = txn.open_table(EXPIRY).map_err(io)?;
            if !indexed {
                // A store from before the index: index what it holds, once.
                for entry in items.iter().map_err(io)? {
                    let (key, value) = entry.map_err(io)?;
                    if let Some(at) = expires_at(&decode(value.value())?) {
                        let (pk, sk) = key.value();
                        expiry.insert((at, pk, sk), ()).map_err(io)?;
                    }
                }
            }
        }
        txn.commit().map_err(io)?;
        let db = Arc::new(db);
        let (writer, jobs) = std::sync::mpsc::channel();
        let writer_db = db.clone();
        let writer_thread = std::thread::Builder::new()
            .name("platefull-store-writer".into())
            .spawn(move || writer_loop(writer_db, jobs))
            .map_err(io)?;
        Ok(Self {
            db,
            writer: Some(writer),
            writer_thread: Some(writer_thread),
        })
    }

    /// Deletes the expired items now, as the writer does every [`SWEEP_EVERY`] (tests).
    /// Returns how many were deleted.
    #[cfg(any(test, feature = "test-hooks"))]
    pub async fn sweep_expired(&self) -> Result<usize, StoreError> {
        let sweep: Apply = Box::new(|table| table.sweep(now_secs()).map(Reply::Swept));
        match self.in_write_txn(sweep).await? {
            Reply::Swept(count) => Ok(count),
            _ => Err(StoreError::Data("no count from a sweep".into())),
        }
    }

    async fn in_write_txn(&self, apply: Apply) -> Result<Reply, StoreError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.writer
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".into()))?
            .send(Job { apply, done })
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?
    }
}

/// [`read_item`] with only the attributes `names` ([`decode_attrs`]).
fn read_attrs(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    pk: &str,
    sk: &str,
    names: &[&str],
) -> Result<Option<Item>, StoreError> {
    match table.get((pk, sk)).map_err(io)? {
        Some(guard) => Ok(Some(decode_attrs(guard.value(), names)?)),
        None => Ok(None),
    }
}

fn read_item(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    pk: &str,
    sk: &str,
) -> Result<Option<Item>, StoreError> {
    match table.get((pk, sk)).map_err(io)? {
        Some(guard) => Ok(Some(decode(guard.value())?)),
        None => Ok(None),
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(ITEMS).map_err(io)?;
        read_item(&table, pk, sk)
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(ITEMS).map_err(io)?;
        let mut items = Vec::new();
        for entry in table.range((pk, sk_prefix)..).map_err(io)? {
            let (key, value) = entry.map_err(io)?;
            let (item_pk, item_sk) = key.value();
            if item_pk != pk || !item_sk.starts_with(sk_prefix) {
                break;
            }
            items.push(decode(value.value())?);
        }
        Ok(items)
    }

    async fn query_last(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(ITEMS).map_err(io)?;
        let mut items = Vec::new();
        // Every key with the prefix sorts before the prefix followed by U+10FFFF.
        let end = format!("{sk_prefix}\u{10FFFF}");
        for entry in table
            .range((pk, sk_prefix)..(pk, end.as_str()))
            .map_err(io)?
            .rev()
        {
            if items.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(io)?;
            if key.value().1.starts_with(sk_prefix) {
                items.push(decode(value.value())?);
            }
        }
        Ok(items)
    }

    async fn query_last_before(
        &self,
        pk: &str,
        sk_prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(ITEMS).map_err(io)?;
        let mut items = Vec::new();
        let end = format!("{sk_prefix}\u{10FFFF}");
        let end = match before {
            Some(before) if before < end.as_str() => before,
            _ => end.as_str(),
        };
        if end <= sk_prefix {
            return Ok(items);
        }
        for entry in table.range((pk, sk_prefix)..(pk, end)).map_err(io)?.rev() {
            if items.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(io)?;
            if key.value().1.starts_with(sk_prefix) {
                items.push(decode(value.value())?);
            }
        }
        Ok(items)
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_batch(&ops)?;
        let encoded = ops
            .into_iter()
            .map(|op| {
                let bytes = match &op {
                    WriteOp::Put { item, .. } => Some(encode(item)?),
                    WriteOp::Delete { .. } | WriteOp::Check { .. } | WriteOp::Add { .. } => None,
                };
                Ok((op_key(&op)?, op, bytes))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.in_write_txn(Box::new(move |table| {
            let mut currents = Vec::with_capacity(encoded.len());
            for ((pk, sk), op, _) in &encoded {
                let current = match op {
                    // An addition keeps every attribute of the item it changes.
                    WriteOp::Add { .. } => read_item(&table.items, pk, sk)?,
                    _ => {
                        let mut names = op.cond().attrs();
                        names.push("expiresAt");
                        read_attrs(&table.items, pk, sk, &names)?
                    }
                };
                if !cond_holds(op.cond(), current.as_ref()) {
                    // Dropping the transaction without commit aborts every write of the batch.
                    return Err(StoreError::ConditionFailed);
                }
                currents.push(current);
            }
            for (((pk, sk), op, bytes), current) in encoded.iter().zip(&currents) {
                match (op, bytes) {
                    (WriteOp::Put { item, .. }, Some(bytes)) => {
                        table.put(pk, sk, current.as_ref(), item, bytes)?
                    }
                    (WriteOp::Delete { .. }, _) => table.remove(pk, sk, current.as_ref())?,
                    (WriteOp::Add { add, .. }, _) => {
                        let item = super::apply_add(current.as_ref(), pk, sk, add);
                        table.put(pk, sk, current.as_ref(), &item, &encode(&item)?)?
                    }
                    _ => {}
                }
            }
            Ok(Reply::Written)
        }))
        .await
        .map(|_| ())
    }

    async fn update(&self, pk: &str, sk: &str, update: Update) -> Result<Item, StoreError> {
        check_update(&update)?;
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        let reply = self
            .in_write_txn(Box::new(move |table| {
                let current = read_item(&table.items, &pk, &sk)?;
                if (current.is_none() && !update.upsert)
                    || !cond_holds(&update.cond, current.as_ref())
                {
                    return Err(StoreError::ConditionFailed);
                }
                let mut item = current.clone().unwrap_or_else(|| {
                    Item::from_iter([
                        ("pk".into(), pk.clone().into()),
                        ("sk".into(), sk.clone().into()),
                    ])
                });
                for (name, value) in update.set {
                    item.insert(name, value);
                }
                for name in update.remove {
                    item.remove(&name);
                }
                debug_assert_eq!(item_key(&item).ok(), Some((pk.clone(), sk.clone())));
                let bytes = encode(&item)?;
                table.put(&pk, &sk, current.as_ref(), &item, &bytes)?;
                Ok(Reply::Updated(item))
            }))
            .await?;
        match reply {
            Reply::Updated(item) => Ok(item),
            _ => Err(StoreError::Data("no item from an update".into())),
        }
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.get("HEALTH", "HEALTH").await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{keys, Cond};

    fn put(sk: &str, attrs: serde_json::Value) -> WriteOp {
        WriteOp::Put {
            item: keys::item("P", sk).attrs(attrs).build(),
            cond: Default::default(),
        }
    }

    /// Only items whose `expiresAt` (epoch seconds, within DynamoDB's five-year horizon)
    /// has passed are deleted; the index follows overwrites, updates and deletes, and is
    /// built for a store written before it existed.
    #[tokio::test]
    async fn expired_items_are_swept_as_dynamodb_ttl_would() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.redb");
        let now = now_secs();
        let store = EmbeddedStore::open(&path).expect("open");
        store
            .write(vec![
                put("past", json!({"expiresAt": now - 10})),
                put("future", json!({"expiresAt": now + 3600})),
                put("lease-ms", json!({"expiresAt": now * 1000 - 10})),
                put("released", json!({"expiresAt": 0})),
                put("none", json!({})),
                put("renewed", json!({"expiresAt": now - 5})),
                put("deleted", json!({"expiresAt": now - 5})),
            ])
            .await
            .expect("write");
        store
            .write(vec![put("renewed", json!({"expiresAt": now + 60}))])
            .await
            .expect("renew");
        let update = Update {
            set: vec![("expiresAt".into(), json!(now - 1))],
            ..Update::default()
        };
        store.update("P", "future", update).await.expect("update");
        store
            .write(vec![WriteOp::Delete {
                pk: "P".into(),
                sk: "deleted".into(),
                cond: Default::default(),
            }])
            .await
            .expect("delete");
        assert_eq!(store.sweep_expired().await.expect("sweep"), 2);
        let left: Vec<String> = store
            .query("P", "")
            .await
            .expect("query")
            .iter()
            .map(|i| i["sk"].as_str().expect("sk").to_owned())
            .collect();
        assert_eq!(left, ["lease-ms", "none", "released", "renewed"]);
        assert_eq!(store.sweep_expired().await.expect("sweep"), 0);
        drop(store);
        // A store without the index (as written before it) gets it at open.
        {
            let db = Database::create(&path).expect("db");
            let txn = db.begin_write().expect("txn");
            txn.delete_table(EXPIRY).expect("drop index");
            {
                let mut items = txn.open_table(ITEMS).expect("items");
                let item = keys::item("P", "old").set("expiresAt", now - 1).build();
                items
                    .insert(("P", "old"), encode(&item).expect("encode").as_slice())
                    .expect("insert");
            }
            txn.commit().expect("commit");
        }
        let store = EmbeddedStore::open(&path).expect("reopen");
        assert_eq!(store.sweep_expired().await.expect("sweep"), 1);
        assert_eq!(store.get("P", "old").await.expect("get"), None);
    }

    /// Items written as JSON by earlier versions still read, as the same item; rewriting one
    /// stores it as MessagePack, and a JSON string inside it (a menu chunk) comes back as is.
    #[tokio::test]
    async fn items_written_as_json_before_still_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.redb");
        let chunk = r#"[{"id":"pizzas","name":"Pizzas \"da casa\"","items":[]}]"#;
        let item = keys::item("P", "menu")
            .set("data", chunk)
            .set("version", 3)
            .set("price", 12.5)
            .build();
        {
            let db = Database::create(&path).expect("db");
            let txn = db.begin_write().expect("txn");
            {
                let mut items = txn.open_table(ITEMS).expect("items");
                let json = serde_json::to_vec(&item).expect("json");
                items
                    .insert(("P", "menu"), json.as_slice())
                    .expect("insert");
            }
            txn.commit().expect("commit");
        }
        let store = EmbeddedStore::open(&path).expect("open");
        assert_eq!(
            store.get("P", "menu").await.expect("get"),
            Some(item.clone())
        );
        store
            .update(
                "P",
                "menu",
                Update {
                    set: vec![("version".into(), json!(4))],
                    ..Update::default()
                },
            )
            .await
            .expect("update");
        let stored = store
            .db
            .begin_read()
            .expect("read")
            .open_table(ITEMS)
            .expect("items")
            .get(("P", "menu"))
            .expect("get")
            .expect("present")
            .value()
            .to_vec();
        assert_ne!(stored.first(), Some(&b'{'), "rewritten as MessagePack");
        let read = store.get("P", "menu").await.expect("get").expect("item");
        assert_eq!(read["data"], json!(chunk));
        assert_eq!(read["version"], json!(4));
        assert_eq!(read["price"], json!(12.5));
    }

    /// A write reads of the item it replaces only its condition's attributes and
    /// `expiresAt`, from MessagePack and from the JSON of older files alike; conditions on
    /// a big item still hold or fail as on the whole item.
    #[tokio::test]
    async fn writes_read_only_the_attributes_they_need() {
        let item = keys::item("P", "menu")
            .set("data", "x".repeat(300_000))
            .set("version", 7)
            .set("expiresAt", 4_000_000_000_i64)
            .set("nested", json!({"a": [1, "b", null, 2.5, true, false, -5, -200, -70_000, 70_000, 1_u64 << 40, u64::MAX, i64::MIN], "s": "x".repeat(40), "t": "y".repeat(300)}))
            .set("list", json!((0..20).collect::<Vec<_>>()))
            .set("map", serde_json::Value::Object((0..20).map(|n| (format!("k{n}"), json!(n))).collect()))
            .set("zeta", "last")
            .build();
        let names = ["version", "expiresAt", "absent", "nested", "zeta"];
        for bytes in [
            encode(&item).expect("msgpack"),
            serde_json::to_vec(&item).expect("json"),
        ] {
            let picked = decode_attrs(&bytes, &names).expect("decodes");
            let mut expected = item.clone();
            expected.retain(|name, _| names.contains(&name.as_str()));
            assert_eq!(picked.len(), 4);
            assert_eq!(picked, expected);
        }
        // Cut short anywhere, it is an error, never a wrong answer.
        let bytes = encode(&item).expect("msgpack");
        for cut in [1, 10, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_attrs(&bytes[..cut], &names).is_err(), "cut at {cut}");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(&dir.path().join("s.redb")).expect("open");
        store
            .write(vec![WriteOp::Put {
                item: item.clone(),
                cond: Cond::NotExists,
            }])
            .await
            .expect("put");
        let replace = |version: i64| WriteOp::Put {
            item: keys::item("P", "menu")
                .set("data", "y")
                .set("version", version + 1)
                .build(),
            cond: Cond::Matches(vec![("version".into(), json!(version))]),
        };
        assert!(matches!(
            store.write(vec![replace(6)]).await,
            Err(StoreError::ConditionFailed)
        ));
        assert_eq!(store.get("P", "menu").await.expect("get"), Some(item));
        store.write(vec![replace(7)]).await.expect("replaced");
        assert_eq!(
            store.get("P", "menu").await.expect("get").expect("item")["version"],
            json!(8)
        );
    }
}
