//! One conformance suite for the storage port, run against both adapters: the embedded
//! store and DynamoDB (the real AWS SDK against moto). Whatever the routes rely on, atomic
//! batches, conditions, partition queries, updates, is pinned here for both.

use std::sync::Arc;

use platefull::store::keys::{
    self, lease_sk, slot_sk, store_pk, CONFIG_SK, LEASES_PK, SLOT_PREFIX,
};
use platefull::store::{Cond, Item, Store, StoreError, Update, WriteOp, MAX_BATCH};
use platefull_tests::{for_each_store, TestStore};
use serde_json::{json, Value};

fn item(pk: &str, sk: &str, extra: Value) -> Item {
    keys::item(pk, sk).attrs(extra).build()
}

fn put(item: Item, cond: Cond) -> WriteOp {
    WriteOp::Put { item, cond }
}

async fn get(store: &dyn Store, pk: &str, sk: &str) -> Option<Item> {
    store.get(pk, sk).await.expect("get")
}

async fn missing_items_read_as_none(t: TestStore) {
    assert_eq!(get(t.store.as_ref(), "P", "S").await, None);
    assert!(t.store.query("P", "").await.unwrap().is_empty());
    t.store.health().await.expect("health");
}

async fn items_round_trip_every_json_type(t: TestStore) {
    let original = item(
        "P#1",
        "S#1",
        json!({
            "text": "Pizzaria São João 🍕", "empty": "", "int": 42, "neg": -7, "float": 1.5,
            "yes": true, "no": false, "nothing": null,
            "list": ["a", 1, true], "nested": {"a": {"b": [1, 2]}},
        }),
    );
    t.store
        .write(vec![put(original.clone(), Cond::None)])
        .await
        .unwrap();
    assert_eq!(get(t.store.as_ref(), "P#1", "S#1").await, Some(original));
}

async fn query_returns_one_partition_by_prefix_in_order(t: TestStore) {
    let (a, ab) = (store_pk("a"), store_pk("ab"));
    let mut ops = Vec::new();
    for sk in [slot_sk(3), slot_sk(1), CONFIG_SK.into(), slot_sk(2)] {
        ops.push(put(item(&a, &sk, json!({})), Cond::None));
    }
    ops.push(put(item(&ab, &slot_sk(1), json!({})), Cond::None));
    ops.push(put(item(&store_pk(""), &slot_sk(1), json!({})), Cond::None));
    t.store.write(ops).await.unwrap();
    let sks = |items: Vec<Item>| {
        items
            .iter()
            .map(|i| i["sk"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sks(t.store.query(&a, SLOT_PREFIX).await.unwrap()),
        [slot_sk(1), slot_sk(2), slot_sk(3)]
    );
    assert_eq!(
        sks(t.store.query(&a, "").await.unwrap()),
        [CONFIG_SK.into(), slot_sk(1), slot_sk(2), slot_sk(3)]
    );
    assert!(t.store.query(&a, &slot_sk(4)).await.unwrap().is_empty());
    assert_eq!(t.store.query(&ab, SLOT_PREFIX).await.unwrap().len(), 1);
}

async fn create_only_puts_refuse_to_overwrite(t: TestStore) {
    t.store
        .write(vec![put(item("P", "S", json!({"v": 1})), Cond::NotExists)])
        .await
        .unwrap();
    let err = t
        .store
        .write(vec![put(item("P", "S", json!({"v": 2})), Cond::NotExists)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(get(t.store.as_ref(), "P", "S").await.unwrap()["v"], 1);
}

async fn a_failed_condition_aborts_the_whole_batch(t: TestStore) {
    t.store
        .write(vec![put(
            item("P", "existing", json!({"v": 1})),
            Cond::None,
        )])
        .await
        .unwrap();
    let batch = vec![
        put(item("P", "new-1", json!({})), Cond::NotExists),
        put(item("P", "existing", json!({"v": 2})), Cond::NotExists),
        WriteOp::Delete {
            pk: "P".into(),
            sk: "existing".into(),
            cond: Cond::None,
        },
    ];
    // "existing" appears twice: the batch is invalid before it is sent.
    assert!(matches!(
        t.store.write(batch).await,
        Err(StoreError::Invalid(_))
    ));
    let batch = vec![
        put(item("P", "new-1", json!({})), Cond::NotExists),
        put(item("P", "new-2", json!({})), Cond::None),
        put(item("P", "existing", json!({"v": 2})), Cond::NotExists),
    ];
    assert!(matches!(
        t.store.write(batch).await,
        Err(StoreError::ConditionFailed)
    ));
    assert_eq!(get(t.store.as_ref(), "P", "new-1").await, None);
    assert_eq!(get(t.store.as_ref(), "P", "new-2").await, None);
    assert_eq!(
        get(t.store.as_ref(), "P", "existing").await.unwrap()["v"],
        1
    );
}

async fn conditions_on_attributes_and_existence(t: TestStore) {
    t.store
        .write(vec![put(
            item("P", "S", json!({"owner": "alice", "n": 1})),
            Cond::None,
        )])
        .await
        .unwrap();
    let by = |owner: &str| Cond::Matches(vec![("owner".into(), json!(owner))]);
    let err = t
        .store
        .write(vec![put(
            item("P", "S", json!({"owner": "bob"})),
            by("bob"),
        )])
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)));
    t.store
        .write(vec![put(
            item("P", "S", json!({"owner": "alice", "n": 2})),
            by("alice"),
        )])
        .await
        .unwrap();
    assert_eq!(get(t.store.as_ref(), "P", "S").await.unwrap()["n"], 2);
    // Matches requires existence.
    let err = t
        .store
        .write(vec![put(item("P", "T", json!({})), by("alice"))])
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)));
    let err = t
        .store
        .write(vec![WriteOp::Delete {
            pk: "P".into(),
            sk: "T".into(),
            cond: Cond::Exists,
        }])
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)));
    t.store
        .write(vec![WriteOp::Delete {
            pk: "P".into(),
            sk: "S".into(),
            cond: by("alice"),
        }])
        .await
        .unwrap();
    assert_eq!(get(t.store.as_ref(), "P", "S").await, None);
    // Unconditional delete of a missing item is fine.
    t.store
        .write(vec![WriteOp::Delete {
            pk: "P".into(),
            sk: "S".into(),
            cond: Cond::None,
        }])
        .await
        .unwrap();
}

async fn updates_set_remove_and_return_the_new_item(t: TestStore) {
    t.store
        .write(vec![put(
            item(
                "P",
                "S",
                json!({"owner": "alice", "name": "a", "gone": "x", "keep": 1}),
            ),
            Cond::None,
        )])
        .await
        .unwrap();
    let update = Update {
        set: vec![
            ("name".into(), json!("b")),
            ("added".into(), json!({"deep": [1]})),
        ],
        remove: vec!["gone".into()],
        cond: Cond::Matches(vec![("owner".into(), json!("alice"))]),
        upsert: false,
    };
    let after = t.store.update("P", "S", update.clone()).await.unwrap();
    assert_eq!(
        after,
        item(
            "P",
            "S",
            json!({"owner": "alice", "name": "b", "added": {"deep": [1]}, "keep": 1})
        )
    );
    assert_eq!(get(t.store.as_ref(), "P", "S").await, Some(after.clone()));

    let wrong_owner = Update {
        cond: Cond::Matches(vec![("owner".into(), json!("bob"))]),
        ..update.clone()
    };
    assert!(matches!(
        t.store.update("P", "S", wrong_owner).await,
        Err(StoreError::ConditionFailed)
    ));
    assert_eq!(get(t.store.as_ref(), "P", "S").await, Some(after));
    // An update never creates an item.
    let plain = Update {
        set: vec![("x".into(), json!(1))],
        ..Update::default()
    };
    assert!(matches!(
        t.store.update("P", "missing", plain).await,
        Err(StoreError::ConditionFailed)
    ));
    assert_eq!(get(t.store.as_ref(), "P", "missing").await, None);
    let key_change = Update {
        set: vec![("sk".into(), json!("other"))],
        ..Update::default()
    };
    assert!(matches!(
        t.store.update("P", "S", key_change).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn racing_creates_have_exactly_one_winner(t: TestStore) {
    let store: Arc<dyn Store> = t.store.clone();
    let tasks = (0..8).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(vec![put(
                    item("RACE", "ONE", json!({"n": n})),
                    Cond::NotExists,
                )])
                .await
        })
    });
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::ConditionFailed) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

async fn batches_are_bounded_and_keyed(t: TestStore) {
    let too_many = (0..=MAX_BATCH)
        .map(|i| put(item("P", &format!("S{i}"), json!({})), Cond::None))
        .collect();
    assert!(matches!(
        t.store.write(too_many).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        t.store.write(vec![]).await,
        Err(StoreError::Invalid(_))
    ));
    let keyless = put(json!({"pk": "P"}).as_object().cloned().unwrap(), Cond::None);
    assert!(matches!(
        t.store.write(vec![keyless]).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(t.store.query("P", "").await.unwrap().is_empty());
    let full: Vec<_> = (0..MAX_BATCH)
        .map(|i| put(item("P", &format!("S{i:03}"), json!({})), Cond::NotExists))
        .collect();
    t.store.write(full).await.unwrap();
    assert_eq!(t.store.query("P", "S").await.unwrap().len(), MAX_BATCH);
}

async fn large_partitions_are_read_to_the_end(t: TestStore) {
    // 40 items of ~40 KB: 1.6 MB, over DynamoDB's 1 MB page, so the query must paginate.
    let blob = "x".repeat(40_000);
    for chunk in (0..40).collect::<Vec<_>>().chunks(10) {
        let ops = chunk
            .iter()
            .map(|i| {
                put(
                    item("BIG", &format!("I#{i:02}"), json!({"blob": blob})),
                    Cond::None,
                )
            })
            .collect();
        t.store.write(ops).await.unwrap();
    }
    let items = t.store.query("BIG", "I#").await.unwrap();
    assert_eq!(items.len(), 40);
    assert_eq!(items[39]["sk"], "I#39");
    // Newest first, past a 1 MB page too: all that was asked for, in order.
    let last = t.store.query_last("BIG", "I#", 30).await.unwrap();
    assert_eq!(last.len(), 30);
    assert_eq!(
        (&last[0]["sk"], &last[29]["sk"]),
        (&json!("I#39"), &json!("I#10"))
    );
    let below = t
        .store
        .query_last_before("BIG", "I#", Some("I#35"), 30)
        .await
        .unwrap();
    assert_eq!(below.len(), 30);
    assert_eq!(
        (&below[0]["sk"], &below[29]["sk"]),
        (&json!("I#34"), &json!("I#05"))
    );
}

for_each_store!(
    missing_items_read_as_none,
    items_round_trip_every_json_type,
    query_returns_one_partition_by_prefix_in_order,
    create_only_puts_refuse_to_overwrite,
    a_failed_condition_aborts_the_whole_batch,
    conditions_on_attributes_and_existence,
    updates_set_remove_and_return_the_new_item,
    racing_creates_have_exactly_one_winner,
    batches_are_bounded_and_keyed,
    large_partitions_are_read_to_the_end,
    query_last_before_pages_below_a_key_within_the_prefix,
);

async fn any_and_below_conditions_guard_leases(t: TestStore) {
    let lease = |owner: &str, expires: i64| {
        item(
            LEASES_PK,
            &lease_sk("st_1", 1),
            json!({"owner": owner, "expiresAt": expires}),
        )
    };
    let free_or_mine = |me: &str, now: i64| {
        Cond::Any(vec![
            Cond::NotExists,
            Cond::Below("expiresAt".into(), now),
            Cond::Matches(vec![("owner".into(), json!(me))]),
        ])
    };
    // Free: task A takes it.
    t.store
        .write(vec![put(lease("a", 100), free_or_mine("a", 50))])
        .await
        .unwrap();
    // B can't while it is live; A can renew.
    let err = t
        .store
        .write(vec![put(lease("b", 160), free_or_mine("b", 60))])
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)), "{err:?}");
    t.store
        .write(vec![put(lease("a", 130), free_or_mine("a", 70))])
        .await
        .unwrap();
    // Once expired, B takes over.
    t.store
        .write(vec![put(lease("b", 200), free_or_mine("b", 131))])
        .await
        .unwrap();
    assert_eq!(
        get(t.store.as_ref(), LEASES_PK, &lease_sk("st_1", 1))
            .await
            .unwrap()["owner"],
        "b"
    );
    let err = t
        .store
        .write(vec![put(lease("a", 300), free_or_mine("a", 150))])
        .await;
    assert!(
        matches!(err, Err(StoreError::ConditionFailed)),
        "the old owner lost it"
    );
}

mod leases {
    use super::*;
    for_each_store!(any_and_below_conditions_guard_leases);
}

async fn query_last_returns_the_newest_first_within_the_prefix(t: TestStore) {
    let ops = (0..12)
        .map(|i| {
            put(
                item("CHATS", &format!("C#a#M#{i:03}"), json!({"i": i})),
                Cond::None,
            )
        })
        .chain([
            put(item("CHATS", "C#a#~state", json!({})), Cond::None),
            put(item("CHATS", "C#ab#M#999", json!({})), Cond::None),
            put(item("CHATS", "C#", json!({})), Cond::None),
            put(item("OTHER", "C#a#M#500", json!({})), Cond::None),
        ])
        .collect();
    t.store.write(ops).await.unwrap();
    let last = t.store.query_last("CHATS", "C#a#", 4).await.unwrap();
    let sks: Vec<_> = last.iter().map(|i| i["sk"].as_str().unwrap()).collect();
    assert_eq!(sks, ["C#a#~state", "C#a#M#011", "C#a#M#010", "C#a#M#009"]);
    let all = t.store.query_last("CHATS", "C#a#", 100).await.unwrap();
    assert_eq!(all.len(), 13, "only the prefix, all of it");
    assert!(t
        .store
        .query_last("CHATS", "C#z", 5)
        .await
        .unwrap()
        .is_empty());
    assert!(t
        .store
        .query_last("CHATS", "C#a#", 0)
        .await
        .unwrap()
        .is_empty());
}

/// Pages going back in time: each below the last key of the one before, within the prefix.
async fn query_last_before_pages_below_a_key_within_the_prefix(t: TestStore) {
    let ops = (0..7)
        .map(|i| {
            put(
                item("PAGES", &format!("I#{i:03}"), json!({"i": i})),
                Cond::None,
            )
        })
        .chain([
            put(item("PAGES", "H#999", json!({})), Cond::None),
            put(item("PAGES", "J#000", json!({})), Cond::None),
        ])
        .collect();
    t.store.write(ops).await.unwrap();
    let page = |before: Option<&'static str>, limit| {
        let store = t.store.clone();
        async move {
            let items = store
                .query_last_before("PAGES", "I#", before, limit)
                .await
                .unwrap();
            items
                .iter()
                .map(|i| i["sk"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None, 3).await, ["I#006", "I#005", "I#004"]);
    assert_eq!(page(Some("I#004"), 3).await, ["I#003", "I#002", "I#001"]);
    assert_eq!(page(Some("I#001"), 3).await, ["I#000"]);
    assert!(page(Some("I#000"), 3).await.is_empty());
    // A bound past the prefix reads from its end; one before it reads nothing.
    assert_eq!(page(Some("Z"), 2).await, ["I#006", "I#005"]);
    assert!(page(Some("A"), 2).await.is_empty());
    assert!(page(Some("I#004"), 0).await.is_empty());
}

async fn upserts_create_and_all_conditions_need_every_part(t: TestStore) {
    let upsert = |set: Vec<(&str, Value)>, cond: Cond| Update {
        set: set.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        cond,
        upsert: true,
        ..Update::default()
    };
    let created = t
        .store
        .update(
            "P",
            "U",
            upsert(vec![("pausedUntil", json!(5))], Cond::None),
        )
        .await
        .unwrap();
    assert_eq!(created, item("P", "U", json!({"pausedUntil": 5})));
    let guarded = |seq: i64, now: i64| {
        Cond::All(vec![
            Cond::Below("pausedUntil".into(), now),
            Cond::Any(vec![
                Cond::Below("delivered".into(), seq),
                Cond::Matches(vec![("fresh".into(), json!(true))]),
            ]),
        ])
    };
    t.store
        .update(
            "P",
            "U",
            Update {
                set: vec![("delivered".into(), json!(1))],
                ..Update::default()
            },
        )
        .await
        .unwrap();
    // Paused (5 is not below 4): refused even though the sequence is new.
    let err = t
        .store
        .update(
            "P",
            "U",
            upsert(vec![("delivered", json!(2))], guarded(2, 4)),
        )
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)), "{err:?}");
    // Not paused, new sequence: applied; the same sequence again: refused.
    t.store
        .update(
            "P",
            "U",
            upsert(vec![("delivered", json!(2))], guarded(2, 9)),
        )
        .await
        .unwrap();
    let err = t
        .store
        .update(
            "P",
            "U",
            upsert(vec![("delivered", json!(2))], guarded(2, 9)),
        )
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)), "{err:?}");
    // An upsert with a condition on a missing item fails and creates nothing.
    let err = t
        .store
        .update("P", "NEW", upsert(vec![("x", json!(1))], Cond::Exists))
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)), "{err:?}");
    assert_eq!(get(t.store.as_ref(), "P", "NEW").await, None);
    assert_eq!(
        get(t.store.as_ref(), "P", "U").await.unwrap()["delivered"],
        json!(2)
    );
}

/// A condition check writes nothing but makes the batch depend on another item (the key
/// store's lease fence): a failed check aborts every write of the batch, a check that holds
/// lets them all through, and a batch of a check alone is valid.
async fn condition_checks_guard_a_batch_without_writing(t: TestStore) {
    t.store
        .write(vec![put(
            item("F", "fence", json!({"epoch": "e1"})),
            Cond::None,
        )])
        .await
        .unwrap();
    let check = |epoch: &str| WriteOp::Check {
        pk: "F".into(),
        sk: "fence".into(),
        cond: Cond::Matches(vec![("epoch".into(), json!(epoch))]),
    };
    let writes = || {
        vec![
            put(item("P", "a", json!({"v": 1})), Cond::None),
            WriteOp::Delete {
                pk: "P".into(),
                sk: "b".into(),
                cond: Cond::None,
            },
        ]
    };
    t.store
        .write(vec![put(item("P", "b", json!({})), Cond::None)])
        .await
        .unwrap();
    let stale: Vec<WriteOp> = std::iter::once(check("e0")).chain(writes()).collect();
    assert!(matches!(
        t.store.write(stale).await,
        Err(StoreError::ConditionFailed)
    ));
    assert_eq!(get(t.store.as_ref(), "P", "a").await, None);
    assert!(get(t.store.as_ref(), "P", "b").await.is_some());
    // A check alone: valid, writes nothing, fails like any condition.
    t.store.write(vec![check("e1")]).await.unwrap();
    assert!(matches!(
        t.store.write(vec![check("e2")]).await,
        Err(StoreError::ConditionFailed)
    ));
    let missing = WriteOp::Check {
        pk: "F".into(),
        sk: "none".into(),
        cond: Cond::Exists,
    };
    assert!(matches!(
        t.store.write(vec![missing]).await,
        Err(StoreError::ConditionFailed)
    ));
    let current: Vec<WriteOp> = std::iter::once(check("e1")).chain(writes()).collect();
    t.store.write(current).await.unwrap();
    assert_eq!(get(t.store.as_ref(), "P", "a").await.unwrap()["v"], 1);
    assert_eq!(get(t.store.as_ref(), "P", "b").await, None);
    assert_eq!(
        get(t.store.as_ref(), "F", "fence").await.unwrap(),
        item("F", "fence", json!({"epoch": "e1"})),
        "the checked item is left as it was"
    );
}

/// Atomic adds (usage counters): create the item and its counters at zero, add to what is
/// there without touching other attributes, never lose a concurrent add, and apply only
/// with the rest of their batch (a failed condition elsewhere adds nothing).
async fn adds_count_atomically_and_only_with_their_batch(t: TestStore) {
    let add = |n: i64| WriteOp::Add {
        pk: "U".into(),
        sk: "day".into(),
        add: vec![("replies".into(), 1), ("tokens".into(), n)],
    };
    t.store.write(vec![add(10)]).await.unwrap();
    let first = get(t.store.as_ref(), "U", "day").await.unwrap();
    assert_eq!(
        (first["replies"].as_i64(), first["tokens"].as_i64()),
        (Some(1), Some(10))
    );
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let store = t.store.clone();
        tasks.spawn(async move { store.write(vec![add(n)]).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let after = get(t.store.as_ref(), "U", "day").await.unwrap();
    assert_eq!(after["replies"], 21, "{after:?}");
    assert_eq!(after["tokens"], 10 + (0..20).sum::<i64>());
    // In a batch whose create-only put fails: nothing added.
    t.store
        .write(vec![put(item("U", "seen", json!({})), Cond::NotExists)])
        .await
        .unwrap();
    let again = vec![
        put(item("U", "seen", json!({})), Cond::NotExists),
        add(1000),
    ];
    assert!(matches!(
        t.store.write(again).await,
        Err(StoreError::ConditionFailed)
    ));
    assert_eq!(
        get(t.store.as_ref(), "U", "day").await.unwrap()["replies"],
        21
    );
    // With a batch that applies, once; other attributes are kept.
    t.store
        .write(vec![
            put(item("U", "other", json!({})), Cond::NotExists),
            add(1),
        ])
        .await
        .unwrap();
    let last = get(t.store.as_ref(), "U", "day").await.unwrap();
    assert_eq!(last["replies"], 22);
    assert_eq!(last["pk"], "U");
    // An add of nothing is a bad request.
    let empty = WriteOp::Add {
        pk: "U".into(),
        sk: "day".into(),
        add: vec![],
    };
    assert!(matches!(
        t.store.write(vec![empty]).await,
        Err(StoreError::Invalid(_))
    ));
}

mod conversations {
    use super::*;
    for_each_store!(
        adds_count_atomically_and_only_with_their_batch,
        condition_checks_guard_a_batch_without_writing,
        query_last_returns_the_newest_first_within_the_prefix,
        upserts_create_and_all_conditions_need_every_part,
    );
}
