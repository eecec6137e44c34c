//! [`MsgSecretStore`]: the secrets of messages that later messages refer to (reactions,
//! poll votes, edits), one row per `(chat, sender, message id)` under `msgsecret#`, with a
//! retention deadline and the parent message's time.
//!
//! Retention is the table's TTL, not a sweep: a row with a deadline carries it in clear as
//! `expiresAt` (epoch seconds), so DynamoDB deletes it after the deadline (within days) and
//! the embedded store within a minute; until then reads treat a row past its deadline as
//! gone (as if swept). So the library's retention call, which whatsapp-rust's
//! `keepalive.rs` makes every keepalive round with "now" and whose count it only logs, reads
//! and writes nothing and reports 0: it used to query every secret of the slot each time.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use whatsapp_rust::wacore::store::error::Result as WaResult;
use whatsapp_rust::wacore::store::traits::{
    merge_msg_secret_expiry, merge_msg_secret_message_ts, MsgSecretEntry, MsgSecretStore,
};

use super::sealed::{b64, to_json, unb64};
use super::StoreBackend;
use crate::store::keys::wa;

/// A message secret with its retention deadline and parent message time.
#[derive(Serialize, Deserialize)]
struct SecretRow {
    s: String,
    exp: i64,
    ts: i64,
}

impl SecretRow {
    /// Past its deadline at `now`: gone, for every reader.
    fn expired(&self, now: i64) -> bool {
        self.exp != 0 && self.exp <= now
    }

    /// The row `entry` leaves, over what was stored (or earlier in the batch) under its key:
    /// the later deadline wins, and a known parent time is never clobbered by an unknown one.
    fn merged(prev: Option<SecretRow>, entry: &MsgSecretEntry) -> Self {
        let (exp, ts) = match prev {
            Some(prev) => (
                merge_msg_secret_expiry(prev.exp, entry.expires_at),
                merge_msg_secret_message_ts(prev.ts, entry.message_ts),
            ),
            None => (entry.expires_at, entry.message_ts),
        };
        SecretRow {
            s: b64(&entry.secret),
            exp,
            ts,
        }
    }
}

#[async_trait]
impl MsgSecretStore for StoreBackend {
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> WaResult<usize> {
        let stored = entries.len();
        let _guard = self.rmw.lock().await;
        let now = self.now();
        // Merge within the batch first, then with what is stored (later deadline wins,
        // a known parent time is never clobbered by an unknown one); an expired row is
        // merged as the deleted row it is.
        let mut merged: BTreeMap<String, SecretRow> = BTreeMap::new();
        for entry in entries {
            let sk = wa::msg_secret(&entry.chat, &entry.sender, &entry.msg_id);
            let prev = match merged.remove(&sk) {
                Some(prev) => Some(prev),
                None => self
                    .get_json::<SecretRow>(&sk)
                    .await?
                    .filter(|row| !row.expired(now)),
            };
            merged.insert(sk, SecretRow::merged(prev, &entry));
        }
        let mut ops = Vec::with_capacity(merged.len());
        for (sk, row) in &merged {
            let ttl = (row.exp != 0).then_some(row.exp);
            ops.push(self.put_op_expiring(sk, &to_json(row)?, ttl));
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
            .get_json::<SecretRow>(&wa::msg_secret(chat, sender, msg_id))
            .await?
        {
            Some(row) if !row.expired(self.now()) => Ok(Some((unb64(&row.s)?, row.ts))),
            _ => Ok(None),
        }
    }

    /// Nothing to do: rows past their deadline are already gone for readers and deleted by
    /// the table's TTL (see the module doc). No store call.
    async fn delete_expired_msg_secrets(&self, _cutoff_timestamp: i64) -> WaResult<u32> {
        Ok(0)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use whatsapp_rust::wacore::store::traits::{Backend, MsgSecretEntry};

    use super::super::oracle::{r, Clock, Record, A1, G1};

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

    /// The [`MsgSecretStore`](super::MsgSecretStore) part of the script run against the
    /// reference. The clock stands at 50 until the deadline sweep, at 200: the reference
    /// deletes what expired in its sweep, ours hides it from then on (and leaves deleting it
    /// to the TTL), so the sweep's count is not compared, only what is readable after it.
    pub async fn script(b: &dyn Backend, o: &mut Record, clock: &Clock) {
        clock.set(50);
        let (a1, g1) = (A1, G1);
        o.rec("secret missing", r(b.get_msg_secret(g1, a1, "m1").await));
        o.rec(
            "secrets put",
            r(b.put_msg_secrets(vec![
                secret(g1, "m1", 1, 100, 0),
                secret(g1, "m2", 2, 0, 50),
                secret(g1, "m3", 3, 300, 60),
                secret(g1, "m3", 4, 200, 0),
            ])
            .await),
        );
        o.rec(
            "secrets merge",
            r(b.put_msg_secrets(vec![secret(g1, "m1", 5, 150, 70)]).await),
        );
        o.rec(
            "secret single",
            r(
                b.put_msg_secret(g1, "5511900000001@s.whatsapp.net", "m4", &[6; 32])
                    .await,
            ),
        );
        let s = "5511900000001@s.whatsapp.net";
        o.rec("secret m1", r(b.get_msg_secret_with_ts(g1, s, "m1").await));
        o.rec("secret m3", r(b.get_msg_secret_with_ts(g1, s, "m3").await));
        o.rec("secret m4", r(b.get_msg_secret(g1, s, "m4").await));
        clock.set(200);
        o.rec(
            "secret expire",
            r(b.delete_expired_msg_secrets(200).await.map(|_| ())),
        );
        o.rec("secret m1 gone", r(b.get_msg_secret(g1, s, "m1").await));
        o.rec(
            "secret m2 kept",
            r(b.get_msg_secret_with_ts(g1, s, "m2").await),
        );
        o.rec("secret m3 kept", r(b.get_msg_secret(g1, s, "m3").await));
    }
}
