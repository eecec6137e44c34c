//! Whether the store is open, as the attendant says it: the status at the turn's instant in
//! the store's zone, today's shifts, the next opening or closing as a customer reads it
//! ("hoje às 18h", "amanhã às 11h30", "sábado (28/11) às 18h"), and the notice our code
//! puts before the first reply of a chat while the store is closed.
//!
//! A store that never filled in its hours has no status: the bot says it doesn't know the
//! hours rather than "closed" forever (an empty profile evaluates as always closed).

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::domain::profile::{OpenStatus, StoreProfile};

/// Weekday names in pt-BR, Monday first (shared with the prompt's local time).
pub(crate) const WEEKDAYS: [&str; 7] = [
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
];

/// The store's zone (an unknown name falls back to the default zone, then UTC).
pub fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|_| {
        TimeZone::get(crate::domain::bot_config::DEFAULT_TIMEZONE).unwrap_or(TimeZone::UTC)
    })
}

/// The instant of a turn, in milliseconds, as a timestamp (out of range: the epoch).
pub fn instant(now_ms: i64) -> Timestamp {
    Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `true` when the owner entered any shift (weekly or on a date).
pub fn has_hours(profile: &StoreProfile) -> bool {
    let weekly = &profile.hours.weekly;
    [
        &weekly.mon,
        &weekly.tue,
        &weekly.wed,
        &weekly.thu,
        &weekly.fri,
        &weekly.sat,
        &weekly.sun,
    ]
    .iter()
    .any(|day| !day.is_empty())
        || profile
            .hours
            .exceptions
            .iter()
            .any(|e| !e.intervals.is_empty())
}

/// The status at `now`; `None` when the store has no hours.
pub fn status(profile: &StoreProfile, tz: &TimeZone, now: Timestamp) -> Option<OpenStatus> {
    has_hours(profile).then(|| profile.status_at(tz, now))
}

/// Today's shifts, e.g. `["11:00–14:00", "18:00–23:30"]` (empty: closed all day).
pub fn today_hours(profile: &StoreProfile, tz: &TimeZone, now: Timestamp) -> Vec<String> {
    let today = now.to_zoned(tz.clone()).date();
    profile
        .intervals_on(today)
        .iter()
        .map(|i| format!("{}–{}", i.open, i.close))
        .collect()
}

/// `18h`, `18h30`.
fn clock(at: &Zoned) -> String {
    match at.minute() {
        0 => format!("{}h", at.hour()),
        m => format!("{}h{m:02}", at.hour()),
    }
}

/// When `at` is, from `now`, in the store's zone: `hoje às 18h`, `amanhã às 11h30`,
/// `sábado (28/11) às 18h` within a week, else `28/11 às 18h`.
pub fn when(tz: &TimeZone, now: Timestamp, at: Timestamp) -> String {
    let (now, at) = (now.to_zoned(tz.clone()), at.to_zoned(tz.clone()));
    let days = (at.date() - now.date()).get_days();
    let day = match days {
        0 => "hoje".to_owned(),
        1 => "amanhã".to_owned(),
        2..=6 => format!(
            "{} ({:02}/{:02})",
            WEEKDAYS[at.weekday().to_monday_zero_offset() as usize],
            at.day(),
            at.month()
        ),
        _ => format!("{:02}/{:02}", at.day(), at.month()),
    };
    format!("{day} às {}", clock(&at))
}

/// Which closed period `status` is in (the instant it ends, or `i64::MAX` when it doesn't
/// end within the look-ahead); `None` while open. A chat is told "closed" once per period.
pub fn closed_period(status: &OpenStatus) -> Option<i64> {
    (!status.open).then(|| {
        status
            .opens_at
            .map(|t| t.as_millisecond())
            .unwrap_or(i64::MAX)
    })
}

/// What the first reply of a chat in a closed period starts with: the owner's
/// `closedMessage`, or ours with the next opening.
pub fn closed_notice(
    profile: &StoreProfile,
    status: &OpenStatus,
    tz: &TimeZone,
    now: Timestamp,
) -> String {
    if let Some(message) = profile.closed_message.as_deref() {
        return message.to_owned();
    }
    match status.opens_at {
        Some(at) => format!("Estamos fechados agora; abrimos {}.", when(tz, now, at)),
        None => "Estamos fechados agora.".to_owned(),
    }
}

/// One line for the system prompt and the offline answers: open or closed and until when.
pub fn describe(status: Option<&OpenStatus>, tz: &TimeZone, now: Timestamp) -> String {
    match status {
        None => "horário de funcionamento não cadastrado".to_owned(),
        Some(s) if s.open => match s.closes_at {
            Some(at) => format!("aberta agora, fecha {}", when(tz, now, at)),
            None => "aberta agora".to_owned(),
        },
        Some(s) => match s.opens_at {
            Some(at) => format!("fechada agora, abre {}", when(tz, now, at)),
            None => "fechada agora, sem abertura prevista nos próximos dias".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile::Interval;

    fn profile() -> StoreProfile {
        let mut p = StoreProfile::default();
        let shift = |open: &str, close: &str| Interval {
            open: open.into(),
            close: close.into(),
        };
        p.hours.weekly.fri = vec![shift("11:30", "14:00"), shift("18:00", "02:00")];
        p.hours.weekly.sat = vec![shift("18:00", "23:00")];
        p
    }

    /// 2026-11-27 is a Friday; São Paulo is UTC-3 all year.
    fn at(local: &str) -> Timestamp {
        local
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(zone("America/Sao_Paulo"))
            .unwrap()
            .timestamp()
    }

    #[test]
    fn next_openings_read_like_a_person_says_them() {
        let tz = zone("America/Sao_Paulo");
        let p = profile();
        let now = at("2026-11-27T15:00");
        let s = status(&p, &tz, now).unwrap();
        assert!(!s.open);
        assert_eq!(
            closed_notice(&p, &s, &tz, now),
            "Estamos fechados agora; abrimos hoje às 18h."
        );
        assert_eq!(
            describe(Some(&s), &tz, now),
            "fechada agora, abre hoje às 18h"
        );
        let late = at("2026-11-28T01:00");
        let s = status(&p, &tz, late).unwrap();
        assert!(s.open, "Friday's shift runs past midnight");
        assert_eq!(
            describe(Some(&s), &tz, late),
            "aberta agora, fecha hoje às 2h"
        );
        let after = at("2026-11-28T23:30");
        let s = status(&p, &tz, after).unwrap();
        assert_eq!(
            closed_notice(&p, &s, &tz, after),
            "Estamos fechados agora; abrimos sexta-feira (04/12) às 11h30."
        );
        assert_eq!(
            when(&tz, at("2026-11-27T15:00"), at("2026-11-28T18:00")),
            "amanhã às 18h"
        );
        assert_eq!(today_hours(&p, &tz, now), ["11:30–14:00", "18:00–02:00"]);
    }

    #[test]
    fn the_owners_message_replaces_ours_and_no_hours_is_no_status() {
        let tz = zone("America/Sao_Paulo");
        let mut p = profile();
        p.closed_message = Some("Fechados! Voltamos às 18h.".into());
        let now = at("2026-11-27T15:00");
        let s = status(&p, &tz, now).unwrap();
        assert_eq!(
            closed_notice(&p, &s, &tz, now),
            "Fechados! Voltamos às 18h."
        );
        assert_eq!(
            closed_period(&s),
            Some(at("2026-11-27T18:00").as_millisecond())
        );
        assert_eq!(status(&StoreProfile::default(), &tz, now), None);
        assert_eq!(
            describe(None, &tz, now),
            "horário de funcionamento não cadastrado"
        );
    }
}
