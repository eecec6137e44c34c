//! The one catalogue of table keys. Every partition key, sort key and sort-key prefix that
//! Platefull stores under is built here, and every key that is read back (a slot number, a
//! pre-key id, a device) is parsed here; no other module formats a key by hand. So the
//! table's layout can be read in one file, a new item kind is added in one place, and a key
//! can't drift between the code that writes an item and the code that queries it.
//!
//! [`KINDS`] lists every item kind with its key patterns exactly as the "Table layout"
//! section of docs/architecture.md writes them; a test keeps the two equal, and another
//! checks that each builder below produces keys of its kind's pattern.
//!
//! The formats are stored data: changing one orphans every item already written under it.
//! Zero-padded numbers (`M#<ms>`, pre-key ids) keep sort-key order equal to numeric order,
//! and `~` sorts after every letter, so one newest-first query of a chat returns its state,
//! its turn and its latest messages together.

use serde::Serialize;
use serde_json::Value;

use super::{Item, StoreError};

/// One kind of item: what it is and its `pk` / `sk` patterns (`<...>` is a variable part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind {
    pub item: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
}

const fn kind(item: &'static str, pk: &'static str, sk: &'static str) -> Kind {
    Kind { item, pk, sk }
}

/// Every item kind in the table (docs/architecture.md, "Table layout", lists the same).
pub const KINDS: &[Kind] = &[
    kind("user API", "USER#<userId>", "API#<id>"),
    kind("apiKey grant", "KEY#<sha256(apiKey)>", "KEY"),
    kind("bot config", "STORE#<storeId>", "CONFIG"),
    kind("menu", "STORE#<storeId>", "CONFIG#KB#menu"),
    kind("menu chunk", "STORE#<storeId>", "CONFIG#KB#menu#<nn>"),
    kind("store profile", "STORE#<storeId>", "CONFIG#KB#profile"),
    kind("slot n (1..3)", "STORE#<storeId>", "SLOT#<n>"),
    kind("report day", "REPORT#<apiId>", "DAY#<YYYY-MM-DD>"),
    kind("slot lease", "LEASES", "<storeId>#<slot>"),
    kind("message seen", "STORE#<storeId>", "SEEN#<line>#<messageId>"),
    kind(
        "chat history",
        "STORE#<storeId>",
        "CHAT#<line>#<chat>#M#<ms>#<id>",
    ),
    kind("chat turn", "STORE#<storeId>", "CHAT#<line>#<chat>#~in"),
    kind("chat state", "STORE#<storeId>", "CHAT#<line>#<chat>#~st"),
    kind("chat cart", "STORE#<storeId>", "CHAT#<line>#<chat>#~cart"),
    kind("chat alias", "STORE#<storeId>", "CHAT#<line>#<chat>#~as"),
    kind("order", "STORE#<storeId>", "ORDER#<YYYY-MM-DD>#<nnnnnn>"),
    kind("order counter", "STORE#<storeId>", "ORDERSEQ#<YYYY-MM-DD>"),
    kind("chat summary", "STORE#<storeId>", "CHAT#<line>#<chat>#~ix"),
    kind("inbox entry", "STORE#<storeId>", "INBOX#<ms>#<line>#<chat>"),
    kind("change", "STORE#<storeId>", "CHG#<ms>#<line>#<chat>#<kind>"),
    kind("change feed head", "STORE#<storeId>", "CHG#~"),
    kind(
        "delivery status",
        "STORE#<storeId>",
        "STATUS#<line>#<messageId>",
    ),
    kind("Cloud API number", "STORE#<storeId>", "CLOUD"),
    kind("usage day", "STORE#<storeId>", "USAGE#<YYYY-MM-DD>"),
    kind("store health", "STORE#<storeId>", "CONFIG#HEALTH"),
    kind("incident", "STORE#<storeId>", "INCIDENT#<incident>"),
    kind("owner notice mark", "STORE#<storeId>", "NOTICE#<noticeId>"),
    kind("Cloud API route", "CLOUDNUM#<phoneNumberId>", "ROUTE"),
    kind("queued message", "QUEUE#<queue>", "M#<seq>"),
    kind("queue dedup id", "QUEUE#<queue>", "D#<group>#<dedupId>"),
    kind("device", WA_PK, "device"),
    kind("identity", WA_PK, "identity#<address>"),
    kind("session", WA_PK, "session#<address>"),
    kind("pre-key", WA_PK, "prekey#<id>"),
    kind("signed pre-key", WA_PK, "signedprekey#<id>"),
    kind("sender key", WA_PK, "senderkey#<address>"),
    kind("app-state sync key", WA_PK, "synckey#<hex(keyId)>"),
    kind("latest sync key", WA_PK, "latestsynckey"),
    kind("app-state version", WA_PK, "version#<name>"),
    kind("mutation MAC", WA_PK, "mutmac#<name>#<hex(indexMac)>"),
    kind("sender-key device", WA_PK, "skdev#<group>#<device>"),
    kind("LID mapping", WA_PK, "lid#<lid>"),
    kind("phone → LID", WA_PK, "pn#<phone>"),
    kind("base key", WA_PK, "basekey#<address>#<messageId>"),
    kind("device list", WA_PK, "devices#<user>"),
    kind("group metadata", WA_PK, "groupmeta#<group>"),
    kind("trusted-contact token", WA_PK, "tctoken#<jid>"),
    kind("sent message", WA_PK, "sent#<chat>#<id>"),
    kind("pending inbound", WA_PK, "pending#<chat>#<sender>#<id>"),
    kind("message secret", WA_PK, "msgsecret#<chat>#<sender>#<id>"),
    kind("key-store fence", WA_PK, "fence"),
    kind("key-store batch", WA_PK, "journal#<batchId>"),
    kind("key-store batch part", WA_PK, "journal#<batchId>#<part>"),
];

const WA_PK: &str = "WA#<storeId>#<slot>";

// --- Connections (records.rs): user APIs, apiKey grants, configs, slots ---

/// The partition of a user's APIs.
pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}
/// Prefix of every user API in [`user_pk`].
pub const API_PREFIX: &str = "API#";
pub fn api_sk(id: &str) -> String {
    format!("{API_PREFIX}{id}")
}
/// An apiKey grant, addressed by the key's SHA-256.
pub fn key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}
pub const KEY_SK: &str = "KEY";
/// The partition of everything a store (a WhatsApp connection) owns.
pub fn store_pk(store_id: &str) -> String {
    format!("STORE#{store_id}")
}
pub const CONFIG_SK: &str = "CONFIG";
/// Prefix of the slots in [`store_pk`].
pub const SLOT_PREFIX: &str = "SLOT#";
pub fn slot_sk(slot: u8) -> String {
    format!("{SLOT_PREFIX}{slot}")
}

// --- Store knowledge (knowledge.rs): menu and profile, under `store_pk` ---
//
// They share the bot config's sort-key prefix on purpose: one query of `CONFIG` returns
// the config (which proves the store exists and who owns it) with the menu and profile.

/// Prefix of the menu's and profile's items (not of the config itself).
pub const KB_PREFIX: &str = "CONFIG#KB#";
/// The menu's head: version, chunk count, updatedAt and the first chunk of its JSON.
pub const MENU_SK: &str = "CONFIG#KB#menu";
/// The `n`th (from 1) further chunk of the menu's JSON; two digits keep them in order.
pub fn menu_chunk_sk(n: usize) -> String {
    format!("{MENU_SK}#{n:02}")
}
/// The chunk number of a [`menu_chunk_sk`].
pub fn menu_chunk_of(sk: &str) -> Option<usize> {
    sk.strip_prefix(MENU_SK)?.strip_prefix('#')?.parse().ok()
}
/// The store profile: address, hours, delivery zones, payments.
pub const PROFILE_SK: &str = "CONFIG#KB#profile";

// --- Health and usage (health/): counters per day, the month's spend, incidents ---

/// Prefix of a store's usage days.
pub const USAGE_PREFIX: &str = "USAGE#";
/// A store's usage counters of one day (`YYYY-MM-DD`, the store's zone).
pub fn usage_sk(day: &str) -> String {
    format!("{USAGE_PREFIX}{day}")
}
/// The store's AI spend per month and the attendant's failing state: under the `CONFIG`
/// prefix, so a turn's one query of it reads them too.
pub const HEALTH_SK: &str = "CONFIG#HEALTH";
/// Prefix of a store's incidents.
pub const INCIDENT_PREFIX: &str = "INCIDENT#";
/// One incident of a store (`slot2`, `attendant`, `dlq`, `budget80`, …).
pub fn incident_sk(incident: &str) -> String {
    format!("{INCIDENT_PREFIX}{incident}")
}

/// An owner notice sent from a Cloud API number (`notify.rs`), by its notice id.
pub fn notice_sk(notice_id: &str) -> String {
    format!("NOTICE#{notice_id}")
}

// --- Chats (bot/chat.rs), under `store_pk`; `line` is `Line::key()` (`w1`, `c<number>`) ---

/// Prefixes of every chat item, dedupe marker and delivery status of a store (what goes
/// when its connection is deleted).
pub const CHAT_PREFIX: &str = "CHAT#";
pub const SEEN_PREFIX: &str = "SEEN#";
pub const STATUS_PREFIX: &str = "STATUS#";

/// Dedupe marker of a message.
pub fn seen_sk(line: &str, message_id: &str) -> String {
    format!("SEEN#{line}#{message_id}")
}
/// Prefix of every item of one chat: its history, turn and state.
pub fn chat_prefix(line: &str, chat: &str) -> String {
    format!("CHAT#{line}#{chat}#")
}
/// One message of a chat's history; `at_ms` is zero-padded so the order is by time.
pub fn chat_message_sk(line: &str, chat: &str, at_ms: i64, id: &str) -> String {
    format!("{}M#{at_ms:013}#{id}", chat_prefix(line, chat))
}
/// The chat's latest customer message (the turn).
pub fn chat_turn_sk(line: &str, chat: &str) -> String {
    format!("{}~in", chat_prefix(line, chat))
}
/// Where a customer id's messages go when its own chat is another's (`bot/identity.rs`):
/// a Cloud API business-scoped id pointing at the chat its customer's phone keys.
pub fn chat_alias_sk(line: &str, chat: &str) -> String {
    format!("{}~as", chat_prefix(line, chat))
}
/// The chat's items whose sort key starts with `~` (alias, cart, turn, summary, state):
/// what a chat is, without its history.
pub fn chat_head_prefix(line: &str, chat: &str) -> String {
    format!("{}~", chat_prefix(line, chat))
}
/// The chat's reply state.
pub fn chat_state_sk(line: &str, chat: &str) -> String {
    format!("{}~st", chat_prefix(line, chat))
}
/// The chat's cart and latest order ([`crate::orders`]); `~cart` sorts before `~in`, so
/// the turn's one newest-first query of the chat returns it too.
pub fn chat_cart_sk(line: &str, chat: &str) -> String {
    format!("{}~cart", chat_prefix(line, chat))
}

// --- Orders (orders.rs), under `store_pk`; `date` is the store-local day `YYYY-MM-DD` ---

/// Prefix of every order of every day.
pub const ORDER_PREFIX: &str = "ORDER#";
/// Prefix of the orders of one day (a query of it lists them by number).
pub fn order_day_prefix(date: &str) -> String {
    format!("{ORDER_PREFIX}{date}#")
}
/// Order `number` of `date`; zero-padded so the sort key orders by number.
pub fn order_sk(date: &str, number: u32) -> String {
    format!("{}{number:06}", order_day_prefix(date))
}
/// The last order number given out on `date`.
pub fn order_counter_sk(date: &str) -> String {
    format!("ORDERSEQ#{date}")
}
/// Prefix of one chat's history messages (under [`chat_prefix`]).
pub fn chat_messages_prefix(line: &str, chat: &str) -> String {
    format!("{}M#", chat_prefix(line, chat))
}
/// The chat's summary for the inbox (inbox/mod.rs): last message, unread, its entry's time.
pub fn chat_summary_sk(line: &str, chat: &str) -> String {
    format!("{}~ix", chat_prefix(line, chat))
}

// --- The inbox (inbox.rs), under `store_pk` ---

/// Prefix of every inbox entry: one per chat, under the time of its last message, so a
/// newest-first query lists the chats by activity.
pub const INBOX_PREFIX: &str = "INBOX#";
pub fn inbox_sk(at_ms: i64, line: &str, chat: &str) -> String {
    format!("{INBOX_PREFIX}{at_ms:013}#{line}#{chat}")
}
/// Prefix of the change feed's rows (and of its head, which sorts after them).
pub const CHANGE_PREFIX: &str = "CHG#";
pub fn change_sk(at_ms: i64, line: &str, chat: &str, kind: &str) -> String {
    format!("{CHANGE_PREFIX}{at_ms:013}#{line}#{chat}#{kind}")
}
/// The change feed's head: the store's owner, so a feed query proves ownership by itself.
pub const CHANGE_HEAD_SK: &str = "CHG#~";

/// The delivery status of a message sent through the Cloud API.
pub fn status_sk(line: &str, message_id: &str) -> String {
    format!("STATUS#{line}#{message_id}")
}

// --- Cloud API numbers (bot/cloud_api.rs) ---

/// The store's attached number, under [`store_pk`].
pub const CLOUD_SK: &str = "CLOUD";
/// Which store a Cloud API number belongs to.
pub fn cloud_route_pk(phone_number_id: &str) -> String {
    format!("CLOUDNUM#{phone_number_id}")
}
pub const ROUTE_SK: &str = "ROUTE";

// --- Saipos report cache (saipos/cache.rs) ---

pub fn report_pk(api_id: &str) -> String {
    format!("REPORT#{api_id}")
}
/// Prefix of every cached day in [`report_pk`].
pub const DAY_PREFIX: &str = "DAY#";
/// A cached day, `YYYY-MM-DD` (so days sort by date).
pub fn day_sk(day: &str) -> String {
    format!("{DAY_PREFIX}{day}")
}

// --- Slot leases (whatsapp/slots.rs) ---

/// The one partition of every slot lease (one query finds a dead task's slots).
pub const LEASES_PK: &str = "LEASES";
pub fn lease_sk(store_id: &str, slot: u8) -> String {
    format!("{store_id}#{slot}")
}

// --- The local stack's durable queues (queue/durable.rs) ---

/// The partition of one in-process queue's messages and FIFO deduplication ids.
pub fn queue_pk(queue: &str) -> String {
    format!("QUEUE#{queue}")
}
pub const QUEUED_PREFIX: &str = "M#";
/// A queued message; the zero-padded sequence keeps a partition query in send order.
pub fn queued_sk(seq: u64) -> String {
    format!("M#{seq:020}")
}
pub fn queued_seq(sk: &str) -> Option<u64> {
    sk.strip_prefix(QUEUED_PREFIX)?.parse().ok()
}
pub const DEDUP_PREFIX: &str = "D#";
/// A FIFO deduplication id seen within the window (the group escaped: `#` separates).
pub fn dedup_sk(group: &str, dedup_id: &str) -> String {
    format!("D#{}#{dedup_id}", wa::esc(group))
}

// --- WhatsApp Web device records (whatsapp/wa_store/) ---

/// The partition holding every WhatsApp record of a slot; sort keys are in [`wa`].
pub fn wa_pk(store_id: &str, slot: u8) -> String {
    format!("WA#{store_id}#{slot}")
}

/// Sort keys of the WhatsApp records in [`wa_pk`], one family per kind of record. Key
/// components (addresses, jids, names) are escaped so that `#` only ever separates
/// components, and stay readable: they are what partition queries select on.
pub mod wa {
    /// Escapes a key component so that `#` only ever separates components.
    pub fn esc(s: &str) -> String {
        s.replace('%', "%25").replace('#', "%23")
    }

    pub fn unesc(s: &str) -> String {
        s.replace("%23", "#").replace("%25", "%")
    }

    pub fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The linked device itself.
    pub const DEVICE: &str = "device";

    pub fn identity(address: &str) -> String {
        format!("identity#{}", esc(address))
    }
    pub fn session(address: &str) -> String {
        format!("session#{}", esc(address))
    }
    /// Does `sk`, found under `prefix` (a [`session`] or [`identity`] of a user), name an
    /// address of exactly that user (the user part is followed by `@` or `:`)?
    pub fn names_user(prefix: &str, sk: &str) -> bool {
        sk.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('@') || rest.starts_with(':'))
    }

    pub const PREKEY_PREFIX: &str = "prekey#";
    /// Zero-padded, so the greatest id sorts last.
    pub fn prekey(id: u32) -> String {
        format!("{PREKEY_PREFIX}{id:010}")
    }
    pub fn prekey_id(sk: &str) -> Option<u32> {
        sk.strip_prefix(PREKEY_PREFIX)?.parse().ok()
    }

    pub const SIGNED_PREKEY_PREFIX: &str = "signedprekey#";
    pub fn signed_prekey(id: u32) -> String {
        format!("{SIGNED_PREKEY_PREFIX}{id:010}")
    }
    pub fn signed_prekey_id(sk: &str) -> Option<u32> {
        sk.strip_prefix(SIGNED_PREKEY_PREFIX)?.parse().ok()
    }

    pub fn sender_key(address: &str) -> String {
        format!("senderkey#{}", esc(address))
    }

    pub fn sync_key(key_id: &[u8]) -> String {
        format!("synckey#{}", hex(key_id))
    }
    pub const LATEST_SYNC_KEY: &str = "latestsynckey";
    pub fn version(name: &str) -> String {
        format!("version#{}", esc(name))
    }
    pub fn mutation_mac_prefix(name: &str) -> String {
        format!("mutmac#{}#", esc(name))
    }
    pub fn mutation_mac(name: &str, index_mac: &[u8]) -> String {
        format!("{}{}", mutation_mac_prefix(name), hex(index_mac))
    }

    /// Prefix of every sender-key device row, of every group.
    pub const SENDER_KEY_DEVICES_PREFIX: &str = "skdev#";
    pub fn sender_key_devices_prefix(group: &str) -> String {
        format!("{SENDER_KEY_DEVICES_PREFIX}{}#", esc(group))
    }
    pub fn sender_key_device(group: &str, device: &str) -> String {
        format!("{}{}", sender_key_devices_prefix(group), esc(device))
    }
    /// The device of a row found under `prefix` ([`sender_key_devices_prefix`]).
    pub fn sender_key_device_in(prefix: &str, sk: &str) -> Option<String> {
        sk.strip_prefix(prefix).map(unesc)
    }
    /// The device of any sender-key device row, whatever its group.
    pub fn sender_key_device_of(sk: &str) -> Option<String> {
        let (_, device) = sk
            .strip_prefix(SENDER_KEY_DEVICES_PREFIX)?
            .split_once('#')?;
        Some(unesc(device))
    }

    pub const LID_PREFIX: &str = "lid#";
    pub fn lid(lid: &str) -> String {
        format!("{LID_PREFIX}{}", esc(lid))
    }
    pub fn pn(phone: &str) -> String {
        format!("pn#{}", esc(phone))
    }
    pub fn base_key(address: &str, message_id: &str) -> String {
        format!("basekey#{}#{}", esc(address), esc(message_id))
    }
    pub fn devices(user: &str) -> String {
        format!("devices#{}", esc(user))
    }
    pub fn group_metadata(group: &str) -> String {
        format!("groupmeta#{}", esc(group))
    }

    pub const TC_TOKEN_PREFIX: &str = "tctoken#";
    pub fn tc_token(jid: &str) -> String {
        format!("{TC_TOKEN_PREFIX}{}", esc(jid))
    }
    pub fn tc_token_jid(sk: &str) -> Option<String> {
        sk.strip_prefix(TC_TOKEN_PREFIX).map(unesc)
    }

    pub const SENT_PREFIX: &str = "sent#";
    pub fn sent(chat: &str, id: &str) -> String {
        format!("{SENT_PREFIX}{}#{}", esc(chat), esc(id))
    }
    pub const PENDING_PREFIX: &str = "pending#";
    pub fn pending(chat: &str, sender: &str, id: &str) -> String {
        format!("{PENDING_PREFIX}{}#{}#{}", esc(chat), esc(sender), esc(id))
    }
    /// The lease fence: which holder of the slot's lease may write its keys.
    pub const FENCE: &str = "fence";

    /// Prefix of every journal record (batches too large for one transaction).
    pub const JOURNAL_PREFIX: &str = "journal#";
    /// A committed batch (its presence is the commit).
    pub fn journal(batch: &str) -> String {
        format!("{JOURNAL_PREFIX}{batch}")
    }
    /// One part of a batch's staged writes (zero-padded: parts in order).
    pub fn journal_part(batch: &str, part: usize) -> String {
        format!("{JOURNAL_PREFIX}{batch}#{part:04}")
    }
    /// `(batch id, part)` of a journal record; no part for the commit record.
    pub fn journal_of(sk: &str) -> Option<(&str, Option<usize>)> {
        let rest = sk.strip_prefix(JOURNAL_PREFIX)?;
        Some(match rest.split_once('#') {
            Some((batch, part)) => (batch, Some(part.parse().ok()?)),
            None => (rest, None),
        })
    }

    pub const MSG_SECRET_PREFIX: &str = "msgsecret#";
    pub fn msg_secret(chat: &str, sender: &str, id: &str) -> String {
        format!(
            "{MSG_SECRET_PREFIX}{}#{}#{}",
            esc(chat),
            esc(sender),
            esc(id)
        )
    }
}

// --- Items ---

/// Starts the item at `(pk, sk)`; add attributes, then [`ItemBuilder::build`].
pub fn item(pk: impl Into<String>, sk: impl Into<String>) -> ItemBuilder {
    ItemBuilder {
        pk: pk.into(),
        sk: sk.into(),
        attrs: Item::new(),
    }
}

/// An item being assembled. Its key is set last, so no attribute can overwrite it.
#[derive(Debug, Clone)]
#[must_use]
pub struct ItemBuilder {
    pk: String,
    sk: String,
    attrs: Item,
}

impl ItemBuilder {
    /// Sets one attribute.
    pub fn set(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attrs.insert(name.to_owned(), value.into());
        self
    }

    /// Sets every field of a JSON object (anything else adds nothing).
    pub fn attrs(mut self, attrs: Value) -> Self {
        if let Value::Object(map) = attrs {
            self.attrs.extend(map);
        }
        self
    }

    /// Sets every field of a record that serializes to a JSON object.
    pub fn record(self, record: impl Serialize) -> Result<Self, StoreError> {
        match serde_json::to_value(record) {
            Ok(value @ Value::Object(_)) => Ok(self.attrs(value)),
            Ok(_) => Err(StoreError::Data("a record is not a JSON object".into())),
            Err(e) => Err(StoreError::Data(e.to_string())),
        }
    }

    pub fn build(self) -> Item {
        let mut item = self.attrs;
        item.insert("pk".into(), self.pk.into());
        item.insert("sk".into(), self.sk.into());
        item
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Does `key` fit `pattern`, where each `<...>` stands for one or more characters?
    fn fits(pattern: &str, key: &str) -> bool {
        let Some(start) = pattern.find('<') else {
            return pattern == key;
        };
        let Some(rest) = key.strip_prefix(&pattern[..start]) else {
            return false;
        };
        let end = start + pattern[start..].find('>').expect("a closed placeholder") + 1;
        (1..=rest.len())
            .filter(|n| rest.is_char_boundary(*n))
            .any(|n| fits(&pattern[end..], &rest[n..]))
    }

    /// One key built by this module's functions for every kind, by kind.
    fn samples() -> Vec<(&'static str, String, String)> {
        let (st, line, chat) = ("st_1", "w1", "5511900000001");
        let wa = |item, sk: String| (item, wa_pk(st, 2), sk);
        let a = "5511900000001:1@s.whatsapp.net";
        let g = "120363000000000001@g.us";
        vec![
            ("user API", user_pk("alice"), api_sk("api_1")),
            ("apiKey grant", key_pk("ab12"), KEY_SK.into()),
            ("bot config", store_pk(st), CONFIG_SK.into()),
            ("menu", store_pk(st), MENU_SK.into()),
            ("menu chunk", store_pk(st), menu_chunk_sk(3)),
            ("store profile", store_pk(st), PROFILE_SK.into()),
            ("slot n (1..3)", store_pk(st), slot_sk(3)),
            ("report day", report_pk("api_1"), day_sk("2026-01-31")),
            ("slot lease", LEASES_PK.into(), lease_sk(st, 1)),
            ("message seen", store_pk(st), seen_sk(line, "wamid.1")),
            (
                "chat history",
                store_pk(st),
                chat_message_sk(line, chat, 1_000, "wamid.1"),
            ),
            ("chat turn", store_pk(st), chat_turn_sk(line, chat)),
            ("chat state", store_pk(st), chat_state_sk(line, chat)),
            ("chat cart", store_pk(st), chat_cart_sk(line, chat)),
            ("chat alias", store_pk(st), chat_alias_sk(line, chat)),
            ("order", store_pk(st), order_sk("2026-12-06", 42)),
            (
                "order counter",
                store_pk(st),
                order_counter_sk("2026-12-06"),
            ),
            ("chat summary", store_pk(st), chat_summary_sk(line, chat)),
            ("inbox entry", store_pk(st), inbox_sk(1_000, line, chat)),
            (
                "change",
                store_pk(st),
                change_sk(1_000, line, chat, "message"),
            ),
            ("change feed head", store_pk(st), CHANGE_HEAD_SK.into()),
            (
                "delivery status",
                store_pk(st),
                status_sk("c1065", "wamid.2"),
            ),
            ("Cloud API number", store_pk(st), CLOUD_SK.into()),
            ("usage day", store_pk(st), usage_sk("2026-12-06")),
            ("store health", store_pk(st), HEALTH_SK.into()),
            ("incident", store_pk(st), incident_sk("slot2")),
            (
                "owner notice mark",
                store_pk(st),
                notice_sk("3EB0AAAAAAAAAAAAAAAAAA"),
            ),
            ("Cloud API route", cloud_route_pk("1065"), ROUTE_SK.into()),
            ("queued message", queue_pk("inbound"), queued_sk(42)),
            (
                "queue dedup id",
                queue_pk("outbound"),
                dedup_sk("st_1#w1#55", "d1"),
            ),
            wa("device", wa::DEVICE.into()),
            wa("identity", wa::identity(a)),
            wa("session", wa::session(a)),
            wa("pre-key", wa::prekey(7)),
            wa("signed pre-key", wa::signed_prekey(1)),
            wa("sender key", wa::sender_key(&format!("{g}::{a}"))),
            wa("app-state sync key", wa::sync_key(b"k1")),
            wa("latest sync key", wa::LATEST_SYNC_KEY.into()),
            wa("app-state version", wa::version("regular")),
            wa("mutation MAC", wa::mutation_mac("regular", &[1, 2])),
            wa("sender-key device", wa::sender_key_device(g, "d1@lid")),
            wa("LID mapping", wa::lid("100")),
            wa("phone → LID", wa::pn("5511")),
            wa("base key", wa::base_key(a, "m1")),
            wa("device list", wa::devices("5511")),
            wa("group metadata", wa::group_metadata(g)),
            wa("trusted-contact token", wa::tc_token("1@lid")),
            wa("sent message", wa::sent(g, "s1")),
            wa("pending inbound", wa::pending(g, a, "p1")),
            wa("message secret", wa::msg_secret(g, a, "m1")),
            wa("key-store fence", wa::FENCE.into()),
            wa("key-store batch", wa::journal("b01")),
            wa("key-store batch part", wa::journal_part("b01", 2)),
        ]
    }

    #[test]
    fn every_builder_fits_its_kind_and_every_kind_has_a_builder() {
        let samples = samples();
        for kind in KINDS {
            let built: Vec<_> = samples.iter().filter(|s| s.0 == kind.item).collect();
            assert_eq!(built.len(), 1, "one sample of {:?}", kind.item);
            let (_, pk, sk) = built[0];
            assert!(fits(kind.pk, pk), "{pk} fits {}", kind.pk);
            assert!(fits(kind.sk, sk), "{sk} fits {}", kind.sk);
        }
        assert_eq!(samples.len(), KINDS.len(), "a sample without a kind");
        // No two kinds share a key pattern, so every item's kind can be told by its key.
        let patterns: BTreeSet<_> = KINDS.iter().map(|k| (k.pk, k.sk)).collect();
        assert_eq!(patterns.len(), KINDS.len());
    }

    /// The rows `(item, pk, sk)` of every table in docs/architecture.md's "Table layout".
    fn documented() -> BTreeSet<(String, String, String)> {
        let doc = include_str!("../../../docs/architecture.md");
        let (_, section) = doc
            .split_once("\n## Table layout\n")
            .expect("docs/architecture.md has a Table layout section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let cell = |c: &str| c.trim().trim_matches('`').to_owned();
        section
            .lines()
            .filter(|line| line.starts_with('|'))
            .map(|line| line.split('|').map(cell).collect::<Vec<_>>())
            .filter(|cells| cells.len() > 4 && cells[2] != "pk" && !cells[2].starts_with("---"))
            .map(|cells| (cells[1].clone(), cells[2].clone(), cells[3].clone()))
            .collect()
    }

    #[test]
    fn the_architecture_table_lists_exactly_the_catalogue() {
        let catalogue: BTreeSet<_> = KINDS
            .iter()
            .map(|k| (k.item.to_owned(), k.pk.to_owned(), k.sk.to_owned()))
            .collect();
        let documented = documented();
        let undocumented: Vec<_> = catalogue.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&catalogue).collect();
        assert!(
            undocumented.is_empty(),
            "kinds missing from docs/architecture.md: {undocumented:?}"
        );
        assert!(
            unknown.is_empty(),
            "docs/architecture.md rows not in keys::KINDS: {unknown:?}"
        );
    }

    #[test]
    fn formats_are_the_stored_ones() {
        // Existing items were written under exactly these keys.
        assert_eq!(user_pk("u"), "USER#u");
        assert_eq!(api_sk("api_1"), "API#api_1");
        assert_eq!(key_pk("h"), "KEY#h");
        assert_eq!(store_pk("st_1"), "STORE#st_1");
        assert_eq!(slot_sk(2), "SLOT#2");
        assert_eq!(menu_chunk_sk(3), "CONFIG#KB#menu#03");
        assert_eq!(menu_chunk_of(&menu_chunk_sk(12)), Some(12));
        assert_eq!(menu_chunk_of(MENU_SK), None);
        // One query of the config's prefix returns config, menu, its chunks and profile,
        // in that order.
        let mut keys = [
            PROFILE_SK.to_owned(),
            menu_chunk_sk(1),
            MENU_SK.into(),
            CONFIG_SK.into(),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [
                CONFIG_SK.into(),
                MENU_SK.to_owned(),
                menu_chunk_sk(1),
                PROFILE_SK.into()
            ]
        );
        assert!(keys.iter().all(|k| k.starts_with(CONFIG_SK)));
        assert!(keys[1..].iter().all(|k| k.starts_with(KB_PREFIX)));
        assert_eq!(seen_sk("w1", "m"), "SEEN#w1#m");
        assert_eq!(
            chat_message_sk("w1", "55", 1_234, "m"),
            "CHAT#w1#55#M#0000000001234#m"
        );
        assert_eq!(chat_turn_sk("w1", "55"), "CHAT#w1#55#~in");
        assert_eq!(chat_state_sk("w1", "55"), "CHAT#w1#55#~st");
        assert!(chat_state_sk("w1", "55").starts_with(&chat_prefix("w1", "55")));
        assert_eq!(chat_cart_sk("w1", "55"), "CHAT#w1#55#~cart");
        // Newest first: state, turn, cart, then the messages.
        assert!(chat_cart_sk("w1", "55") < chat_turn_sk("w1", "55"));
        assert!(chat_cart_sk("w1", "55") > chat_message_sk("w1", "55", 9_999_999_999_999, "m"));
        assert_eq!(order_sk("2026-12-06", 42), "ORDER#2026-12-06#000042");
        assert!(order_sk("2026-12-06", 9) < order_sk("2026-12-06", 10));
        assert!(!order_counter_sk("2026-12-06").starts_with(ORDER_PREFIX));
        assert_eq!(status_sk("c9", "m"), "STATUS#c9#m");
        assert_eq!(cloud_route_pk("9"), "CLOUDNUM#9");
        assert_eq!(report_pk("api_1"), "REPORT#api_1");
        assert_eq!(day_sk("2026-01-31"), "DAY#2026-01-31");
        assert_eq!(lease_sk("st_1", 3), "st_1#3");
        assert_eq!(wa_pk("st_1", 2), "WA#st_1#2");
        assert_eq!(wa::prekey(7), "prekey#0000000007");
        assert_eq!(wa::sender_key_device("g#1", "d"), "skdev#g%231#d");
    }

    #[test]
    fn key_components_are_escaped_and_ordered() {
        use wa::{esc, hex, unesc};
        assert_eq!(esc("a#b%c"), "a%23b%25c");
        assert_eq!(unesc(&esc("a#b%23c%")), "a#b%23c%");
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert!(wa::prekey(7) < wa::prekey(12));
    }

    #[test]
    fn keys_read_back() {
        assert_eq!(wa::prekey_id(&wa::prekey(12)), Some(12));
        assert_eq!(wa::prekey_id(&wa::signed_prekey(12)), None);
        assert_eq!(wa::signed_prekey_id(&wa::signed_prekey(3)), Some(3));
        assert_eq!(
            wa::tc_token_jid(&wa::tc_token("a#1@lid")).as_deref(),
            Some("a#1@lid")
        );
        let row = wa::sender_key_device("g#1", "d#2");
        assert_eq!(wa::sender_key_device_of(&row).as_deref(), Some("d#2"));
        let prefix = wa::sender_key_devices_prefix("g#1");
        assert_eq!(
            wa::sender_key_device_in(&prefix, &row).as_deref(),
            Some("d#2")
        );
        assert!(wa::names_user(
            &wa::session("55"),
            &wa::session("55:1@s.whatsapp.net")
        ));
        assert!(!wa::names_user(
            &wa::session("55"),
            &wa::session("551@s.whatsapp.net")
        ));
    }

    #[test]
    fn items_carry_their_key_over_any_attribute() {
        let built = item("P", "S")
            .attrs(serde_json::json!({ "pk": "other", "a": 1 }))
            .set("b", "two")
            .build();
        assert_eq!(
            Value::Object(built),
            serde_json::json!({ "pk": "P", "sk": "S", "a": 1, "b": "two" })
        );
        assert!(item("P", "S").record(5).is_err());
    }
}
