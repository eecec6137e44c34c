//! The state of every slot this process runs, as its gateway last saw it: for the local
//! `/health` (which lists them) and for the gateway's per-slot metrics (EMF, one line per
//! slot every lease round). Process-wide, because the local stack's `/health` and its
//! gateway share a process but not a state; a Lambda function has no gateway, and its
//! `/health` lists none.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

/// One slot's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotLiveness {
    pub store_id: String,
    pub slot: u8,
    /// `connected`, `connecting`, `qrcode`, `disconnected`, `silent`, `banned`.
    pub state: String,
    /// Epoch ms of the last sign of life from WhatsApp (an event of the connection).
    #[serde(skip)]
    pub last_seen_ms: i64,
    /// Seconds since then.
    pub silent_seconds: i64,
}

fn registry() -> &'static Mutex<BTreeMap<(String, u8), SlotLiveness>> {
    static SLOTS: OnceLock<Mutex<BTreeMap<(String, u8), SlotLiveness>>> = OnceLock::new();
    SLOTS.get_or_init(Mutex::default)
}

/// Records a slot's state (and, with `alive`, a sign of life now).
pub fn record(store_id: &str, slot: u8, state: &str, alive: bool) {
    let now = crate::ids::now_ms();
    let mut slots = registry().lock().expect("lock");
    let entry = slots
        .entry((store_id.to_owned(), slot))
        .or_insert_with(|| SlotLiveness {
            store_id: store_id.to_owned(),
            slot,
            state: state.to_owned(),
            last_seen_ms: now,
            silent_seconds: 0,
        });
    entry.state = state.to_owned();
    if alive {
        entry.last_seen_ms = now;
    }
}

/// Forgets a slot this process no longer runs.
pub fn forget(store_id: &str, slot: u8) {
    registry()
        .lock()
        .expect("lock")
        .remove(&(store_id.to_owned(), slot));
}

/// Every slot this process runs, with its silence computed now.
pub fn snapshot() -> Vec<SlotLiveness> {
    let now = crate::ids::now_ms();
    registry()
        .lock()
        .expect("lock")
        .values()
        .map(|s| SlotLiveness {
            silent_seconds: (now - s.last_seen_ms).max(0) / 1000,
            ..s.clone()
        })
        .collect()
}

/// Writes each slot's state as metrics: `SlotConnected` (1 or 0) and `SlotSilentSeconds`,
/// by store and slot.
pub fn emit_metrics() {
    for slot in snapshot() {
        let n = slot.slot.to_string();
        let dims = [("Store", slot.store_id.as_str()), ("Slot", n.as_str())];
        let connected = if slot.state == "connected" { 1.0 } else { 0.0 };
        crate::metrics::gauge("SlotConnected", connected, &dims);
        crate::metrics::gauge("SlotSilentSeconds", slot.silent_seconds as f64, &dims);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_s_state_and_silence_are_kept_until_forgotten() {
        record("st_live", 2, "connected", true);
        let mine = |s: &SlotLiveness| s.store_id == "st_live" && s.slot == 2;
        let slot = snapshot().into_iter().find(mine).unwrap();
        assert_eq!(slot.state, "connected");
        assert_eq!(slot.silent_seconds, 0);
        // A state without a sign of life keeps the last one's time.
        record("st_live", 2, "silent", false);
        let slot = snapshot().into_iter().find(mine).unwrap();
        assert_eq!(slot.state, "silent");
        let json = serde_json::to_value(&slot).unwrap();
        assert_eq!(json["storeId"], "st_live");
        assert!(json.get("lastSeenMs").is_none());
        forget("st_live", 2);
        assert!(!snapshot().iter().any(mine));
    }
}
