//! The `since` bound operators give (`dlq list --since`, the deprovision report's window).

use chrono::{DateTime, Utc};

/// A `since` bound: an RFC 3339 time, or a duration before `now` such as `30d`, `2h`,
/// `15m` or `1h 30m` (humantime units; `d` is a day).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago = humantime::parse_duration(text).map_err(|error| {
        format!(
            "`{text}` is neither an RFC 3339 time nor a duration such as 30d, 2h or 15m ({error})"
        )
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|_| format!("`{text}` is too long ago"))?;
    now.checked_sub_signed(ago)
        .ok_or_else(|| format!("`{text}` is too long ago"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn dead_letter_since_takes_an_rfc3339_time_or_a_duration_ago() {
        let at = |text: &str| parse_since(text, now()).unwrap().to_rfc3339();
        assert_eq!(at("2026-03-01T08:00:00+01:00"), "2026-03-01T07:00:00+00:00");
        assert_eq!(at("30d"), "2026-02-08T12:00:00+00:00");
        assert_eq!(at("2h"), "2026-03-10T10:00:00+00:00");
        assert_eq!(at("15m"), "2026-03-10T11:45:00+00:00");
        assert_eq!(at("1h 30m"), "2026-03-10T10:30:00+00:00");
        assert!(parse_since("yesterday", now()).is_err());
        assert!(parse_since("", now()).is_err());
    }
}
