//! The embedded adapter: a single-file, crash-safe store (redb) for the local stack, so
//! `platefull dev` keeps its data across restarts with no AWS account and no server.
//!
//! Items are stored as JSON under the composite key `(pk, sk)`, so a partition query is a
//! range scan, just as in DynamoDB. redb runs one write transaction at a time and commits
//! with fsync: conditions are checked and writes applied inside the same transaction, which
//! makes every batch atomic and race-free.
//!
//! Writes go to one writer thread that commits in groups: the batches and updates waiting
//! when a transaction starts are applied one after another in it (each checks its own
//! conditions against the state the previous ones left, and a batch whose condition fails
//! applies nothing), and one fsync makes the group durable before any caller is answered.
//! Under load this turns many fsyncs into one without weakening any guarantee.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition};

use super::{
    check_batch, check_update, cond_holds, item_key, op_key, Item, Store, StoreError, Update,
    WriteOp,
};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");

pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Option<std::sync::mpsc::Sender<Job>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

type Table<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;
/// One write job: applied inside the group's transaction; its result is sent back after
/// the commit. An `Err` from the closure other than a failed condition aborts the group.
type Apply = Box<dyn FnOnce(&mut Table<'_>) -> Result<Reply, StoreError> + Send>;

enum Reply {
    Written,
    Updated(Item),
}

struct Job {
    apply: Apply,
    done: tokio::sync::oneshot::Sender<Result<Reply, StoreError>>,
}

/// The most jobs one transaction takes.
const GROUP_MAX: usize = 256;

fn writer_loop(db: Arc<Database>, jobs: std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
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
        let mut table = match txn.open_table(ITEMS) {
            Ok(table) => table,
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

fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Data(e.to_string()))
}

fn encode(item: &Item) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(item).map_err(|e| StoreError::Data(e.to_string()))
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
        txn.open_table(ITEMS).map_err(io)?;
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

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_batch(&ops)?;
        let encoded = ops
            .into_iter()
            .map(|op| {
                let bytes = match &op {
                    WriteOp::Put { item, .. } => Some(encode(item)?),
                    WriteOp::Delete { .. } => None,
                };
                Ok((op_key(&op)?, op, bytes))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.in_write_txn(Box::new(move |table| {
            for ((pk, sk), op, _) in &encoded {
                let cond = match op {
                    WriteOp::Put { cond, .. } | WriteOp::Delete { cond, .. } => cond,
                };
                let current = read_item(table, pk, sk)?;
                if !cond_holds(cond, current.as_ref()) {
                    // Dropping the transaction without commit aborts every write of the batch.
                    return Err(StoreError::ConditionFailed);
                }
            }
            for ((pk, sk), _, bytes) in &encoded {
                match bytes {
                    Some(bytes) => {
                        table
                            .insert((pk.as_str(), sk.as_str()), bytes.as_slice())
                            .map_err(io)?;
                    }
                    None => {
                        table.remove((pk.as_str(), sk.as_str())).map_err(io)?;
                    }
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
                let current = read_item(table, &pk, &sk)?;
                if (current.is_none() && !update.upsert)
                    || !cond_holds(&update.cond, current.as_ref())
                {
                    return Err(StoreError::ConditionFailed);
                }
                let mut item = current.unwrap_or_else(|| {
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
                table
                    .insert((pk.as_str(), sk.as_str()), encode(&item)?.as_slice())
                    .map_err(io)?;
                Ok(Reply::Updated(item))
            }))
            .await?;
        match reply {
            Reply::Updated(item) => Ok(item),
            Reply::Written => Err(StoreError::Data("no item from an update".into())),
        }
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.get("HEALTH", "HEALTH").await.map(|_| ())
    }
}
