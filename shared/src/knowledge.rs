//! Where the store's knowledge — its menu and its profile (hours, delivery, payments) — is
//! kept, and the reads and writes the routes and the bot perform on it.
//!
//! Layout (keys in [`crate::store::keys`]): both live in the store's partition under the
//! bot config's own sort-key prefix (`CONFIG#KB#…`), so ONE query of `CONFIG` returns the
//! config (which proves the store exists, who owns it and its time zone), the menu and the
//! profile together: a bot turn or a route costs one round trip.
//!
//! The menu can be bigger than one DynamoDB item (400 KB): its JSON is cut into chunks
//! (`CONFIG#KB#menu#01`, …) on category boundaries, each at least [`PIECE_BYTES`] but the
//! last and at most [`CHUNK_BYTES`]. The head item (`CONFIG#KB#menu`) holds the menu's
//! `version`, `updatedAt` and `parts`: the version each chunk was last written at. A save
//! writes the head (conditioned on the version it read), the chunks whose text changed
//! (stamped with the new version), and the deletion of chunks the new menu no longer needs
//! in ONE transaction, so a concurrent save or sold-out switch can't be lost: the loser
//! re-reads and re-applies. A price changed or an item sold out rewrites one chunk of a
//! 500-item menu, not half a megabyte. A query isn't isolated from a transaction in
//! DynamoDB, so a reader that finds a chunk of another version than its head lists reads
//! again. Menus saved before `parts` existed (the head held the first piece, `chunks` their
//! count, every chunk the head's version) still read; their next save rewrites them. The
//! serialized menu is capped at [`MENU_MAX_BYTES`].
//!
//! The head also keeps an `index` (`index.rs`): where each category ends in the JSON and
//! its item ids. A PUT whose body is GET's own bytes with edits (what the console sends) is
//! rebased on the stored JSON (`rebase.rs`): only the categories between the bytes it shares
//! with the stored JSON at both ends are parsed and checked, the rest are copied. Any other
//! body is parsed whole; both store the same bytes for the same menu.

use serde_json::Value;

use crate::auth::caller::StoreCaller;
use crate::domain::borrowed::{Borrowed, MenuText};
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
/// The size a chunk grows to before the next category starts a new one: small enough that
/// an edit rewrites little, big enough that the most a menu takes (32 chunks) stays well
/// inside a DynamoDB transaction (100 items) with the deletes of the chunks it replaces.
pub const PIECE_BYTES: usize = 32_000;
mod encode;
mod index;
mod item_edit;
mod rebase;
use encode::encode_with_capacity;
pub use encode::{encode_menu, MenuJson};
use item_edit::ItemChange;
pub use rebase::sent_back;

/// How often a write that lost a race re-reads and tries again before answering 409.
const ATTEMPTS: usize = 5;

const VERSION: &str = "version";
const DATA: &str = "data";
const PARTS: &str = "parts";
/// Of menus saved before `parts`: their number of pieces, the first in the head's `data`.
const LEGACY_CHUNKS: &str = "chunks";
const UPDATED_AT: &str = "updatedAt";
/// The head's index of the menu's categories (`knowledge::index`).
const INDEX: &str = "index";

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
    /// were parsed into `knowledge.menu`; empty when the menu was read for a save (its
    /// chunks are in `menu_parts`).
    pub menu_json: String,
    /// The menu's `updatedAt`.
    pub menu_updated_at: Option<String>,
    /// The menu's stored version (`None`: never saved).
    pub menu_version: Option<i64>,
    /// Chunk numbers (from 1) of every menu chunk item present.
    pub menu_chunks: Vec<usize>,
    /// The text of each chunk of the menu as stored, with the version it was written at
    /// (chunk `n` at `n - 1`): a save rewrites only those whose text changes. Empty for a
    /// menu in the layout from before `parts` (its next save rewrites every chunk).
    pub menu_parts: Vec<Part>,
    /// The head's index of the categories in the JSON (`index`); `None` before it existed.
    pub menu_index: Option<String>,
    pub profile_version: Option<i64>,
}

/// One chunk of the stored menu's JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Part {
    pub version: i64,
    pub text: String,
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
    /// The menu's version and its chunks, not joined (replacing it).
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
    if let Some(mut head) = head {
        let version = version_of(&head);
        let mut json = String::new();
        if let Some(parts) = head.get(PARTS).and_then(Value::as_array) {
            for (i, part) in parts.iter().enumerate() {
                let Some(chunk) = chunks.get_mut(&(i + 1)) else {
                    return Ok(None);
                };
                let Some(written) = part.as_i64() else {
                    return Ok(None);
                };
                if version_of(chunk) != Some(written) {
                    return Ok(None);
                }
                let text = match chunk.remove(DATA) {
                    Some(Value::String(text)) => text,
                    _ => String::new(),
                };
                if parse != Parse::Versions {
                    json.push_str(&text);
                }
                snapshot.menu_parts.push(Part {
                    version: written,
                    text,
                });
            }
        } else {
            let count = head.get(LEGACY_CHUNKS).and_then(Value::as_u64).unwrap_or(1) as usize;
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
        }
        if let Some(Value::String(index)) = head.remove(INDEX) {
            snapshot.menu_index = Some(index);
        }
        let updated_at = match head.remove(UPDATED_AT) {
            Some(Value::String(at)) => Some(at),
            _ => None,
        };
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

/// The one transaction that replaces the menu read in `base` by `menu`: the head, the
/// chunks whose text changed (checked as UTF-8 here), the deletes of chunks past the new
/// menu's last.
fn menu_ops(
    store_id: &str,
    base: &Snapshot,
    config: &Item,
    menu: &MenuJson,
    now: &str,
) -> Result<Vec<WriteOp>, ApiError> {
    let pk = store_pk(store_id);
    let version = base.menu_version.unwrap_or(0) + 1;
    let mut ops = Vec::new();
    let mut parts = Vec::new();
    for (i, piece) in menu.pieces().enumerate() {
        match base.menu_parts.get(i) {
            Some(old) if old.text.as_bytes() == piece => parts.push(old.version),
            _ => {
                parts.push(version);
                // simdutf8: a save that rewrites every chunk checks half a megabyte here.
                let text = simdutf8::basic::from_utf8(piece)
                    .map_err(|_| ApiError::Internal("a menu chunk is not UTF-8".into()))?;
                ops.push(WriteOp::Put {
                    item: keys::item(pk.clone(), menu_chunk_sk(i + 1))
                        .set(VERSION, version)
                        .set(DATA, text)
                        .build(),
                    cond: Cond::None,
                });
            }
        }
    }
    for n in base.menu_chunks.iter().filter(|n| **n > parts.len()) {
        ops.push(WriteOp::Delete {
            pk: pk.clone(),
            sk: menu_chunk_sk(*n),
            cond: Cond::None,
        });
    }
    let head = stamped(keys::item(pk.clone(), MENU_SK), config)
        .set(VERSION, version)
        .set(PARTS, parts)
        .set(INDEX, menu.index())
        .set(UPDATED_AT, now)
        .build();
    ops.insert(
        0,
        WriteOp::Put {
            item: head,
            cond: unchanged(base.menu_version),
        },
    );
    Ok(ops)
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
) -> Result<Vec<u8>, ApiError> {
    let (snapshot, _) = read_with(store, store_id, caller, Parse::JsonOnly).await?;
    menu_document(
        snapshot.menu_json.as_bytes(),
        snapshot.menu_updated_at.as_deref(),
    )
}

/// `{"categories":<stored JSON>,"updatedAt":…}`, the menu as the API shows it (UTF-8).
fn menu_document(categories_json: &[u8], updated_at: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let updated_at =
        serde_json::to_string(&updated_at).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut document = Vec::with_capacity(categories_json.len() + updated_at.len() + 32);
    document.extend_from_slice(br#"{"categories":"#);
    document.extend_from_slice(categories_json);
    document.extend_from_slice(br#","updatedAt":"#);
    document.extend_from_slice(updated_at.as_bytes());
    document.push(b'}');
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
        if let Some(now) = save_menu(store, store_id, &snapshot, &config, &json).await? {
            menu.updated_at = Some(now);
            return Ok((outcome, menu));
        }
    }
    Err(menu_conflict())
}

/// Writes `json` over the menu read in `base`, in one conditional transaction: the time it
/// was saved at, or `None` if another save landed since the read (read again, retry).
async fn save_menu(
    store: &dyn Store,
    store_id: &str,
    base: &Snapshot,
    config: &Item,
    json: &MenuJson,
) -> Result<Option<String>, ApiError> {
    let now = now_rfc3339();
    match store
        .write(menu_ops(store_id, base, config, json, &now)?)
        .await
    {
        Ok(()) => Ok(Some(now)),
        Err(StoreError::ConditionFailed) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// A menu save that lost every race to other saves.
fn menu_conflict() -> ApiError {
    ApiError::Conflict("the menu was changed by others meanwhile; retry".into())
}

/// Validates a normalized menu, then encodes it ([`encode_menu`]) into a buffer of
/// `size_hint` bytes (the request body's length: the JSON is about as long, so it is
/// written without growing). Returns its JSON for [`replace_menu_json`]. Blocks for about
/// a millisecond on a 500-item menu: call it off the async workers.
pub fn validate_and_encode<S: MenuText>(
    menu: &Menu<S>,
    size_hint: usize,
) -> Result<MenuJson, ApiError> {
    menu.validate()?;
    encode_with_capacity(menu, size_hint.min(MENU_MAX_BYTES + 1))
}

/// What a save of the whole menu reads first: that the caller may see the store, and the
/// stored menu's version and chunks. Read while the new menu is being checked.
pub struct SaveBase {
    snapshot: Snapshot,
    config: Item,
}

impl SaveBase {
    /// The menu `body` asks for, if it sends most categories back as stored: only the
    /// changed ones parsed and checked (`knowledge::rebase`). `None`: parse it whole.
    /// Blocks for ~0.2 ms on a 500-item menu.
    pub fn rebase(&self, body: &[u8]) -> Option<(MenuJson, usize)> {
        let index = self.snapshot.menu_index.as_deref()?;
        let parts: Vec<&[u8]> = (self.snapshot.menu_parts.iter())
            .map(|part| part.text.as_bytes())
            .collect();
        rebase::rebase(body, &parts, index)
    }
}

/// [`SaveBase`] for a caller who may see the store (404 otherwise).
pub async fn read_for_save(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
) -> Result<SaveBase, ApiError> {
    // The current menu is never parsed (only its version and chunks' text matter).
    let (snapshot, config) = read_with(store, store_id, caller, Parse::Versions).await?;
    Ok(SaveBase { snapshot, config })
}

/// Replaces the whole menu (already normalized and validated); returns the saved menu as
/// its JSON document (what GET answers from now on).
pub async fn replace_menu(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    menu: &Menu,
) -> Result<Vec<u8>, ApiError> {
    replace_menu_json(store, store_id, caller, encode_menu(menu)?, None).await
}

/// [`replace_menu`] with the menu already encoded, over `base` if it was read already.
pub async fn replace_menu_json(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    json: MenuJson,
    mut base: Option<SaveBase>,
) -> Result<Vec<u8>, ApiError> {
    for _ in 0..ATTEMPTS {
        let SaveBase { snapshot, config } = match base.take() {
            Some(base) => base,
            None => read_for_save(store, store_id, caller).await?,
        };
        if let Some(now) = save_menu(store, store_id, &snapshot, &config, &json).await? {
            return menu_document(json.as_bytes(), Some(&now));
        }
    }
    Err(menu_conflict())
}

/// Changes one item's availability and/or price (the patch already validated); 404 when
/// the menu has no such item. Only the item's category is parsed, where the head's index
/// says (`item_edit`; a menu without one is parsed whole, borrowing its text), and it is
/// saved like any menu: the head and the one chunk that changed. On a lost race it reads
/// again and re-applies (a switch made while a PUT lands applies to the new menu).
pub async fn patch_item(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    item_id: &str,
    patch: &ItemPatch,
) -> Result<MenuItem, ApiError> {
    let missing = || ApiError::NotFound(format!("no menu item with id {item_id:?}"));
    // The one item answered, as the kept type (a round trip through JSON: one item).
    let owned = |item: &MenuItem<Borrowed>| -> Result<MenuItem, ApiError> {
        serde_json::to_value(item)
            .and_then(serde_json::from_value)
            .map_err(|e| ApiError::Internal(format!("menu item does not encode: {e}")))
    };
    for _ in 0..ATTEMPTS {
        let (snapshot, config) = read_with(store, store_id, caller, Parse::JsonOnly).await?;
        // Only the item's category, where the index says (`item_edit`).
        let edited = snapshot.menu_index.as_deref().and_then(|index| {
            item_edit::change_item(snapshot.menu_json.as_bytes(), index, item_id, |item| {
                patch.apply(item);
                owned(item)
            })
        });
        let (json, item) = match edited {
            Some(ItemChange::Changed(json, item)) => (json, item?),
            Some(ItemChange::NoSuchItem) => return Err(missing()),
            None => {
                let categories: Vec<Category<Borrowed>> = serde_json::from_str(&snapshot.menu_json)
                    .map_err(|e| ApiError::from(data_error("menu", e)))?;
                let mut menu = Menu {
                    categories,
                    updated_at: None,
                };
                let item = owned(menu.patch_item(item_id, patch).ok_or_else(missing)?)?;
                (encode_menu(&menu)?, item)
            }
        };
        if save_menu(store, store_id, &snapshot, &config, &json)
            .await?
            .is_some()
        {
            return Ok(item);
        }
    }
    Err(menu_conflict())
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

    fn text(menu: &MenuJson) -> &str {
        std::str::from_utf8(menu.as_bytes()).unwrap()
    }

    fn pieces(menu: &MenuJson) -> Vec<&str> {
        menu.pieces()
            .map(|piece| std::str::from_utf8(piece).unwrap())
            .collect()
    }

    fn item(sk: &str, attrs: Value) -> Item {
        keys::item(store_pk("st_1"), sk).attrs(attrs).build()
    }

    #[test]
    fn a_read_that_overlaps_a_save_is_detected() {
        // The head lists the version each chunk was written at.
        let head = |parts: Value| {
            item(
                MENU_SK,
                json!({VERSION: 5, PARTS: parts, UPDATED_AT: "2026-12-01T00:00:00Z"}),
            )
        };
        let chunk = |n: usize, version: i64, text: &str| {
            item(&menu_chunk_sk(n), json!({VERSION: version, DATA: text}))
        };
        let first = r#"[{"id":"a","name":"A","items":[{"id":"x","name":"X","#;
        let second = r#""priceCents":100}]}]"#;
        let whole = decode(
            vec![head(json!([3, 5])), chunk(1, 3, first), chunk(2, 5, second)],
            Parse::Menu,
        )
        .unwrap()
        .unwrap();
        assert_eq!(whole.knowledge.menu.item("x").unwrap().1.price_cents, 100);
        assert_eq!(whole.menu_version, Some(5));
        assert_eq!(whole.menu_chunks, [1, 2]);
        assert_eq!(
            whole.menu_parts,
            [
                Part {
                    version: 3,
                    text: first.into()
                },
                Part {
                    version: 5,
                    text: second.into()
                }
            ]
        );
        // A chunk of another version than its head lists, or missing: read again.
        for stale in [
            vec![head(json!([3, 5])), chunk(1, 3, first), chunk(2, 4, second)],
            vec![head(json!([3, 5])), chunk(1, 6, first), chunk(2, 5, second)],
            vec![head(json!([3, 5])), chunk(1, 3, first)],
        ] {
            assert!(decode(stale, Parse::JsonOnly).unwrap().is_none());
        }
        // Nothing stored: the empty knowledge, no versions.
        let empty = decode(vec![], Parse::Menu).unwrap().unwrap();
        assert_eq!(empty.knowledge, Knowledge::default());
        assert_eq!((empty.menu_version, empty.profile_version), (None, None));
        assert_eq!(empty.menu_json, "[]");
        // Corrupt data is an error, not an empty menu.
        assert!(decode(vec![head(json!([5])), chunk(1, 5, "[{")], Parse::Menu).is_err());
        // Unparsed, the JSON is served as stored; for a save, the chunks' text is kept.
        let items = || vec![head(json!([3, 5])), chunk(1, 3, first), chunk(2, 5, second)];
        let raw = decode(items(), Parse::JsonOnly).unwrap().unwrap();
        assert_eq!(raw.knowledge.menu, Menu::default());
        let parsed: Vec<Category> = serde_json::from_str(&raw.menu_json).unwrap();
        assert_eq!(parsed, whole.knowledge.menu.categories);
        let versions = decode(items(), Parse::Versions).unwrap().unwrap();
        assert_eq!(versions.menu_json, "");
        assert_eq!(versions.menu_parts, whole.menu_parts);
    }

    /// Menus saved before `parts`: the first piece in the head, `chunks` their count, every
    /// chunk at the head's version. They read as before; a save rewrites every chunk.
    #[test]
    fn menus_saved_in_the_older_layout_still_read() {
        let head = |version: i64| {
            item(
                MENU_SK,
                json!({VERSION: version, LEGACY_CHUNKS: 2, UPDATED_AT: "2026-12-01T00:00:00Z",
                       DATA: r#"[{"id":"a","name":"A","items":[{"id":"x","name":"X","#}),
            )
        };
        let chunk = |version: i64| {
            item(
                &menu_chunk_sk(1),
                json!({VERSION: version, DATA: r#""priceCents":100}]}]"#}),
            )
        };
        let old = decode(vec![head(4), chunk(4)], Parse::Menu)
            .unwrap()
            .unwrap();
        assert_eq!(old.knowledge.menu.item("x").unwrap().1.price_cents, 100);
        assert_eq!(old.menu_chunks, [1]);
        assert!(old.menu_parts.is_empty());
        assert!(decode(vec![head(5), chunk(4)], Parse::Menu)
            .unwrap()
            .is_none());
        assert!(decode(vec![head(5)], Parse::JsonOnly).unwrap().is_none());
        // Its next save: a new head, chunk 1 written, nothing kept from the old layout.
        let json = encode_menu(&old.knowledge.menu).unwrap();
        let ops = menu_ops("st_1", &old, &Item::new(), &json, "now").unwrap();
        let puts: Vec<&Item> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Put { item, .. } => Some(item),
                _ => None,
            })
            .collect();
        assert_eq!(puts.len(), 2);
        assert_eq!(puts[0][PARTS], json!([5]));
        assert!(puts[0].get(DATA).is_none() && puts[0].get(LEGACY_CHUNKS).is_none());
        assert_eq!(puts[1][DATA], json!(text(&json)));
    }

    /// A menu of `categories` categories of `items` items, each with a description of
    /// `description` characters.
    fn menu_of(categories: usize, items: usize, description: &str) -> Menu {
        Menu {
            categories: (0..categories)
                .map(|c| Category {
                    id: format!("c{c}"),
                    name: format!("Categoria {c}"),
                    items: (0..items)
                        .map(|i| MenuItem {
                            id: format!("i{c}-{i}"),
                            name: format!("Item {i}"),
                            description: Some(description.into()),
                            price_cents: 1000,
                            available: true,
                            option_groups: vec![],
                            saipos_code: None,
                        })
                        .collect(),
                })
                .collect(),
            updated_at: None,
        }
    }

    #[test]
    fn chunks_end_on_categories_and_join_back() {
        for menu in [
            Menu::default(),
            menu_of(1, 1, "x"),
            menu_of(20, 25, &"Molho, mussarela e orégano. ".repeat(8)),
            menu_of(3, 60, &"d".repeat(40)),
        ] {
            let encoded = encode_menu(&menu).unwrap();
            assert_eq!(
                text(&encoded),
                serde_json::to_string(&menu.categories).unwrap()
            );
            let pieces = pieces(&encoded);
            assert_eq!(pieces.concat(), text(&encoded));
            for piece in &pieces[..pieces.len() - 1] {
                assert!((PIECE_BYTES..=CHUNK_BYTES).contains(&piece.len()));
                // Each ends where a category does.
                assert!(piece.ends_with("}]}"), "{}", &piece[piece.len() - 10..]);
            }
            assert!(pieces.last().unwrap().ends_with(']'));
        }
        // One category bigger than a chunk is cut inside it, on character boundaries.
        let huge = menu_of(1, 500, &"ação ".repeat(100));
        let encoded = encode_menu(&huge).unwrap();
        let pieces = pieces(&encoded);
        assert!(pieces.len() >= 2, "{}", encoded.as_bytes().len());
        assert!(pieces.iter().all(|p| p.len() <= CHUNK_BYTES));
        assert_eq!(pieces.concat(), text(&encoded));
    }

    #[test]
    fn a_save_writes_only_the_chunks_that_changed() {
        let config = Item::new();
        let menu = menu_of(20, 25, &"Molho, mussarela e orégano. ".repeat(8));
        let first = encode_menu(&menu).unwrap();
        let count = first.pieces().count();
        assert!(count >= 4, "{count}");
        // What a read after saving `first` at version 7 finds.
        let saved = Snapshot {
            menu_version: Some(7),
            menu_chunks: (1..=count).collect(),
            menu_parts: pieces(&first)
                .into_iter()
                .map(|text| Part {
                    version: 7,
                    text: text.into(),
                })
                .collect(),
            ..Snapshot::default()
        };
        let written = |ops: &[WriteOp]| -> Vec<String> {
            ops.iter()
                .map(|op| match op {
                    WriteOp::Put { item, .. } => format!("put {}", attr_str(item, "sk").unwrap()),
                    WriteOp::Delete { sk, .. } => format!("delete {sk}"),
                    _ => unreachable!(),
                })
                .collect()
        };
        // The same menu again: the head only, listing the chunks' versions as they were.
        let ops = menu_ops("st_1", &saved, &config, &first, "now").unwrap();
        assert_eq!(written(&ops), ["put CONFIG#KB#menu"]);
        // One price changed in the last category: the head and the last chunk.
        let mut changed = menu.clone();
        changed.categories[19].items[3].price_cents = 1290;
        let ops = menu_ops(
            "st_1",
            &saved,
            &config,
            &encode_menu(&changed).unwrap(),
            "now",
        )
        .unwrap();
        let last = menu_chunk_sk(count);
        assert_eq!(
            written(&ops),
            ["put CONFIG#KB#menu".to_owned(), format!("put {last}")]
        );
        let WriteOp::Put { item: head, cond } = &ops[0] else {
            unreachable!()
        };
        let mut parts = vec![json!(7); count - 1];
        parts.push(json!(8));
        assert_eq!(head[PARTS], Value::Array(parts));
        assert_eq!(head[VERSION], json!(8));
        assert_eq!(*cond, unchanged(Some(7)));
        // A smaller menu: its chunks written where they differ, the rest deleted.
        let small = menu_of(1, 1, "x");
        let ops = menu_ops(
            "st_1",
            &saved,
            &config,
            &encode_menu(&small).unwrap(),
            "now",
        )
        .unwrap();
        let mut expected = vec![
            "put CONFIG#KB#menu".to_owned(),
            "put CONFIG#KB#menu#01".into(),
        ];
        expected.extend((2..=count).map(|n| format!("delete {}", menu_chunk_sk(n))));
        assert_eq!(written(&ops), expected);
    }
}
