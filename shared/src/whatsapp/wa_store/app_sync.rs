//! [`AppSyncStore`]: WhatsApp's app-state sync (contacts, chat settings): the sync keys
//! (`synckey#<hex id>`, and `latestsynckey` naming the newest), each collection's hash state
//! (`version#<name>`) and the value MACs of its mutations (`mutmac#<name>#<hex index>`), so a
//! whole collection's MACs can be cleared with one prefix query.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
use whatsapp_rust::wacore::store::error::Result as WaResult;
use whatsapp_rust::wacore::store::traits::{AppStateSyncKey, AppSyncStore};

use super::sealed::{b64, invalid, to_json, unb64};
use super::StoreBackend;
use crate::store::keys::wa;

/// [`HashState`] with its byte fields as base64: its JSON form writes every byte as a
/// number, which would blow up the item size of a large collection.
#[derive(Serialize, Deserialize)]
struct HashStateRow {
    version: u64,
    hash: String,
    map: BTreeMap<String, String>,
    #[serde(default)]
    fatal: bool,
}

impl HashStateRow {
    fn from_state(state: &HashState) -> Self {
        Self {
            version: state.version,
            hash: b64(&state.hash),
            map: state
                .index_value_map
                .iter()
                .map(|(k, v)| (k.clone(), b64(v)))
                .collect(),
            fatal: state.mac_mismatch_fatal,
        }
    }

    fn into_state(self, sk: &str) -> WaResult<HashState> {
        let hash: [u8; 128] = unb64(&self.hash)?
            .try_into()
            .map_err(|_| invalid("app state hash", sk))?;
        let mut index_value_map = HashMap::with_capacity(self.map.len());
        for (k, v) in self.map {
            index_value_map.insert(k, unb64(&v)?);
        }
        Ok(HashState {
            version: self.version,
            hash,
            index_value_map,
            mac_mismatch_fatal: self.fatal,
        })
    }
}

#[async_trait]
impl AppSyncStore for StoreBackend {
    async fn get_sync_key(&self, key_id: &[u8]) -> WaResult<Option<AppStateSyncKey>> {
        self.get_json(&wa::sync_key(key_id)).await
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> WaResult<()> {
        let ops = vec![
            self.put_op(&wa::sync_key(key_id), &to_json(&key)?),
            self.put_op(wa::LATEST_SYNC_KEY, &b64(key_id)),
        ];
        self.apply(ops).await
    }

    async fn get_version(&self, name: &str) -> WaResult<HashState> {
        let sk = wa::version(name);
        match self.get_json::<HashStateRow>(&sk).await? {
            Some(row) => row.into_state(&sk),
            None => Ok(HashState::default()),
        }
    }

    async fn set_version(&self, name: &str, state: HashState) -> WaResult<()> {
        let row = HashStateRow::from_state(&state);
        self.put_plain(&wa::version(name), &to_json(&row)?).await
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        _version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> WaResult<()> {
        let ops = mutations
            .iter()
            .map(|m| self.put_op(&wa::mutation_mac(name, &m.index_mac), &b64(&m.value_mac)))
            .collect();
        self.apply(ops).await
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(&wa::mutation_mac(name, index_mac)).await
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> WaResult<()> {
        let ops = index_macs
            .iter()
            .map(|im| self.del_op(&wa::mutation_mac(name, im)))
            .collect();
        self.apply(ops).await
    }

    async fn clear_mutation_macs(&self, name: &str) -> WaResult<()> {
        self.delete_prefix(&wa::mutation_mac_prefix(name)).await
    }

    async fn get_latest_sync_key_id(&self) -> WaResult<Option<Vec<u8>>> {
        self.get_bytes(wa::LATEST_SYNC_KEY).await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashMap;

    use whatsapp_rust::wacore::appstate::hash::HashState;
    use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
    use whatsapp_rust::wacore::store::traits::{AppStateSyncKey, Backend};

    use super::super::oracle::{r, Record};

    /// The [`AppSyncStore`](super::AppSyncStore) part of the script run against the reference.
    pub async fn script(b: &dyn Backend, o: &mut Record) {
        sync_keys_and_versions(b, o).await;
        mutation_macs(b, o).await;
    }

    async fn sync_keys_and_versions(b: &dyn Backend, o: &mut Record) {
        o.rec("sync key missing", r(b.get_sync_key(b"k1").await));
        o.rec("latest missing", r(b.get_latest_sync_key_id().await));
        let key = |n: u8| AppStateSyncKey {
            key_data: vec![n; 32],
            fingerprint: vec![n, n],
            timestamp: 1_700_000_000 + i64::from(n),
        };
        o.rec("set sync key 1", r(b.set_sync_key(b"k1", key(1)).await));
        o.rec(
            "set sync key 2",
            r(b.set_sync_key(&[0, 255, 7], key(2)).await),
        );
        o.rec("sync key 1", r(b.get_sync_key(b"k1").await));
        o.rec("sync key 2", r(b.get_sync_key(&[0, 255, 7]).await));
        o.rec("latest", r(b.get_latest_sync_key_id().await));
        o.rec("version missing", r(b.get_version("regular").await));
        let state = HashState {
            version: 42,
            hash: [5; 128],
            index_value_map: HashMap::from([
                ("idx-a".to_string(), vec![1, 2, 3]),
                ("idx-b".to_string(), vec![]),
            ]),
            mac_mismatch_fatal: true,
        };
        o.rec("set version", r(b.set_version("regular", state).await));
        o.rec("version", r(b.get_version("regular").await));
        o.rec("version other", r(b.get_version("critical_block").await));
    }

    async fn mutation_macs(b: &dyn Backend, o: &mut Record) {
        let mac = |i: &[u8], v: &[u8]| AppStateMutationMAC {
            index_mac: i.to_vec(),
            value_mac: v.to_vec(),
        };
        o.rec(
            "put macs regular",
            r(
                b.put_mutation_macs("regular", 1, &[mac(&[1], &[10]), mac(&[2], &[20])])
                    .await,
            ),
        );
        o.rec(
            "put macs critical",
            r(b.put_mutation_macs("critical", 1, &[mac(&[1], &[30])])
                .await),
        );
        o.rec("mac 1", r(b.get_mutation_mac("regular", &[1]).await));
        o.rec("mac missing", r(b.get_mutation_mac("regular", &[3]).await));
        o.rec(
            "macs batch",
            r(b.get_mutation_macs("regular", &[[0; 32], [1; 32]])
                .await
                .map(|m| m.len())),
        );
        o.rec(
            "delete macs",
            r(b.delete_mutation_macs("regular", &[vec![1], vec![9]]).await),
        );
        o.rec("mac 1 gone", r(b.get_mutation_mac("regular", &[1]).await));
        o.rec("mac 2 kept", r(b.get_mutation_mac("regular", &[2]).await));
        o.rec("clear macs", r(b.clear_mutation_macs("regular").await));
        o.rec(
            "mac 2 cleared",
            r(b.get_mutation_mac("regular", &[2]).await),
        );
        o.rec(
            "critical kept",
            r(b.get_mutation_mac("critical", &[1]).await),
        );
    }
}
