//! The inbox in the table: what the console's `/conversas` reads, kept beside the chats'
//! history (`bot/chat.rs`) under the store's partition.
//!
//! - **Chat summary** (`CHAT#<line>#<chat>#~ix`): the chat's last message, unread count,
//!   customer name/phone, `pausedUntil` (a copy of the reply state's) and the time of its
//!   inbox entry, with a revision `rev` every update is conditioned on.
//! - **Inbox entry** (`INBOX#<ms>#<line>#<chat>`): a copy of the summary under the time of
//!   the chat's last message, so the chat list is one newest-first query; a new message
//!   moves it (delete + put in the summary's transaction).
//! - **Change** (`CHG#<ms>#<line>#<chat>#<kind>`): one row per change, kept a day; the
//!   console polls `changes?since=` (one newest-first query; the head `CHG#~` carries the
//!   store's owner, so that query alone proves ownership).
//!
//! An update costs one read (the summary) and one transaction (summary, entry, change):
//! O(1) whatever the number of chats or messages. Every item expires with the store's
//! retention (`historyDays`) like the history itself.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::caller::StoreCaller;
use crate::domain::inbox::{self as rules, BotMode, ChatId};
use crate::store::keys::{self, store_pk};
use crate::store::{applied, attr_str, Cond, Item, Store, StoreError, WriteOp, MAX_BATCH};

/// Changes are kept this long: a console that was away longer reloads its list.
const CHANGE_KEEP_SECS: i64 = 86_400;
/// The most changes one feed read returns (the newest; older ones are in the lists).
pub const CHANGES_MAX: usize = 100;
/// How many times an update is tried against concurrent updates of the same chat.
const TRIES: usize = 8;

/// What changed in a chat (the feed's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Message,
    Status,
    Bot,
    Order,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Status => "status",
            Kind::Bot => "bot",
            Kind::Order => "order",
        }
    }
}

/// Who wrote a message of the timeline.
pub use crate::bot::chat::Role;

/// One chat as the inbox keeps it (the summary's attributes).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Summary {
    pub line: String,
    pub chat: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub last_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_role: Option<Role>,
    pub last_at: i64,
    pub unread: i64,
    pub paused_until: i64,
    /// The time its inbox entry is filed under (0: none yet).
    pub ix_at: i64,
    pub rev: i64,
}

impl Summary {
    /// The chat as the chat list shows it.
    pub fn to_json(&self, bot_enabled: bool, now_ms: i64) -> Value {
        let mode = BotMode::of(self.paused_until, bot_enabled, now_ms);
        let mut customer = json!({});
        if let Some(phone) = &self.phone {
            customer["phone"] = phone.clone().into();
        }
        if let Some(name) = &self.name {
            customer["name"] = name.clone().into();
        }
        let mut out = json!({
            "chatId": ChatId::render(&self.line, &self.chat),
            "line": self.line,
            "customer": customer,
            "lastMessage": { "text": self.last_text, "role": self.last_role, "at": crate::ids::rfc3339_ms(self.last_at) },
            "unread": self.unread,
            "bot": mode,
        });
        if mode == BotMode::Paused {
            out["pausedUntil"] = crate::ids::rfc3339_ms(self.paused_until).into();
        }
        out
    }
}

/// One chat of one store, addressed for the inbox.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub store_id: &'a str,
    pub line: &'a str,
    pub chat: &'a str,
}

impl At<'_> {
    fn pk(&self) -> String {
        store_pk(self.store_id)
    }
    fn summary_sk(&self) -> String {
        keys::chat_summary_sk(self.line, self.chat)
    }
}

/// A message that joined a chat's timeline, for its summary.
#[derive(Debug, Clone)]
pub struct Noted<'a> {
    pub role: Role,
    pub text: &'a str,
    pub at_ms: i64,
    /// The customer's name, when the line told it.
    pub name: Option<&'a str>,
}

fn change_op(at: &At<'_>, kind: Kind, now_ms: i64) -> WriteOp {
    let item = keys::item(
        at.pk(),
        keys::change_sk(now_ms, at.line, at.chat, kind.as_str()),
    )
    .attrs(json!({
        "chatId": ChatId::render(at.line, at.chat), "kind": kind, "at": now_ms,
        "expiresAt": now_ms / 1000 + CHANGE_KEEP_SECS,
    }))
    .build();
    WriteOp::Put {
        item,
        cond: Cond::None,
    }
}

/// Records that something about a chat changed (e.g. an order placed in it), for the
/// console's change feed. One write.
/// An update that creates the row, so a part allowed only to update items (the gateway)
/// can record changes too.
pub async fn touch(
    store: &dyn Store,
    at: At<'_>,
    kind: Kind,
    now_ms: i64,
) -> Result<(), StoreError> {
    let WriteOp::Put { item, .. } = change_op(&at, kind, now_ms) else {
        unreachable!("a change is a put")
    };
    let set = item
        .into_iter()
        .filter(|(name, _)| name != "pk" && name != "sk")
        .collect();
    let update = crate::store::Update {
        set,
        upsert: true,
        ..Default::default()
    };
    store
        .update(
            &at.pk(),
            &keys::change_sk(now_ms, at.line, at.chat, kind.as_str()),
            update,
        )
        .await
        .map(|_| ())
}

/// Reads a chat's summary (`None`: the inbox hasn't seen the chat).
pub async fn summary(store: &dyn Store, at: At<'_>) -> Result<Option<Summary>, StoreError> {
    store
        .get(&at.pk(), &at.summary_sk())
        .await?
        .map(|item| {
            serde_json::from_value(Value::Object(item)).map_err(|e| StoreError::Data(e.to_string()))
        })
        .transpose()
}

/// Changes a chat's summary with `change` (which says whether the chat moves to the top of
/// the list, at `last_at`), files its inbox entry accordingly and records `kind` in the
/// feed: one read and one transaction, tried again if another update won the race.
async fn update(
    store: &dyn Store,
    at: At<'_>,
    kind: Kind,
    keep_secs: i64,
    now_ms: i64,
    change: impl Fn(&mut Summary) -> bool,
) -> Result<Summary, StoreError> {
    for _ in 0..TRIES {
        let before = summary(store, at).await?;
        let mut next = before.clone().unwrap_or_else(|| Summary {
            line: at.line.to_owned(),
            chat: at.chat.to_owned(),
            phone: rules::phone_of(at.chat).map(str::to_owned),
            ..Summary::default()
        });
        let moved = change(&mut next);
        if moved || next.ix_at == 0 {
            next.ix_at = next.last_at.max(1);
        }
        next.rev += 1;
        let expires = next.last_at.max(now_ms) / 1000 + keep_secs;
        let mut ops = Vec::with_capacity(4);
        let cond = match &before {
            None => Cond::NotExists,
            Some(b) => Cond::Matches(vec![("rev".into(), b.rev.into())]),
        };
        let summary_item = keys::item(at.pk(), at.summary_sk())
            .record(&next)?
            .set("expiresAt", expires)
            .build();
        ops.push(WriteOp::Put {
            item: summary_item,
            cond,
        });
        if let Some(b) = before
            .as_ref()
            .filter(|b| b.ix_at != 0 && b.ix_at != next.ix_at)
        {
            ops.push(WriteOp::Delete {
                pk: at.pk(),
                sk: keys::inbox_sk(b.ix_at, at.line, at.chat),
                cond: Cond::None,
            });
        }
        let entry = keys::item(at.pk(), keys::inbox_sk(next.ix_at, at.line, at.chat))
            .record(&next)?
            .set("expiresAt", expires)
            .build();
        ops.push(WriteOp::Put {
            item: entry,
            cond: Cond::None,
        });
        ops.push(change_op(&at, kind, now_ms));
        if applied(store.write(ops).await)? {
            return Ok(next);
        }
    }
    Err(StoreError::Unavailable(
        "the chat kept changing; try again".into(),
    ))
}

/// A message joined the chat's timeline: it becomes the chat's last message and moves the
/// chat to the top; a customer's message counts as unread.
pub async fn noted(
    store: &dyn Store,
    at: At<'_>,
    message: Noted<'_>,
    keep_secs: i64,
    now_ms: i64,
) -> Result<Summary, StoreError> {
    update(store, at, Kind::Message, keep_secs, now_ms, |s| {
        if message.at_ms < s.last_at {
            return false; // an older message arriving late: the list keeps the newest
        }
        s.last_text = crate::bot::prompt::capped(message.text)
            .chars()
            .take(200)
            .collect();
        s.last_role = Some(message.role);
        s.last_at = message.at_ms;
        match message.role {
            Role::Customer => s.unread += 1,
            // The owner answered (phone or console): they have read the chat.
            Role::Owner => s.unread = 0,
            Role::Bot => {}
        }
        if let Some(name) = message.name.filter(|n| !n.trim().is_empty()) {
            s.name = Some(name.trim().chars().take(80).collect());
        }
        true
    })
    .await
}

/// The customer's phone became known for a chat filed under another id
/// ([`crate::bot::identity`]): the summary keeps it (`customer.phone`, searched by `q`).
pub async fn phone_known(
    store: &dyn Store,
    at: At<'_>,
    phone: &str,
    keep_secs: i64,
    now_ms: i64,
) -> Result<Summary, StoreError> {
    update(store, at, Kind::Message, keep_secs, now_ms, |s| {
        s.phone = Some(phone.to_owned());
        false
    })
    .await
}

/// The chat's reply state has a new `pausedUntil` (`#bot off/on`, the console's buttons).
pub async fn paused(
    store: &dyn Store,
    at: At<'_>,
    paused_until: i64,
    keep_secs: i64,
    now_ms: i64,
) -> Result<Summary, StoreError> {
    update(store, at, Kind::Bot, keep_secs, now_ms, |s| {
        s.paused_until = paused_until;
        false
    })
    .await
}

/// The owner took the chat over until `until_ms`; like the reply state, a takeover never
/// shortens a longer pause (e.g. switched off).
pub async fn taken_over(
    store: &dyn Store,
    at: At<'_>,
    until_ms: i64,
    keep_secs: i64,
    now_ms: i64,
) -> Result<Summary, StoreError> {
    update(store, at, Kind::Bot, keep_secs, now_ms, |s| {
        s.paused_until = s.paused_until.max(until_ms);
        false
    })
    .await
}

/// The owner read the chat.
pub async fn read(
    store: &dyn Store,
    at: At<'_>,
    keep_secs: i64,
    now_ms: i64,
) -> Result<Summary, StoreError> {
    update(store, at, Kind::Message, keep_secs, now_ms, |s| {
        s.unread = 0;
        false
    })
    .await
}

/// The most chat summaries one search request reads; past them the answer carries the
/// cursor of the last one read, and the next request goes on from there.
pub const SEARCH_SCAN: usize = 2_000;
/// Summaries per query while searching.
const SEARCH_PAGE: usize = 500;

/// A page of the chat list, newest first: the summaries and the cursor of the next page.
/// A search reads the list newest first and keeps the matches (names and numbers are
/// matched by substring, which no key order serves), in queries of [`SEARCH_PAGE`] and at
/// most [`SEARCH_SCAN`] summaries per request: a store with more chats than that gets a
/// page with fewer matches (maybe none) and a cursor, so the cost of a request stays
/// bounded however many chats the store keeps, and following the cursors finds every one.
pub async fn list(
    store: &dyn Store,
    store_id: &str,
    cursor: Option<&str>,
    q: Option<&str>,
    limit: usize,
) -> Result<(Vec<Summary>, Option<String>), StoreError> {
    list_reading(store, store_id, cursor, q, limit, SEARCH_SCAN).await
}

/// [`list`] with a search reading at most `scan` summaries.
pub async fn list_reading(
    store: &dyn Store,
    store_id: &str,
    cursor: Option<&str>,
    q: Option<&str>,
    limit: usize,
    scan: usize,
) -> Result<(Vec<Summary>, Option<String>), StoreError> {
    let scan = scan.max(1);
    let pk = store_pk(store_id);
    let mut before = cursor.map(|c| format!("{}{c}", keys::INBOX_PREFIX));
    let mut out: Vec<(String, Summary)> = Vec::new();
    let mut scanned = 0;
    // Where the next page starts: after the last summary returned, or, when a search ran
    // out of its budget first, after the last one read.
    let mut resume = None;
    'pages: loop {
        let fetch = match q {
            Some(_) => SEARCH_PAGE.min(scan - scanned),
            None => limit + 1,
        };
        let items = store
            .query_last_before(&pk, keys::INBOX_PREFIX, before.as_deref(), fetch)
            .await?;
        let exhausted = items.len() < fetch;
        for item in items {
            let sk = attr_str(&item, "sk").unwrap_or_default().to_owned();
            scanned += 1;
            before = Some(sk.clone());
            let s: Summary = serde_json::from_value(Value::Object(item))
                .map_err(|e| StoreError::Data(e.to_string()))?;
            if q.is_some_and(|q| !rules::matches(q, &s.chat, s.phone.as_deref(), s.name.as_deref()))
            {
                continue;
            }
            if out.len() == limit {
                resume = out.last().map(|(sk, _)| sk.clone());
                break 'pages;
            }
            out.push((sk, s));
        }
        if exhausted || q.is_none() {
            break;
        }
        if scanned >= scan {
            resume = before;
            break;
        }
    }
    let next = resume.map(|sk| rules::encode_cursor(sk.trim_start_matches(keys::INBOX_PREFIX)));
    let out = out.into_iter().map(|(_, s)| s).collect();
    Ok((out, next))
}

/// One message of a chat's timeline, as the console shows it.
pub fn message_json(item: &Item) -> Option<Value> {
    let sk = attr_str(item, "sk")?;
    let (_, id) = sk.rsplit_once("#M#")?;
    let (_, id) = id.split_once('#')?;
    let at = item.get("at").and_then(Value::as_i64)?;
    let mut out = json!({
        "id": id,
        "role": item.get("role")?,
        "text": attr_str(item, "text")?,
        "at": crate::ids::rfc3339_ms(at),
    });
    for name in ["status", "media", "source"] {
        if let Some(v) = item.get(name) {
            out[name] = v.clone();
        }
    }
    Some(out)
}

/// A page of a chat's messages ending before `before` (or the newest), oldest to newest,
/// and the cursor of the page before it. One query.
pub async fn messages(
    store: &dyn Store,
    at: At<'_>,
    before: Option<&str>,
    limit: usize,
) -> Result<(Vec<Value>, Option<String>), StoreError> {
    let prefix = keys::chat_messages_prefix(at.line, at.chat);
    let before = before.map(|c| format!("{prefix}{c}"));
    let mut items = store
        .query_last_before(&at.pk(), &prefix, before.as_deref(), limit + 1)
        .await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next = more
        .then(|| items.last())
        .flatten()
        .and_then(|i| attr_str(i, "sk"))
        .map(|sk| rules::encode_cursor(sk.trim_start_matches(&prefix)));
    let data = items.iter().rev().filter_map(message_json).collect();
    Ok((data, next))
}

/// What `changes?since=` answers: the changes after `since` (newest last) and the cursor
/// to ask from next time; `None` when the caller may not read this store (another owner's,
/// or a store that doesn't exist).
pub struct Feed {
    pub changes: Vec<Value>,
    pub cursor: String,
}

/// Reads the change feed: one newest-first query (the head, which carries the owner, sorts
/// first). A feed without a head (the first read ever) reads the config once and writes it.
pub async fn changes(
    store: &dyn Store,
    store_id: &str,
    caller: &StoreCaller,
    since: Option<&str>,
) -> Result<Option<Feed>, StoreError> {
    let pk = store_pk(store_id);
    let items = store
        .query_last(&pk, keys::CHANGE_PREFIX, CHANGES_MAX + 1)
        .await?;
    let head = items
        .first()
        .filter(|i| attr_str(i, "sk") == Some(keys::CHANGE_HEAD_SK));
    let owner = match head {
        Some(head) => attr_str(head, "ownerId").map(str::to_owned),
        None => {
            let Some(config) = store.get(&pk, keys::CONFIG_SK).await? else {
                return Ok(None);
            };
            let owner = attr_str(&config, "ownerId").map(str::to_owned);
            let head = keys::item(pk.clone(), keys::CHANGE_HEAD_SK)
                .set("ownerId", owner.clone().map_or(Value::Null, Value::from))
                .build();
            applied(
                store
                    .write(vec![WriteOp::Put {
                        item: head,
                        cond: Cond::NotExists,
                    }])
                    .await,
            )?;
            owner
        }
    };
    if let StoreCaller::Owner(user) = caller {
        if owner.as_deref() != Some(user.as_str()) {
            return Ok(None);
        }
    }
    let rows: Vec<&Item> = items
        .iter()
        .filter(|i| attr_str(i, "sk") != Some(keys::CHANGE_HEAD_SK))
        .collect();
    let newest = rows
        .first()
        .and_then(|i| attr_str(i, "sk"))
        .map(|sk| sk.trim_start_matches(keys::CHANGE_PREFIX).to_owned());
    let Some(since) = since else {
        return Ok(Some(Feed {
            changes: Vec::new(),
            cursor: rules::encode_cursor(&newest.unwrap_or_else(|| "0".into())),
        }));
    };
    let since_sk = format!("{}{since}", keys::CHANGE_PREFIX);
    let mut changes: Vec<Value> = rows
        .iter()
        .filter(|i| attr_str(i, "sk").is_some_and(|sk| sk > since_sk.as_str()))
        .map(|i| {
            json!({
                "chatId": i.get("chatId"), "kind": i.get("kind"),
                "at": crate::ids::rfc3339_ms(i.get("at").and_then(Value::as_i64).unwrap_or_default()),
            })
        })
        .collect();
    changes.reverse();
    let cursor = match newest {
        Some(newest) if newest.as_str() > since => rules::encode_cursor(&newest),
        _ => rules::encode_cursor(since),
    };
    Ok(Some(Feed { changes, cursor }))
}

/// Deletes every conversation item of a store (history, summaries, inbox entries, changes,
/// dedupe markers and statuses), in batches; what a failure leaves behind expires anyway.
pub async fn delete_all(store: &dyn Store, store_id: &str) -> Result<(), StoreError> {
    let pk = store_pk(store_id);
    for prefix in [
        keys::CHAT_PREFIX,
        keys::INBOX_PREFIX,
        keys::CHANGE_PREFIX,
        keys::SEEN_PREFIX,
        keys::STATUS_PREFIX,
    ] {
        let items = store.query(&pk, prefix).await?;
        for batch in items.chunks(MAX_BATCH) {
            let ops = batch
                .iter()
                .filter_map(|i| attr_str(i, "sk"))
                .map(|sk| WriteOp::Delete {
                    pk: pk.clone(),
                    sk: sk.to_owned(),
                    cond: Cond::None,
                })
                .collect();
            store.write(ops).await?;
        }
    }
    Ok(())
}

/// A message of the history went out (`sent`): shown on the message, and in the feed. Best
/// effort: the message is out either way.
pub async fn delivered(
    store: &dyn Store,
    chat: &crate::bot::chat::ChatRef<'_>,
    at_ms: i64,
    id: &str,
) {
    let line = chat.line.key();
    let at = At {
        store_id: chat.store_id,
        line: &line,
        chat: chat.chat,
    };
    let result = async {
        if crate::bot::chat::message_status(store, chat, at_ms, id, "sent").await? {
            touch(store, at, Kind::Status, crate::ids::now_ms()).await?;
        }
        Ok::<_, StoreError>(())
    };
    if let Err(err) = result.await {
        tracing::warn!(store = %chat.store_id, error = %err, "the inbox missed a delivery");
    }
}
