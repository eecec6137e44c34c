//! How one WhatsApp record is stored, for every sub-trait: an item `{pk, sk, v}` whose `v`
//! is the serialized value (bytes as base64, structures as JSON) sealed with the
//! [`SecretBox`](crate::crypto::SecretBox) against `<pk>/<sk>`, so a value moved to another
//! key does not open. Also the error mapping into whatsapp-rust's store errors. Every read
//! waits for a pending journal to be rolled forward, and every call's writes go, last
//! write per key winning, through the fenced all-or-nothing path of `journal.rs`.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use whatsapp_rust::wacore::store::error::{Result as WaResult, StoreError as WaStoreError};

use super::StoreBackend;
use crate::store::{attr_str, keys, Item, StoreError, WriteOp};

pub(super) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn db_err(e: StoreError) -> WaStoreError {
    WaStoreError::Database(Box::new(e))
}

fn data_err(e: impl std::error::Error + Send + Sync + 'static) -> WaStoreError {
    WaStoreError::Serialization(Box::new(e))
}

pub(super) fn invalid(what: &str, sk: &str) -> WaStoreError {
    WaStoreError::Validation(format!("stored {what} at {sk} is malformed"))
}

pub(super) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub(super) fn unb64(s: &str) -> WaResult<Vec<u8>> {
    B64.decode(s).map_err(data_err)
}

pub(super) fn to_json<T: Serialize + ?Sized>(value: &T) -> WaResult<String> {
    serde_json::to_string(value).map_err(data_err)
}

pub(super) fn from_json<T: DeserializeOwned>(text: &str) -> WaResult<T> {
    serde_json::from_str(text).map_err(data_err)
}

impl StoreBackend {
    /// The associated data a value is sealed with: its full key.
    fn record(&self, sk: &str) -> String {
        format!("{}/{sk}", self.pk)
    }

    fn open_item(&self, item: &Item) -> WaResult<(String, String)> {
        let sk = attr_str(item, "sk").unwrap_or_default().to_owned();
        let sealed = attr_str(item, "v").ok_or_else(|| invalid("record", &sk))?;
        let plain = self
            .secrets
            .open(sealed, &self.record(&sk))
            .map_err(data_err)?;
        Ok((sk, plain))
    }

    pub(super) async fn get_plain(&self, sk: &str) -> WaResult<Option<String>> {
        Ok(self.get_item(sk).await?.map(|(_, plain)| plain))
    }

    /// The raw item at `sk` with its value opened.
    pub(super) async fn get_item(&self, sk: &str) -> WaResult<Option<(Item, String)>> {
        let _settled = self.settled().await?;
        match self.store.get(&self.pk, sk).await.map_err(db_err)? {
            Some(item) => {
                let plain = self.open_item(&item)?.1;
                Ok(Some((item, plain)))
            }
            None => Ok(None),
        }
    }

    pub(super) async fn get_bytes(&self, sk: &str) -> WaResult<Option<Vec<u8>>> {
        self.get_plain(sk).await?.map(|p| unb64(&p)).transpose()
    }

    pub(super) async fn get_json<T: DeserializeOwned>(&self, sk: &str) -> WaResult<Option<T>> {
        self.get_plain(sk).await?.map(|p| from_json(&p)).transpose()
    }

    pub(super) async fn exists_sk(&self, sk: &str) -> WaResult<bool> {
        let _settled = self.settled().await?;
        Ok(self
            .store
            .get(&self.pk, sk)
            .await
            .map_err(db_err)?
            .is_some())
    }

    /// Every record under `prefix`, opened: `(sort key, plaintext)` in sort-key order.
    pub(super) async fn query_plain(&self, prefix: &str) -> WaResult<Vec<(String, String)>> {
        let _settled = self.settled().await?;
        let items = self.store.query(&self.pk, prefix).await.map_err(db_err)?;
        items.iter().map(|item| self.open_item(item)).collect()
    }

    /// The sort keys under `prefix`, without opening the values.
    pub(super) async fn query_keys(&self, prefix: &str) -> WaResult<Vec<String>> {
        let _settled = self.settled().await?;
        let items = self.store.query(&self.pk, prefix).await.map_err(db_err)?;
        Ok(items
            .iter()
            .filter_map(|item| attr_str(item, "sk"))
            .map(str::to_owned)
            .collect())
    }

    pub(super) fn put_op(&self, sk: &str, plaintext: &str) -> WriteOp {
        self.put_op_expiring(sk, plaintext, None)
    }

    /// A put whose item carries `expiresAt` (epoch seconds, in clear): the table's TTL
    /// deletes it after that.
    pub(super) fn put_op_expiring(
        &self,
        sk: &str,
        plaintext: &str,
        expires_at: Option<i64>,
    ) -> WriteOp {
        let mut item = keys::item(self.pk.clone(), sk)
            .set("v", self.secrets.seal(plaintext, &self.record(sk)));
        if let Some(at) = expires_at {
            item = item.set("expiresAt", at);
        }
        WriteOp::Put {
            item: item.build(),
            cond: Default::default(),
        }
    }

    pub(super) fn del_op(&self, sk: &str) -> WriteOp {
        WriteOp::Delete {
            pk: self.pk.clone(),
            sk: sk.to_owned(),
            cond: Default::default(),
        }
    }

    /// Applies one call's writes, all or nothing and fenced (`journal.rs`): the last
    /// write to a key wins.
    pub(super) async fn apply(&self, ops: Vec<WriteOp>) -> WaResult<()> {
        self.apply_atomic(last_write_per_key(ops)).await
    }

    pub(super) async fn put_plain(&self, sk: &str, plaintext: &str) -> WaResult<()> {
        self.apply(vec![self.put_op(sk, plaintext)]).await
    }

    pub(super) async fn delete_sk(&self, sk: &str) -> WaResult<()> {
        self.apply(vec![self.del_op(sk)]).await
    }

    pub(super) async fn delete_prefix(&self, prefix: &str) -> WaResult<()> {
        let ops = self
            .query_keys(prefix)
            .await?
            .iter()
            .map(|sk| self.del_op(sk))
            .collect();
        self.apply(ops).await
    }

    /// Deletes the records under `prefix` whose value (JSON of `T`) is `doomed`, under the
    /// read-modify-write lock. Returns how many were deleted.
    pub(super) async fn delete_where<T: DeserializeOwned>(
        &self,
        prefix: &str,
        doomed: impl Fn(&T) -> bool,
    ) -> WaResult<u32> {
        let _guard = self.rmw.lock().await;
        let mut ops = Vec::new();
        for (sk, plain) in self.query_plain(prefix).await? {
            if doomed(&from_json(&plain)?) {
                ops.push(self.del_op(&sk));
            }
        }
        let count = ops.len() as u32;
        self.apply(ops).await?;
        Ok(count)
    }
}

/// The writes that remain when only the last write to each key counts, in their order.
fn last_write_per_key(ops: Vec<WriteOp>) -> Vec<WriteOp> {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let sk = match op {
            WriteOp::Put { item, .. } => attr_str(item, "sk").unwrap_or_default().to_owned(),
            WriteOp::Delete { sk, .. } | WriteOp::Check { sk, .. } | WriteOp::Add { sk, .. } => {
                sk.clone()
            }
        };
        last.insert(sk, i);
    }
    let keep: HashSet<usize> = last.into_values().collect();
    ops.into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, op)| op)
        .collect()
}
