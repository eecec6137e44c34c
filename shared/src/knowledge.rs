//! Where the store's knowledge — its menu and its profile (hours, delivery, payments) — is
//! kept, and the reads and writes the routes and the bot perform on it.
//!
//! Layout (keys in [`crate::store::keys`]): both live in the store's partition under the
//! bot config's own sort-key prefix (`CONFIG#KB#…`), so ONE query of `CONFIG` returns the
//! config (which proves the store exists, who owns it and its time zone), the menu and the
//! profile together: a bot turn or a route costs one round trip.
//!
//! The menu can be bigger than one DynamoDB item (400 KB): its JSON is cut into chunks of
//! at most [`CHUNK_BYTES`]. The head item (`CONFIG#KB#menu`) holds the first chunk, the
//! chunk count, a `version` and `updatedAt`; further chunks (`CONFIG#KB#menu#01`, …) carry
//! the same `version`. A save writes the head (conditioned on the version it read), every
//! chunk, and the deletion of chunks the new menu no longer needs in ONE transaction, so a
//! concurrent save or sold-out switch can't be lost: the loser re-reads and re-applies. A
//! query isn't isolated from a transaction in DynamoDB, so a reader that sees chunks of
//! two versions reads again. The serialized menu is capped at [`MENU_MAX_BYTES`].

use serde_json::Value;

use crate::auth::caller::StoreCaller;
use crate::domain::borrowed::MenuText;
use crate::domain::bot_config::BotConfig;
use crate::domain::menu::{Category, Item as MenuItem, ItemPatch, Menu};
use crate::domain::profile::StoreProfile;
use crate::ids::now_rfc3339;
use crate::store::keys::{self, menu_chunk_of, menu_chunk_sk, store_pk, CONFIG_SK, KB_PREFIX};
use crate::store::keys::{MENU_SK, PROFILE_SK};
use crate::store::{attr_str, Cond, Item, Store, StoreError, WriteOp};
use crate::ApiError;

/// The most bytes of compact JSON a menu may take (about 2,000 items with a few options).
pub const MENU_MAX_BYTES: usize = 1_000_000;
/// The most bytes of menu JSON one stored item holds (DynamoDB's item limit is 400 KB,
/// names and keys included).
pub const CHUNK_BYTES: usize = 300_000;
/// How often a write that lost a race re-reads and tries again before answering 409.
const ATTEMPTS: usize = 5;

const VERSION: &str = "version";
const DATA: &str = "data";
const CHUNKS: &str = "chunks";
const UPDATED_AT: &str = "updatedAt";

/// What the attendant knows about a store. A store that never saved one has the empty
/// menu and the empty profile (always closed, no zones, no payment methods).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Knowledge {
    pub menu: Menu,
    pub profile: StoreProfile,
    /// The month's AI spend and the attendant's failing state (`CONFIG#HEALTH`).
    pub health: crate::health::StoreHealth,
}

/// Everything one query of the store's `CONFIG` prefix returned.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The bot config item, if the store exists.
    pub config: Option<Item>,
    pub knowledge: Knowledge,
    /// The menu's categories as stored (compact JSON, `[]` when none), whether or not they
    /// were parsed into `knowledge.menu`; empty when only the versions were read.
    pub menu_json: String,
    /// The menu's `updatedAt`.
    pub menu_updated_at: Option<String>,
    /// The menu's stored version (`None`: never saved).
    pub menu_version: Option<i64>,
    /// Chunk numbers (from 1) of every menu chunk item present.
    pub menu_chunks: Vec<usize>,
    pub profile_version: Option<i64>,
}

impl Snapshot {
    /// The bot config, if the store exists and it decodes.
    pub fn bot_config(&self) -> Option<BotConfig> {
        let item = self.config.clone()?;
        serde_json::from_value(Value::Object(item)).ok()
    }
}

/// The store's menu and profile: one query. The bot reads this once per turn.
pub async fn load(store: &dyn Store, store_id: &str) -> Result<Knowledge, StoreError> {
    Ok(snapshot(store, store_id).await?.knowledge)
}

/// The bot config with the menu and profile, from the same single query; `None` when the
/// store (its config) doesn't exist.
pub async fn load_with_config(
    store: &dyn Store,
    store_id: &str,
) -> Result<Option<(BotConfig, Knowledge)>, StoreError> {
    let snapshot = snapshot(store, store_id).await?;
    Ok(snapshot
        .bot_config()
        .map(|config| (config, snapshot.knowledge)))
}

/// One query of the `CONFIG` prefix, decoded; read again if it caught a menu save halfway.
pub async fn snapshot(store: &dyn Store, store_id: &str) -> Result<Snapshot, StoreError> {
    snapshot_with(store, store_id, Parse::Menu).await
}

/// Whether a snapshot parses the menu's JSON (the bot and edits need it; serving it as is
/// and replacing it don't).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parse {
    Menu,
    JsonOnly,
    /// Only the menu's version and chunk numbers (replacing it).
    Versions,
}

async fn snapshot_with(
    store: &dyn Store,
    store_id: &str,
    parse: Parse,
) -> Result<Snapshot, StoreError> {
    for _ in 0..ATTEMPTS {
        let items = store.query(&store_pk(store_id), CONFIG_SK).await?;
        if let Some(snapshot) = decode(items, parse)? {
            return Ok(snapshot);
        }
    }
    Err(StoreError::Unavailable(
        "the menu kept changing while it was read".into(),
    ))
}

fn data_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Data(format!("stored {what} does not decode: {e}"))
}

fn version_of(item: &Item) -> Option<i64> {
    item.get(VERSION).and_then(Value::as_i64)
}

/// The snapshot in `items`, or `None` if its menu chunks are of different versions (a
/// read that overlapped a save).
fn decode(items: Vec<Item>, parse: Parse) -> Result<Option<Snapshot>, StoreError> {
    let mut snapshot = Snapshot {
        menu_json: "[]".into(),
        ..Snapshot::default()
    };
    let mut head = None;
    let mut chunks = std::collections::BTreeMap::new();
    for item in items {
        let Some(sk) = attr_str(&item, "sk").map(str::to_owned) else {
            continue;
        };
        if sk == CONFIG_SK {
            snapshot.config = Some(item);
        } else if sk == MENU_SK {
            head = Some(item);
        } else if sk == crate::store::keys::HEALTH_SK {
            snapshot.knowledge.health = crate::health::StoreHealth(item);
        } else if sk == PROFILE_SK {
            let data = attr_str(&item, DATA).unwrap_or("{}");
            snapshot.knowledge.profile =
                serde_json::from_str(data).map_err(|e| data_error("profile", e))?;
            snapshot.profile_version = version_of(&item);
        } else if let Some(n) = menu_chunk_of(&sk) {
            chunks.insert(n, item);
        }
    }
    snapshot.menu_chunks = chunks.keys().copied().collect();
    if let Some(head) = head {
        let version = version_of(&head);
        let count = head.get(CHUNKS).and_then(Value::as_u64).unwrap_or(1) as usize;
        let mut json = String::new();
        if parse != Parse::Versions {
            json.push_str(attr_str(&head, DATA).unwrap_or("[]"));
        }
        for n in 1..count {
            match chunks.get(&n) {
                Some(chunk) if version_of(chunk) == version => {
                    if parse != Parse::Versions {
                        json.push_str(attr_str(chunk, DATA).unwrap_or_default())
                    }
                }
                _ => return Ok(None),
            }
        }
        let updated_at = attr_str(&head, UPDATED_AT).map(str::to_owned);
        if parse == Parse::Menu {
            let categories: Vec<Category> =
                serde_json::from_str(&json).map_err(|e| data_error("menu", e))?;
            snapshot.knowledge.menu = Menu {
                categories,
                updated_at: updated_at.clone(),
            };
        }
        snapshot.menu_json = json;
        snapshot.menu_updated_at = updated_at;
        snapshot.menu_version = version;
    }
    Ok(Some(snapshot))
}

/// Cuts `json` into pieces of at most `max` bytes, on character boundaries.
fn chunk(json: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = json;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

/// The menu's compact JSON, refused when over [`MENU_MAX_BYTES`].
pub fn encode_menu<S: MenuText>(menu: &Menu<S>) -> Result<String, ApiError> {
    // sonic-rs writes the same bytes as serde_json, escaping with SIMD: a fifth faster on
    // a 500-item menu (`tests::encoded_as_serde_json_would`).
    let json = sonic_rs::to_string(&menu.categories)
        .map_err(|e| ApiError::Internal(format!("menu does not encode: {e}")))?;
    if json.len() > MENU_MAX_BYTES {
        return Err(ApiError::TooLarge(format!(
            "the menu takes {} bytes of JSON; the limit is {MENU_MAX_BYTES} (fewer or shorter descriptions and options)",
            json.len()
        )));
    }
    Ok(json)
}

/// The condition that the item still has the version read (or still doesn't exist).
fn unchanged(version: Option<i64>) -> Cond {
    match version {
        Some(v) => Cond::Matches(vec![(VERSION.into(), v.into())]),
        None => Cond::NotExists,
    }
}

/// Stamps a knowledge item with the store's owner, like every store-scoped item.
fn stamped(builder: keys::ItemBuilder, config: &Item) -> keys::ItemBuilder {
    let mut builder = builder;
    for name in ["ownerId", "apiId"] {
        if let Some(value) = attr_str(config, name) {
            builder = builder.set(name, value);
        }
    }
    builder
}

/// The one transaction that replaces the menu read in `base` by `json`.
fn menu_ops(store_id: &str, base: &Snapshot, config: &Item, json: &str, now: &str) -> Vec<WriteOp> {
    let pk = store_pk(store_id);
    let pieces = chunk(json, CHUNK_BYTES);
    let version = base.menu_version.unwrap_or(0) + 1;
    let head = stamped(keys::item(pk.clone(), MENU_SK), config)
        .set(VERSION, version)
        .set(CHUNKS, pieces.len())
        .set(UPDATED_AT, now)
        .set(DATA, pieces[0])
        .build();
    let mut ops = vec![WriteOp::Put {
        item: head,
        cond: unchanged(base.menu_version),
    }];
    for (n, piece) in pieces.iter().enumerate().skip(1) {
        ops.push(WriteOp::Put {
            item: keys::item(pk.clone(), menu_chunk_sk(n))
                .set(VERSION, version)
                .set(DATA, *piece)
                .build(),
            cond: Cond::None,
        });
    }
    for n in base.menu_chunks.iter().filter(|n| **n >= pieces.len()) {
        ops.push(WriteOp::Delete {
            pk: pk.clone(),
            sk: menu_chunk_sk(*n),
            cond: Cond::None,
        });
    }
    ops
}

fn no_store(store_id: &str) -> ApiError {
    ApiError::NotFound(format!("no WhatsApp connection with storeId {store_id:?}"))
}

/// The snapshot of a store the caller may see (another owner's store is reported missing,
/// like every store route). Returns the config item alongside.
pub async fn read(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
) -> Result<(Snapshot, Item), ApiError> {
    read_with(store, store_id, caller, Parse::Menu).await
}

/// [`read`] without parsing the menu (for routes that need the config, the profile or the
/// store's health only).
pub async fn read_without_menu(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
) -> Result<(Snapshot, Item), ApiError> {
    read_with(store, store_id, caller, Parse::JsonOnly).await
}

/// The menu document (`{"categories":…,"updatedAt":…}`) as stored, for a caller who may see
/// it: served without parsing and serializing it again.
pub async fn read_menu_json(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
) -> Result<String, ApiError> {
    let (snapshot, _) = read_with(store, store_id, caller, Parse::JsonOnly).await?;
    menu_document(&snapshot.menu_json, snapshot.menu_updated_at.as_deref())
}

/// `{"categories":<stored JSON>,"updatedAt":…}`, the menu as the API shows it.
fn menu_document(categories_json: &str, updated_at: Option<&str>) -> Result<String, ApiError> {
    let updated_at =
        serde_json::to_string(&updated_at).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut document = String::with_capacity(categories_json.len() + updated_at.len() + 32);
    document.push_str(r#"{"categories":"#);
    document.push_str(categories_json);
    document.push_str(r#","updatedAt":"#);
    document.push_str(&updated_at);
    document.push('}');
    Ok(document)
}

async fn read_with(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    parse: Parse,
) -> Result<(Snapshot, Item), ApiError> {
    let snapshot = snapshot_with(store, store_id, parse).await?;
    let config = snapshot
        .config
        .clone()
        .filter(|config| match caller {
            StoreCaller::Key => true,
            StoreCaller::Owner(user) => attr_str(config, "ownerId") == Some(user.as_str()),
        })
        .ok_or_else(|| no_store(store_id))?;
    Ok((snapshot, config))
}

/// Reads the menu, applies `change` to it and saves the result in one conditional
/// transaction; on a lost race, reads again and re-applies (a sold-out switch made while
/// a PUT lands applies to the new menu). Returns what `change` returned with the saved menu.
pub async fn modify_menu<T>(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    change: impl Fn(&mut Menu) -> Result<T, ApiError>,
) -> Result<(T, Menu), ApiError> {
    for _ in 0..ATTEMPTS {
        let (mut snapshot, config) = read(store, store_id, caller).await?;
        let mut menu = std::mem::take(&mut snapshot.knowledge.menu);
        let outcome = change(&mut menu)?;
        let json = encode_menu(&menu)?;
        let now = now_rfc3339();
        match store
            .write(menu_ops(store_id, &snapshot, &config, &json, &now))
            .await
        {
            Ok(()) => {
                menu.updated_at = Some(now);
                return Ok((outcome, menu));
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the menu was changed by others meanwhile; retry".into(),
    ))
}

/// Validates a normalized menu and encodes it ([`encode_menu`]) side by side: the encoding
/// runs on a second thread while this one validates (a 500-item menu takes about half a
/// millisecond for each), so a save on two cores waits for the longer of the two only.
/// Returns its JSON for [`replace_menu_json`]. Blocks: call it off the async workers.
pub fn validate_and_encode<S: MenuText + Sync>(menu: &Menu<S>) -> Result<String, ApiError> {
    let (valid, json) = std::thread::scope(|scope| {
        let encoding = scope.spawn(|| encode_menu(menu));
        (menu.validate(), encoding.join())
    });
    valid?;
    json.map_err(|_| ApiError::Internal("the menu's encoding panicked".into()))?
}

/// Replaces the whole menu (already normalized and validated); returns the saved menu as
/// its JSON document (what GET answers from now on).
pub async fn replace_menu(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    menu: &Menu,
) -> Result<String, ApiError> {
    replace_menu_json(store, store_id, caller, encode_menu(menu)?).await
}

/// [`replace_menu`] with the menu already encoded.
pub async fn replace_menu_json(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    json: String,
) -> Result<String, ApiError> {
    // The current menu is never parsed (only its version and chunks matter).
    for _ in 0..ATTEMPTS {
        let (snapshot, config) = read_with(store, store_id, caller, Parse::Versions).await?;
        let now = now_rfc3339();
        match store
            .write(menu_ops(store_id, &snapshot, &config, &json, &now))
            .await
        {
            Ok(()) => return menu_document(&json, Some(&now)),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the menu was changed by others meanwhile; retry".into(),
    ))
}

/// Changes one item's availability and/or price (the patch already validated); 404 when
/// the menu has no such item.
pub async fn patch_item(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    item_id: &str,
    patch: &ItemPatch,
) -> Result<MenuItem, ApiError> {
    let (item, _) = modify_menu(store, store_id, caller, |menu| {
        menu.patch_item(item_id, patch)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("no menu item with id {item_id:?}")))
    })
    .await?;
    Ok(item)
}

/// Replaces the profile (already normalized and validated) in one conditional write.
/// `merge(current, &mut new)` runs on each attempt with the profile read (it seals a new
/// webhook secret, or keeps the stored one).
pub async fn replace_profile(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    profile: StoreProfile,
    merge: impl Fn(&StoreProfile, &mut StoreProfile) -> Result<(), ApiError>,
) -> Result<StoreProfile, ApiError> {
    for _ in 0..ATTEMPTS {
        let (snapshot, config) = read(store, store_id, caller).await?;
        let mut profile = profile.clone();
        merge(&snapshot.knowledge.profile, &mut profile)?;
        let data = serde_json::to_string(&profile)
            .map_err(|e| ApiError::Internal(format!("profile does not encode: {e}")))?;
        let item = stamped(keys::item(store_pk(store_id), PROFILE_SK), &config)
            .set(VERSION, snapshot.profile_version.unwrap_or(0) + 1)
            .set(UPDATED_AT, now_rfc3339())
            .set(DATA, data.clone())
            .build();
        match store
            .write(vec![WriteOp::Put {
                item,
                cond: unchanged(snapshot.profile_version),
            }])
            .await
        {
            Ok(()) => return Ok(profile),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the profile was changed by others meanwhile; retry".into(),
    ))
}

/// The deletes of every menu and profile item of a store (for deleting its connection).
pub async fn delete_ops(store: &dyn Store, store_id: &str) -> Result<Vec<WriteOp>, StoreError> {
    let pk = store_pk(store_id);
    Ok(store
        .query(&pk, KB_PREFIX)
        .await?
        .iter()
        .filter_map(|item| attr_str(item, "sk"))
        .map(|sk| WriteOp::Delete {
            pk: pk.clone(),
            sk: sk.to_owned(),
            cond: Cond::None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The stored menu is the compact JSON serde_json would write, byte for byte, escapes
    /// and all.
    #[test]
    fn encoded_as_serde_json_would() {
        let tricky = "aspas \" barra \\ / controle \u{1}\u{1f}\u{7f} linha\n\r\t ação 🍕 \u{2028}\u{2029} \u{fffd}";
        let menu: Menu = serde_json::from_value(json!({"categories": [{"id": "c", "name": tricky, "items": [
            {"id": "i", "name": tricky, "description": tricky, "priceCents": 4590, "available": false, "saiposCode": "X1",
             "optionGroups": [{"id": "g", "name": "G", "min": 0, "max": 1, "options": [{"id": "o", "name": tricky, "priceCents": 0}]}]},
            {"id": "j", "name": "J", "priceCents": 10_000_000}
        ]}]}))
        .expect("menu");
        assert_eq!(
            encode_menu(&menu).expect("encodes"),
            serde_json::to_string(&menu.categories).expect("serde_json")
        );
    }

    fn item(sk: &str, attrs: Value) -> Item {
        keys::item(store_pk("st_1"), sk).attrs(attrs).build()
    }

    #[test]
    fn a_read_that_overlaps_a_save_is_detected() {
        let head = |version: i64| {
            item(
                MENU_SK,
                json!({VERSION: version, CHUNKS: 2, UPDATED_AT: "2026-12-01T00:00:00Z",
                       DATA: r#"[{"id":"a","name":"A","items":[{"id":"x","name":"X","#}),
            )
        };
        let chunk = |version: i64| {
            item(
                &menu_chunk_sk(1),
                json!({VERSION: version, DATA: r#""priceCents":100}]}]"#}),
            )
        };
        let whole = decode(vec![head(4), chunk(4)], Parse::Menu)
            .unwrap()
            .unwrap();
        assert_eq!(whole.knowledge.menu.item("x").unwrap().1.price_cents, 100);
        assert_eq!(whole.menu_version, Some(4));
        assert_eq!(whole.menu_chunks, [1]);
        // A chunk of another version, or missing: read again.
        assert!(decode(vec![head(5), chunk(4)], Parse::Menu)
            .unwrap()
            .is_none());
        assert!(decode(vec![head(5)], Parse::JsonOnly).unwrap().is_none());
        // Nothing stored: the empty knowledge, no versions.
        let empty = decode(vec![], Parse::Menu).unwrap().unwrap();
        assert_eq!(empty.knowledge, Knowledge::default());
        assert_eq!((empty.menu_version, empty.profile_version), (None, None));
        // Corrupt data is an error, not an empty menu.
        assert!(decode(
            vec![item(MENU_SK, json!({VERSION: 1, DATA: "[{"}))],
            Parse::Menu
        )
        .is_err());
        // Unparsed, the JSON is served as stored.
        let raw = decode(vec![head(4), chunk(4)], Parse::JsonOnly)
            .unwrap()
            .unwrap();
        assert_eq!(raw.knowledge.menu, Menu::default());
        let parsed: Vec<Category> = serde_json::from_str(&raw.menu_json).unwrap();
        assert_eq!(parsed, whole.knowledge.menu.categories);
        assert_eq!(empty.menu_json, "[]");
    }

    #[test]
    fn chunks_cut_on_character_boundaries_and_join_back() {
        let json = "ação".repeat(1000);
        for max in [1, 2, 3, 7, 100, 10_000] {
            let pieces = chunk(&json, max.max(4));
            assert!(pieces.iter().all(|p| p.len() <= max.max(4)));
            assert_eq!(pieces.concat(), json);
        }
        assert_eq!(chunk("", 10), vec![""]);
    }
}
