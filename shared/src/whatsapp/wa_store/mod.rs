//! whatsapp-rust's storage [`Backend`] over our [`Store`] port, for one slot. A linked
//! WhatsApp device is a pile of key material (the device identity, Signal sessions, pre-keys,
//! sender keys, app-state keys) that must survive restarts and follow the slot from one
//! gateway host to another, so it lives in the same table as everything else instead of a
//! local SQLite file.
//!
//! Every record of a slot sits in partition `WA#<storeId>#<slot>` under a sort key naming its
//! kind and key (`session#<address>`, `prekey#<id>`, `device`, ...; all built in
//! [`crate::store::keys::wa`]); deleting the partition ([`wipe`]) forgets the device. Values
//! are serialized (bytes as base64, structures as JSON) and sealed with the [`SecretBox`],
//! bound to their partition and sort key, so no key material is stored in clear. Sort keys
//! (addresses, group and message ids) stay readable: they are what partition queries select
//! on.
//!
//! [`Backend`] is five sub-traits, one file each: [`SignalStore`] (`signal.rs`),
//! [`AppSyncStore`] (`app_sync.rs`), [`ProtocolStore`] (`protocol.rs`), [`MsgSecretStore`]
//! (`msg_secret.rs`) and [`DeviceStore`] (`device.rs`); `sealed.rs` is how one record is
//! read and written, for all of them, and `journal.rs` how a call's writes are committed:
//! all or nothing however many there are, and fenced by the slot's lease, so a task that
//! lost the lease can't overwrite the new holder's Signal state (it gets a refusal and its
//! connection ends). Message secrets carry their deadline as the table's TTL attribute and
//! are hidden from reads once it has passed (`msg_secret.rs`): no sweep reads them.
//!
//! Semantics follow wacore's `InMemoryBackend` method by method (the tests run both side by
//! side, each trait's script beside its implementation). A call returns only once its writes
//! are committed by the store, which is what the Signal layer relies on to make state durable
//! before a ciphertext leaves. Read-modify-write methods are serialized by a lock in this
//! process: one gateway drives one slot at a time.
//!
//! [`Backend`]: whatsapp_rust::wacore::store::traits::Backend
//! [`SignalStore`]: whatsapp_rust::wacore::store::traits::SignalStore
//! [`AppSyncStore`]: whatsapp_rust::wacore::store::traits::AppSyncStore
//! [`ProtocolStore`]: whatsapp_rust::wacore::store::traits::ProtocolStore
//! [`MsgSecretStore`]: whatsapp_rust::wacore::store::traits::MsgSecretStore
//! [`DeviceStore`]: whatsapp_rust::wacore::store::traits::DeviceStore

mod app_sync;
mod device;
mod journal;
mod msg_secret;
mod protocol;
mod sealed;
mod signal;

use std::sync::Arc;

use tokio::sync::{watch, Mutex, RwLock};

use super::events::SlotKey;
use super::slots::Fence;
use crate::crypto::SecretBox;
use crate::store::{attr_str, keys, Store, StoreError, WriteOp};

/// Deletes per store batch, for the wipe.
const CHUNK: usize = 25;

/// The partition holding every WhatsApp record of a slot.
pub fn partition(slot: &SlotKey) -> String {
    keys::wa_pk(&slot.store_id, slot.slot)
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

/// whatsapp-rust's storage backend for one slot, over the [`Store`] port, for the holder of
/// the slot's lease whose [`Fence`] it is given.
pub struct StoreBackend {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
    pk: String,
    fence: Fence,
    /// Serializes read-modify-write sequences (the in-memory reference holds one lock).
    rmw: Mutex<()>,
    /// Calls share it; a journaled batch holds it alone (see `journal.rs`).
    journal: RwLock<journal::JournalState>,
    /// The backend's store transactions, one at a time (see `journal.rs`).
    writing: Mutex<()>,
    /// Turns true once a write was refused by the fence (another task holds the lease).
    fenced_out: watch::Sender<bool>,
    /// A test's clock (epoch seconds) instead of the system's.
    clock: Option<Arc<std::sync::atomic::AtomicI64>>,
}

impl StoreBackend {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<SecretBox>, fence: Fence) -> Self {
        Self {
            store,
            secrets,
            pk: partition(&fence.slot),
            fence,
            rmw: Mutex::new(()),
            journal: RwLock::default(),
            writing: Mutex::new(()),
            fenced_out: watch::Sender::new(false),
            clock: None,
        }
    }

    /// Turns true once a write was refused by the lease fence: the connection must end.
    pub fn fenced_out(&self) -> watch::Receiver<bool> {
        self.fenced_out.subscribe()
    }

    /// Reads time (epoch seconds) from `clock` instead of the system clock (tests).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn with_clock(mut self, clock: Arc<std::sync::atomic::AtomicI64>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Now, in epoch seconds.
    fn now(&self) -> i64 {
        match &self.clock {
            Some(clock) => clock.load(std::sync::atomic::Ordering::SeqCst),
            None => sealed::now_secs(),
        }
    }
}

/// What the tests of every sub-trait share: the backends under test and the way results are
/// recorded for comparison with the in-memory reference.
#[cfg(test)]
mod oracle {
    use std::sync::Arc;

    use serde::Serialize;
    use serde_json::Value;
    use whatsapp_rust::bytes::Bytes;
    use whatsapp_rust::wacore::store::error::Result as WaResult;
    use whatsapp_rust::wacore::store::traits::LidPnMappingEntry;

    use super::StoreBackend;
    use crate::crypto::SecretBox;
    use crate::store::embedded::EmbeddedStore;
    use crate::store::Store;
    use crate::whatsapp::events::SlotKey;
    use crate::whatsapp::slots::Fence;

    /// The results of a script: one `(label, result as JSON)` per call.
    #[derive(Default)]
    pub struct Record(pub Vec<(&'static str, Value)>);

    impl Record {
        /// Records one call's result.
        pub fn rec(&mut self, label: &'static str, value: Value) {
            self.0.push((label, value));
        }
    }

    /// Addresses and groups the scripts use.
    pub const A1: &str = "5511900000001:1@s.whatsapp.net";
    pub const A2: &str = "5511900000002@s.whatsapp.net";
    pub const G1: &str = "120363000000000001@g.us";
    pub const G2: &str = "120363000000000002@g.us";

    pub fn slot() -> SlotKey {
        SlotKey {
            store_id: "st_1".into(),
            slot: 2,
        }
    }

    pub fn open_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).expect("open store"))
    }

    /// A backend of the default slot, holding its fence (claimed anew: the previous
    /// backend of the slot is fenced out).
    pub async fn backend(store: &Arc<dyn Store>) -> StoreBackend {
        backend_of(store, &slot()).await
    }

    pub async fn backend_of(store: &Arc<dyn Store>, slot: &SlotKey) -> StoreBackend {
        let fence = Fence::claim(store.as_ref(), slot).await.expect("fence");
        StoreBackend::new(
            store.clone(),
            Arc::new(SecretBox::from_key(&[9; 32])),
            fence,
        )
    }

    /// The scripts' clock (epoch seconds): set on our backend, ignored by the reference.
    #[derive(Default, Clone)]
    pub struct Clock(pub Arc<std::sync::atomic::AtomicI64>);

    impl Clock {
        pub fn set(&self, now: i64) {
            self.0.store(now, std::sync::atomic::Ordering::SeqCst);
        }
    }

    pub fn j<T: Serialize>(value: T) -> Value {
        serde_json::to_value(value).expect("serializable result")
    }

    pub fn r<T: Serialize>(result: WaResult<T>) -> Value {
        match result {
            Ok(value) => j(value),
            Err(e) => Value::String(format!("error: {e}")),
        }
    }

    pub fn bytes(result: WaResult<Option<Bytes>>) -> Value {
        r(result.map(|b| b.map(|b| b.to_vec())))
    }

    pub fn lid(lid: &str, pn: &str, at: i64) -> LidPnMappingEntry {
        LidPnMappingEntry {
            lid: lid.into(),
            phone_number: pn.into(),
            created_at: at,
            updated_at: at,
            learning_source: "usync".into(),
        }
    }

    pub fn sorted<T: Serialize>(result: WaResult<Vec<T>>) -> Value {
        let mut values: Vec<Value> = match result {
            Ok(items) => items.into_iter().map(j).collect(),
            Err(e) => return Value::String(format!("error: {e}")),
        };
        values.sort_by_key(|v| v.to_string());
        Value::Array(values)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::Value;
    use whatsapp_rust::bytes::Bytes;
    use whatsapp_rust::wacore::store::device::DEVICE_PROPS;
    use whatsapp_rust::wacore::store::traits::{Backend, DeviceStore, ProtocolStore, SignalStore};
    use whatsapp_rust::wacore::store::{Device, InMemoryBackend};

    use super::oracle::{backend, backend_of, j, lid, open_store, slot, Clock, Record};
    use super::sealed::b64;
    use super::*;
    use crate::store::keys::wa;

    /// Runs the same representative call sequence over every sub-trait and records each
    /// result, normalized to JSON (unordered collections sorted).
    async fn script(b: &dyn Backend, device: &Device, clock: &Clock) -> Vec<(&'static str, Value)> {
        let mut o = Record::default();
        signal::tests::script(b, &mut o).await;
        app_sync::tests::script(b, &mut o).await;
        protocol::tests::script(b, &mut o).await;
        msg_secret::tests::script(b, &mut o, clock).await;
        device::tests::script(b, device, &mut o).await;
        o.0
    }

    #[tokio::test]
    async fn behaves_like_the_in_memory_reference() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(&dir);
        let clock = Clock::default();
        let ours = backend(&store).await.with_clock(clock.0.clone());
        let reference = InMemoryBackend::new();
        let mut device = Device::new();
        device.push_name = "Pizzaria".into();
        device.pn = Some("5511900000009@s.whatsapp.net".parse().expect("jid"));

        let expected = script(&reference, &device, &Clock::default()).await;
        let actual = script(&ours, &device, &clock).await;
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
        assert_eq!(want("secret m1 gone"), Value::Null);
        assert_eq!(want("max prekey"), j(12u32));
        for ((label, want), (_, got)) in expected.iter().zip(&actual) {
            assert_eq!(want, got, "{label}");
        }
    }

    async fn write_a_device(store: &Arc<dyn Store>, device: &Device) {
        let first = backend(store).await;
        first.save(device).await.expect("save");
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

    async fn reads_back(second: &StoreBackend, device: &Device) {
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
        assert_eq!(j(&loaded), j(device));
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
    }

    /// Nothing stored carries a value in clear (raw, base64 or as JSON numbers).
    async fn nothing_in_clear(store: &Arc<dyn Store>) {
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
    }

    /// A value moved to another key does not open.
    async fn moved_values_do_not_open(store: &Arc<dyn Store>, second: &StoreBackend) {
        let session = store
            .get(
                &partition(&slot()),
                &wa::session("5511900000001@s.whatsapp.net"),
            )
            .await
            .expect("get")
            .expect("item");
        let mut moved = session.clone();
        moved.insert(
            "sk".into(),
            wa::session("5511900000002@s.whatsapp.net").into(),
        );
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
    async fn a_restarted_backend_sees_what_was_written_and_nothing_is_in_clear() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(&dir);
        let mut device = Device::new();
        device.push_name = "Pizzaria".into();
        write_a_device(&store, &device).await;
        let second = backend(&store).await;
        reads_back(&second, &device).await;
        nothing_in_clear(&store).await;
        moved_values_do_not_open(&store, &second).await;
    }

    #[tokio::test]
    async fn wipe_deletes_the_whole_partition_and_only_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(&dir);
        let b = backend(&store).await;
        let other = backend_of(
            &store,
            &SlotKey {
                store_id: "st_1".into(),
                slot: 3,
            },
        )
        .await;
        let keys: Vec<(u32, Bytes)> = (1..=60).map(|i| (i, Bytes::from_static(b"pk"))).collect();
        b.store_prekeys_batch(&keys, false).await.expect("prekeys");
        b.create().await.expect("device");
        other.create().await.expect("other device");

        // 60 pre-keys, the device and the lease fence.
        assert_eq!(wipe(store.as_ref(), &slot()).await.expect("wipe"), 62);
        assert!(store
            .query(&partition(&slot()), "")
            .await
            .expect("query")
            .is_empty());
        assert!(!b.exists().await.expect("exists"));
        assert!(other.exists().await.expect("other exists"));
    }
}
