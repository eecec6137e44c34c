//! How the domain is laid out in the store, and the operations the routes perform on it.
//! One table, keys chosen for the access patterns (no scans); the keys are built in
//! [`crate::store::keys`] and docs/architecture.md ("Table layout") lists them:
//!
//! | item            | pk                 | sk          | read by                                   |
//! |-----------------|--------------------|-------------|-------------------------------------------|
//! | user API        | `USER#<userId>`    | `API#<id>`  | list (query pk), get/patch/delete (get)   |
//! | apiKey grant    | `KEY#<sha256(key)>`| `KEY`       | machine auth: one get                     |
//! | bot config      | `STORE#<storeId>`  | `CONFIG`    | GET/PUT config: one get / one cond. write |
//! | slot 1..3       | `STORE#<storeId>`  | `SLOT#<n>`  | sessions: one query                       |
//!
//! Store-scoped items carry `ownerId`, so an owner's access is checked by the same read or
//! conditional write that does the work. Multi-item changes (create, rotate, delete) are
//! single atomic batches: a connection never exists without its config, slots and key.

use serde_json::{json, Value};

use crate::auth::api_key;
use crate::auth::caller::StoreCaller;
use crate::crypto::SecretBox;
use crate::domain::bot_config::{BotConfig, ConfigChange};
use crate::domain::slot::{Slot, SLOTS};
use crate::domain::user_api::{
    preview, ApiType, ConnectionStatus, NewUserApi, UserApi, UserApiChange,
};
use crate::ids::{new_id, now_rfc3339};
use crate::store::keys::{
    self, api_sk, key_pk, slot_sk, store_pk, user_pk, API_PREFIX, CONFIG_SK, KEY_SK, SLOT_PREFIX,
};
use crate::store::{attr_str, Cond, Item, Store, StoreError, Update, WriteOp};
use crate::ApiError;

/// Attributes of a user API item that are stored but never shown.
const KEY_HASH: &str = "keyHash";
const SECRET: &str = "secret";

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(item))
        .map_err(|e| ApiError::Internal(format!("stored record does not decode: {e}")))
}

/// A freshly created user API, with its apiKey when it is a WhatsApp connection.
pub struct Created {
    pub api: UserApi,
    pub api_key: Option<String>,
}

pub async fn create_user_api(
    store: &dyn Store,
    secrets: &SecretBox,
    user_id: &str,
    new: NewUserApi,
) -> Result<Created, ApiError> {
    let now = now_rfc3339();
    let id = new_id("api");
    let store_id = new_id("st");
    let (name, api_type, base_url, timezone) = match &new {
        NewUserApi::Whatsapp { name } => (name.clone(), ApiType::Whatsapp, None, None),
        NewUserApi::Saipos {
            name,
            base_url,
            timezone,
            ..
        } => (
            name.clone(),
            ApiType::Saipos,
            Some(base_url.clone()),
            Some(timezone.clone()),
        ),
    };
    let mut api = UserApi {
        id: id.clone(),
        user_id: user_id.to_owned(),
        name,
        api_type,
        store_id: store_id.clone(),
        base_url,
        timezone,
        status: ConnectionStatus::Disconnected,
        status_reason: None,
        api_key_preview: String::new(),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let mut ops = Vec::new();
    let api_key = match new {
        NewUserApi::Whatsapp { .. } => {
            let key = api_key::generate();
            let hash = api_key::hash(&key);
            api.api_key_preview = preview(&key);
            let item = keys::item(user_pk(user_id), api_sk(&id))
                .record(&api)?
                .set(KEY_HASH, hash.clone())
                .build();
            ops.push(WriteOp::Put {
                item,
                cond: Cond::NotExists,
            });
            ops.push(WriteOp::Put {
                item: key_grant(&hash, &store_id, user_id, &id),
                cond: Cond::NotExists,
            });
            let config = keys::item(store_pk(&store_id), CONFIG_SK)
                .record(BotConfig::new_default(&store_id, &now))?;
            ops.push(WriteOp::Put {
                item: owned(config, user_id, &id),
                cond: Cond::NotExists,
            });
            for slot in SLOTS {
                let item = keys::item(store_pk(&store_id), slot_sk(slot))
                    .record(Slot::new_disconnected(slot, &now))?;
                ops.push(WriteOp::Put {
                    item: owned(item, user_id, &id),
                    cond: Cond::NotExists,
                });
            }
            Some(key)
        }
        NewUserApi::Saipos { token, .. } => {
            api.api_key_preview = preview(&token);
            let item = keys::item(user_pk(user_id), api_sk(&id))
                .record(&api)?
                .set(SECRET, secrets.seal(&token, &id))
                .build();
            ops.push(WriteOp::Put {
                item,
                cond: Cond::NotExists,
            });
            None
        }
    };
    store.write(ops).await?;
    Ok(Created { api, api_key })
}

fn key_grant(hash: &str, store_id: &str, user_id: &str, api_id: &str) -> Item {
    keys::item(key_pk(hash), KEY_SK)
        .attrs(json!({ KEY_HASH: hash, "storeId": store_id, "ownerId": user_id, "apiId": api_id }))
        .build()
}

/// A store-scoped item, stamped with who owns it.
fn owned(item: keys::ItemBuilder, user_id: &str, api_id: &str) -> Item {
    item.set("ownerId", user_id).set("apiId", api_id).build()
}

/// The caller's user APIs, oldest first.
pub async fn list_user_apis(store: &dyn Store, user_id: &str) -> Result<Vec<UserApi>, ApiError> {
    let mut apis = store
        .query(&user_pk(user_id), API_PREFIX)
        .await?
        .into_iter()
        .map(from_item::<UserApi>)
        .collect::<Result<Vec<_>, _>>()?;
    apis.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(apis)
}

/// One of the caller's user APIs with its raw item (for the hidden attributes).
pub async fn get_user_api(
    store: &dyn Store,
    user_id: &str,
    id: &str,
) -> Result<(UserApi, Item), ApiError> {
    let not_found = || no_api(id);
    if !crate::ids::looks_like_id(id, "api") {
        return Err(not_found());
    }
    let item = store
        .get(&user_pk(user_id), &api_sk(id))
        .await?
        .ok_or_else(not_found)?;
    Ok((from_item(item.clone())?, item))
}

pub async fn update_user_api(
    store: &dyn Store,
    secrets: &SecretBox,
    user_id: &str,
    current: &UserApi,
    change: UserApiChange,
) -> Result<UserApi, ApiError> {
    let mut update = Update {
        cond: Cond::Matches(vec![("type".into(), current.api_type.as_str().into())]),
        ..Update::default()
    };
    if let Some(name) = change.name {
        update.set.push(("name".into(), name.into()));
    }
    if let Some(url) = change.base_url {
        update.set.push(("baseUrl".into(), url.into()));
    }
    if let Some(zone) = change.timezone {
        update.set.push(("timezone".into(), zone.into()));
    }
    if let Some(token) = change.saipos_token {
        update
            .set
            .push(("apiKeyPreview".into(), preview(&token).into()));
        update
            .set
            .push((SECRET.into(), secrets.seal(&token, &current.id).into()));
        // A new token has not been tested yet.
        update
            .set
            .push(("status".into(), json!(ConnectionStatus::Disconnected)));
    }
    update.set.push(("updatedAt".into(), now_rfc3339().into()));
    let item = store
        .update(&user_pk(user_id), &api_sk(&current.id), update)
        .await
        .map_err(|e| gone_if_missing(e, &current.id))?;
    from_item(item)
}

/// Records the outcome of a connection test (or the slots' state) on a user API.
pub async fn set_connection_status(
    store: &dyn Store,
    user_id: &str,
    api_id: &str,
    status: ConnectionStatus,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let mut update = Update {
        set: vec![
            ("status".into(), json!(status)),
            ("updatedAt".into(), now_rfc3339().into()),
        ],
        ..Update::default()
    };
    match reason {
        Some(reason) => update.set.push(("statusReason".into(), reason.into())),
        None => update.remove.push("statusReason".into()),
    }
    store
        .update(&user_pk(user_id), &api_sk(api_id), update)
        .await
        .map(|_| ())
        .map_err(|e| gone_if_missing(e, api_id))
}

fn no_api(id: &str) -> ApiError {
    ApiError::NotFound(format!("no API with id {id:?}"))
}

/// A write whose condition failed found its item gone (or never the caller's): `missing`.
fn or_missing(err: StoreError, missing: impl FnOnce() -> ApiError) -> ApiError {
    match err {
        StoreError::ConditionFailed => missing(),
        other => other.into(),
    }
}

fn gone_if_missing(err: StoreError, id: &str) -> ApiError {
    or_missing(err, || no_api(id))
}

/// Removes a user API and, for a WhatsApp connection, its key, config, slots, menu and
/// profile, atomically.
pub async fn delete_user_api(
    store: &dyn Store,
    user_id: &str,
    api: &UserApi,
    item: &Item,
) -> Result<(), ApiError> {
    let mut ops = vec![WriteOp::Delete {
        pk: user_pk(user_id),
        sk: api_sk(&api.id),
        cond: Cond::Exists,
    }];
    if api.api_type == ApiType::Whatsapp {
        if let Some(hash) = attr_str(item, KEY_HASH) {
            ops.push(WriteOp::Delete {
                pk: key_pk(hash),
                sk: KEY_SK.into(),
                cond: Cond::None,
            });
        }
        let pk = store_pk(&api.store_id);
        ops.push(WriteOp::Delete {
            pk: pk.clone(),
            sk: CONFIG_SK.into(),
            cond: Cond::None,
        });
        for slot in SLOTS {
            ops.push(WriteOp::Delete {
                pk: pk.clone(),
                sk: slot_sk(slot),
                cond: Cond::None,
            });
        }
        // The menu and profile go with the connection.
        ops.extend(crate::knowledge::delete_ops(store, &api.store_id).await?);
        // An attached Cloud API number goes with the connection.
        if let Some((number, _)) = crate::bot::cloud_api::attached(store, &api.store_id).await? {
            ops.extend(crate::bot::cloud_api::detach_ops(&api.store_id, &number));
        }
    }
    store
        .write(ops)
        .await
        .map_err(|e| gone_if_missing(e, &api.id))?;
    if api.api_type == ApiType::Whatsapp {
        // Its conversations go too (nothing new is recorded once the config is gone);
        // whatever a failure leaves behind expires with the store's retention.
        if let Err(err) = crate::inbox::delete_all(store, &api.store_id).await {
            tracing::warn!(store = %api.store_id, error = %err, "could not delete every conversation of a deleted connection; the rest expires");
        }
    }
    Ok(())
}

/// Replaces a WhatsApp connection's apiKey; the old key stops working in the same write.
pub async fn rotate_key(
    store: &dyn Store,
    user_id: &str,
    api: &UserApi,
    item: &Item,
) -> Result<Created, ApiError> {
    if api.api_type != ApiType::Whatsapp {
        return Err(ApiError::bad_request(
            "not_supported",
            "only WhatsApp connections have a Platefull apiKey; update a Saipos token with PATCH",
        ));
    }
    let old_hash = attr_str(item, KEY_HASH)
        .ok_or_else(|| ApiError::Internal("WhatsApp connection without key hash".into()))?
        .to_owned();
    let key = api_key::generate();
    let hash = api_key::hash(&key);
    let mut updated = api.clone();
    updated.api_key_preview = preview(&key);
    updated.updated_at = now_rfc3339();
    let mut new_item = item.clone();
    new_item.insert(
        "apiKeyPreview".into(),
        updated.api_key_preview.clone().into(),
    );
    new_item.insert("updatedAt".into(), updated.updated_at.clone().into());
    new_item.insert(KEY_HASH.into(), hash.clone().into());
    let ops = vec![
        WriteOp::Put {
            item: new_item,
            cond: Cond::Matches(vec![(KEY_HASH.into(), old_hash.clone().into())]),
        },
        WriteOp::Delete {
            pk: key_pk(&old_hash),
            sk: KEY_SK.into(),
            cond: Cond::Exists,
        },
        WriteOp::Put {
            item: key_grant(&hash, &api.store_id, user_id, &api.id),
            cond: Cond::NotExists,
        },
    ];
    store.write(ops).await?;
    Ok(Created {
        api: updated,
        api_key: Some(key),
    })
}

/// What a valid apiKey opens.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyGrant {
    pub store_id: String,
    pub owner_id: String,
}

/// Looks up an apiKey: one read by its hash, then a constant-time check of the stored hash.
pub async fn find_api_key(store: &dyn Store, key: &str) -> Result<Option<KeyGrant>, ApiError> {
    if !api_key::looks_like_api_key(key) {
        return Ok(None);
    }
    let hash = api_key::hash(key);
    let Some(item) = store.get(&key_pk(&hash), KEY_SK).await? else {
        return Ok(None);
    };
    if !attr_str(&item, KEY_HASH).is_some_and(|stored| api_key::matches(key, stored)) {
        return Ok(None);
    }
    match (attr_str(&item, "storeId"), attr_str(&item, "ownerId")) {
        (Some(store_id), Some(owner)) => Ok(Some(KeyGrant {
            store_id: store_id.into(),
            owner_id: owner.into(),
        })),
        _ => Err(ApiError::Internal("apiKey grant without storeId".into())),
    }
}

fn no_store(store_id: &str) -> ApiError {
    ApiError::NotFound(format!("no WhatsApp connection with storeId {store_id:?}"))
}

/// Is `item` visible to `caller`? Another owner's store is reported as missing, so store
/// ids can't be probed.
fn visible(item: &Item, caller: &StoreCaller) -> bool {
    match caller {
        StoreCaller::Key => true,
        StoreCaller::Owner(user) => attr_str(item, "ownerId") == Some(user.as_str()),
    }
}

pub async fn get_config(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
) -> Result<BotConfig, ApiError> {
    let item = store
        .get(&store_pk(store_id), CONFIG_SK)
        .await?
        .filter(|item| visible(item, caller))
        .ok_or_else(|| no_store(store_id))?;
    from_item(item)
}

/// Applies a validated change in one conditional write and returns the new config.
pub async fn update_config(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    change: ConfigChange,
) -> Result<BotConfig, ApiError> {
    let cond = match caller {
        StoreCaller::Key => Cond::Exists,
        StoreCaller::Owner(user) => Cond::Matches(vec![("ownerId".into(), user.clone().into())]),
    };
    let mut update = Update {
        cond,
        ..Update::default()
    };
    update.set = change
        .set
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    update.set.push(("updatedAt".into(), now_rfc3339().into()));
    update.remove = change.clear.into_iter().map(str::to_owned).collect();
    let item = store
        .update(&store_pk(store_id), CONFIG_SK, update)
        .await
        .map_err(|e| or_missing(e, || no_store(store_id)))?;
    from_item(item)
}

/// The three slots of a store, in slot order.
pub async fn list_slots(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
) -> Result<Vec<Slot>, ApiError> {
    let items = store.query(&store_pk(store_id), SLOT_PREFIX).await?;
    if items.is_empty() || !items.iter().all(|item| visible(item, caller)) {
        return Err(no_store(store_id));
    }
    let mut slots = items
        .into_iter()
        .map(from_item::<Slot>)
        .collect::<Result<Vec<_>, _>>()?;
    slots.sort_by_key(|s| s.slot);
    Ok(slots)
}
