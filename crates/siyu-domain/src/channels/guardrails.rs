//! The guardrails a message passes at the moment it is sent (never at scheduling, so that an
//! unsubscribe or a message sent meanwhile counts): consent for marketing on the channel, the
//! frequency cap, and quiet hours in the workspace's time zone. Marketing messages pass all three;
//! transactional ones (an order confirmation, a verification code — the template says which) pass
//! none of them, as customers expect those at any hour.
//!
//! Consent and the cap **block** (the message is not sent and the log says which guardrail and
//! why); quiet hours **defer** it to the minute they end, never drop it.

use crate::FieldError;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Whether a message is marketing (held to every guardrail) or transactional (held to none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageClass {
    /// Promotions, recalls, greetings: needs marketing consent, counts toward the cap, waits out
    /// quiet hours.
    Marketing,
    /// What the customer asked for or must know (orders, codes, service): always sent at once.
    Transactional,
}

impl MessageClass {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::Marketing => "marketing",
            MessageClass::Transactional => "transactional",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [MessageClass::Marketing, MessageClass::Transactional].into_iter().find(|c| c.as_str() == text)
    }
}

/// What the customer said about marketing on the message's channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentState {
    /// Granted and not withdrawn since.
    Granted,
    /// Withdrawn (unsubscribed).
    Withdrawn,
    /// Never asked, or nothing recorded: no consent under PIPL.
    Unknown,
}

/// The guardrail that held a message back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Guardrail {
    /// No marketing consent on the channel.
    Consent,
    /// The customer had as many marketing messages on the channel as the window allows.
    FrequencyCap,
    /// Inside the workspace's quiet hours.
    QuietHours,
}

/// What to do with a message now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Send it at `until`, not before (checked again then).
    Defer {
        /// When the quiet hours end.
        until: Timestamp,
    },
    /// Do not send it; record why.
    Block {
        /// Which guardrail.
        guardrail: Guardrail,
        /// Why, for the message log and the `Message Blocked` event.
        reason: String,
    },
}

/// The local hours in which no marketing message is sent: from `start` (inclusive) to `end`
/// (exclusive), across midnight when `end` is earlier; `start == end` means none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    start: Time,
    end: Time,
}

impl Default for QuietHours {
    /// 21:00 to 09:00.
    fn default() -> Self {
        Self { start: Time::constant(21, 0, 0, 0), end: Time::constant(9, 0, 0, 0) }
    }
}

/// Reads `HH:MM` (24-hour clock); the error names `field`.
fn parse_minute(field: &str, text: &str) -> Result<Time, FieldError> {
    let bad = || FieldError::new(field, format!("\"{text}\" is not a time of day as HH:MM (00:00 to 23:59)"));
    let (hours, minutes) = text.trim().split_once(':').ok_or_else(bad)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(bad());
    }
    let hours: i8 = hours.parse().map_err(|_| bad())?;
    let minutes: i8 = minutes.parse().map_err(|_| bad())?;
    Time::new(hours, minutes, 0, 0).map_err(|_| bad())
}

impl QuietHours {
    /// Quiet hours from `start` to `end`, each `HH:MM`; errors name `quiet_hours.start` or
    /// `quiet_hours.end`.
    pub fn parse(start: &str, end: &str) -> Result<Self, Vec<FieldError>> {
        let start = parse_minute("quiet_hours.start", start);
        let end = parse_minute("quiet_hours.end", end);
        match (start, end) {
            (Ok(start), Ok(end)) => Ok(Self { start, end }),
            (start, end) => Err([start.err(), end.err()].into_iter().flatten().collect()),
        }
    }

    /// No quiet hours.
    pub fn none() -> Self {
        Self { start: Time::midnight(), end: Time::midnight() }
    }

    /// Whether local time `time` is inside the quiet hours.
    fn contains(&self, time: Time) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// Returns `at` when it lies outside the quiet hours in `tz`, else the instant they end (the
    /// first minute after, at the local time `end` of that day or the next; where a clock change
    /// skips that local time, the first instant after the gap).
    pub fn next_allowed(&self, at: Timestamp, tz: &TimeZone) -> Timestamp {
        let local = at.to_zoned(tz.clone());
        if !self.contains(local.time()) {
            return at;
        }
        let mut day = local.date();
        loop {
            let end = day.to_datetime(self.end).to_zoned(tz.clone()).map(|z| z.timestamp());
            match end {
                Ok(end) if end > at => return end,
                _ => match day.tomorrow() {
                    Ok(next) => day = next,
                    Err(_) => return at,
                },
            }
        }
    }
}

/// At most `max` marketing messages per customer and channel in any `window`, counted over every
/// journey and broadcast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrequencyCap {
    max: u32,
    window: SignedDuration,
}

impl Default for FrequencyCap {
    /// 2 per 7 days.
    fn default() -> Self {
        Self { max: 2, window: SignedDuration::from_hours(7 * 24) }
    }
}

impl FrequencyCap {
    /// The longest window a cap may have.
    pub const MAX_WINDOW_DAYS: u32 = 90;

    /// At most `max` (0 to 1,000) messages in `days` days (1 to 90); errors name
    /// `frequency_cap.max` or `frequency_cap.days`.
    pub fn new(max: u32, days: u32) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if max > 1_000 {
            errors.push(FieldError::new("frequency_cap.max", "must be between 0 and 1000"));
        }
        if !(1..=Self::MAX_WINDOW_DAYS).contains(&days) {
            errors.push(FieldError::new(
                "frequency_cap.days",
                format!("must be between 1 and {}", Self::MAX_WINDOW_DAYS),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self { max, window: SignedDuration::from_hours(24 * i64::from(days)) })
    }

    /// The most messages in a window.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// How far back sends count.
    pub fn window(&self) -> SignedDuration {
        self.window
    }

    /// Counts the sends in `sent` that lie in the window ending at `at` (later than `at` minus the
    /// window, not after `at`).
    fn count(&self, sent: &[Timestamp], at: Timestamp) -> usize {
        let since = at.checked_sub(self.window).unwrap_or(Timestamp::MIN);
        sent.iter().filter(|t| **t > since && **t <= at).count()
    }
}

/// A workspace's guardrails.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Guardrails {
    /// Quiet hours, in the workspace's time zone.
    pub quiet_hours: QuietHours,
    /// The frequency cap.
    pub frequency_cap: FrequencyCap,
}

impl Guardrails {
    /// Decides a message of `class` on `channel` (named in reasons) at `at`: for marketing, blocks
    /// without consent or once `recent_marketing` (the customer's marketing sends on the channel)
    /// fills the cap, and defers inside quiet hours in `tz`; transactional messages are sent.
    pub fn check(
        &self,
        class: MessageClass,
        channel: &str,
        consent: ConsentState,
        recent_marketing: &[Timestamp],
        at: Timestamp,
        tz: &TimeZone,
    ) -> Verdict {
        if class == MessageClass::Transactional {
            return Verdict::Send;
        }
        match consent {
            ConsentState::Granted => {}
            ConsentState::Withdrawn => {
                return Verdict::Block {
                    guardrail: Guardrail::Consent,
                    reason: format!("the customer withdrew marketing consent on {channel}"),
                };
            }
            ConsentState::Unknown => {
                return Verdict::Block {
                    guardrail: Guardrail::Consent,
                    reason: format!("the customer has not given marketing consent on {channel}"),
                };
            }
        }
        let cap = &self.frequency_cap;
        let count = cap.count(recent_marketing, at);
        if count >= cap.max as usize {
            return Verdict::Block {
                guardrail: Guardrail::FrequencyCap,
                reason: format!(
                    "{count} marketing messages on {channel} in the last {} days (at most {})",
                    cap.window.as_hours() / 24,
                    cap.max
                ),
            };
        }
        match self.quiet_hours.next_allowed(at, tz) {
            until if until == at => Verdict::Send,
            until => Verdict::Defer { until },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    /// The instant of a local time in `tz`.
    fn local(text: &str, tz: &TimeZone) -> Timestamp {
        text.parse::<jiff::civil::DateTime>().unwrap().to_zoned(tz.clone()).unwrap().timestamp()
    }

    #[test]
    fn quiet_hours_across_midnight_defer_to_the_morning() {
        let (quiet, tz) = (QuietHours::default(), shanghai());
        let at = |t: &str| local(t, &tz);
        assert_eq!(quiet.next_allowed(at("2026-12-02T20:59:59"), &tz), at("2026-12-02T20:59:59"));
        assert_eq!(quiet.next_allowed(at("2026-12-02T21:00:00"), &tz), at("2026-12-03T09:00:00"));
        assert_eq!(quiet.next_allowed(at("2026-12-02T23:30:00"), &tz), at("2026-12-03T09:00:00"));
        assert_eq!(quiet.next_allowed(at("2026-12-03T03:00:00"), &tz), at("2026-12-03T09:00:00"));
        assert_eq!(quiet.next_allowed(at("2026-12-03T08:59:59"), &tz), at("2026-12-03T09:00:00"));
        assert_eq!(quiet.next_allowed(at("2026-12-03T09:00:00"), &tz), at("2026-12-03T09:00:00"));
        // The same instant in another workspace's zone is another local hour.
        let london = TimeZone::get("Europe/London").unwrap();
        assert_eq!(quiet.next_allowed(at("2026-12-02T21:30:00"), &london), at("2026-12-02T21:30:00"));
    }

    #[test]
    fn quiet_hours_within_a_day_and_none_at_all() {
        let tz = shanghai();
        let at = |t: &str| local(t, &tz);
        let lunch = QuietHours::parse("12:00", "13:30").unwrap();
        assert_eq!(lunch.next_allowed(at("2026-12-02T12:10:00"), &tz), at("2026-12-02T13:30:00"));
        assert_eq!(lunch.next_allowed(at("2026-12-02T13:30:00"), &tz), at("2026-12-02T13:30:00"));
        assert_eq!(lunch.next_allowed(at("2026-12-02T23:00:00"), &tz), at("2026-12-02T23:00:00"));
        let none = QuietHours::none();
        assert_eq!(none.next_allowed(at("2026-12-02T03:00:00"), &tz), at("2026-12-02T03:00:00"));
    }

    #[test]
    fn a_clock_change_that_skips_the_end_still_ends_the_quiet_hours() {
        // New York springs forward at 02:00 on 2026-03-08: 02:30 does not exist that day.
        let tz = TimeZone::get("America/New_York").unwrap();
        let quiet = QuietHours::parse("23:00", "02:30").unwrap();
        let until = quiet.next_allowed(local("2026-03-08T01:00:00", &tz), &tz);
        assert_eq!(until, local("2026-03-08T03:30:00", &tz), "02:30 is read forward across the gap");
        assert!(until > local("2026-03-08T01:00:00", &tz));
    }

    #[test]
    fn bad_settings_name_their_field() {
        let errors = QuietHours::parse("25:00", "9").unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["quiet_hours.start", "quiet_hours.end"]);
        assert!(QuietHours::parse("21:60", "09:00").is_err());
        assert!(QuietHours::parse("-1:00", "09:00").is_err());
        let errors = FrequencyCap::new(1_001, 0).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["frequency_cap.max", "frequency_cap.days"]);
        assert!(FrequencyCap::new(0, 91).is_err());
        assert_eq!(FrequencyCap::new(2, 7).unwrap(), FrequencyCap::default());
    }

    #[test]
    fn marketing_needs_consent_then_the_cap_then_waits_out_quiet_hours() {
        let (rails, tz) = (Guardrails::default(), shanghai());
        let at = |t: &str| local(t, &tz);
        let noon = at("2026-12-02T12:00:00");
        let check = |consent, recent: &[Timestamp], when| {
            rails.check(MessageClass::Marketing, "wecom", consent, recent, when, &tz)
        };
        assert_eq!(check(ConsentState::Granted, &[], noon), Verdict::Send);
        for (consent, word) in [(ConsentState::Withdrawn, "withdrew"), (ConsentState::Unknown, "has not given")] {
            match check(consent, &[], noon) {
                Verdict::Block { guardrail: Guardrail::Consent, reason } => assert!(reason.contains(word), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
        // Two in the last seven days fill the default cap; one that left the window does not count.
        let two = [at("2026-11-26T12:00:01"), at("2026-12-01T10:00:00")];
        assert_eq!(
            check(ConsentState::Granted, &two, noon),
            Verdict::Block {
                guardrail: Guardrail::FrequencyCap,
                reason: "2 marketing messages on wecom in the last 7 days (at most 2)".into()
            }
        );
        let aged = [at("2026-11-25T12:00:00"), at("2026-12-01T10:00:00")];
        assert_eq!(check(ConsentState::Granted, &aged, noon), Verdict::Send);
        // Consent and the cap block even at night; with both fine, the night defers.
        assert!(matches!(check(ConsentState::Withdrawn, &[], at("2026-12-02T22:00:00")), Verdict::Block { .. }));
        assert_eq!(
            check(ConsentState::Granted, &aged, at("2026-12-02T22:00:00")),
            Verdict::Defer { until: at("2026-12-03T09:00:00") }
        );
        // A cap of zero allows no marketing at all.
        let closed = Guardrails { frequency_cap: FrequencyCap::new(0, 1).unwrap(), ..Guardrails::default() };
        assert!(matches!(
            closed.check(MessageClass::Marketing, "sms", ConsentState::Granted, &[], noon, &tz),
            Verdict::Block { guardrail: Guardrail::FrequencyCap, .. }
        ));
    }

    #[test]
    fn transactional_messages_pass_every_guardrail() {
        let (rails, tz) = (Guardrails::default(), shanghai());
        let night = local("2026-12-02T23:00:00", &tz);
        let many = [night; 10];
        assert_eq!(
            rails.check(MessageClass::Transactional, "sms", ConsentState::Withdrawn, &many, night, &tz),
            Verdict::Send
        );
    }
}
