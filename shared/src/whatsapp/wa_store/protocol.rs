//! [`ProtocolStore`]: what WhatsApp Web's protocol keeps beside Signal: which group devices
//! have our sender key (`skdev#`), LID ↔ phone mappings (`lid#`, and `pn#` for the reverse
//! lookup), retry base keys, device lists, group metadata, trusted-contact tokens (`tctoken#`),
//! sent messages kept for retries (`sent#`) and inbound messages waiting for their keys
//! (`pending#`). Read-modify-write calls hold the backend's lock.

use std::collections::HashSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use whatsapp_rust::wacore::store::error::Result as WaResult;
use whatsapp_rust::wacore::store::traits::{
    DeviceListRecord, LidPnMappingEntry, PendingInboundKey, PendingInboundRow, ProtocolStore,
    TcTokenEntry,
};

use super::sealed::{b64, from_json, invalid, now_secs, to_json, unb64};
use super::StoreBackend;
use crate::store::keys::wa;

/// A stored blob with the time it was stored (sent messages, pending inbound messages).
#[derive(Serialize, Deserialize)]
struct StampedBlob {
    b: String,
    ts: i64,
}

#[async_trait]
impl ProtocolStore for StoreBackend {
    async fn get_sender_key_devices(&self, group_jid: &str) -> WaResult<Vec<(String, bool)>> {
        let prefix = wa::sender_key_devices_prefix(group_jid);
        let mut out = Vec::new();
        for (sk, plain) in self.query_plain(&prefix).await? {
            let device = wa::sender_key_device_in(&prefix, &sk)
                .ok_or_else(|| invalid("sender key device", &sk))?;
            out.push((device, plain == "1"));
        }
        Ok(out)
    }

    async fn set_sender_key_status(
        &self,
        group_jid: &str,
        entries: &[(&str, bool)],
    ) -> WaResult<()> {
        let ops = entries
            .iter()
            .map(|(device, has_key)| {
                let sk = wa::sender_key_device(group_jid, device);
                self.put_op(&sk, if *has_key { "1" } else { "0" })
            })
            .collect();
        self.apply(ops).await
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> WaResult<()> {
        self.delete_prefix(&wa::sender_key_devices_prefix(group_jid))
            .await
    }

    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> WaResult<()> {
        if device_jids.is_empty() {
            return Ok(());
        }
        let doomed: HashSet<&str> = device_jids.iter().copied().collect();
        let ops = self
            .query_keys(wa::SENDER_KEY_DEVICES_PREFIX)
            .await?
            .iter()
            .filter(|sk| {
                wa::sender_key_device_of(sk).is_some_and(|device| doomed.contains(device.as_str()))
            })
            .map(|sk| self.del_op(sk))
            .collect();
        self.apply(ops).await
    }

    async fn clear_all_sender_key_devices(&self) -> WaResult<()> {
        self.delete_prefix(wa::SENDER_KEY_DEVICES_PREFIX).await
    }

    async fn get_lid_mapping(&self, lid: &str) -> WaResult<Option<LidPnMappingEntry>> {
        self.get_json(&wa::lid(lid)).await
    }

    async fn get_pn_mapping(&self, phone: &str) -> WaResult<Option<LidPnMappingEntry>> {
        match self.get_plain(&wa::pn(phone)).await? {
            Some(lid) => self.get_lid_mapping(&lid).await,
            None => Ok(None),
        }
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        let mut ops = Vec::new();
        // A LID remapped to another number drops the old number's reverse entry.
        if let Some(old) = self.get_lid_mapping(&entry.lid).await? {
            if old.phone_number != entry.phone_number {
                ops.push(self.del_op(&wa::pn(&old.phone_number)));
            }
        }
        ops.push(self.put_op(&wa::pn(&entry.phone_number), &entry.lid));
        ops.push(self.put_op(&wa::lid(&entry.lid), &to_json(entry)?));
        self.apply(ops).await
    }

    async fn get_all_lid_mappings(&self) -> WaResult<Vec<LidPnMappingEntry>> {
        self.query_plain(wa::LID_PREFIX)
            .await?
            .iter()
            .map(|(_, plain)| from_json(plain))
            .collect()
    }

    async fn save_base_key(
        &self,
        address: &str,
        message_id: &str,
        base_key: &[u8],
    ) -> WaResult<()> {
        self.put_plain(&wa::base_key(address, message_id), &b64(base_key))
            .await
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> WaResult<bool> {
        Ok(self
            .get_bytes(&wa::base_key(address, message_id))
            .await?
            .is_some_and(|stored| stored == current_base_key))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> WaResult<()> {
        self.delete_sk(&wa::base_key(address, message_id)).await
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> WaResult<()> {
        self.put_plain(&wa::devices(&record.user), &to_json(&record)?)
            .await
    }

    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> WaResult<()> {
        let mut ops = Vec::with_capacity(records.len());
        for record in &records {
            ops.push(self.put_op(&wa::devices(&record.user), &to_json(record)?));
        }
        self.apply(ops).await
    }

    async fn get_devices(&self, user: &str) -> WaResult<Option<DeviceListRecord>> {
        self.get_json(&wa::devices(user)).await
    }

    async fn delete_devices(&self, user: &str) -> WaResult<()> {
        self.delete_sk(&wa::devices(user)).await
    }

    async fn get_group_metadata(&self, group_jid: &str) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(&wa::group_metadata(group_jid)).await
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> WaResult<()> {
        self.put_plain(&wa::group_metadata(group_jid), &b64(blob))
            .await
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> WaResult<()> {
        self.delete_sk(&wa::group_metadata(group_jid)).await
    }

    async fn get_tc_token(&self, jid: &str) -> WaResult<Option<TcTokenEntry>> {
        self.get_json(&wa::tc_token(jid)).await
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        self.put_plain(&wa::tc_token(jid), &to_json(entry)?).await
    }

    async fn delete_tc_token(&self, jid: &str) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        self.delete_sk(&wa::tc_token(jid)).await
    }

    async fn get_all_tc_token_jids(&self) -> WaResult<Vec<String>> {
        Ok(self
            .query_keys(wa::TC_TOKEN_PREFIX)
            .await?
            .iter()
            .filter_map(|sk| wa::tc_token_jid(sk))
            .collect())
    }

    async fn delete_expired_tc_tokens(
        &self,
        token_cutoff: i64,
        sender_cutoff: i64,
    ) -> WaResult<u32> {
        self.delete_where(wa::TC_TOKEN_PREFIX, |entry: &TcTokenEntry| {
            // Kept while either the received token or the sender bucket is live.
            let token_live = !entry.token.is_empty() && entry.token_timestamp >= token_cutoff;
            let sender_live = entry.sender_timestamp.is_some_and(|ts| ts >= sender_cutoff);
            !(token_live || sender_live)
        })
        .await
    }

    async fn touch_tc_token_sender_timestamp(
        &self,
        jid: &str,
        sender_timestamp: i64,
    ) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        let entry = match self.get_tc_token(jid).await? {
            Some(existing) => TcTokenEntry {
                sender_timestamp: Some(
                    existing
                        .sender_timestamp
                        .map_or(sender_timestamp, |e| e.max(sender_timestamp)),
                ),
                ..existing
            },
            None => TcTokenEntry {
                token: Vec::new(),
                token_timestamp: sender_timestamp,
                sender_timestamp: Some(sender_timestamp),
            },
        };
        self.put_plain(&wa::tc_token(jid), &to_json(&entry)?).await
    }

    async fn store_received_tc_token(
        &self,
        jid: &str,
        token: &[u8],
        token_timestamp: i64,
    ) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        let existing = self.get_tc_token(jid).await?;
        // Newer wins: a stale write does not clobber a fresher real token.
        if let Some(existing) = &existing {
            if !existing.token.is_empty() && token_timestamp < existing.token_timestamp {
                return Ok(());
            }
        }
        let entry = TcTokenEntry {
            token: token.to_vec(),
            token_timestamp,
            sender_timestamp: existing.and_then(|e| e.sender_timestamp),
        };
        self.put_plain(&wa::tc_token(jid), &to_json(&entry)?).await
    }

    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
    ) -> WaResult<()> {
        self.put_stamped(&wa::sent(chat_jid, message_id), payload)
            .await
    }

    async fn take_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
    ) -> WaResult<Option<Vec<u8>>> {
        let sk = wa::sent(chat_jid, message_id);
        let _guard = self.rmw.lock().await;
        let Some(plain) = self.get_plain(&sk).await? else {
            return Ok(None);
        };
        let row: StampedBlob = from_json(&plain)?;
        self.delete_sk(&sk).await?;
        Ok(Some(unb64(&row.b)?))
    }

    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> WaResult<u32> {
        self.delete_where(wa::SENT_PREFIX, |row: &StampedBlob| {
            row.ts < cutoff_timestamp
        })
        .await
    }

    async fn store_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        message: &[u8],
    ) -> WaResult<()> {
        self.put_stamped(&wa::pending(chat, sender, id), message)
            .await
    }

    async fn store_pending_inbound_batch(&self, rows: &[PendingInboundRow<'_>]) -> WaResult<()> {
        let now = now_secs();
        let mut ops = Vec::with_capacity(rows.len());
        for row in rows {
            let stamped = StampedBlob {
                b: b64(row.message),
                ts: now,
            };
            ops.push(self.put_op(
                &wa::pending(row.chat, row.sender, row.id),
                &to_json(&stamped)?,
            ));
        }
        let _guard = self.rmw.lock().await;
        self.apply(ops).await
    }

    async fn get_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> WaResult<Option<Vec<u8>>> {
        match self.get_plain(&wa::pending(chat, sender, id)).await? {
            Some(plain) => Ok(Some(unb64(&from_json::<StampedBlob>(&plain)?.b)?)),
            None => Ok(None),
        }
    }

    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> WaResult<()> {
        let _guard = self.rmw.lock().await;
        self.delete_sk(&wa::pending(chat, sender, id)).await
    }

    async fn delete_pending_inbound_batch(&self, keys: &[PendingInboundKey<'_>]) -> WaResult<()> {
        let ops = keys
            .iter()
            .map(|k| self.del_op(&wa::pending(k.chat, k.sender, k.id)))
            .collect();
        let _guard = self.rmw.lock().await;
        self.apply(ops).await
    }

    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> WaResult<u32> {
        self.delete_where(wa::PENDING_PREFIX, |row: &StampedBlob| {
            row.ts < cutoff_timestamp
        })
        .await
    }
}

impl StoreBackend {
    /// Stores `payload` stamped with the time now, under the read-modify-write lock.
    async fn put_stamped(&self, sk: &str, payload: &[u8]) -> WaResult<()> {
        let row = StampedBlob {
            b: b64(payload),
            ts: now_secs(),
        };
        let _guard = self.rmw.lock().await;
        self.put_plain(sk, &to_json(&row)?).await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use whatsapp_rust::wacore::store::traits::{
        Backend, DeviceInfo, DeviceListRecord, PendingInboundKey, PendingInboundRow, TcTokenEntry,
    };

    use super::super::oracle::{lid, r, sorted, Record, A1, A2, G1, G2};

    /// The [`ProtocolStore`](super::ProtocolStore) part of the script run against the
    /// reference.
    pub async fn script(b: &dyn Backend, o: &mut Record) {
        sender_key_devices(b, o).await;
        lid_mappings(b, o).await;
        base_keys(b, o).await;
        device_lists(b, o).await;
        group_metadata(b, o).await;
        tc_tokens(b, o).await;
        sent_messages(b, o).await;
        pending_inbound(b, o).await;
        pending_inbound_removed(b, o).await;
    }

    async fn sender_key_devices(b: &dyn Backend, o: &mut Record) {
        let (g1, g2) = (G1, G2);
        o.rec("skdev empty", sorted(b.get_sender_key_devices(g1).await));
        o.rec(
            "skdev set g1",
            r(
                b.set_sender_key_status(g1, &[("d1@lid", true), ("d2@lid", false)])
                    .await,
            ),
        );
        o.rec(
            "skdev set g2",
            r(
                b.set_sender_key_status(g2, &[("d1@lid", true), ("d3@lid", true)])
                    .await,
            ),
        );
        o.rec(
            "skdev update",
            r(b.set_sender_key_status(g1, &[("d2@lid", true)]).await),
        );
        o.rec("skdev g1", sorted(b.get_sender_key_devices(g1).await));
        o.rec(
            "skdev rows none",
            r(b.delete_sender_key_device_rows(&[]).await),
        );
        o.rec(
            "skdev rows",
            r(b.delete_sender_key_device_rows(&["d1@lid"]).await),
        );
        o.rec("skdev g1 after", sorted(b.get_sender_key_devices(g1).await));
        o.rec("skdev g2 after", sorted(b.get_sender_key_devices(g2).await));
        o.rec("skdev clear g1", r(b.clear_sender_key_devices(g1).await));
        o.rec(
            "skdev g1 cleared",
            sorted(b.get_sender_key_devices(g1).await),
        );
        o.rec("skdev g2 kept", sorted(b.get_sender_key_devices(g2).await));
        o.rec("skdev clear all", r(b.clear_all_sender_key_devices().await));
        o.rec(
            "skdev g2 cleared",
            sorted(b.get_sender_key_devices(g2).await),
        );
    }

    async fn lid_mappings(b: &dyn Backend, o: &mut Record) {
        o.rec("lid missing", r(b.get_lid_mapping("100").await));
        o.rec("pn missing", r(b.get_pn_mapping("5511").await));
        o.rec(
            "put lid",
            r(b.put_lid_mapping(&lid("100", "5511", 1)).await),
        );
        o.rec(
            "put lids",
            r(
                b.put_lid_mappings(&[lid("200", "5522", 2), lid("100", "5533", 3)])
                    .await,
            ),
        );
        o.rec("lid 100", r(b.get_lid_mapping("100").await));
        o.rec("pn old gone", r(b.get_pn_mapping("5511").await));
        o.rec("pn new", r(b.get_pn_mapping("5533").await));
        o.rec("pn 5522", r(b.get_pn_mapping("5522").await));
        o.rec("all lids", sorted(b.get_all_lid_mappings().await));
    }

    async fn base_keys(b: &dyn Backend, o: &mut Record) {
        let a1 = A1;
        o.rec(
            "base key missing",
            r(b.has_same_base_key(a1, "m1", b"bk").await),
        );
        o.rec("save base key", r(b.save_base_key(a1, "m1", b"bk").await));
        o.rec(
            "base key same",
            r(b.has_same_base_key(a1, "m1", b"bk").await),
        );
        o.rec(
            "base key differs",
            r(b.has_same_base_key(a1, "m1", b"xx").await),
        );
        o.rec("delete base key", r(b.delete_base_key(a1, "m1").await));
        o.rec(
            "base key gone",
            r(b.has_same_base_key(a1, "m1", b"bk").await),
        );
    }

    async fn device_lists(b: &dyn Backend, o: &mut Record) {
        let devices = |user: &str, n: u32| DeviceListRecord {
            user: user.into(),
            devices: (0..n).map(|d| DeviceInfo::new(d, Some(d))).collect(),
            timestamp: 1_700_000_000,
            phash: Some("2:abc".into()),
            raw_id: Some(n),
        };
        o.rec("devices missing", r(b.get_devices("5511").await));
        o.rec(
            "update devices",
            r(b.update_device_list(devices("5511", 2)).await),
        );
        o.rec(
            "update devices batch",
            r(
                b.update_device_lists(vec![devices("5522", 1), devices("5511", 3)])
                    .await,
            ),
        );
        o.rec("devices 5511", r(b.get_devices("5511").await));
        o.rec("delete devices", r(b.delete_devices("5511").await));
        o.rec("devices gone", r(b.get_devices("5511").await));
        o.rec("devices 5522", r(b.get_devices("5522").await));
    }

    async fn group_metadata(b: &dyn Backend, o: &mut Record) {
        let g1 = G1;
        o.rec("group meta missing", r(b.get_group_metadata(g1).await));
        o.rec(
            "put group meta",
            r(b.put_group_metadata(g1, b"blob-v1").await),
        );
        o.rec(
            "put group meta 2",
            r(b.put_group_metadata(g1, b"blob-v2").await),
        );
        o.rec("group meta", r(b.get_group_metadata(g1).await));
        o.rec("delete group meta", r(b.delete_group_metadata(g1).await));
        o.rec("group meta gone", r(b.get_group_metadata(g1).await));
    }

    async fn tc_tokens(b: &dyn Backend, o: &mut Record) {
        let t = |token: &[u8], ts: i64, sender: Option<i64>| TcTokenEntry {
            token: token.to_vec(),
            token_timestamp: ts,
            sender_timestamp: sender,
        };
        o.rec("tc missing", r(b.get_tc_token("1@lid").await));
        o.rec(
            "tc put 1",
            r(b.put_tc_token("1@lid", &t(b"tok1", 100, None)).await),
        );
        o.rec(
            "tc put 2",
            r(b.put_tc_token("2@lid", &t(b"tok2", 10, Some(10))).await),
        );
        o.rec(
            "tc touch 1",
            r(b.touch_tc_token_sender_timestamp("1@lid", 50).await),
        );
        o.rec(
            "tc touch 1 older",
            r(b.touch_tc_token_sender_timestamp("1@lid", 40).await),
        );
        o.rec(
            "tc touch new",
            r(b.touch_tc_token_sender_timestamp("3@lid", 60).await),
        );
        o.rec(
            "tc recv stale",
            r(b.store_received_tc_token("1@lid", b"old", 90).await),
        );
        o.rec(
            "tc recv newer",
            r(b.store_received_tc_token("1@lid", b"new", 120).await),
        );
        o.rec(
            "tc recv placeholder",
            r(b.store_received_tc_token("3@lid", b"t3", 5).await),
        );
        o.rec(
            "tc recv fresh",
            r(b.store_received_tc_token("4@lid", b"t4", 7).await),
        );
        o.rec("tc 1", r(b.get_tc_token("1@lid").await));
        o.rec("tc 3", r(b.get_tc_token("3@lid").await));
        o.rec("tc 4", r(b.get_tc_token("4@lid").await));
        o.rec("tc jids", sorted(b.get_all_tc_token_jids().await));
        o.rec("tc expire", r(b.delete_expired_tc_tokens(8, 55).await));
        o.rec("tc jids after", sorted(b.get_all_tc_token_jids().await));
        o.rec("tc delete", r(b.delete_tc_token("1@lid").await));
        o.rec("tc 1 gone", r(b.get_tc_token("1@lid").await));
    }

    async fn sent_messages(b: &dyn Backend, o: &mut Record) {
        let (a2, g1) = (A2, G1);
        o.rec("sent missing", r(b.take_sent_message(g1, "s0").await));
        o.rec(
            "sent store",
            r(b.store_sent_message(g1, "s1", b"payload-1").await),
        );
        o.rec(
            "sent store 2",
            r(b.store_sent_message(a2, "s2", b"payload-2").await),
        );
        o.rec("sent take", r(b.take_sent_message(g1, "s1").await));
        o.rec("sent take again", r(b.take_sent_message(g1, "s1").await));
        o.rec(
            "sent expire none",
            r(b.delete_expired_sent_messages(0).await),
        );
        o.rec(
            "sent expire all",
            r(b.delete_expired_sent_messages(i64::MAX).await),
        );
        o.rec("sent 2 gone", r(b.take_sent_message(a2, "s2").await));
    }

    async fn pending_inbound(b: &dyn Backend, o: &mut Record) {
        let (a1, a2, g1) = (A1, A2, G1);
        o.rec(
            "pending missing",
            r(b.get_pending_inbound(g1, a1, "p1").await),
        );
        o.rec(
            "pending store",
            r(b.store_pending_inbound(g1, a1, "p1", b"msg-1").await),
        );
        o.rec(
            "pending batch",
            r(b.store_pending_inbound_batch(&[
                PendingInboundRow {
                    chat: g1,
                    sender: a1,
                    id: "p2",
                    message: b"msg-2",
                },
                PendingInboundRow {
                    chat: a2,
                    sender: a2,
                    id: "p3",
                    message: b"msg-3",
                },
            ])
            .await),
        );
        o.rec("pending 1", r(b.get_pending_inbound(g1, a1, "p1").await));
        o.rec(
            "pending other sender",
            r(b.get_pending_inbound(g1, a2, "p1").await),
        );
    }

    async fn pending_inbound_removed(b: &dyn Backend, o: &mut Record) {
        let (a1, a2, g1) = (A1, A2, G1);
        o.rec(
            "pending delete",
            r(b.delete_pending_inbound(g1, a1, "p1").await),
        );
        o.rec(
            "pending 1 gone",
            r(b.get_pending_inbound(g1, a1, "p1").await),
        );
        o.rec(
            "pending delete batch",
            r(b.delete_pending_inbound_batch(&[PendingInboundKey {
                chat: g1,
                sender: a1,
                id: "p2",
            }])
            .await),
        );
        o.rec(
            "pending 2 gone",
            r(b.get_pending_inbound(g1, a1, "p2").await),
        );
        o.rec(
            "pending expire none",
            r(b.delete_expired_pending_inbound(0).await),
        );
        o.rec("pending 3", r(b.get_pending_inbound(a2, a2, "p3").await));
        o.rec(
            "pending expire all",
            r(b.delete_expired_pending_inbound(i64::MAX).await),
        );
        o.rec(
            "pending 3 gone",
            r(b.get_pending_inbound(a2, a2, "p3").await),
        );
    }
}
