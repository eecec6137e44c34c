//! A slot's incidents, as the gateway sees them: the number dropped (unlinked from the
//! phone, banned for a while, replaced, refused, or silent — or unable to connect again —
//! past [`GatewayConfig::silent_after`](super::GatewayConfig)) opens the slot's incident
//! (`slot<n>`), connecting again closes it; each transition that is to be told queues an
//! alert on the inbound queue for the bot worker to send (see `health::incidents`). A
//! routine network drop that the connection recovers from is no incident. Best effort: a
//! store or queue failure here is logged, and never stops the slot.

use super::super::events::{DisconnectReason, SlotKey};
use super::super::slots;
use super::Gateway;
use crate::health::alerts::text;
use crate::health::incidents::{self, AlertJob};
use crate::ids::now_ms;
use crate::jobs::BotJob;
use crate::store::StoreError;

/// The incident id of a slot.
pub fn slot_incident(slot: u8) -> String {
    format!("slot{slot}")
}

/// Why a number is down, in the owner's words; `None`: not an incident.
pub fn down_reason(reason: &DisconnectReason) -> Option<String> {
    match reason {
        DisconnectReason::LoggedOut { .. } => Some("desconectado pelo celular".into()),
        DisconnectReason::TemporaryBan { until, .. } => Some(format!(
            "bloqueado temporariamente pelo WhatsApp até {}",
            brasilia(until)
        )),
        DisconnectReason::Replaced => {
            Some("o número foi aberto em outra conexão (substituída)".into())
        }
        DisconnectReason::Refused { .. } => Some("o WhatsApp recusou a conexão".into()),
        DisconnectReason::Network { .. }
        | DisconnectReason::PairingExpired
        | DisconnectReason::LeaseLost => None,
    }
}

/// An RFC 3339 instant as "dd/mm às HH:MM" in Brasília time (UTC−3), else as given.
fn brasilia(until: &str) -> String {
    let Ok(at) = until.parse::<jiff::Timestamp>() else {
        return until.to_owned();
    };
    let zoned = at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(-3)));
    zoned
        .strftime("%d/%m às %H:%M (horário de Brasília)")
        .to_string()
}

impl Gateway {
    /// The number a slot is linked as, if it is (read before an unlink wipes it).
    pub(super) async fn slot_phone(&self, key: &SlotKey) -> Option<String> {
        slots::get_slot(self.store.as_ref(), key)
            .await
            .ok()
            .flatten()
            .as_ref()
            .and_then(slots::slot_of)
            .and_then(|s| s.phone)
    }

    /// The slot's number (`phone`) is down for `why`: opens its incident (alerting if
    /// due). Called once the slot shows the drop, so that the alert's WhatsApp goes out
    /// from another, still connected number.
    pub(super) async fn slot_down(&self, key: &SlotKey, phone: Option<&str>, why: &str) {
        let words = text::slot_down(key.slot, phone, why);
        let opened = incidents::open(
            self.store.as_ref(),
            &key.store_id,
            &slot_incident(key.slot),
            why,
            (&words.0, &words.1),
            now_ms(),
        )
        .await;
        self.queue_alert(key, opened).await;
    }

    /// The slot connected: closes its incident, if one is open ("voltou" if its start was
    /// told).
    pub(super) async fn slot_up(&self, key: &SlotKey, phone: &str) {
        let words = text::slot_back(key.slot, Some(phone));
        let closed = incidents::close(
            self.store.as_ref(),
            &key.store_id,
            &slot_incident(key.slot),
            (&words.0, &words.1),
            now_ms(),
        )
        .await;
        self.queue_alert(key, closed).await;
    }

    async fn queue_alert(&self, key: &SlotKey, alert: Result<Option<AlertJob>, StoreError>) {
        let alert = match alert {
            Ok(Some(alert)) => alert,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(slot = %key, error = %err, "could not record the slot's incident");
                return;
            }
        };
        let Some(queue) = self.gate.queue() else {
            tracing::warn!(slot = %key, "no inbound queue: the slot's alert is not sent");
            return;
        };
        if let Err(err) = queue.send(BotJob::Alert(alert).outgoing()).await {
            tracing::warn!(slot = %key, error = %err, "could not queue the slot's alert");
        }
    }
}
