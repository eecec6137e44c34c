//! whatsapp-rust's client events as ours: one pure function over the library's event values,
//! so the lifecycle (pairing, connects, drops, bans, replaced streams) is decided here and
//! tested on the library's own values. What the client does around each event, read in
//! whatsapp-rust 0.7.0 (and relied on here and in [`super::watch`]):
//!
//! - `client/lifecycle.rs` (`Client::run`): the run loop connects, reads until the stream
//!   ends, and reconnects with its own Fibonacci backoff (1 s … 900 s) for as long as
//!   `enable_auto_reconnect` holds; it ends for good (the `BotHandle` resolves) when that
//!   flag is cleared or on `disconnect()`/`logout()`. A failed connect attempt emits no
//!   event; `Disconnected` is emitted only for an *unexpected* end of an established
//!   stream, after `cleanup_connection_state` cleared `is_connected`.
//! - `client/node_io.rs` (`handle_stream_error`): `<conflict type="replaced">` and code 409
//!   emit `StreamReplaced`, a conflict of another type, 401 and 516 emit `LoggedOut`; all
//!   of them clear `enable_auto_reconnect` (the run loop ends). 515 reconnects at once
//!   without an event; 429 and 503 keep the socket and reconnect later; any other code
//!   emits `StreamError` and keeps the socket (informational: the server's stream end, if
//!   any, drives the reconnect).
//! - `client/node_io.rs` (`handle_connect_failure`): only 500 and 503
//!   (`ConnectFailureReason::should_reconnect`) keep auto-reconnect; every other reason
//!   ends the run loop: 401/403/406 as `LoggedOut`, 402 with a code and expiry as
//!   `TemporaryBan`, 405 as `ClientOutdated`, the rest (400, 402 without expiry, 409,
//!   413–418, 501, unknown) as `ConnectFailure`.
//! - `pair.rs`: after the sixth QR reference (~160 s) it emits `PairingQrCodesExhausted`;
//!   with `disconnected: true` it then calls `disconnect()` (the run loop ends), with
//!   `false` a phone-number code is still outstanding and the socket stays open for it.
//!   A `PairError` answers the phone with an error and keeps the connection.
//! - `pair_code.rs`: `PairingCodeRefresh` means the code on screen is void; the flow is
//!   cleared first, so `pair_with_code` may be called again at once (the watcher does).
//! - `keepalive.rs`: a dead socket (no data 20 s after a send) calls
//!   `reconnect_immediately`, an *expected* disconnect: no event at all, only
//!   `is_connected()` turning false until the next `Connected`. [`super::watch`] catches it.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use whatsapp_rust::types::events::{ConnectFailureReason, Event};

use super::messages::message_to_ours;
use crate::whatsapp::events::{ConnectionEvent, DisconnectReason};

/// Our events for one of the client's (a message batch may hold several messages).
/// `own_phone` is the linked number, `now` dates a temporary ban's end. A `StreamError` is
/// only logged (the library keeps the socket); `PairingCodeRefresh` is the watcher's to act
/// on ([`super::watch`]), so it maps to nothing here.
pub(super) fn event_to_ours(
    event: &Event,
    own_phone: Option<&str>,
    now: OffsetDateTime,
) -> Vec<ConnectionEvent> {
    let disconnected = |reason| vec![ConnectionEvent::Disconnected { reason }];
    let problem = |detail: String| vec![ConnectionEvent::Problem { detail }];
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
            disconnected(connect_failure(&failure.reason, failure.message.as_deref()))
        }
        Event::ClientOutdated(_) => disconnected(DisconnectReason::Refused {
            detail: "versão do cliente WhatsApp desatualizada, código 405; \
                     atualize o Platefull"
                .into(),
        }),
        Event::StreamError(error) => {
            tracing::warn!(code = %error.code, "WhatsApp stream error (the connection is kept)");
            Vec::new()
        }
        Event::PairError(error) => problem(format!(
            "o pareamento falhou ({}); escaneie o QR de novo",
            error.error
        )),
        Event::PairingQrCodesExhausted(exhausted) if exhausted.disconnected => {
            disconnected(DisconnectReason::PairingExpired)
        }
        Event::PairingQrCodesExhausted(_) => {
            problem("QR expirado; digite no celular o código de pareamento, que ainda vale".into())
        }
        Event::PairingCodeError(error) => problem(format!(
            "o WhatsApp não emitiu um código de pareamento ({}); escaneie o QR ou tente mais tarde",
            error.error
        )),
        _ => Vec::new(),
    }
}

/// A `<failure>` at connect, as the library classifies it: logged out, transient (500 and
/// 503: the client reconnects by itself), or final (the run loop has ended).
fn connect_failure(reason: &ConnectFailureReason, message: Option<&str>) -> DisconnectReason {
    let detail = match message {
        Some(message) => format!("{reason:?}, código {}: {message}", reason.code()),
        None => format!("{reason:?}, código {}", reason.code()),
    };
    if reason.is_logged_out() {
        DisconnectReason::LoggedOut { detail }
    } else if reason.should_reconnect() {
        network(format!("falha ao conectar: {detail}"))
    } else {
        DisconnectReason::Refused { detail }
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
        // Informational in 0.7.0: the socket is kept, so nothing is recorded.
        assert!(event_to_ours(
            &Event::StreamError(StreamError::builder().code("500".into()).build()),
            None,
            now()
        )
        .is_empty());
        // The library answers the phone and keeps the connection: a problem, not a drop.
        assert!(matches!(
            one(Event::PairError(
                PairError::builder()
                    .id(jid("5511900000009@s.whatsapp.net"))
                    .lid(jid("100000000000001@lid"))
                    .business_name(String::new())
                    .platform(String::new())
                    .error("bad signature".into())
                    .build()
            )),
            ConnectionEvent::Problem { detail } if detail.contains("bad signature")
        ));
        // QR codes exhausted: the client disconnected itself (final), or a pairing code is
        // still outstanding (the connection stays, the owner is told to type the code).
        assert_eq!(
            reason(Event::PairingQrCodesExhausted(
                PairingQrCodesExhausted::builder()
                    .disconnected(true)
                    .build()
            )),
            DisconnectReason::PairingExpired
        );
        assert!(DisconnectReason::PairingExpired
            .describe()
            .starts_with("QR expirado"));
        assert!(matches!(
            one(Event::PairingQrCodesExhausted(
                PairingQrCodesExhausted::builder()
                    .disconnected(false)
                    .build()
            )),
            ConnectionEvent::Problem { detail } if detail.contains("QR expirado")
        ));
        assert!(matches!(
            reason(Event::ClientOutdated(ClientOutdated::builder().build())),
            DisconnectReason::Refused { detail } if detail.contains("405")
        ));
    }

    /// Every connect failure the library can report, as `handle_connect_failure` leaves the
    /// run loop: only 500 and 503 reconnect by themselves.
    #[test]
    fn connect_failures_are_final_unless_the_library_retries_them() {
        use ConnectFailureReason as R;
        let transient = [R::InternalServerError, R::ServiceUnavailable];
        let logged_out = [R::LoggedOut, R::AccountLocked, R::UnknownLogout];
        let last = [
            R::Generic,
            R::TempBanned, // a 402 without code or expiry arrives as a ConnectFailure
            R::ClientOutdated,
            R::BadUserAgent,
            R::CatExpired,
            R::CatInvalid,
            R::NotFound,
            R::ClientUnknown,
            R::Experimental,
            R::Unknown(0),
            R::Unknown(777),
        ];
        let of = |r: &R| {
            reason(Event::ConnectFailure(
                ConnectFailure::builder().reason(*r).build(),
            ))
        };
        for r in &transient {
            assert!(r.should_reconnect());
            assert!(matches!(of(r), DisconnectReason::Network { .. }), "{r:?}");
            assert!(!of(r).is_final());
        }
        for r in &logged_out {
            assert!(matches!(of(r), DisconnectReason::LoggedOut { .. }), "{r:?}");
        }
        for r in &last {
            assert!(!r.should_reconnect() && !r.is_logged_out(), "{r:?}");
            let got = of(r);
            assert!(
                matches!(&got, DisconnectReason::Refused { detail } if detail.contains(&r.code().to_string())),
                "{r:?}: {got:?}"
            );
            assert!(got.is_final());
            assert!(got.describe().contains("recusou"), "{}", got.describe());
        }
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
