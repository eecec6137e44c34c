//! The linked devices' key store (`whatsapp::wa_store`) on both stores: a call's writes are
//! all or nothing however many there are (812 pre-keys, with a failure injected at each
//! step), a task that lost the slot's lease can't write the new holder's keys, and message
//! secrets past their deadline are neither returned nor read by the retention call.

use std::sync::Arc;

use platefull::crypto::SecretBox;
use platefull::store::counting::CountingStore;
use platefull::store::keys::{wa, wa_pk};
use platefull::store::Store;
use platefull::whatsapp::events::SlotKey;
use platefull::whatsapp::slots::{self, Fence};
use platefull::whatsapp::wa_store::StoreBackend;
use platefull_tests::faulty_store::{Fault, FaultyStore};
use platefull_tests::{for_each_store, TestStore};
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::wacore::store::traits::{MsgSecretEntry, MsgSecretStore, SignalStore};

/// As many pre-keys as whatsapp-rust generates at once (`prekeys.rs`), each the size of a
/// real record (74 bytes at most).
const PREKEYS: u32 = 812;

fn secrets() -> Arc<SecretBox> {
    Arc::new(SecretBox::from_key(&[5; 32]))
}

fn slot(store_id: &str) -> SlotKey {
    SlotKey {
        store_id: store_id.into(),
        slot: 1,
    }
}

fn prekeys(first: u32, fill: u8) -> Vec<(u32, Bytes)> {
    some_prekeys(first, PREKEYS, fill)
}

fn some_prekeys(first: u32, count: u32, fill: u8) -> Vec<(u32, Bytes)> {
    (first..first + count)
        .map(|id| (id, Bytes::from(vec![fill; 74])))
        .collect()
}

/// A backend of `slot` over `store`, holding a fence claimed now (the previous backend of
/// the slot is fenced out, as after a takeover).
async fn backend(store: &Arc<dyn Store>, slot: &SlotKey) -> StoreBackend {
    let fence = Fence::claim(store.as_ref(), slot).await.expect("fence");
    StoreBackend::new(store.clone(), secrets(), fence)
}

/// How many of the 812 pre-keys from `first` the backend reads.
async fn readable(b: &StoreBackend, first: u32) -> usize {
    readable_of(b, first, PREKEYS).await
}

async fn readable_of(b: &StoreBackend, first: u32, count: u32) -> usize {
    let ids: Vec<u32> = (first..first + count).collect();
    b.load_prekeys_batch(&ids).await.expect("load").len()
}

/// The journal records left in the slot's partition.
async fn journal_left(store: &dyn Store, slot: &SlotKey) -> usize {
    store
        .query(&wa_pk(&slot.store_id, slot.slot), wa::JOURNAL_PREFIX)
        .await
        .expect("query")
        .len()
}

/// Stores 812 pre-keys with the `step`th write failing (`fault`), then checks: all or none
/// readable, by the same backend and by the slot's next holder (which finishes a committed
/// batch), no journal left behind; with `retry`, a retry stores them all. Returns whether
/// the failed call's batch was kept.
async fn fail_at(
    inner: &Arc<dyn Store>,
    store_id: &str,
    step: usize,
    fault: Fault,
    retry: bool,
) -> bool {
    let faulty = Arc::new(FaultyStore::new(inner.clone()));
    let store: Arc<dyn Store> = faulty.clone();
    let slot = slot(store_id);
    let b = backend(&store, &slot).await;
    faulty.fail_write(step, fault);
    let result = b.store_prekeys_batch(&prekeys(1, 1), false).await;
    assert!(faulty.fired(), "step {step} is reached");
    faulty.heal();
    let seen = readable(&b, 1).await;
    assert!(
        seen == 0 || seen == PREKEYS as usize,
        "step {step} {fault:?}: {seen} of {PREKEYS} pre-keys readable ({result:?})"
    );
    if result.is_ok() {
        assert_eq!(
            seen, PREKEYS as usize,
            "step {step} {fault:?}: Ok but missing"
        );
    }
    let next = backend(&store, &slot).await;
    assert_eq!(
        readable(&next, 1).await,
        seen,
        "step {step} {fault:?}: the next holder"
    );
    assert_eq!(
        journal_left(inner.as_ref(), &slot).await,
        0,
        "journal settled"
    );
    if !retry {
        return seen != 0;
    }
    next.store_prekeys_batch(&prekeys(1, 2), false)
        .await
        .expect("the retry succeeds");
    assert_eq!(readable(&next, 1).await, PREKEYS as usize);
    assert_eq!(
        next.load_prekey(PREKEYS).await.expect("load").as_deref(),
        Some(&[2u8; 74][..]),
        "the retry's values"
    );
    assert_eq!(
        journal_left(inner.as_ref(), &slot).await,
        0,
        "journal cleaned up"
    );
    seen != 0
}

/// The writes a clean 812-key batch makes, and that the batch lands whole.
async fn clean_batch_writes(inner: &Arc<dyn Store>, store_id: &str) -> usize {
    let faulty = Arc::new(FaultyStore::new(inner.clone()));
    let store: Arc<dyn Store> = faulty.clone();
    let slot = slot(store_id);
    let b = backend(&store, &slot).await;
    let before = faulty.writes();
    b.store_prekeys_batch(&prekeys(1, 1), false)
        .await
        .expect("store");
    let writes = faulty.writes() - before;
    assert_eq!(readable(&b, 1).await, PREKEYS as usize);
    assert_eq!(journal_left(inner.as_ref(), &slot).await, 0);
    writes
}

/// Embedded: every step of the batch fails in turn, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_812_prekeys_are_all_or_nothing_whichever_write_fails() {
    let t = platefull_tests::embedded_store().await;
    let steps = clean_batch_writes(&t.store, "st_clean").await;
    // One staging-and-commit transaction, then 812 writes and the journal's cleanup in
    // transactions of 99 beside the fence check.
    assert_eq!(steps, 10);
    let mut kept = Vec::new();
    for step in 0..steps {
        for fault in [Fault::Before, Fault::After] {
            let id = format!("st_{step}_{fault:?}");
            kept.push((step, fault, fail_at(&t.store, &id, step, fault, true).await));
        }
    }
    // Refusing the commit keeps nothing; anything after the commit keeps the whole batch.
    assert!(kept.contains(&(0, Fault::Before, false)), "{kept:?}");
    assert!(kept
        .iter()
        .filter(|(step, fault, _)| *step > 0 || *fault == Fault::After)
        .all(|(_, _, kept)| *kept));
}

/// DynamoDB (moto): two steps, each on a table of its own. moto keeps a copy of every
/// item of the table for every item of every transaction it runs (its transaction rollback
/// deep-copies the table per item, and its model registry keeps every copy), so its memory
/// grows with (writes per transaction) × (items in the table): rolling 812 keys forward on
/// an empty table costs it ~850 MB it never gives back. Hence no clean run and no retry
/// here (the embedded test counts the steps and retries after each; both are the same on
/// either store): the commit refused (none kept), and the first roll-forward refused (all
/// kept, finished by the next holder).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_812_prekeys_are_all_or_nothing_whichever_write_fails() {
    for (step, fault, retry, keeps) in [
        (0, Fault::Before, false, false),
        (1, Fault::Before, false, true),
    ] {
        let t = platefull_tests::dynamo_store().await;
        let id = format!("st_{step}_{fault:?}");
        assert_eq!(
            fail_at(&t.store, &id, step, fault, retry).await,
            keeps,
            "{id}"
        );
    }
}

/// A task that lost the slot's lease can't write its keys, small batch or large; the new
/// holder's writes succeed, and it finishes what the old holder committed.
async fn a_fenced_write_after_takeover_is_refused(t: TestStore) {
    let store = t.store.clone();
    let slot = slot("st_fence");
    let address = "5511900000001@s.whatsapp.net";
    // Task A takes the lease (briefly) and writes.
    let fence_a = slots::acquire_lease(store.as_ref(), &slot, "task-a", 1)
        .await
        .expect("lease")
        .expect("taken");
    let a = StoreBackend::new(store.clone(), secrets(), fence_a);
    let mut a_out = a.fenced_out();
    a.put_session(address, b"from-a").await.expect("a writes");
    // A's lease expires; task B takes the slot over.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let fence_b = slots::acquire_lease(store.as_ref(), &slot, "task-b", 30_000)
        .await
        .expect("lease")
        .expect("taken over");
    let b = StoreBackend::new(store.clone(), secrets(), fence_b);
    assert!(!*a_out.borrow());
    // A, unaware, writes again: refused, and A is told it lost the lease.
    assert!(a.put_session(address, b"stale-a").await.is_err());
    assert!(*a_out.borrow_and_update(), "fenced out");
    // (Batches of 120 keys: over one transaction, so journaled; small on moto.)
    assert!(a
        .store_prekeys_batch(&some_prekeys(1, 120, 9), false)
        .await
        .is_err());
    assert_eq!(
        b.get_session(address).await.expect("get").as_deref(),
        Some(&b"from-a"[..])
    );
    assert_eq!(
        readable_of(&b, 1, 120).await,
        0,
        "nothing of A's large batch"
    );
    assert_eq!(journal_left(store.as_ref(), &slot).await, 0);
    // B's writes succeed.
    b.put_session(address, b"from-b").await.expect("b writes");
    b.store_prekeys_batch(&some_prekeys(1, 120, 3), false)
        .await
        .expect("b's batch");
    assert_eq!(
        b.get_session(address).await.expect("get").as_deref(),
        Some(&b"from-b"[..])
    );
    assert_eq!(readable_of(&b, 1, 120).await, 120);

    // B commits a batch whose roll-forward fails (the store fails once after the commit),
    // then C takes over: C's first access finishes B's batch before anything else.
    let faulty = Arc::new(FaultyStore::new(store.clone()));
    let faulty_store: Arc<dyn Store> = faulty.clone();
    let fence_b2 = Fence::claim(store.as_ref(), &slot).await.expect("fence");
    let b2 = StoreBackend::new(faulty_store, secrets(), fence_b2);
    faulty.fail_write(1, Fault::Before);
    b2.store_prekeys_batch(&some_prekeys(2000, 120, 4), false)
        .await
        .expect("committed");
    assert!(
        journal_left(store.as_ref(), &slot).await > 0,
        "left to roll forward"
    );
    let c = backend(&store, &slot).await;
    assert_eq!(readable_of(&c, 2000, 120).await, 120);
    assert_eq!(journal_left(store.as_ref(), &slot).await, 0);
}

fn secret(id: &str, expires_at: i64) -> MsgSecretEntry {
    MsgSecretEntry {
        chat: "5511900000001@s.whatsapp.net".into(),
        sender: "5511900000001@s.whatsapp.net".into(),
        msg_id: id.into(),
        secret: [7; 32],
        expires_at,
        message_ts: 1,
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Secrets past their deadline are not returned, and the library's retention call reads
/// nothing (0 round trips). Returns the slot, whose expired row the caller checks on.
async fn expired_secrets_are_neither_returned_nor_read(store: &Arc<dyn Store>) -> SlotKey {
    let slot = slot("st_ttl");
    let counting = Arc::new(CountingStore::new(store.clone()));
    let counts = counting.counts.clone();
    let counted: Arc<dyn Store> = counting;
    let b = backend(&counted, &slot).await;
    let now = now_secs();
    b.put_msg_secrets(vec![
        secret("old", now - 10),
        secret("live", now + 3600),
        secret("kept", 0),
    ])
    .await
    .expect("put");
    let chat = "5511900000001@s.whatsapp.net";
    assert_eq!(
        b.get_msg_secret(chat, chat, "old").await.expect("get"),
        None
    );
    assert!(b
        .get_msg_secret(chat, chat, "live")
        .await
        .expect("get")
        .is_some());
    assert!(b
        .get_msg_secret(chat, chat, "kept")
        .await
        .expect("get")
        .is_some());
    let before = counts.snapshot();
    assert_eq!(b.delete_expired_msg_secrets(now).await.expect("sweep"), 0);
    assert_eq!(
        counts.snapshot(),
        before,
        "the retention call reads nothing"
    );
    // The TTL attribute: the deadline in clear where there is one.
    let pk = wa_pk(&slot.store_id, slot.slot);
    let live = store
        .get(&pk, &wa::msg_secret(chat, chat, "live"))
        .await
        .expect("get")
        .expect("live row");
    assert_eq!(live["expiresAt"], serde_json::json!(now + 3600));
    let kept = store
        .get(&pk, &wa::msg_secret(chat, chat, "kept"))
        .await
        .expect("get")
        .expect("kept row");
    assert!(kept.get("expiresAt").is_none());
    slot
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_expired_secrets_are_hidden_then_deleted_by_the_ttl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = Arc::new(
        platefull::store::embedded::EmbeddedStore::open(&dir.path().join("s.redb")).expect("store"),
    );
    let store: Arc<dyn Store> = embedded.clone();
    let slot = expired_secrets_are_neither_returned_nor_read(&store).await;
    let chat = "5511900000001@s.whatsapp.net";
    let pk = wa_pk(&slot.store_id, slot.slot);
    let old = wa::msg_secret(chat, chat, "old");
    assert!(
        store.get(&pk, &old).await.expect("get").is_some(),
        "hidden, not yet deleted"
    );
    assert_eq!(embedded.sweep_expired().await.expect("sweep"), 1);
    assert_eq!(
        store.get(&pk, &old).await.expect("get"),
        None,
        "deleted by the TTL"
    );
    assert!(store
        .get(&pk, &wa::msg_secret(chat, chat, "live"))
        .await
        .expect("get")
        .is_some());
    assert_eq!(embedded.sweep_expired().await.expect("sweep"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_expired_secrets_are_hidden_until_the_ttl_deletes_them() {
    let t = platefull_tests::dynamo_store().await;
    let slot = expired_secrets_are_neither_returned_nor_read(&t.store).await;
    // moto never expires items: the row is still there, only the reads hide it.
    let chat = "5511900000001@s.whatsapp.net";
    let row = t
        .store
        .get(
            &wa_pk(&slot.store_id, slot.slot),
            &wa::msg_secret(chat, chat, "old"),
        )
        .await
        .expect("get")
        .expect("still stored");
    assert!(row["expiresAt"].as_i64().expect("deadline") < now_secs());
}

/// What the key store costs in store round trips: a backend's first access looks for a
/// journal left behind (one query); then a read is one read, a call's writes one
/// transaction (its writes and the fence check) up to 99 writes; a journaled call one
/// more than its writes' transactions (812 pre-keys: ten, counted by the fault test; 120
/// here: three, small for moto).
async fn a_call_costs_one_transaction(t: TestStore) {
    let slot = slot("st_cost");
    let fence = Fence::claim(t.store.as_ref(), &slot).await.expect("fence");
    let counting = Arc::new(CountingStore::new(t.store.clone()));
    let counts = counting.counts.clone();
    let b = StoreBackend::new(counting, secrets(), fence);
    let cost = |before: (u64, u64)| {
        let (reads, writes) = counts.snapshot();
        (reads - before.0, writes - before.1)
    };
    let address = "5511900000001@s.whatsapp.net";
    let at = counts.snapshot();
    assert_eq!(b.get_session(address).await.expect("get"), None);
    assert_eq!(
        cost(at),
        (2, 0),
        "first access: the journal query and the read"
    );
    let at = counts.snapshot();
    b.put_session(address, b"s").await.expect("put");
    assert_eq!(cost(at), (0, 1), "one session");
    let at = counts.snapshot();
    let sessions: Vec<(Arc<str>, Bytes)> = (0..30)
        .map(|i| {
            (
                Arc::from(format!("55119000000{i:02}@s.whatsapp.net")),
                Bytes::from_static(b"s"),
            )
        })
        .collect();
    b.put_sessions_batch(&sessions).await.expect("put");
    assert_eq!(cost(at), (0, 1), "a flush of 30 sessions");
    let at = counts.snapshot();
    assert!(b.get_session(address).await.expect("get").is_some());
    assert_eq!(cost(at), (1, 0), "a read");
    let at = counts.snapshot();
    b.store_prekeys_batch(&some_prekeys(1, 120, 1), false)
        .await
        .expect("prekeys");
    assert_eq!(
        cost(at),
        (0, 3),
        "120 pre-keys: committed, then rolled forward in two"
    );
}

for_each_store!(
    a_fenced_write_after_takeover_is_refused,
    a_call_costs_one_transaction
);
