//! [`SignalStore`]: the Signal protocol's state of the linked device (contacts' identity
//! keys, sessions, one-time and signed pre-keys, group sender keys), one sealed record per
//! key under `identity#`, `session#`, `prekey#`, `signedprekey#` and `senderkey#`.
//! Pre-key ids are zero-padded in their sort keys, so they come back in numeric order.

use std::sync::Arc;

use async_trait::async_trait;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::wacore::store::error::Result as WaResult;
use whatsapp_rust::wacore::store::traits::SignalStore;

use super::sealed::{b64, invalid, unb64};
use super::StoreBackend;
use crate::store::keys::wa;

#[async_trait]
impl SignalStore for StoreBackend {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> WaResult<()> {
        self.put_plain(&wa::identity(address), &b64(&key)).await
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> WaResult<()> {
        let ops = identities
            .iter()
            .map(|(address, key)| self.put_op(&wa::identity(address), &b64(key)))
            .collect();
        self.apply(ops).await
    }

    async fn load_identity(&self, address: &str) -> WaResult<Option<[u8; 32]>> {
        let sk = wa::identity(address);
        match self.get_bytes(&sk).await? {
            Some(bytes) => Ok(Some(
                bytes.try_into().map_err(|_| invalid("identity", &sk))?,
            )),
            None => Ok(None),
        }
    }

    async fn delete_identity(&self, address: &str) -> WaResult<()> {
        self.delete_sk(&wa::identity(address)).await
    }

    async fn get_session(&self, address: &str) -> WaResult<Option<Bytes>> {
        Ok(self
            .get_bytes(&wa::session(address))
            .await?
            .map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> WaResult<()> {
        self.put_plain(&wa::session(address), &b64(session)).await
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> WaResult<()> {
        let ops = sessions
            .iter()
            .map(|(address, session)| self.put_op(&wa::session(address), &b64(session)))
            .collect();
        self.apply(ops).await
    }

    async fn delete_session(&self, address: &str) -> WaResult<()> {
        self.delete_sk(&wa::session(address)).await
    }

    async fn has_session(&self, address: &str) -> WaResult<bool> {
        self.exists_sk(&wa::session(address)).await
    }

    async fn has_signal_state_for_user(&self, user: &str) -> WaResult<bool> {
        for prefix in [wa::session(user), wa::identity(user)] {
            let found = self
                .query_keys(&prefix)
                .await?
                .iter()
                .any(|sk| wa::names_user(&prefix, sk));
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], _uploaded: bool) -> WaResult<()> {
        self.put_plain(&wa::prekey(id), &b64(record)).await
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], _uploaded: bool) -> WaResult<()> {
        let ops = keys
            .iter()
            .map(|(id, record)| self.put_op(&wa::prekey(*id), &b64(record)))
            .collect();
        self.apply(ops).await
    }

    async fn load_prekey(&self, id: u32) -> WaResult<Option<Bytes>> {
        Ok(self.get_bytes(&wa::prekey(id)).await?.map(Bytes::from))
    }

    async fn mark_prekeys_uploaded(&self, _ids: &[u32]) -> WaResult<()> {
        // Like the in-memory reference, the uploaded flag is not tracked; what matters is
        // not resurrecting consumed keys, which a no-op satisfies.
        Ok(())
    }

    async fn remove_prekey(&self, id: u32) -> WaResult<()> {
        self.delete_sk(&wa::prekey(id)).await
    }

    async fn get_max_prekey_id(&self) -> WaResult<u32> {
        Ok(self
            .query_keys(wa::PREKEY_PREFIX)
            .await?
            .iter()
            .filter_map(|sk| wa::prekey_id(sk))
            .max()
            .unwrap_or(0))
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> WaResult<()> {
        self.put_plain(&wa::signed_prekey(id), &b64(record)).await
    }

    async fn load_signed_prekey(&self, id: u32) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(&wa::signed_prekey(id)).await
    }

    async fn load_all_signed_prekeys(&self) -> WaResult<Vec<(u32, Vec<u8>)>> {
        let mut out = Vec::new();
        for (sk, plain) in self.query_plain(wa::SIGNED_PREKEY_PREFIX).await? {
            let id = wa::signed_prekey_id(&sk).ok_or_else(|| invalid("signed pre-key", &sk))?;
            out.push((id, unb64(&plain)?));
        }
        Ok(out)
    }

    async fn remove_signed_prekey(&self, id: u32) -> WaResult<()> {
        self.delete_sk(&wa::signed_prekey(id)).await
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> WaResult<()> {
        self.put_plain(&wa::sender_key(address), &b64(record)).await
    }

    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> WaResult<()> {
        let ops = sender_keys
            .iter()
            .map(|(address, record)| self.put_op(&wa::sender_key(address), &b64(record)))
            .collect();
        self.apply(ops).await
    }

    async fn get_sender_key(&self, address: &str) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(&wa::sender_key(address)).await
    }

    async fn delete_sender_key(&self, address: &str) -> WaResult<()> {
        self.delete_sk(&wa::sender_key(address)).await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use whatsapp_rust::bytes::Bytes;
    use whatsapp_rust::wacore::store::traits::Backend;

    use super::super::oracle::{bytes, r, sorted, Record, A1, A2};

    /// The [`SignalStore`](super::SignalStore) part of the script run against the reference.
    pub async fn script(b: &dyn Backend, o: &mut Record) {
        identities_and_sessions(b, o).await;
        prekeys(b, o).await;
        sender_keys(b, o).await;
    }

    async fn identities_and_sessions(b: &dyn Backend, o: &mut Record) {
        let (a1, a2) = (A1, A2);
        o.rec("identity missing", r(b.load_identity(a1).await));
        o.rec("put identity", r(b.put_identity(a1, [1; 32]).await));
        o.rec(
            "put identities",
            r(
                b.put_identities_batch(&[(a2.into(), [2; 32]), (a1.into(), [3; 32])])
                    .await,
            ),
        );
        o.rec("identity a1", r(b.load_identity(a1).await));
        o.rec("identity a2", r(b.load_identity(a2).await));
        o.rec("delete identity", r(b.delete_identity(a2).await));
        o.rec("identity a2 gone", r(b.load_identity(a2).await));
        o.rec("session missing", bytes(b.get_session(a1).await));
        o.rec("has session no", r(b.has_session(a1).await));
        o.rec("put session", r(b.put_session(a1, b"session-one").await));
        o.rec(
            "put sessions",
            r(b.put_sessions_batch(&[
                (a2.into(), Bytes::from_static(b"session-two")),
                (a1.into(), Bytes::from_static(b"session-one-b")),
            ])
            .await),
        );
        o.rec("session a1", bytes(b.get_session(a1).await));
        o.rec("session a2", bytes(b.get_session(a2).await));
        o.rec("has session", r(b.has_session(a2).await));
        o.rec(
            "state user1",
            r(b.has_signal_state_for_user("5511900000001").await),
        );
        o.rec(
            "state prefix",
            r(b.has_signal_state_for_user("551190000000").await),
        );
        o.rec(
            "state none",
            r(b.has_signal_state_for_user("5511999999999").await),
        );
        o.rec("delete session", r(b.delete_session(a2).await));
        o.rec("session a2 gone", bytes(b.get_session(a2).await));
        o.rec(
            "state user2 gone",
            r(b.has_signal_state_for_user("5511900000002").await),
        );
    }

    async fn prekeys(b: &dyn Backend, o: &mut Record) {
        o.rec("max prekey empty", r(b.get_max_prekey_id().await));
        o.rec("prekey missing", bytes(b.load_prekey(7).await));
        o.rec("store prekey", r(b.store_prekey(7, b"pk7", false).await));
        o.rec(
            "store prekeys",
            r(b.store_prekeys_batch(
                &[
                    (8, Bytes::from_static(b"pk8")),
                    (12, Bytes::from_static(b"pk12")),
                ],
                true,
            )
            .await),
        );
        o.rec("mark uploaded", r(b.mark_prekeys_uploaded(&[7, 99]).await));
        o.rec("prekey 8", bytes(b.load_prekey(8).await));
        o.rec(
            "prekeys batch",
            r(b.load_prekeys_batch(&[12, 9, 7]).await.map(|v| {
                v.into_iter()
                    .map(|(i, b)| (i, b.to_vec()))
                    .collect::<Vec<_>>()
            })),
        );
        o.rec("max prekey", r(b.get_max_prekey_id().await));
        o.rec("remove prekey", r(b.remove_prekey(12).await));
        o.rec("max prekey after", r(b.get_max_prekey_id().await));
        o.rec("mark removed", r(b.mark_prekeys_uploaded(&[12]).await));
        o.rec("prekey 12 gone", bytes(b.load_prekey(12).await));
        o.rec("signed missing", r(b.load_signed_prekey(1).await));
        o.rec("store signed 1", r(b.store_signed_prekey(1, b"spk1").await));
        o.rec("store signed 2", r(b.store_signed_prekey(2, b"spk2").await));
        o.rec("signed 1", r(b.load_signed_prekey(1).await));
        o.rec("all signed", sorted(b.load_all_signed_prekeys().await));
        o.rec("remove signed", r(b.remove_signed_prekey(1).await));
        o.rec(
            "all signed after",
            sorted(b.load_all_signed_prekeys().await),
        );
    }

    async fn sender_keys(b: &dyn Backend, o: &mut Record) {
        let g = "120363000000000001@g.us::5511900000001:1@s.whatsapp.net";
        o.rec("sender key missing", r(b.get_sender_key(g).await));
        o.rec("put sender key", r(b.put_sender_key(g, b"sk-1").await));
        o.rec(
            "put sender keys",
            r(
                b.put_sender_keys_batch(&[(g.into(), Bytes::from_static(b"sk-2"))])
                    .await,
            ),
        );
        o.rec("sender key", r(b.get_sender_key(g).await));
        o.rec("delete sender key", r(b.delete_sender_key(g).await));
        o.rec("sender key gone", r(b.get_sender_key(g).await));
    }
}
