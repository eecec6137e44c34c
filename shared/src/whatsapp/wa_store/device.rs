//! [`DeviceStore`]: the linked device itself (identity keys, registration, account), one
//! record under `device`. A slot holds one device; its props are not stored but restored on
//! load, as a fresh device carries them.

use std::sync::Arc;

use async_trait::async_trait;
use whatsapp_rust::wacore::store::device::DEVICE_PROPS;
use whatsapp_rust::wacore::store::error::Result as WaResult;
use whatsapp_rust::wacore::store::traits::DeviceStore;
use whatsapp_rust::wacore::store::Device;

use super::sealed::to_json;
use super::StoreBackend;
use crate::store::keys::wa;

#[async_trait]
impl DeviceStore for StoreBackend {
    async fn save(&self, device: &Device) -> WaResult<()> {
        self.put_plain(wa::DEVICE, &to_json(device)?).await
    }

    async fn load(&self) -> WaResult<Option<Device>> {
        let mut device: Option<Device> = self.get_json(wa::DEVICE).await?;
        if let Some(device) = &mut device {
            // Not serialized: restore what a fresh device carries.
            device.device_props = Arc::new(DEVICE_PROPS.clone());
        }
        Ok(device)
    }

    async fn exists(&self) -> WaResult<bool> {
        self.exists_sk(wa::DEVICE).await
    }

    async fn create(&self) -> WaResult<i32> {
        // One device per slot: materialize it so that `exists()` holds afterwards.
        let _guard = self.rmw.lock().await;
        if !self.exists_sk(wa::DEVICE).await? {
            self.put_plain(wa::DEVICE, &to_json(&Device::new())?)
                .await?;
        }
        Ok(1)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use whatsapp_rust::wacore::store::traits::Backend;
    use whatsapp_rust::wacore::store::Device;

    use super::super::oracle::{r, Record};

    /// The [`DeviceStore`](super::DeviceStore) part of the script run against the reference.
    pub async fn script(b: &dyn Backend, device: &Device, o: &mut Record) {
        o.rec("device exists no", r(b.exists().await));
        o.rec("device load none", r(b.load().await.map(|d| d.is_some())));
        o.rec("device create", r(b.create().await));
        o.rec("device exists", r(b.exists().await));
        o.rec("device save", r(b.save(device).await));
        o.rec("device load", r(b.load().await));
    }
}
