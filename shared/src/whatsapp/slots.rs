//! Slot records as the gateway writes them (status, QR, phone, last error, sealed
//! credentials) and slot leases: which gateway task holds which slot.
//!
//! Leases live in one partition, `pk = LEASES`, `sk = <storeId>#<slot>`, with `owner` (the
//! task id), `expiresAt` (epoch ms) and `wanted` (should this slot be connected at all). A
//! task takes a lease only if it is free, expired or already its own (one conditional
//! write), renews it well before expiry, and gives it up on shutdown. Two tasks therefore
//! never run the same slot (WhatsApp would kill both streams), and a dead task's slots are
//! found and taken over by querying the partition once the lease has expired.
//!
//! A lease is only as good as its holder's clock and liveness: a task that stalled past its
//! lease may wake up still believing it holds the slot. So taking a lease also claims the
//! slot's **fence** (`WA#<storeId>#<slot>` / `fence`, in the same transaction): a fresh
//! `epoch`, returned as a [`Fence`]. The slot's key store checks that epoch in every write
//! transaction (see `whatsapp::wa_store`), so once another task has taken the lease, the
//! old holder's writes are refused instead of overwriting the new holder's Signal state.

use serde_json::{json, Value};

use super::events::SlotKey;
use crate::crypto::SecretBox;
use crate::domain::slot::{Slot, SlotStatus};
use crate::ids::now_ms;
use crate::store::keys::{
    self, api_sk, slot_sk, store_pk, user_pk, wa, wa_pk, LEASES_PK, SLOT_PREFIX,
};
use crate::store::{applied, attr_str, Cond, Item, Store, StoreError, Update, WriteOp};

/// What a lease holder's key-store writes are fenced by: the epoch it wrote to the slot's
/// fence when it took the lease. Valid until another task takes the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub slot: SlotKey,
    pub epoch: String,
}

impl Fence {
    /// The check that makes a write batch apply only while this fence is the slot's.
    pub fn check(&self) -> WriteOp {
        WriteOp::Check {
            pk: wa_pk(&self.slot.store_id, self.slot.slot),
            sk: wa::FENCE.into(),
            cond: Cond::Matches(vec![("epoch".into(), self.epoch.clone().into())]),
        }
    }

    /// A fence for tests that don't take leases: claimed directly, unconditionally.
    #[cfg(any(test, feature = "test-hooks"))]
    pub async fn claim(store: &dyn Store, slot: &SlotKey) -> Result<Fence, StoreError> {
        let fence = Fence::new(slot);
        store.write(vec![fence.claim_op()]).await?;
        Ok(fence)
    }

    fn new(slot: &SlotKey) -> Self {
        Self {
            slot: slot.clone(),
            epoch: crate::ids::new_id("ep"),
        }
    }

    fn claim_op(&self) -> WriteOp {
        let item = keys::item(wa_pk(&self.slot.store_id, self.slot.slot), wa::FENCE)
            .set("epoch", self.epoch.clone())
            .build();
        WriteOp::Put {
            item,
            cond: Cond::None,
        }
    }
}

const CREDENTIALS: &str = "credentials";

/// Changes a slot record; fails with `ConditionFailed` when the slot no longer exists
/// (its connection was deleted).
pub async fn update_slot(
    store: &dyn Store,
    key: &SlotKey,
    set: Vec<(&str, Value)>,
    remove: &[&str],
) -> Result<Slot, StoreError> {
    let mut update = Update {
        cond: Cond::Exists,
        ..Update::default()
    };
    update.set = set.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    update
        .set
        .push(("updatedAt".into(), crate::ids::now_rfc3339().into()));
    update.remove = remove.iter().map(|s| (*s).to_owned()).collect();
    let item = store
        .update(&store_pk(&key.store_id), &slot_sk(key.slot), update)
        .await?;
    serde_json::from_value(Value::Object(item)).map_err(|e| StoreError::Data(e.to_string()))
}

pub async fn get_slot(store: &dyn Store, key: &SlotKey) -> Result<Option<Item>, StoreError> {
    store
        .get(&store_pk(&key.store_id), &slot_sk(key.slot))
        .await
}

pub fn slot_of(item: &Item) -> Option<Slot> {
    serde_json::from_value(Value::Object(item.clone())).ok()
}

/// The slot's stored credentials, decrypted.
pub fn credentials(item: &Item, secrets: &SecretBox, key: &SlotKey) -> Option<Vec<u8>> {
    use base64::Engine;
    let sealed = attr_str(item, CREDENTIALS)?;
    let opened = secrets.open(sealed, &key.to_string()).ok()?;
    base64::engine::general_purpose::STANDARD
        .decode(opened)
        .ok()
}

pub async fn save_credentials(
    store: &dyn Store,
    secrets: &SecretBox,
    key: &SlotKey,
    credentials: &[u8],
    phone: &str,
) -> Result<(), StoreError> {
    use base64::Engine;
    let sealed = secrets.seal(
        &base64::engine::general_purpose::STANDARD.encode(credentials),
        &key.to_string(),
    );
    update_slot(
        store,
        key,
        vec![(CREDENTIALS, sealed.into()), ("phone", phone.into())],
        &[],
    )
    .await
    .map(|_| ())
}

/// Marks the slot unlinked: credentials wiped, status disconnected, with the reason (a ban
/// of the unlinked number no longer holds the slot back).
pub async fn mark_logged_out(
    store: &dyn Store,
    key: &SlotKey,
    reason: Option<&str>,
) -> Result<Slot, StoreError> {
    let mut set = vec![
        ("status", json!(SlotStatus::Disconnected)),
        ("isActive", json!(false)),
    ];
    let mut remove = vec![CREDENTIALS, "qrCode", "pairingCode", "phone", "bannedUntil"];
    match reason {
        Some(reason) => set.push(("lastError", reason.into())),
        None => remove.push("lastError"),
    }
    update_slot(store, key, set, &remove).await
}

/// Sets the connection's `status` from its slots: connected if any slot is.
pub async fn refresh_connection_status(store: &dyn Store, key: &SlotKey) -> Result<(), StoreError> {
    let items = store.query(&store_pk(&key.store_id), SLOT_PREFIX).await?;
    let Some(first) = items.first() else {
        return Ok(());
    };
    let (Some(owner), Some(api_id)) = (attr_str(first, "ownerId"), attr_str(first, "apiId")) else {
        return Ok(());
    };
    let connected = items
        .iter()
        .any(|i| attr_str(i, "status") == Some("connected"));
    let status = if connected {
        "connected"
    } else {
        "disconnected"
    };
    let update = Update {
        set: vec![("status".into(), status.into())],
        cond: Cond::Matches(vec![("storeId".into(), key.store_id.clone().into())]),
        ..Update::default()
    };
    // A failed condition: the user API is gone (or is another store's); nothing to show.
    applied(store.update(&user_pk(owner), &api_sk(api_id), update).await)?;
    Ok(())
}

fn lease_free_or(me: &str, now: i64) -> Cond {
    Cond::Any(vec![
        Cond::NotExists,
        Cond::Below("expiresAt".into(), now),
        Cond::Matches(vec![("owner".into(), me.into())]),
    ])
}

fn lease_sk(key: &SlotKey) -> String {
    keys::lease_sk(&key.store_id, key.slot)
}

fn lease_item(key: &SlotKey, owner: &str, expires_at: i64, wanted: bool) -> Item {
    keys::item(LEASES_PK, lease_sk(key))
        .attrs(json!({
            "storeId": key.store_id, "slot": key.slot, "owner": owner,
            "expiresAt": expires_at, "wanted": wanted, "heartbeatAt": now_ms(),
        }))
        .build()
}

/// Takes the lease of `key` for `me` until `now + lease_ms` (or takes it again), and claims
/// the slot's fence with a new epoch in the same transaction: whoever ran the slot before
/// (another task, or this one's previous run) can no longer write its keys. `Ok(None)` when
/// another live task holds it. Cost: one transaction of two writes.
pub async fn acquire_lease(
    store: &dyn Store,
    key: &SlotKey,
    me: &str,
    lease_ms: i64,
) -> Result<Option<Fence>, StoreError> {
    let now = now_ms();
    let fence = Fence::new(key);
    let op = WriteOp::Put {
        item: lease_item(key, me, now + lease_ms, true),
        cond: lease_free_or(me, now),
    };
    let taken = applied(store.write(vec![op, fence.claim_op()]).await)?;
    Ok(taken.then_some(fence))
}

/// Renews a lease only if `me` still holds it and it is still wanted: a renewal racing the
/// slot task's final release (a stopped, unwanted slot) must not bring the lease back, or
/// another task would take the slot over once it expired.
pub async fn renew_lease(
    store: &dyn Store,
    key: &SlotKey,
    me: &str,
    lease_ms: i64,
) -> Result<bool, StoreError> {
    let op = WriteOp::Put {
        item: lease_item(key, me, now_ms() + lease_ms, true),
        cond: Cond::Matches(vec![
            ("owner".into(), me.into()),
            ("wanted".into(), true.into()),
        ]),
    };
    applied(store.write(vec![op]).await)
}

/// Gives a lease up: expired at once, so another task may take the slot. `wanted: false`
/// (after a logout) tells other tasks not to take it over at all.
pub async fn release_lease(
    store: &dyn Store,
    key: &SlotKey,
    me: &str,
    wanted: bool,
) -> Result<(), StoreError> {
    let op = WriteOp::Put {
        item: lease_item(key, me, 0, wanted),
        cond: Cond::Matches(vec![("owner".into(), me.into())]),
    };
    // A failed condition: another task holds it now; it is not ours to give up.
    applied(store.write(vec![op]).await)?;
    Ok(())
}

/// Expires a lease whoever holds it (its holder is known to be dead).
pub async fn release_lease_of_dead_task(
    store: &dyn Store,
    key: &SlotKey,
) -> Result<(), StoreError> {
    let update = Update {
        set: vec![("expiresAt".into(), json!(0))],
        cond: Cond::Exists,
        ..Update::default()
    };
    // A failed condition: there is no lease to expire.
    applied(store.update(LEASES_PK, &lease_sk(key), update).await)?;
    Ok(())
}

/// The leases of slots that should be connected, whoever holds them.
async fn wanted_leases(store: &dyn Store) -> Result<Vec<Item>, StoreError> {
    let mut leases = store.query(LEASES_PK, "").await?;
    leases.retain(|i| i.get("wanted") == Some(&Value::Bool(true)));
    Ok(leases)
}

fn leased_slot(lease: &Item) -> Option<SlotKey> {
    Some(SlotKey {
        store_id: attr_str(lease, "storeId")?.to_owned(),
        slot: lease.get("slot")?.as_u64()? as u8,
    })
}

/// Slots that should be connected but whose holder stopped renewing: candidates to take over.
pub async fn orphaned_slots(store: &dyn Store) -> Result<Vec<SlotKey>, StoreError> {
    let now = now_ms();
    Ok(wanted_leases(store)
        .await?
        .iter()
        .filter(|i| {
            i.get("expiresAt")
                .and_then(Value::as_i64)
                .is_some_and(|e| e < now)
        })
        .filter_map(leased_slot)
        .collect())
}

/// Every slot that should be connected, whoever holds it (the local stack, which is the
/// only process on its data dir, takes them all back at start).
pub async fn wanted_slots(store: &dyn Store) -> Result<Vec<SlotKey>, StoreError> {
    Ok(wanted_leases(store)
        .await?
        .iter()
        .filter_map(leased_slot)
        .collect())
}

/// Who holds a slot's lease now (tests).
#[cfg(any(test, feature = "test-hooks"))]
pub async fn lease_owner(store: &dyn Store, key: &SlotKey) -> Result<Option<String>, StoreError> {
    let item = store.get(LEASES_PK, &lease_sk(key)).await?;
    Ok(item
        .filter(|i| {
            i.get("expiresAt")
                .and_then(Value::as_i64)
                .is_some_and(|e| e >= now_ms())
        })
        .and_then(|i| attr_str(&i, "owner").map(str::to_owned)))
}
