//! whatsapp-rust's storage [`Backend`] over our [`Store`] port, for one slot. A linked
//! WhatsApp device is a pile of key material (the device identity, Signal sessions, pre-keys,
//! sender keys, app-state keys) that must survive restarts and follow the slot from one
//! gateway host to another, so it lives in the same table as everything else instead of a
//! local SQLite file.
//!
//! Every record of a slot sits in partition `WA#<storeId>#<slot>` under a sort key naming its
//! kind and key (`session#<address>`, `prekey#<id>`, `device`, ...); deleting the partition
//! ([`wipe`]) forgets the device. Values are serialized (bytes as base64, structures as JSON)
//! and sealed with the [`SecretBox`], bound to their partition and sort key, so no key
//! material is stored in clear. Sort keys (addresses, group and message ids) stay readable:
//! they are what partition queries select on.
//!
//! Semantics follow wacore's `InMemoryBackend` method by method (the tests run both side by
//! side). A call returns only once its writes are committed by the store, which is what the
//! Signal layer relies on to make state durable before a ciphertext leaves. Read-modify-write
//! methods are serialized by a lock in this process: one gateway drives one slot at a time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
use whatsapp_rust::wacore::store::device::DEVICE_PROPS;
use whatsapp_rust::wacore::store::error::{Result as WaResult, StoreError as WaStoreError};
use whatsapp_rust::wacore::store::traits::{
    merge_msg_secret_expiry, merge_msg_secret_message_ts, AppStateSyncKey, AppSyncStore,
    DeviceListRecord, DeviceStore, LidPnMappingEntry, MsgSecretEntry, MsgSecretStore,
    PendingInboundKey, PendingInboundRow, ProtocolStore, SignalStore, TcTokenEntry,
};
use whatsapp_rust::wacore::store::Device;

use super::events::SlotKey;
use crate::crypto::SecretBox;
use crate::store::{attr_str, Item, Store, StoreError, WriteOp};

/// Writes per store batch, for the wipe and for multi-record writes (DynamoDB's batch size).
const CHUNK: usize = 25;

/// The partition holding every WhatsApp record of a slot.
pub fn partition(slot: &SlotKey) -> String {
    format!("WA#{}#{}", slot.store_id, slot.slot)
}

/// Deletes every WhatsApp record of the slot (the device forgets its link), in batches of at
/// most 25 writes. Returns how many records were deleted.
pub async fn wipe(store: &dyn Store, slot: &SlotKey) -> Result<usize, StoreError> {
    let pk = partition(slot);
    let mut deleted = 0;
    loop {
        let items = store.query(&pk, "").await?;
        if items.is_empty() {
            return Ok(deleted);
        }
        for chunk in items.chunks(CHUNK) {
            let ops: Vec<WriteOp> = chunk
                .iter()
                .filter_map(|item| attr_str(item, "sk"))
                .map(|sk| WriteOp::Delete {
                    pk: pk.clone(),
                    sk: sk.to_owned(),
                    cond: Default::default(),
                })
                .collect();
            if ops.is_empty() {
                continue;
            }
            deleted += ops.len();
            store.write(ops).await?;
        }
    }
}

/// Escapes a key component so that `#` only ever separates components.
fn esc(s: &str) -> String {
    s.replace('%', "%25").replace('#', "%23")
}

fn unesc(s: &str) -> String {
    s.replace("%23", "#").replace("%25", "%")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> i64 {
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

fn invalid(what: &str, sk: &str) -> WaStoreError {
    WaStoreError::Validation(format!("stored {what} at {sk} is malformed"))
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(s: &str) -> WaResult<Vec<u8>> {
    B64.decode(s).map_err(data_err)
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> WaResult<String> {
    serde_json::to_string(value).map_err(data_err)
}

fn from_json<T: DeserializeOwned>(text: &str) -> WaResult<T> {
    serde_json::from_str(text).map_err(data_err)
}

// Sort keys, one family per kind of record.
fn sk_identity(address: &str) -> String {
    format!("identity#{}", esc(address))
}
fn sk_session(address: &str) -> String {
    format!("session#{}", esc(address))
}
fn sk_prekey(id: u32) -> String {
    format!("prekey#{id:010}")
}
fn sk_signed_prekey(id: u32) -> String {
    format!("signedprekey#{id:010}")
}
fn sk_sender_key(address: &str) -> String {
    format!("senderkey#{}", esc(address))
}
fn sk_sync_key(key_id: &[u8]) -> String {
    format!("synckey#{}", hex(key_id))
}
const SK_LATEST_SYNC_KEY: &str = "latestsynckey";
fn sk_version(name: &str) -> String {
    format!("version#{}", esc(name))
}
fn prefix_mutation_mac(name: &str) -> String {
    format!("mutmac#{}#", esc(name))
}
fn sk_mutation_mac(name: &str, index_mac: &[u8]) -> String {
    format!("{}{}", prefix_mutation_mac(name), hex(index_mac))
}
const PREFIX_SENDER_KEY_DEVICES: &str = "skdev#";
fn prefix_sender_key_devices(group: &str) -> String {
    format!("{PREFIX_SENDER_KEY_DEVICES}{}#", esc(group))
}
fn sk_lid(lid: &str) -> String {
    format!("lid#{}", esc(lid))
}
fn sk_pn(phone: &str) -> String {
    format!("pn#{}", esc(phone))
}
fn sk_base_key(address: &str, message_id: &str) -> String {
    format!("basekey#{}#{}", esc(address), esc(message_id))
}
fn sk_devices(user: &str) -> String {
    format!("devices#{}", esc(user))
}
fn sk_group_metadata(group: &str) -> String {
    format!("groupmeta#{}", esc(group))
}
const PREFIX_TC_TOKEN: &str = "tctoken#";
fn sk_tc_token(jid: &str) -> String {
    format!("{PREFIX_TC_TOKEN}{}", esc(jid))
}
fn sk_sent(chat: &str, id: &str) -> String {
    format!("sent#{}#{}", esc(chat), esc(id))
}
fn sk_pending(chat: &str, sender: &str, id: &str) -> String {
    format!("pending#{}#{}#{}", esc(chat), esc(sender), esc(id))
}
fn sk_msg_secret(chat: &str, sender: &str, id: &str) -> String {
    format!("msgsecret#{}#{}#{}", esc(chat), esc(sender), esc(id))
}
const SK_DEVICE: &str = "device";

/// A stored blob with the time it was stored (sent messages, pending inbound messages).
#[derive(Serialize, Deserialize)]
struct StampedBlob {
    b: String,
    ts: i64,
}

/// A message secret with its retention deadline and parent message time.
#[derive(Serialize, Deserialize)]
struct SecretRow {
    s: String,
    exp: i64,
    ts: i64,
}

/// [`HashState`] with its byte fields as base64: its JSON form writes every byte as a
/// number, which would blow up the item size of a large collection.
#[derive(Serialize, Deserialize)]
struct HashStateRow {
    version: u64,
    hash: String,
    map: BTreeMap<String, String>,
    #[serde(default)]
    fatal: bool,
}

impl HashStateRow {
    fn from_state(state: &HashState) -> Self {
        Self {
            version: state.version,
            hash: b64(&state.hash),
            map: state
                .index_value_map
                .iter()
                .map(|(k, v)| (k.clone(), b64(v)))
                .collect(),
            fatal: state.mac_mismatch_fatal,
        }
    }

    fn into_state(self, sk: &str) -> WaResult<HashState> {
        let hash: [u8; 128] = unb64(&self.hash)?
            .try_into()
            .map_err(|_| invalid("app state hash", sk))?;
        let mut index_value_map = HashMap::with_capacity(self.map.len());
        for (k, v) in self.map {
            index_value_map.insert(k, unb64(&v)?);
        }
        Ok(HashState {
            version: self.version,
            hash,
            index_value_map,
            mac_mismatch_fatal: self.fatal,
        })
    }
}

/// whatsapp-rust's storage backend for one slot, over the [`Store`] port.
pub struct StoreBackend {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
    pk: String,
    /// Serializes read-modify-write sequences (the in-memory reference holds one lock).
    rmw: Mutex<()>,
}

impl StoreBackend {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<SecretBox>, slot: &SlotKey) -> Self {
        Self {
            store,
            secrets,
            pk: partition(slot),
            rmw: Mutex::new(()),
        }
    }

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

    async fn get_plain(&self, sk: &str) -> WaResult<Option<String>> {
        match self.store.get(&self.pk, sk).await.map_err(db_err)? {
            Some(item) => Ok(Some(self.open_item(&item)?.1)),
            None => Ok(None),
        }
    }

    async fn get_bytes(&self, sk: &str) -> WaResult<Option<Vec<u8>>> {
        self.get_plain(sk).await?.map(|p| unb64(&p)).transpose()
    }

    async fn get_json<T: DeserializeOwned>(&self, sk: &str) -> WaResult<Option<T>> {
        self.get_plain(sk).await?.map(|p| from_json(&p)).transpose()
    }

    async fn exists_sk(&self, sk: &str) -> WaResult<bool> {
        Ok(self
            .store
            .get(&self.pk, sk)
            .await
            .map_err(db_err)?
            .is_some())
    }

    /// Every record under `prefix`, opened: `(sort key, plaintext)` in sort-key order.
    async fn query_plain(&self, prefix: &str) -> WaResult<Vec<(String, String)>> {
        let items = self.store.query(&self.pk, prefix).await.map_err(db_err)?;
        items.iter().map(|item| self.open_item(item)).collect()
    }

    /// The sort keys under `prefix`, without opening the values.
    async fn query_keys(&self, prefix: &str) -> WaResult<Vec<String>> {
        let items = self.store.query(&self.pk, prefix).await.map_err(db_err)?;
        Ok(items
            .iter()
            .filter_map(|item| attr_str(item, "sk"))
            .map(str::to_owned)
            .collect())
    }

    fn put_op(&self, sk: &str, plaintext: &str) -> WriteOp {
        let mut item = Item::new();
        item.insert("pk".into(), Value::String(self.pk.clone()));
        item.insert("sk".into(), Value::String(sk.to_owned()));
        item.insert(
            "v".into(),
            Value::String(self.secrets.seal(plaintext, &self.record(sk))),
        );
        WriteOp::Put {
            item,
            cond: Default::default(),
        }
    }

    fn del_op(&self, sk: &str) -> WriteOp {
        WriteOp::Delete {
            pk: self.pk.clone(),
            sk: sk.to_owned(),
            cond: Default::default(),
        }
    }

    /// Applies writes: the last write to a key wins, in batches of at most 25 (each batch
    /// atomic).
    async fn apply(&self, ops: Vec<WriteOp>) -> WaResult<()> {
        let mut last: HashMap<String, usize> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            let sk = match op {
                WriteOp::Put { item, .. } => attr_str(item, "sk").unwrap_or_default().to_owned(),
                WriteOp::Delete { sk, .. } => sk.clone(),
            };
            last.insert(sk, i);
        }
        let keep: std::collections::HashSet<usize> = last.into_values().collect();
        let ops: Vec<WriteOp> = ops
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, op)| op)
            .collect();
        let mut ops = ops.into_iter().peekable();
        while ops.peek().is_some() {
            let chunk: Vec<WriteOp> = ops.by_ref().take(CHUNK).collect();
            self.store.write(chunk).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn put_plain(&self, sk: &str, plaintext: &str) -> WaResult<()> {
        self.apply(vec![self.put_op(sk, plaintext)]).await
    }

    async fn delete_sk(&self, sk: &str) -> WaResult<()> {
        self.apply(vec![self.del_op(sk)]).await
    }

    async fn delete_prefix(&self, prefix: &str) -> WaResult<()> {
        let ops = self
            .query_keys(prefix)
            .await?
            .iter()
            .map(|sk| self.del_op(sk))
            .collect();
        self.apply(ops).await
    }
}

#[async_trait]
impl SignalStore for StoreBackend {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> WaResult<()> {
        self.put_plain(&sk_identity(address), &b64(&key)).await
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> WaResult<()> {
        let ops = identities
            .iter()
            .map(|(address, key)| self.put_op(&sk_identity(address), &b64(key)))
            .collect();
        self.apply(ops).await
    }

    async fn load_identity(&self, address: &str) -> WaResult<Option<[u8; 32]>> {
        let sk = sk_identity(address);
        match self.get_bytes(&sk).await? {
            Some(bytes) => Ok(Some(
                bytes.try_into().map_err(|_| invalid("identity", &sk))?,
            )),
            None => Ok(None),
        }
    }

    async fn delete_identity(&self, address: &str) -> WaResult<()> {
        self.delete_sk(&sk_identity(address)).await
    }

    async fn get_session(&self, address: &str) -> WaResult<Option<Bytes>> {
        Ok(self.get_bytes(&sk_session(address)).await?.map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> WaResult<()> {
        self.put_plain(&sk_session(address), &b64(session)).await
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> WaResult<()> {
        let ops = sessions
            .iter()
            .map(|(address, session)| self.put_op(&sk_session(address), &b64(session)))
            .collect();
        self.apply(ops).await
    }

    async fn delete_session(&self, address: &str) -> WaResult<()> {
        self.delete_sk(&sk_session(address)).await
    }

    async fn has_session(&self, address: &str) -> WaResult<bool> {
        self.exists_sk(&sk_session(address)).await
    }

    async fn has_signal_state_for_user(&self, user: &str) -> WaResult<bool> {
        for prefix in [sk_session(user), sk_identity(user)] {
            let found = self.query_keys(&prefix).await?.iter().any(|sk| {
                sk.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.starts_with('@') || rest.starts_with(':'))
            });
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], _uploaded: bool) -> WaResult<()> {
        self.put_plain(&sk_prekey(id), &b64(record)).await
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], _uploaded: bool) -> WaResult<()> {
        let ops = keys
            .iter()
            .map(|(id, record)| self.put_op(&sk_prekey(*id), &b64(record)))
            .collect();
        self.apply(ops).await
    }

    async fn load_prekey(&self, id: u32) -> WaResult<Option<Bytes>> {
        Ok(self.get_bytes(&sk_prekey(id)).await?.map(Bytes::from))
    }

    async fn mark_prekeys_uploaded(&self, _ids: &[u32]) -> WaResult<()> {
        // Like the in-memory reference, the uploaded flag is not tracked; what matters is
        // not resurrecting consumed keys, which a no-op satisfies.
        Ok(())
    }

    async fn remove_prekey(&self, id: u32) -> WaResult<()> {
        self.delete_sk(&sk_prekey(id)).await
    }

    async fn get_max_prekey_id(&self) -> WaResult<u32> {
        Ok(self
            .query_keys("prekey#")
            .await?
            .iter()
            .filter_map(|sk| sk.strip_prefix("prekey#")?.parse::<u32>().ok())
            .max()
            .unwrap_or(0))
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> WaResult<()> {
        self.put_plain(&sk_signed_prekey(id), &b64(record)).await
    }

    async fn load_signed_prekey(&self, id: u32) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(&sk_signed_prekey(id)).await
    }

    async fn load_all_signed_prekeys(&self) -> WaResult<Vec<(u32, Vec<u8>)>> {
        let mut out = Vec::new();
        for (sk, plain) in self.query_plain("signedprekey#").await? {
            let id = sk
                .strip_prefix("signedprekey#")
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| invalid("signed pre-key", &sk))?;
            out.push((id, unb64(&plain)?));
        }
        Ok(out)
    }

    async fn remove_signed_prekey(&self, id: u32) -> WaResult<()> {
        self.delete_sk(&sk_signed_prekey(id)).await
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> WaResult<()> {
        self.put_plain(&sk_sender_key(address), &b64(record)).await
    }

    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> WaResult<()> {
        let ops = sender_keys
            .iter()
            .map(|(address, record)| self.put_op(&sk_sender_key(address), &b64(record)))
            .collect();
        self.apply(ops).await
    }

    async fn get_sender_key(&self, address: &str) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(&sk_sender_key(address)).await
    }

    async fn delete_sender_key(&self, address: &str) -> WaResult<()> {
        self.delete_sk(&sk_sender_key(address)).await
    }
}

#[async_trait]
impl AppSyncStore for StoreBackend {
    async fn get_sync_key(&self, key_id: &[u8]) -> WaResult<Option<AppStateSyncKey>> {
        self.get_json(&sk_sync_key(key_id)).await
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> WaResult<()> {
        let ops = vec![
            self.put_op(&sk_sync_key(key_id), &to_json(&key)?),
            self.put_op(SK_LATEST_SYNC_KEY, &b64(key_id)),
        ];
        self.apply(ops).await
    }

    async fn get_version(&self, name: &str) -> WaResult<HashState> {
        let sk = sk_version(name);
        match self.get_json::<HashStateRow>(&sk).await? {
            Some(row) => row.into_state(&sk),
            None => Ok(HashState::default()),
        }
    }

    async fn set_version(&self, name: &str, state: HashState) -> WaResult<()> {
        let row = HashStateRow::from_state(&state);
        self.put_plain(&sk_version(name), &to_json(&row)?).await
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        _version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> WaResult<()> {
        let ops = mutations
            .iter()
            .map(|m| self.put_op(&sk_mutation_mac(name, &m.index_mac), &b64(&m.value_mac)))
            .collect();
        self.apply(ops).await
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(&sk_mutation_mac(name, index_mac)).await
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> WaResult<()> {
        let ops = index_macs
            .iter()
            .map(|im| self.del_op(&sk_mutation_mac(name, im)))
            .collect();
        self.apply(ops).await
    }

    async fn clear_mutation_macs(&self, name: &str) -> WaResult<()> {
        self.delete_prefix(&prefix_mutation_mac(name)).await
    }

    async fn get_latest_sync_key_id(&self) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(SK_LATEST_SYNC_KEY).await
    }
}

#[async_trait]
impl ProtocolStore for StoreBackend {
    async fn get_sender_key_devices(&self, group_jid: &str) -> WaResult<Vec<(String, bool)>> {
        let prefix = prefix_sender_key_devices(group_jid);
        let mut out = Vec::new();
        for (sk, plain) in self.query_plain(&prefix).await? {
            let device = sk
                .strip_prefix(&prefix)
                .ok_or_else(|| invalid("sender key device", &sk))?;
            out.push((unesc(device), plain == "1"));
        }
        Ok(out)
    }

    async fn set_sender_key_status(
        &self,
        group_jid: &str,
        entries: &[(&str, bool)],
    ) -> WaResult<()> {
        let prefix = prefix_sender_key_devices(group_jid);
        let ops = entries
            .iter()
            .map(|(device, has_key)| {
                let sk = format!("{prefix}{}", esc(device));
                self.put_op(&sk, if *has_key { "1" } else { "0" })
            })
            .collect();
        self.apply(ops).await
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> WaResult<()> {
        self.delete_prefix(&prefix_sender_key_devices(group_jid))
            .await
    }

    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> WaResult<()> {
        if device_jids.is_empty() {
            return Ok(());
        }
        let doomed: std::collections::HashSet<String> =
            device_jids.iter().map(|jid| esc(jid)).collect();
        let ops = self
            .query_keys(PREFIX_SENDER_KEY_DEVICES)
            .await?
            .iter()
            .filter(|sk| {
                sk.strip_prefix(PREFIX_SENDER_KEY_DEVICES)
                    .and_then(|rest| rest.split_once('#'))
                    .is_some_and(|(_, device)| doomed.contains(device))
            })
            .map(|sk| self.del_op(sk))
            .collect();
        self.apply(ops).await
    }

    async fn clear_all_sender_key_devices(&self) -> WaResult<()> {
        self.delete_prefix(PREFIX_SENDER_KEY_DEVICES).await
    }

    async fn get_lid_mapping(&self, lid: &str) -> WaResult<Option<LidPnMappingEntry>> {
        self.get_json(&sk_lid(lid)).await
    }

    async fn get_pn_mapping(&self, phone: &str) -> WaResult<Option<LidPnMappingEntry>> {
        match self.get_plain(&sk_pn(phone)).await? {
            Some(lid) => self.get_lid_mapping(&lid).await,
            None => Ok(None),
        }
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        let mut ops = Vec::new();
        // A LID remapped to another number drops the old number's reverse entry.
        if let Some(old) = self.get_lid_mapping(&entry.lid).await? {
            if old.phone_number != entry.phone_number {
                ops.push(self.del_op(&sk_pn(&old.phone_number)));
            }
        }
        ops.push(self.put_op(&sk_pn(&entry.phone_number), &entry.lid));
        ops.push(self.put_op(&sk_lid(&entry.lid), &to_json(entry)?));
        self.apply(ops).await
    }

    async fn get_all_lid_mappings(&self) -> WaResult<Vec<LidPnMappingEntry>> {
        self.query_plain("lid#")
            .await?
            .iter()
            .map(|(_, plain)| from_json(plain))
            .collect()
    }

    async fn save_base_key(
        &self,
        address: &str,
        message_id: &str,
        base_key: &[u8],
    ) -> WaResult<()> {
        self.put_plain(&sk_base_key(address, message_id), &b64(base_key))
            .await
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> WaResult<bool> {
        Ok(self
            .get_bytes(&sk_base_key(address, message_id))
            .await?
            .is_some_and(|stored| stored == current_base_key))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> WaResult<()> {
        self.delete_sk(&sk_base_key(address, message_id)).await
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> WaResult<()> {
        self.put_plain(&sk_devices(&record.user), &to_json(&record)?)
            .await
    }

    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> WaResult<()> {
        let mut ops = Vec::with_capacity(records.len());
        for record in &records {
            ops.push(self.put_op(&sk_devices(&record.user), &to_json(record)?));
        }
        self.apply(ops).await
    }

    async fn get_devices(&self, user: &str) -> WaResult<Option<DeviceListRecord>> {
        self.get_json(&sk_devices(user)).await
    }

    async fn delete_devices(&self, user: &str) -> WaResult<()> {
        self.delete_sk(&sk_devices(user)).await
    }

    async fn get_group_metadata(&self, group_jid: &str) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(&sk_group_metadata(group_jid)).await
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> WaResult<()> {
        self.put_plain(&sk_group_metadata(group_jid), &b64(blob))
            .await
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> WaResult<()> {
        self.delete_sk(&sk_group_metadata(group_jid)).await
    }

    async fn get_tc_token(&self, jid: &str) -> WaResult<Option<TcTokenEntry>> {
        self.get_json(&sk_tc_token(jid)).await
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        self.put_plain(&sk_tc_token(jid), &to_json(entry)?).await
    }

    async fn delete_tc_token(&self, jid: &str) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        self.delete_sk(&sk_tc_token(jid)).await
    }

    async fn get_all_tc_token_jids(&self) -> WaResult<Vec<String>> {
        Ok(self
            .query_keys(PREFIX_TC_TOKEN)
            .await?
            .iter()
            .filter_map(|sk| sk.strip_prefix(PREFIX_TC_TOKEN).map(unesc))
            .collect())
    }

    async fn delete_expired_tc_tokens(
        &self,
        token_cutoff: i64,
        sender_cutoff: i64,
    ) -> WaResult<u32> {
        let _guard = self.rmw.lock().await;
        let mut ops = Vec::new();
        for (sk, plain) in self.query_plain(PREFIX_TC_TOKEN).await? {
            let entry: TcTokenEntry = from_json(&plain)?;
            // Kept while either the received token or the sender bucket is live.
            let token_live = !entry.token.is_empty() && entry.token_timestamp >= token_cutoff;
            let sender_live = entry.sender_timestamp.is_some_and(|ts| ts >= sender_cutoff);
            if !(token_live || sender_live) {
                ops.push(self.del_op(&sk));
            }
        }
        let count = ops.len() as u32;
        self.apply(ops).await?;
        Ok(count)
    }

    async fn touch_tc_token_sender_timestamp(
        &self,
        jid: &str,
        sender_timestamp: i64,
    ) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        let entry = match self.get_tc_token(jid).await? {
            Some(existing) => TcTokenEntry {
                sender_timestamp: Some(
                    existing
                        .sender_timestamp
                        .map_or(sender_timestamp, |e| e.max(sender_timestamp)),
                ),
                ..existing
            },
            None => TcTokenEntry {
                token: Vec::new(),
                token_timestamp: sender_timestamp,
                sender_timestamp: Some(sender_timestamp),
            },
        };
        self.put_plain(&sk_tc_token(jid), &to_json(&entry)?).await
    }

    async fn store_received_tc_token(
        &self,
        jid: &str,
        token: &[u8],
        token_timestamp: i64,
    ) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        let existing = self.get_tc_token(jid).await?;
        // Newer wins: a stale write does not clobber a fresher real token.
        if let Some(existing) = &existing {
            if !existing.token.is_empty() && token_timestamp < existing.token_timestamp {
                return Ok(());
            }
        }
        let entry = TcTokenEntry {
            token: token.to_vec(),
            token_timestamp,
            sender_timestamp: existing.and_then(|e| e.sender_timestamp),
        };
        self.put_plain(&sk_tc_token(jid), &to_json(&entry)?).await
    }

    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
    ) -> WaResult<()> {
        let row = StampedBlob {
            b: b64(payload),
            ts: now_secs(),
        };
        let _guard = self.rmw.lock().await;
        self.put_plain(&sk_sent(chat_jid, message_id), &to_json(&row)?)
            .await
    }

    async fn take_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
    ) -> WaResult<Option<Vec<u8>>> {
        let sk = sk_sent(chat_jid, message_id);
        let _guard = self.rmw.lock().await;
        let Some(plain) = self.get_plain(&sk).await? else {
            return Ok(None);
        };
        let row: StampedBlob = from_json(&plain)?;
        self.delete_sk(&sk).await?;
        Ok(Some(unb64(&row.b)?))
    }

    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> WaResult<u32> {
        self.delete_stamped_before("sent#", cutoff_timestamp).await
    }

    async fn store_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        message: &[u8],
    ) -> WaResult<()> {
        let row = StampedBlob {
            b: b64(message),
            ts: now_secs(),
        };
        let _guard = self.rmw.lock().await;
        self.put_plain(&sk_pending(chat, sender, id), &to_json(&row)?)
            .await
    }

    async fn store_pending_inbound_batch(&self, rows: &[PendingInboundRow<'_>]) -> WaResult<()> {
        let now = now_secs();
        let mut ops = Vec::with_capacity(rows.len());
        for row in rows {
            let stamped = StampedBlob {
                b: b64(row.message),
                ts: now,
            };
            ops.push(self.put_op(
                &sk_pending(row.chat, row.sender, row.id),
                &to_json(&stamped)?,
            ));
        }
        let _guard = self.rmw.lock().await;
        self.apply(ops).await
    }

    async fn get_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> WaResult<Option<Vec<u8>>> {
        match self.get_plain(&sk_pending(chat, sender, id)).await? {
            Some(plain) => Ok(Some(unb64(&from_json::<StampedBlob>(&plain)?.b)?)),
            None => Ok(None),
        }
    }

    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        self.delete_sk(&sk_pending(chat, sender, id)).await
    }

    async fn delete_pending_inbound_batch(&self, keys: &[PendingInboundKey<'_>]) -> WaResult<()> {
        let ops = keys
            .iter()
            .map(|k| self.del_op(&sk_pending(k.chat, k.sender, k.id)))
            .collect();
        let _guard = self.rmw.lock().await;
        self.apply(ops).await
    }

    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> WaResult<u32> {
        self.delete_stamped_before("pending#", cutoff_timestamp)
            .await
    }
}

impl StoreBackend {
    /// Deletes the [`StampedBlob`] records under `prefix` stored before `cutoff`.
    async fn delete_stamped_before(&self, prefix: &str, cutoff: i64) -> WaResult<u32> {
        let _guard = self.rmw.lock().await;
        let mut ops = Vec::new();
        for (sk, plain) in self.query_plain(prefix).await? {
            let row: StampedBlob = from_json(&plain)?;
            if row.ts < cutoff {
                ops.push(self.del_op(&sk));
            }
        }
        let count = ops.len() as u32;
        self.apply(ops).await?;
        Ok(count)
    }
}

#[async_trait]
impl MsgSecretStore for StoreBackend {
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> WaResult<usize> {
        let stored = entries.len();
        let _guard = self.rmw.lock().await;
        // Merge within the batch first, then with what is stored (later deadline wins,
        // a known parent time is never clobbered by an unknown one).
        let mut merged: BTreeMap<String, SecretRow> = BTreeMap::new();
        for entry in entries {
            let sk = sk_msg_secret(&entry.chat, &entry.sender, &entry.msg_id);
            let row = match merged.remove(&sk) {
                Some(prev) => SecretRow {
                    s: b64(&entry.secret),
                    exp: merge_msg_secret_expiry(prev.exp, entry.expires_at),
                    ts: merge_msg_secret_message_ts(prev.ts, entry.message_ts),
                },
                None => match self.get_json::<SecretRow>(&sk).await? {
                    Some(prev) => SecretRow {
                        s: b64(&entry.secret),
                        exp: merge_msg_secret_expiry(prev.exp, entry.expires_at),
                        ts: merge_msg_secret_message_ts(prev.ts, entry.message_ts),
                    },
                    None => SecretRow {
                        s: b64(&entry.secret),
                        exp: entry.expires_at,
                        ts: entry.message_ts,
                    },
                },
            };
            merged.insert(sk, row);
        }
        let mut ops = Vec::with_capacity(merged.len());
        for (sk, row) in &merged {
            ops.push(self.put_op(sk, &to_json(row)?));
        }
        self.apply(ops).await?;
        Ok(stored)
    }

    async fn get_msg_secret(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> WaResult<Option<Vec<u8>>> {
        Ok(self
            .get_msg_secret_with_ts(chat, sender, msg_id)
            .await?
            .map(|(secret, _)| secret))
    }

    async fn get_msg_secret_with_ts(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> WaResult<Option<(Vec<u8>, i64)>> {
        match self
            .get_json::<SecretRow>(&sk_msg_secret(chat, sender, msg_id))
            .await?
        {
            Some(row) => Ok(Some((unb64(&row.s)?, row.ts))),
            None => Ok(None),
        }
    }

    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> WaResult<u32> {
        let _guard = self.rmw.lock().await;
        let mut ops = Vec::new();
        for (sk, plain) in self.query_plain("msgsecret#").await? {
            let row: SecretRow = from_json(&plain)?;
            // Rows without a deadline (0) or with one still ahead are kept.
            if row.exp != 0 && row.exp <= cutoff_timestamp {
                ops.push(self.del_op(&sk));
            }
        }
        let count = ops.len() as u32;
        self.apply(ops).await?;
        Ok(count)
    }
}

#[async_trait]
impl DeviceStore for StoreBackend {
    async fn save(&self, device: &Device) -> WaResult<()> {
        self.put_plain(SK_DEVICE, &to_json(device)?).await
    }

    async fn load(&self) -> WaResult<Option<Device>> {
        let mut device: Option<Device> = self.get_json(SK_DEVICE).await?;
        if let Some(device) = &mut device {
            // Not serialized: restore what a fresh device carries.
            device.device_props = Arc::new(DEVICE_PROPS.clone());
        }
        Ok(device)
    }

    async fn exists(&self) -> WaResult<bool> {
        self.exists_sk(SK_DEVICE).await
    }

    async fn create(&self) -> WaResult<i32> {
        // One device per slot: materialize it so that `exists()` holds afterwards.
        let _guard = self.rmw.lock().await;
        if !self.exists_sk(SK_DEVICE).await? {
            self.put_plain(SK_DEVICE, &to_json(&Device::new())?).await?;
        }
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use whatsapp_rust::wacore::store::traits::{Backend, DeviceInfo};
    use whatsapp_rust::wacore::store::InMemoryBackend;

    fn slot() -> SlotKey {
        SlotKey {
            store_id: "st_1".into(),
            slot: 2,
        }
    }

    fn open_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).expect("open store"))
    }

    fn backend(store: &Arc<dyn Store>) -> StoreBackend {
        StoreBackend::new(
            store.clone(),
            Arc::new(SecretBox::from_key(&[9; 32])),
            &slot(),
        )
    }

    fn j<T: Serialize>(value: T) -> Value {
        serde_json::to_value(value).expect("serializable result")
    }

    fn r<T: Serialize>(result: WaResult<T>) -> Value {
        match result {
            Ok(value) => j(value),
            Err(e) => Value::String(format!("error: {e}")),
        }
    }

    fn bytes(result: WaResult<Option<Bytes>>) -> Value {
        r(result.map(|b| b.map(|b| b.to_vec())))
    }

    fn sorted<T: Serialize>(result: WaResult<Vec<T>>) -> Value {
        let mut values: Vec<Value> = match result {
            Ok(items) => items.into_iter().map(j).collect(),
            Err(e) => return Value::String(format!("error: {e}")),
        };
        values.sort_by_key(|v| v.to_string());
        Value::Array(values)
    }

    fn lid(lid: &str, pn: &str, at: i64) -> LidPnMappingEntry {
        LidPnMappingEntry {
            lid: lid.into(),
            phone_number: pn.into(),
            created_at: at,
            updated_at: at,
            learning_source: "usync".into(),
        }
    }

    fn secret(chat: &str, id: &str, fill: u8, exp: i64, ts: i64) -> MsgSecretEntry {
        MsgSecretEntry {
            chat: chat.into(),
            sender: "5511900000001@s.whatsapp.net".into(),
            msg_id: id.into(),
            secret: [fill; 32],
            expires_at: exp,
            message_ts: ts,
        }
    }

    /// Runs the same representative call sequence over every sub-trait and records each
    /// result, normalized to JSON (unordered collections sorted).
    async fn script(b: &dyn Backend, device: &Device) -> Vec<(&'static str, Value)> {
        let a1 = "5511900000001:1@s.whatsapp.net";
        let a2 = "5511900000002@s.whatsapp.net";
        let mut out: Vec<(&'static str, Value)> = Vec::new();
        macro_rules! rec {
            ($label:expr, $value:expr) => {
                out.push(($label, $value))
            };
        }

        // --- SignalStore ---
        rec!("identity missing", r(b.load_identity(a1).await));
        rec!("put identity", r(b.put_identity(a1, [1; 32]).await));
        rec!(
            "put identities",
            r(
                b.put_identities_batch(&[(a2.into(), [2; 32]), (a1.into(), [3; 32])])
                    .await
            )
        );
        rec!("identity a1", r(b.load_identity(a1).await));
        rec!("identity a2", r(b.load_identity(a2).await));
        rec!("delete identity", r(b.delete_identity(a2).await));
        rec!("identity a2 gone", r(b.load_identity(a2).await));
        rec!("session missing", bytes(b.get_session(a1).await));
        rec!("has session no", r(b.has_session(a1).await));
        rec!("put session", r(b.put_session(a1, b"session-one").await));
        rec!(
            "put sessions",
            r(b.put_sessions_batch(&[
                (a2.into(), Bytes::from_static(b"session-two")),
                (a1.into(), Bytes::from_static(b"session-one-b")),
            ])
            .await)
        );
        rec!("session a1", bytes(b.get_session(a1).await));
        rec!("session a2", bytes(b.get_session(a2).await));
        rec!("has session", r(b.has_session(a2).await));
        rec!(
            "state user1",
            r(b.has_signal_state_for_user("5511900000001").await)
        );
        rec!(
            "state prefix",
            r(b.has_signal_state_for_user("551190000000").await)
        );
        rec!(
            "state none",
            r(b.has_signal_state_for_user("5511999999999").await)
        );
        rec!("delete session", r(b.delete_session(a2).await));
        rec!("session a2 gone", bytes(b.get_session(a2).await));
        rec!(
            "state user2 gone",
            r(b.has_signal_state_for_user("5511900000002").await)
        );
        rec!("max prekey empty", r(b.get_max_prekey_id().await));
        rec!("prekey missing", bytes(b.load_prekey(7).await));
        rec!("store prekey", r(b.store_prekey(7, b"pk7", false).await));
        rec!(
            "store prekeys",
            r(b.store_prekeys_batch(
                &[
                    (8, Bytes::from_static(b"pk8")),
                    (12, Bytes::from_static(b"pk12"))
                ],
                true
            )
            .await)
        );
        rec!("mark uploaded", r(b.mark_prekeys_uploaded(&[7, 99]).await));
        rec!("prekey 8", bytes(b.load_prekey(8).await));
        rec!(
            "prekeys batch",
            r(b.load_prekeys_batch(&[12, 9, 7]).await.map(|v| v
                .into_iter()
                .map(|(i, b)| (i, b.to_vec()))
                .collect::<Vec<_>>()))
        );
        rec!("max prekey", r(b.get_max_prekey_id().await));
        rec!("remove prekey", r(b.remove_prekey(12).await));
        rec!("max prekey after", r(b.get_max_prekey_id().await));
        rec!("mark removed", r(b.mark_prekeys_uploaded(&[12]).await));
        rec!("prekey 12 gone", bytes(b.load_prekey(12).await));
        rec!("signed missing", r(b.load_signed_prekey(1).await));
        rec!("store signed 1", r(b.store_signed_prekey(1, b"spk1").await));
        rec!("store signed 2", r(b.store_signed_prekey(2, b"spk2").await));
        rec!("signed 1", r(b.load_signed_prekey(1).await));
        rec!("all signed", sorted(b.load_all_signed_prekeys().await));
        rec!("remove signed", r(b.remove_signed_prekey(1).await));
        rec!(
            "all signed after",
            sorted(b.load_all_signed_prekeys().await)
        );
        let g = "120363000000000001@g.us::5511900000001:1@s.whatsapp.net";
        rec!("sender key missing", r(b.get_sender_key(g).await));
        rec!("put sender key", r(b.put_sender_key(g, b"sk-1").await));
        rec!(
            "put sender keys",
            r(
                b.put_sender_keys_batch(&[(g.into(), Bytes::from_static(b"sk-2"))])
                    .await
            )
        );
        rec!("sender key", r(b.get_sender_key(g).await));
        rec!("delete sender key", r(b.delete_sender_key(g).await));
        rec!("sender key gone", r(b.get_sender_key(g).await));

        // --- AppSyncStore ---
        rec!("sync key missing", r(b.get_sync_key(b"k1").await));
        rec!("latest missing", r(b.get_latest_sync_key_id().await));
        let key = |n: u8| AppStateSyncKey {
            key_data: vec![n; 32],
            fingerprint: vec![n, n],
            timestamp: 1_700_000_000 + i64::from(n),
        };
        rec!("set sync key 1", r(b.set_sync_key(b"k1", key(1)).await));
        rec!(
            "set sync key 2",
            r(b.set_sync_key(&[0, 255, 7], key(2)).await)
        );
        rec!("sync key 1", r(b.get_sync_key(b"k1").await));
        rec!("sync key 2", r(b.get_sync_key(&[0, 255, 7]).await));
        rec!("latest", r(b.get_latest_sync_key_id().await));
        rec!("version missing", r(b.get_version("regular").await));
        let state = HashState {
            version: 42,
            hash: [5; 128],
            index_value_map: HashMap::from([
                ("idx-a".to_string(), vec![1, 2, 3]),
                ("idx-b".to_string(), vec![]),
            ]),
            mac_mismatch_fatal: true,
        };
        rec!("set version", r(b.set_version("regular", state).await));
        rec!("version", r(b.get_version("regular").await));
        rec!("version other", r(b.get_version("critical_block").await));
        let mac = |i: &[u8], v: &[u8]| AppStateMutationMAC {
            index_mac: i.to_vec(),
            value_mac: v.to_vec(),
        };
        rec!(
            "put macs regular",
            r(
                b.put_mutation_macs("regular", 1, &[mac(&[1], &[10]), mac(&[2], &[20])])
                    .await
            )
        );
        rec!(
            "put macs critical",
            r(b.put_mutation_macs("critical", 1, &[mac(&[1], &[30])])
                .await)
        );
        rec!("mac 1", r(b.get_mutation_mac("regular", &[1]).await));
        rec!("mac missing", r(b.get_mutation_mac("regular", &[3]).await));
        rec!(
            "macs batch",
            r(b.get_mutation_macs("regular", &[[0; 32], [1; 32]])
                .await
                .map(|m| m.len()))
        );
        rec!(
            "delete macs",
            r(b.delete_mutation_macs("regular", &[vec![1], vec![9]]).await)
        );
        rec!("mac 1 gone", r(b.get_mutation_mac("regular", &[1]).await));
        rec!("mac 2 kept", r(b.get_mutation_mac("regular", &[2]).await));
        rec!("clear macs", r(b.clear_mutation_macs("regular").await));
        rec!(
            "mac 2 cleared",
            r(b.get_mutation_mac("regular", &[2]).await)
        );
        rec!(
            "critical kept",
            r(b.get_mutation_mac("critical", &[1]).await)
        );

        // --- ProtocolStore ---
        let g1 = "120363000000000001@g.us";
        let g2 = "120363000000000002@g.us";
        rec!("skdev empty", sorted(b.get_sender_key_devices(g1).await));
        rec!(
            "skdev set g1",
            r(
                b.set_sender_key_status(g1, &[("d1@lid", true), ("d2@lid", false)])
                    .await
            )
        );
        rec!(
            "skdev set g2",
            r(
                b.set_sender_key_status(g2, &[("d1@lid", true), ("d3@lid", true)])
                    .await
            )
        );
        rec!(
            "skdev update",
            r(b.set_sender_key_status(g1, &[("d2@lid", true)]).await)
        );
        rec!("skdev g1", sorted(b.get_sender_key_devices(g1).await));
        rec!(
            "skdev rows none",
            r(b.delete_sender_key_device_rows(&[]).await)
        );
        rec!(
            "skdev rows",
            r(b.delete_sender_key_device_rows(&["d1@lid"]).await)
        );
        rec!("skdev g1 after", sorted(b.get_sender_key_devices(g1).await));
        rec!("skdev g2 after", sorted(b.get_sender_key_devices(g2).await));
        rec!("skdev clear g1", r(b.clear_sender_key_devices(g1).await));
        rec!(
            "skdev g1 cleared",
            sorted(b.get_sender_key_devices(g1).await)
        );
        rec!("skdev g2 kept", sorted(b.get_sender_key_devices(g2).await));
        rec!("skdev clear all", r(b.clear_all_sender_key_devices().await));
        rec!(
            "skdev g2 cleared",
            sorted(b.get_sender_key_devices(g2).await)
        );
        rec!("lid missing", r(b.get_lid_mapping("100").await));
        rec!("pn missing", r(b.get_pn_mapping("5511").await));
        rec!(
            "put lid",
            r(b.put_lid_mapping(&lid("100", "5511", 1)).await)
        );
        rec!(
            "put lids",
            r(
                b.put_lid_mappings(&[lid("200", "5522", 2), lid("100", "5533", 3)])
                    .await
            )
        );
        rec!("lid 100", r(b.get_lid_mapping("100").await));
        rec!("pn old gone", r(b.get_pn_mapping("5511").await));
        rec!("pn new", r(b.get_pn_mapping("5533").await));
        rec!("pn 5522", r(b.get_pn_mapping("5522").await));
        rec!("all lids", sorted(b.get_all_lid_mappings().await));
        rec!(
            "base key missing",
            r(b.has_same_base_key(a1, "m1", b"bk").await)
        );
        rec!("save base key", r(b.save_base_key(a1, "m1", b"bk").await));
        rec!(
            "base key same",
            r(b.has_same_base_key(a1, "m1", b"bk").await)
        );
        rec!(
            "base key differs",
            r(b.has_same_base_key(a1, "m1", b"xx").await)
        );
        rec!("delete base key", r(b.delete_base_key(a1, "m1").await));
        rec!(
            "base key gone",
            r(b.has_same_base_key(a1, "m1", b"bk").await)
        );
        let devices = |user: &str, n: u32| DeviceListRecord {
            user: user.into(),
            devices: (0..n).map(|d| DeviceInfo::new(d, Some(d))).collect(),
            timestamp: 1_700_000_000,
            phash: Some("2:abc".into()),
            raw_id: Some(n),
        };
        rec!("devices missing", r(b.get_devices("5511").await));
        rec!(
            "update devices",
            r(b.update_device_list(devices("5511", 2)).await)
        );
        rec!(
            "update devices batch",
            r(
                b.update_device_lists(vec![devices("5522", 1), devices("5511", 3)])
                    .await
            )
        );
        rec!("devices 5511", r(b.get_devices("5511").await));
        rec!("delete devices", r(b.delete_devices("5511").await));
        rec!("devices gone", r(b.get_devices("5511").await));
        rec!("devices 5522", r(b.get_devices("5522").await));
        rec!("group meta missing", r(b.get_group_metadata(g1).await));
        rec!(
            "put group meta",
            r(b.put_group_metadata(g1, b"blob-v1").await)
        );
        rec!(
            "put group meta 2",
            r(b.put_group_metadata(g1, b"blob-v2").await)
        );
        rec!("group meta", r(b.get_group_metadata(g1).await));
        rec!("delete group meta", r(b.delete_group_metadata(g1).await));
        rec!("group meta gone", r(b.get_group_metadata(g1).await));
        let t = |token: &[u8], ts: i64, sender: Option<i64>| TcTokenEntry {
            token: token.to_vec(),
            token_timestamp: ts,
            sender_timestamp: sender,
        };
        rec!("tc missing", r(b.get_tc_token("1@lid").await));
        rec!(
            "tc put 1",
            r(b.put_tc_token("1@lid", &t(b"tok1", 100, None)).await)
        );
        rec!(
            "tc put 2",
            r(b.put_tc_token("2@lid", &t(b"tok2", 10, Some(10))).await)
        );
        rec!(
            "tc touch 1",
            r(b.touch_tc_token_sender_timestamp("1@lid", 50).await)
        );
        rec!(
            "tc touch 1 older",
            r(b.touch_tc_token_sender_timestamp("1@lid", 40).await)
        );
        rec!(
            "tc touch new",
            r(b.touch_tc_token_sender_timestamp("3@lid", 60).await)
        );
        rec!(
            "tc recv stale",
            r(b.store_received_tc_token("1@lid", b"old", 90).await)
        );
        rec!(
            "tc recv newer",
            r(b.store_received_tc_token("1@lid", b"new", 120).await)
        );
        rec!(
            "tc recv placeholder",
            r(b.store_received_tc_token("3@lid", b"t3", 5).await)
        );
        rec!(
            "tc recv fresh",
            r(b.store_received_tc_token("4@lid", b"t4", 7).await)
        );
        rec!("tc 1", r(b.get_tc_token("1@lid").await));
        rec!("tc 3", r(b.get_tc_token("3@lid").await));
        rec!("tc 4", r(b.get_tc_token("4@lid").await));
        rec!("tc jids", sorted(b.get_all_tc_token_jids().await));
        rec!("tc expire", r(b.delete_expired_tc_tokens(8, 55).await));
        rec!("tc jids after", sorted(b.get_all_tc_token_jids().await));
        rec!("tc delete", r(b.delete_tc_token("1@lid").await));
        rec!("tc 1 gone", r(b.get_tc_token("1@lid").await));
        rec!("sent missing", r(b.take_sent_message(g1, "s0").await));
        rec!(
            "sent store",
            r(b.store_sent_message(g1, "s1", b"payload-1").await)
        );
        rec!(
            "sent store 2",
            r(b.store_sent_message(a2, "s2", b"payload-2").await)
        );
        rec!("sent take", r(b.take_sent_message(g1, "s1").await));
        rec!("sent take again", r(b.take_sent_message(g1, "s1").await));
        rec!(
            "sent expire none",
            r(b.delete_expired_sent_messages(0).await)
        );
        rec!(
            "sent expire all",
            r(b.delete_expired_sent_messages(i64::MAX).await)
        );
        rec!("sent 2 gone", r(b.take_sent_message(a2, "s2").await));
        rec!(
            "pending missing",
            r(b.get_pending_inbound(g1, a1, "p1").await)
        );
        rec!(
            "pending store",
            r(b.store_pending_inbound(g1, a1, "p1", b"msg-1").await)
        );
        rec!(
            "pending batch",
            r(b.store_pending_inbound_batch(&[
                PendingInboundRow {
                    chat: g1,
                    sender: a1,
                    id: "p2",
                    message: b"msg-2",
                },
                PendingInboundRow {
                    chat: a2,
                    sender: a2,
                    id: "p3",
                    message: b"msg-3",
                },
            ])
            .await)
        );
        rec!("pending 1", r(b.get_pending_inbound(g1, a1, "p1").await));
        rec!(
            "pending other sender",
            r(b.get_pending_inbound(g1, a2, "p1").await)
        );
        rec!(
            "pending delete",
            r(b.delete_pending_inbound(g1, a1, "p1").await)
        );
        rec!(
            "pending 1 gone",
            r(b.get_pending_inbound(g1, a1, "p1").await)
        );
        rec!(
            "pending delete batch",
            r(b.delete_pending_inbound_batch(&[PendingInboundKey {
                chat: g1,
                sender: a1,
                id: "p2",
            }])
            .await)
        );
        rec!(
            "pending 2 gone",
            r(b.get_pending_inbound(g1, a1, "p2").await)
        );
        rec!(
            "pending expire none",
            r(b.delete_expired_pending_inbound(0).await)
        );
        rec!("pending 3", r(b.get_pending_inbound(a2, a2, "p3").await));
        rec!(
            "pending expire all",
            r(b.delete_expired_pending_inbound(i64::MAX).await)
        );
        rec!(
            "pending 3 gone",
            r(b.get_pending_inbound(a2, a2, "p3").await)
        );

        // --- MsgSecretStore ---
        rec!("secret missing", r(b.get_msg_secret(g1, a1, "m1").await));
        rec!(
            "secrets put",
            r(b.put_msg_secrets(vec![
                secret(g1, "m1", 1, 100, 0),
                secret(g1, "m2", 2, 0, 50),
                secret(g1, "m3", 3, 300, 60),
                secret(g1, "m3", 4, 200, 0),
            ])
            .await)
        );
        rec!(
            "secrets merge",
            r(b.put_msg_secrets(vec![secret(g1, "m1", 5, 150, 70)]).await)
        );
        rec!(
            "secret single",
            r(
                b.put_msg_secret(g1, "5511900000001@s.whatsapp.net", "m4", &[6; 32])
                    .await
            )
        );
        let s = "5511900000001@s.whatsapp.net";
        rec!("secret m1", r(b.get_msg_secret_with_ts(g1, s, "m1").await));
        rec!("secret m3", r(b.get_msg_secret_with_ts(g1, s, "m3").await));
        rec!("secret m4", r(b.get_msg_secret(g1, s, "m4").await));
        rec!("secret expire", r(b.delete_expired_msg_secrets(200).await));
        rec!("secret m1 gone", r(b.get_msg_secret(g1, s, "m1").await));
        rec!(
            "secret m2 kept",
            r(b.get_msg_secret_with_ts(g1, s, "m2").await)
        );
        rec!("secret m3 kept", r(b.get_msg_secret(g1, s, "m3").await));

        // --- DeviceStore ---
        rec!("device exists no", r(b.exists().await));
        rec!("device load none", r(b.load().await.map(|d| d.is_some())));
        rec!("device create", r(b.create().await));
        rec!("device exists", r(b.exists().await));
        rec!("device save", r(b.save(device).await));
        rec!("device load", r(b.load().await));
        out
    }

    #[tokio::test]
    async fn behaves_like_the_in_memory_reference() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(&dir);
        let ours = backend(&store);
        let reference = InMemoryBackend::new();
        let mut device = Device::new();
        device.push_name = "Pizzaria".into();
        device.pn = Some("5511900000009@s.whatsapp.net".parse().expect("jid"));

        let expected = script(&reference, &device).await;
        let actual = script(&ours, &device).await;
        assert_eq!(expected.len(), actual.len());
        // Anchor the reference itself, so the comparison is not vacuous.
        let want = |label: &str| {
            expected
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, v)| v.clone())
                .expect("label")
        };
        assert_eq!(want("session a1"), j(Some(b"session-one-b".to_vec())));
        assert_eq!(want("pn old gone"), Value::Null);
        assert_eq!(want("tc expire"), j(1u32));
        assert_eq!(want("secret expire"), j(1u32));
        assert_eq!(want("max prekey"), j(12u32));
        for ((label, want), (_, got)) in expected.iter().zip(&actual) {
            assert_eq!(want, got, "{label}");
        }
    }

    #[tokio::test]
    async fn a_restarted_backend_sees_what_was_written_and_nothing_is_in_clear() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(&dir);
        let mut device = Device::new();
        device.push_name = "Pizzaria".into();
        {
            let first = backend(&store);
            first.save(&device).await.expect("save");
            first
                .put_session("5511900000001@s.whatsapp.net", b"SESSION-PLAINTEXT")
                .await
                .expect("session");
            first
                .put_identity("5511900000001@s.whatsapp.net", [0xAB; 32])
                .await
                .expect("id");
            first
                .store_prekey(3, b"PREKEY-PLAINTEXT", true)
                .await
                .expect("prekey");
            first
                .put_lid_mapping(&lid("100", "5511900000001", 1))
                .await
                .expect("lid");
        }
        let second = backend(&store);
        assert_eq!(
            second
                .get_session("5511900000001@s.whatsapp.net")
                .await
                .expect("get")
                .as_deref(),
            Some(&b"SESSION-PLAINTEXT"[..])
        );
        assert_eq!(
            second
                .load_identity("5511900000001@s.whatsapp.net")
                .await
                .expect("get"),
            Some([0xAB; 32])
        );
        assert_eq!(second.get_max_prekey_id().await.expect("max"), 3);
        let loaded = second.load().await.expect("load").expect("device");
        assert_eq!(j(&loaded), j(&device));
        assert_eq!(
            loaded.device_props.os, DEVICE_PROPS.os,
            "props restored on load"
        );
        assert_eq!(
            second
                .get_pn_mapping("5511900000001")
                .await
                .expect("pn")
                .map(|e| e.lid),
            Some("100".to_string())
        );

        // Nothing stored carries a value in clear (raw, base64 or as JSON numbers).
        let items = store.query(&partition(&slot()), "").await.expect("query");
        assert!(items.len() >= 6);
        let dump = serde_json::to_string(&items).expect("json");
        for needle in [
            "SESSION-PLAINTEXT".to_string(),
            b64(b"SESSION-PLAINTEXT"),
            "PREKEY-PLAINTEXT".to_string(),
            b64(b"PREKEY-PLAINTEXT"),
            b64(&[0xAB; 32]),
            "Pizzaria".to_string(),
            "learning_source".to_string(),
        ] {
            assert!(!dump.contains(&needle), "{needle} stored in clear");
        }
        for item in &items {
            let keys: Vec<&String> = item.keys().collect();
            assert_eq!(keys.len(), 3, "only pk, sk and the sealed value: {keys:?}");
        }

        // A value moved to another key does not open.
        let session = store
            .get(&partition(&slot()), "session#5511900000001@s.whatsapp.net")
            .await
            .expect("get")
            .expect("item");
        let mut moved = session.clone();
        moved.insert("sk".into(), "session#5511900000002@s.whatsapp.net".into());
        store
            .write(vec![WriteOp::Put {
                item: moved,
                cond: Default::default(),
            }])
            .await
            .expect("write");
        assert!(second
            .get_session("5511900000002@s.whatsapp.net")
            .await
            .is_err());
    }

    #[tokio::test]
    async fn wipe_deletes_the_whole_partition_and_only_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(&dir);
        let b = backend(&store);
        let other = StoreBackend::new(
            store.clone(),
            Arc::new(SecretBox::from_key(&[9; 32])),
            &SlotKey {
                store_id: "st_1".into(),
                slot: 3,
            },
        );
        let keys: Vec<(u32, Bytes)> = (1..=60).map(|i| (i, Bytes::from_static(b"pk"))).collect();
        b.store_prekeys_batch(&keys, false).await.expect("prekeys");
        b.create().await.expect("device");
        other.create().await.expect("other device");

        assert_eq!(wipe(store.as_ref(), &slot()).await.expect("wipe"), 61);
        assert!(store
            .query(&partition(&slot()), "")
            .await
            .expect("query")
            .is_empty());
        assert!(!b.exists().await.expect("exists"));
        assert!(other.exists().await.expect("other exists"));
    }

    #[test]
    fn key_components_are_escaped_and_ordered() {
        assert_eq!(esc("a#b%c"), "a%23b%25c");
        assert_eq!(unesc(&esc("a#b%23c%")), "a#b%23c%");
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert!(sk_prekey(7) < sk_prekey(12));
    }
}
