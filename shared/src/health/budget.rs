//! The monthly AI budget of a store (`aiBudgetMicros` on its profile, else the platform's
//! default): past 80 % the owner is alerted; past 100 % the attendant answers with the
//! fallback model if one is configured, else with the offline notice, until the month
//! turns (the spend is kept per month) or the budget is raised.

/// How the attendant answers given the month's spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Within budget (or no budget): the configured model.
    Normal,
    /// The budget is spent: the fallback model, or the offline notice without one.
    Spent,
}

/// The mode for `used` micro-dollars against `budget`.
pub fn mode(budget: Option<i64>, used: i64) -> Mode {
    match budget {
        Some(budget) if used >= budget => Mode::Spent,
        _ => Mode::Normal,
    }
}

/// The incident of crossing `percent` of `budget` in `month` (`YYYY-MM`): one per
/// threshold, budget and month, so a budget raised within the month alerts again when
/// the spend crosses its new lines.
pub fn incident_id(percent: u8, budget: i64, month: &str) -> String {
    format!("budget{percent}-{budget}-{month}")
}

/// `(percent, budget, month)` of a budget incident's id; `None` for any other id (an
/// id of the older `budget<percent>-<month>` form included).
pub fn parse_incident_id(id: &str) -> Option<(u8, i64, &str)> {
    let mut parts = id.strip_prefix("budget")?.splitn(3, '-');
    let percent = parts.next()?.parse().ok()?;
    let budget = parts.next()?.parse().ok()?;
    let month = parts
        .next()
        .filter(|m| m.len() == 7 && m.as_bytes()[4] == b'-')?;
    Some((percent, budget, month))
}

/// The thresholds (80, 100 percent) a turn crossed by spending from `before` to `after`.
pub fn crossed(budget: Option<i64>, before: i64, after: i64) -> Vec<u8> {
    let Some(budget) = budget else {
        return Vec::new();
    };
    [80u8, 100]
        .into_iter()
        .filter(|p| {
            let line = budget as i128 * i128::from(*p) / 100;
            (before as i128) < line && (after as i128) >= line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_crossed_once() {
        let budget = Some(1_000_000);
        assert_eq!(crossed(budget, 0, 799_999), Vec::<u8>::new());
        assert_eq!(crossed(budget, 799_999, 800_000), vec![80]);
        assert_eq!(crossed(budget, 800_000, 900_000), Vec::<u8>::new());
        assert_eq!(crossed(budget, 700_000, 1_200_000), vec![80, 100]);
        assert_eq!(crossed(None, 0, 10), Vec::<u8>::new());
        assert_eq!(mode(budget, 999_999), Mode::Normal);
        assert_eq!(mode(budget, 1_000_000), Mode::Spent);
        assert_eq!(mode(None, 5), Mode::Normal);
        // A budget of zero: every turn is past it.
        assert_eq!(mode(Some(0), 0), Mode::Spent);
    }

    #[test]
    fn incident_ids_read_back() {
        let id = incident_id(80, 1_000_000, "2026-12");
        assert_eq!(id, "budget80-1000000-2026-12");
        assert_eq!(parse_incident_id(&id), Some((80, 1_000_000, "2026-12")));
        assert_eq!(parse_incident_id("slot2"), None);
        assert_eq!(parse_incident_id("budget80-2026-12"), None);
    }
}
