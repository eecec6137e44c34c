//! A slot: one of the three WhatsApp numbers a connection can link. The gateway moves a
//! slot through its states; the API only reads them here.

use serde::{Deserialize, Serialize};

use super::error::DomainError;

pub const SLOTS: [u8; 3] = [1, 2, 3];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotStatus {
    Disconnected,
    Qrcode,
    Connecting,
    Connected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    pub slot: u8,
    pub status: SlotStatus,
    pub is_active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    /// The code to type on the phone (WhatsApp > Linked devices > Link with phone number),
    /// when pairing was started with a phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the connection last proved alive (RFC 3339): set on connect and advanced while
    /// connected (about once a minute on WhatsApp Web, from the client's received data).
    /// Kept after a drop, so it says how long the number has been offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
    /// While WhatsApp bans the number for a while: when the ban ends (RFC 3339); the
    /// gateway reconnects then by itself (or at once when the owner starts the slot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banned_until: Option<String>,
    pub updated_at: String,
}

impl Slot {
    pub fn new_disconnected(slot: u8, now: &str) -> Self {
        Self {
            slot,
            status: SlotStatus::Disconnected,
            is_active: false,
            qr_code: None,
            pairing_code: None,
            phone: None,
            last_error: None,
            last_seen_at: None,
            banned_until: None,
            updated_at: now.to_owned(),
        }
    }
}

/// Parses a slot number from a path segment: 1, 2 or 3.
pub fn parse_slot(raw: &str) -> Result<u8, DomainError> {
    match raw.parse::<u8>() {
        Ok(n) if SLOTS.contains(&n) => Ok(n),
        _ => Err(DomainError::invalid(
            "slot",
            format!("slot must be 1, 2 or 3 (got {raw:?})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slots_one_to_three_exist() {
        assert_eq!(parse_slot("1").unwrap(), 1);
        assert_eq!(parse_slot("3").unwrap(), 3);
        for bad in ["0", "4", "-1", "x", "", "256"] {
            assert!(parse_slot(bad).is_err(), "{bad}");
        }
    }
}
