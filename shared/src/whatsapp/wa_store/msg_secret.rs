//! [`MsgSecretStore`]: the secrets of messages that later messages refer to (reactions,
//! poll votes, edits), one row per `(chat, sender, message id)` under `msgsecret#`, with a
//! retention deadline and the parent message's time.

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
        // Merge within the batch first, then with what is stored (later deadline wins,
        // a known parent time is never clobbered by an unknown one).
        let mut merged: BTreeMap<String, SecretRow> = BTreeMap::new();
        for entry in entries {
            let sk = wa::msg_secret(&entry.chat, &entry.sender, &entry.msg_id);
            let prev = match merged.remove(&sk) {
                Some(prev) => Some(prev),
                None => self.get_json::<SecretRow>(&sk).await?,
            };
            merged.insert(sk, SecretRow::merged(prev, &entry));
        }
        let mut ops = Vec::with_capacity(merged.len());
        for (sk, row) in &merged {
            ops.push(self.put_op(sk, &to_json(row)?));
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
            Some(row) => Ok(Some((unb64(&row.s)?, row.ts))),
            None => Ok(None),
        }
    }

    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> WaResult<u32> {
        self.delete_where(wa::MSG_SECRET_PREFIX, |row: &SecretRow| {
            // Rows without a deadline (0) or with one still ahead are kept.
            row.exp != 0 && row.exp <= cutoff_timestamp
        })
        .await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use whatsapp_rust::wacore::store::traits::{Backend, MsgSecretEntry};

    use super::super::oracle::{r, Record, A1, G1};

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
    /// reference.
    pub async fn script(b: &dyn Backend, o: &mut Record) {
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
        o.rec("secret expire", r(b.delete_expired_msg_secrets(200).await));
        o.rec("secret m1 gone", r(b.get_msg_secret(g1, s, "m1").await));
        o.rec(
            "secret m2 kept",
            r(b.get_msg_secret_with_ts(g1, s, "m2").await),
        );
        o.rec("secret m3 kept", r(b.get_msg_secret(g1, s, "m3").await));
    }
}
