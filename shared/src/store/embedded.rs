//! The embedded adapter: a single-file, crash-safe store (redb) for the local stack, so
//! `platefull dev` keeps its data across restarts with no AWS account and no server.
//!
//! Items are stored as JSON under the composite key `(pk, sk)`, so a partition query is a
//! range scan, just as in DynamoDB. redb runs one write transaction at a time and commits
//! with fsync: conditions are checked and writes applied inside the same transaction, which
//! makes every batch atomic and race-free. Writes run on the blocking pool.

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
        Ok(Self { db: Arc::new(db) })
    }

    async fn in_write_txn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut redb::Table<(&str, &str), &[u8]>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(io)?;
            let out = {
                let mut table = txn.open_table(ITEMS).map_err(io)?;
                f(&mut table)?
            };
            txn.commit().map_err(io)?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
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
        self.in_write_txn(move |table| {
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
            Ok(())
        })
        .await
    }

    async fn update(&self, pk: &str, sk: &str, update: Update) -> Result<Item, StoreError> {
        check_update(&update)?;
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.in_write_txn(move |table| {
            let current = read_item(table, &pk, &sk)?;
            if (current.is_none() && !update.upsert) || !cond_holds(&update.cond, current.as_ref())
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
            Ok(item)
        })
        .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.get("HEALTH", "HEALTH").await.map(|_| ())
    }
}
