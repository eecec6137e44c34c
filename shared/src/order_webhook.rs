//! Order webhooks: an owner's system learns of each order (placed, and each status change)
//! by a POST of the order's JSON to the HTTPS URL the owner set in the profile, signed so it
//! can tell the call is ours and fresh.
//!
//! - **Signature**: header `X-Platefull-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//!   "<t>.<body>" under the webhook's secret>` ([`signature`]; [`verify`] is what a
//!   receiver does, also used by our tests). Signed at each attempt, with its own time.
//! - **The secret** is sealed at rest with the store's id as associated data
//!   ([`seal_secret`]); a delivery job carries it sealed, so neither the queue nor a log
//!   ever holds it in the clear.
//! - **Through the guarded client** ([`OutboundClient`]): an owner's URL is untrusted, so
//!   the SSRF rules apply at every attempt (public https hosts only; no redirect followed).
//! - **Retries**: a delivery is a job on the bot's inbound queue ([`BotJob::Webhook`]). A
//!   failed attempt (no answer, or any status but 2xx) queues the next one after a capped
//!   exponential backoff ([`Delivery::retry`]); after [`BACKED_OFF_ATTEMPTS`] the job is
//!   left to the queue's own retries, which end in its dead letters. A URL the guard
//!   refuses is not retried (logged; it can't start working by itself).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backoff::Backoff;
use crate::crypto::SecretBox;
use crate::jobs::BotJob;
use crate::outbound::{OutboundClient, Refused};
use crate::queue::Outgoing;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Platefull-Signature";

/// Attempts that are each queued after a backoff before the queue's own retries take over.
pub const BACKED_OFF_ATTEMPTS: u32 = 6;

/// `t=<t>,v1=<hex HMAC-SHA256("<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// What a receiver checks: the header parses, its `v1` is the HMAC of `"<t>.<body>"` under
/// `secret` (compared in constant time), and `t` is within `tolerance` of `now`.
pub fn verify(secret: &str, header: &str, body: &str, now: i64, tolerance: i64) -> bool {
    use hmac::{Hmac, Mac};
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (now - t).abs() > tolerance || v1.len() != 64 {
        return false;
    }
    let Some(expected) = (0..32)
        .map(|i| u8::from_str_radix(&v1[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

fn aad(store_id: &str) -> String {
    format!("order-webhook#{store_id}")
}

/// The webhook secret sealed for storage (it opens only for this store).
pub fn seal_secret(secrets: &SecretBox, store_id: &str, secret: &str) -> String {
    secrets.seal(secret, &aad(store_id))
}

/// The secret sealed by [`seal_secret`].
pub fn open_secret(secrets: &SecretBox, store_id: &str, sealed: &str) -> Option<String> {
    secrets.open(sealed, &aad(store_id)).ok()
}

/// One delivery of an order event to a store's webhook, as it travels on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub store_id: String,
    pub url: String,
    /// The webhook secret, sealed ([`seal_secret`]).
    pub sealed_secret: String,
    /// What happened (`order.placed`, `order.status`), sent as `X-Platefull-Event`.
    pub event: String,
    /// Names the event (the order id and its version): the deduplication id of each
    /// attempt's job, and `X-Platefull-Delivery` for the receiver's own deduplication.
    pub key: String,
    /// The JSON body, exactly as signed.
    pub body: String,
    /// Attempts made before this one.
    #[serde(default)]
    pub attempt: u32,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The guard refuses the URL (or what it resolves to): not retried.
    #[error("webhook URL refused: {0}")]
    Refused(Refused),
    /// The secret doesn't open (sealed for another store, or with another key): not retried.
    #[error("the webhook secret can't be opened")]
    Secret,
    /// No answer, or not a 2xx (reported by status code only, never the body).
    #[error("webhook delivery failed: {0}")]
    Failed(String),
}

impl Delivery {
    /// The job of this attempt.
    pub fn job(self) -> BotJob {
        BotJob::Webhook(self)
    }

    /// Its queue message: after `delay`, deduplicated per event and attempt.
    pub fn outgoing(&self, delay: Option<Duration>) -> Outgoing {
        let job = BotJob::Webhook(self.clone());
        let outgoing = Outgoing::new(job.to_json()).in_group(job.group(), job.dedup_id());
        match delay {
            Some(delay) => outgoing.delayed(delay),
            None => outgoing,
        }
    }

    /// The next attempt and its delay (a backoff doubling from `base` up to 15 minutes,
    /// SQS's longest delay), if this one was not the last backed-off attempt.
    pub fn retry(&self, base: Duration) -> Option<(Delivery, Duration)> {
        if self.attempt + 1 >= BACKED_OFF_ATTEMPTS {
            return None;
        }
        let delay = Backoff::new(base, Duration::from_secs(900)).delay(self.attempt);
        let next = Delivery {
            attempt: self.attempt + 1,
            ..self.clone()
        };
        Some((next, delay))
    }

    /// Makes this attempt: one signed POST through the guarded client.
    pub async fn send(
        &self,
        client: &OutboundClient,
        secrets: &SecretBox,
        now_unix: i64,
    ) -> Result<u16, DeliveryError> {
        let secret = open_secret(secrets, &self.store_id, &self.sealed_secret)
            .ok_or(DeliveryError::Secret)?;
        let request = client.post(&self.url).map_err(DeliveryError::Refused)?;
        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&secret, now_unix, &self.body))
            .header("X-Platefull-Event", &self.event)
            .header("X-Platefull-Delivery", &self.key)
            .body(self.body.clone())
            .send()
            .await
            .map_err(|err| match crate::outbound::refusal(&err) {
                Some(refused) => DeliveryError::Refused(refused),
                None if err.is_timeout() => DeliveryError::Failed("timed out".into()),
                None => DeliveryError::Failed("no answer".into()),
            })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(DeliveryError::Failed(format!("HTTP {status}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_time_dot_body_and_verifies() {
        let sig = signature("whsec_test", 1_700_000_000, r#"{"id":"ord_1"}"#);
        assert!(sig.starts_with("t=1700000000,v1="), "{sig}");
        assert_eq!(sig.len(), "t=1700000000,v1=".len() + 64);
        let body = r#"{"id":"ord_1"}"#;
        assert!(verify("whsec_test", &sig, body, 1_700_000_100, 300));
        // Another secret, body, or a stale time: refused.
        assert!(!verify("whsec_other", &sig, body, 1_700_000_100, 300));
        assert!(!verify(
            "whsec_test",
            &sig,
            r#"{"id":"ord_2"}"#,
            1_700_000_100,
            300
        ));
        assert!(!verify("whsec_test", &sig, body, 1_700_001_000, 300));
        assert!(!verify(
            "whsec_test",
            "t=1700000000",
            body,
            1_700_000_000,
            300
        ));
        // Independent of our code: the MAC over the documented string.
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_test").unwrap();
        mac.update(br#"1700000000.{"id":"ord_1"}"#);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("t=1700000000,v1={hex}"));
    }

    #[test]
    fn retries_back_off_then_stop_and_the_secret_opens_only_for_its_store() {
        let secrets = SecretBox::from_key(&[3; 32]);
        let sealed = seal_secret(&secrets, "st_1", "whsec_x");
        assert!(!sealed.contains("whsec_x"));
        assert_eq!(
            open_secret(&secrets, "st_1", &sealed).as_deref(),
            Some("whsec_x")
        );
        assert_eq!(open_secret(&secrets, "st_2", &sealed), None);
        let mut delivery = Delivery {
            store_id: "st_1".into(),
            url: "https://example.com/hook".into(),
            sealed_secret: sealed,
            event: "order.placed".into(),
            key: "ord_1#1".into(),
            body: "{}".into(),
            attempt: 0,
        };
        let base = Duration::from_secs(10);
        let mut delays = vec![];
        while let Some((next, delay)) = delivery.retry(base) {
            assert_eq!(next.attempt, delivery.attempt + 1);
            delays.push(delay);
            delivery = next;
        }
        assert_eq!(delays.len() as u32, BACKED_OFF_ATTEMPTS - 1);
        for (attempt, delay) in delays.iter().enumerate() {
            let ceiling = base * (1 << attempt);
            assert!(
                *delay >= ceiling / 2 && *delay <= ceiling,
                "{attempt}: {delay:?}"
            );
        }
        // Each attempt is its own job (a FIFO queue would drop a resent id).
        let first = Delivery {
            attempt: 0,
            ..delivery.clone()
        };
        assert_ne!(
            first.outgoing(None).dedup_id,
            delivery.outgoing(None).dedup_id
        );
        let json = first.outgoing(None).body;
        assert!(json.contains(r#""type":"webhook""#), "{json}");
        assert!(!json.contains("whsec_x"));
    }
}
