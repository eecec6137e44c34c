//! whatsapp-rust's client events as ours: one pure function per event kind, so the
//! lifecycle (pairing, connects, drops, bans, replaced streams) is decided here and tested
//! on the library's own event values.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use whatsapp_rust::types::events::Event;

use super::messages::message_to_ours;
use crate::whatsapp::events::{ConnectionEvent, DisconnectReason};

/// Our events for one of the client's (a message batch may hold several messages).
/// `own_phone` is the linked number, `now` dates a temporary ban's end.
pub(super) fn event_to_ours(
    event: &Event,
    own_phone: Option<&str>,
    now: OffsetDateTime,
) -> Vec<ConnectionEvent> {
    let disconnected = |reason| vec![ConnectionEvent::Disconnected { reason }];
    match event {
        Event::PairingQrCode(qr) => vec![ConnectionEvent::Qr {
            code: qr.code.clone(),
            expires_in_secs: qr.timeout.as_secs(),
        }],
        Event::PairingCode(pairing) => vec![ConnectionEvent::PairingCode {
            code: pairing.code.clone(),
        }],
        Event::PairSuccess(paired) => vec![ConnectionEvent::Paired {
            phone: paired.id.user.to_string(),
            credentials: Vec::new(),
        }],
        Event::Connected(_) => vec![ConnectionEvent::Connected {
            phone: own_phone.unwrap_or_default().to_owned(),
        }],
        // Committed by the durability hook already (and acknowledged after it).
        Event::Messages(batch) if batch.hook_committed => Vec::new(),
        Event::Messages(batch) => batch
            .iter()
            .filter_map(|inbound| message_to_ours(&inbound.message, &inbound.info))
            .map(ConnectionEvent::Message)
            .collect(),
        Event::Disconnected(d) => disconnected(network(d.reason.to_string())),
        Event::StreamReplaced(_) => disconnected(DisconnectReason::Replaced),
        Event::LoggedOut(out) => disconnected(DisconnectReason::LoggedOut {
            detail: format!("{:?} ({})", out.reason, out.reason.code()),
        }),
        Event::TemporaryBan(ban) => disconnected(DisconnectReason::TemporaryBan {
            code: ban.code.code(),
            until: ban_until(now, ban.expire.num_seconds()),
        }),
        Event::ConnectFailure(failure) => {
            let detail = match &failure.message {
                Some(message) => format!(
                    "{:?} ({}): {message}",
                    failure.reason,
                    failure.reason.code()
                ),
                None => format!("{:?} ({})", failure.reason, failure.reason.code()),
            };
            if failure.reason.is_logged_out() {
                disconnected(DisconnectReason::LoggedOut { detail })
            } else {
                disconnected(network(format!("connect failure {detail}")))
            }
        }
        Event::StreamError(error) => disconnected(network(format!("stream error {}", error.code))),
        Event::PairError(error) => {
            disconnected(network(format!("pairing failed: {}", error.error)))
        }
        Event::PairingQrCodesExhausted(_) => {
            disconnected(network("no QR code was scanned in time".into()))
        }
        Event::ClientOutdated(_) => disconnected(network("client version outdated".into())),
        Event::PairingCodeError(error) => vec![ConnectionEvent::Problem {
            detail: format!(
                "WhatsApp did not issue a pairing code ({}); scan the QR code or try again later",
                error.error
            ),
        }],
        _ => Vec::new(),
    }
}

pub(super) fn network(detail: String) -> DisconnectReason {
    DisconnectReason::Network { detail }
}

/// When a ban of `expire_secs` starting `now` ends, as RFC 3339.
pub(super) fn ban_until(now: OffsetDateTime, expire_secs: i64) -> String {
    let until = now
        .checked_add(time::Duration::seconds(expire_secs.max(0)))
        .unwrap_or(now);
    until.format(&Rfc3339).unwrap_or_else(|_| now.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whatsapp::whatsapp_web::fixtures::*;
    use std::sync::Arc;
    use std::time::Duration;
    use whatsapp_rust::types::events::{
        BatchOrigin, ClientOutdated, ConnectFailure, ConnectFailureReason, Connected, Disconnected,
        InboundMessage, LoggedOut, MessageBatch, PairError, PairSuccess, PairingCode,
        PairingCodeError, PairingQrCode, PairingQrCodesExhausted, StreamError, StreamReplaced,
        TempBanReason, TemporaryBan,
    };
    use whatsapp_rust::types::message::MessageInfo;
    use whatsapp_rust::wacore::net::DisconnectReason as WaDisconnect;
    use whatsapp_rust::waproto::whatsapp as wa;

    fn one(event: Event) -> ConnectionEvent {
        let mut out = event_to_ours(&event, Some("5511900000009"), now());
        assert_eq!(out.len(), 1, "{out:?}");
        out.remove(0)
    }

    fn reason(event: Event) -> DisconnectReason {
        match one(event) {
            ConnectionEvent::Disconnected { reason } => reason,
            other => panic!("not a disconnect: {other:?}"),
        }
    }

    #[test]
    fn pairing_events() {
        assert_eq!(
            one(Event::PairingQrCode(
                PairingQrCode::builder()
                    .code("2@abc,def".into())
                    .timeout(Duration::from_secs(60))
                    .build()
            )),
            ConnectionEvent::Qr {
                code: "2@abc,def".into(),
                expires_in_secs: 60
            }
        );
        assert_eq!(
            one(Event::PairingCode(
                PairingCode::builder()
                    .code("ABCD-EFGH".into())
                    .timeout(Duration::from_secs(180))
                    .build()
            )),
            ConnectionEvent::PairingCode {
                code: "ABCD-EFGH".into()
            }
        );
        assert_eq!(
            one(Event::PairSuccess(
                PairSuccess::builder()
                    .id(jid("5511900000009:12@s.whatsapp.net"))
                    .lid(jid("100000000000001:12@lid"))
                    .business_name(String::new())
                    .platform("android".into())
                    .build()
            )),
            ConnectionEvent::Paired {
                phone: "5511900000009".into(),
                credentials: vec![]
            }
        );
        assert_eq!(
            one(Event::Connected(Connected::builder().build())),
            ConnectionEvent::Connected {
                phone: "5511900000009".into()
            }
        );
        assert_eq!(
            event_to_ours(&Event::Connected(Connected::builder().build()), None, now()),
            vec![ConnectionEvent::Connected { phone: "".into() }]
        );
    }

    #[test]
    fn disconnect_reasons() {
        assert_eq!(
            reason(Event::Disconnected(
                Disconnected::builder()
                    .reason(WaDisconnect::StreamEnded)
                    .build()
            )),
            DisconnectReason::Network {
                detail: "stream ended (EOF)".into()
            }
        );
        assert_eq!(
            reason(Event::StreamReplaced(StreamReplaced::builder().build())),
            DisconnectReason::Replaced
        );
        assert!(matches!(
            reason(Event::LoggedOut(
                LoggedOut::builder()
                    .on_connect(false)
                    .reason(ConnectFailureReason::LoggedOut)
                    .build()
            )),
            DisconnectReason::LoggedOut { detail } if detail.contains("401")
        ));
        assert_eq!(
            reason(Event::TemporaryBan(
                TemporaryBan::builder()
                    .code(TempBanReason::SentToTooManyPeople)
                    .expire(whatsapp_rust::chrono::TimeDelta::seconds(3600))
                    .build()
            )),
            DisconnectReason::TemporaryBan {
                code: 101,
                until: "2023-11-14T23:13:20Z".into()
            }
        );
        assert!(matches!(
            reason(Event::ConnectFailure(
                ConnectFailure::builder()
                    .reason(ConnectFailureReason::AccountLocked)
                    .build()
            )),
            DisconnectReason::LoggedOut { detail } if detail.contains("403")
        ));
        assert!(matches!(
            reason(Event::ConnectFailure(
                ConnectFailure::builder()
                    .reason(ConnectFailureReason::ServiceUnavailable)
                    .message("busy".into())
                    .build()
            )),
            DisconnectReason::Network { detail } if detail.contains("503") && detail.contains("busy")
        ));
        assert!(matches!(
            reason(Event::StreamError(
                StreamError::builder().code("515".into()).build()
            )),
            DisconnectReason::Network { detail } if detail.contains("515")
        ));
        assert!(matches!(
            reason(Event::PairError(
                PairError::builder()
                    .id(jid("5511900000009@s.whatsapp.net"))
                    .lid(jid("100000000000001@lid"))
                    .business_name(String::new())
                    .platform(String::new())
                    .error("bad signature".into())
                    .build()
            )),
            DisconnectReason::Network { detail } if detail.contains("bad signature")
        ));
        assert!(matches!(
            reason(Event::PairingQrCodesExhausted(
                PairingQrCodesExhausted::builder()
                    .disconnected(true)
                    .build()
            )),
            DisconnectReason::Network { .. }
        ));
        assert!(matches!(
            reason(Event::ClientOutdated(ClientOutdated::builder().build())),
            DisconnectReason::Network { .. }
        ));
    }

    #[test]
    fn ban_end_is_rfc3339() {
        assert_eq!(ban_until(now(), 0), "2023-11-14T22:13:20Z");
        assert_eq!(ban_until(now(), 86_400), "2023-11-15T22:13:20Z");
        assert_eq!(ban_until(now(), -5), "2023-11-14T22:13:20Z");
        assert_eq!(ban_until(now(), i64::MAX), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn a_message_batch_becomes_one_event_per_text_message() {
        let inbound = |message: wa::Message, info: MessageInfo| {
            InboundMessage::builder()
                .message(Arc::new(message))
                .info(Arc::new(info))
                .build()
        };
        let batch = MessageBatch::builder()
            .messages(Arc::from(vec![
                inbound(
                    text("oi"),
                    info("5511900000001@s.whatsapp.net", false, false),
                ),
                inbound(
                    wa::Message::default(),
                    info("5511900000002@s.whatsapp.net", false, false),
                ),
                inbound(
                    extended("cardápio?"),
                    info("5511900000003@s.whatsapp.net", true, false),
                ),
            ]))
            .origin(BatchOrigin::OfflineDrain)
            .build();
        let out = event_to_ours(&Event::Messages(batch), None, now());
        let texts: Vec<(String, bool)> = out
            .iter()
            .map(|e| match e {
                ConnectionEvent::Message(m) => (m.text.clone(), m.from_me),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            vec![("oi".into(), false), ("cardápio?".into(), true)]
        );
    }

    #[test]
    fn other_events_are_ignored() {
        use whatsapp_rust::types::events::OfflineSyncCompleted;
        assert!(event_to_ours(
            &Event::OfflineSyncCompleted(OfflineSyncCompleted::builder().count(3).build()),
            None,
            now()
        )
        .is_empty());
    }

    #[test]
    fn a_refused_pairing_code_is_reported() {
        let error = PairingCodeError::builder()
            .error("rate limited".into())
            .build();
        let ours = event_to_ours(
            &Event::PairingCodeError(error),
            None,
            OffsetDateTime::now_utc(),
        );
        assert!(
            matches!(&ours[..], [ConnectionEvent::Problem { detail }] if detail.contains("rate limited"))
        );
    }
}
