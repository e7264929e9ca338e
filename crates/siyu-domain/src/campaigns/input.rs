//! The checks every activity's input shares: its texts, and the window it runs in.

use crate::FieldError;

/// A text trimmed, if it is 1 to `max` characters without control characters (line breaks too
/// when `lines`); otherwise the problem is added under `field`.
pub(crate) fn text(field: &str, value: &str, max: usize, lines: bool, errors: &mut Vec<FieldError>) -> String {
    let value = value.trim();
    let control = |c: char| c.is_control() && !(lines && c == '\n');
    if value.is_empty() || value.chars().count() > max || value.chars().any(control) {
        errors.push(FieldError::new(field, format!("must be 1 to {max} characters without control characters")));
    }
    value.to_string()
}

fn instant(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<jiff::Timestamp> {
    let parsed = value.parse::<jiff::Timestamp>().ok();
    if parsed.is_none() {
        let shown: String = value.chars().take(60).collect();
        errors.push(FieldError::new(field, format!("\"{shown}\" is not an RFC 3339 instant with an offset")));
    }
    parsed
}

/// An activity's window from `starts_at` and `ends_at` (RFC 3339 with an offset): the end after
/// the start, at most `longest` after it when given, and not past at `now`. The instants are given
/// when both read (the problems, if any, are added to `errors`).
pub(crate) fn window(
    starts_at: &str,
    ends_at: &str,
    now: jiff::Timestamp,
    longest: Option<jiff::SignedDuration>,
    errors: &mut Vec<FieldError>,
) -> Option<(jiff::Timestamp, jiff::Timestamp)> {
    let start = instant("starts_at", starts_at, errors);
    let end = instant("ends_at", ends_at, errors);
    let (start, end) = (start?, end?);
    if end <= start {
        errors.push(FieldError::new("ends_at", "must be after starts_at"));
    } else if let Some(longest) = longest.filter(|l| end.duration_since(start) > *l) {
        let days = longest.as_hours() / 24;
        errors.push(FieldError::new("ends_at", format!("must be at most {days} days after starts_at")));
    } else if end <= now {
        errors.push(FieldError::new("ends_at", "is in the past"));
    }
    Some((start, end))
}
