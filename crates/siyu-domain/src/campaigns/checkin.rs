//! Daily check-in (签到): an activity customers check in to once a day, by the workspace's local
//! day; consecutive days make a streak, a make-up card (补签卡) fills a missed day, and a streak
//! reaching a milestone gives its reward (a coupon, lottery draws) once. This module holds the
//! activity's definition and checks, and the streak arithmetic.

use super::input;
use crate::FieldError;
use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most milestones an activity has.
pub const MAX_MILESTONES: usize = 20;
/// The longest activity, in days (a streak is counted over at most this many days).
pub const MAX_DAYS: i64 = 366;
/// The most make-up cards a customer may use in one activity.
pub const MAX_MAKEUP_CARDS: i64 = 30;
/// How far back a make-up card reaches at most, in days.
pub const MAX_MAKEUP_DAYS: i64 = 30;

/// A streak's reward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// Consecutive days that reach it (2 to 366).
    pub streak: i64,
    /// A coupon template to give one coupon of.
    #[serde(default)]
    pub coupon_template: Option<i64>,
    /// A lottery to give extra draws in.
    #[serde(default)]
    pub lottery: Option<i64>,
    /// How many draws (1 to 100; 1 unless set, with `lottery`).
    #[serde(default)]
    pub chances: Option<i64>,
}

/// A check-in activity to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinInput {
    /// Its name.
    pub name: String,
    /// Opens (RFC 3339 with an offset).
    pub starts_at: String,
    /// Closes (at most 366 days after it opens).
    pub ends_at: String,
    /// Streak rewards.
    #[serde(default)]
    pub milestones: Vec<Milestone>,
    /// Make-up cards each customer may use (0 to 30; none unless set).
    #[serde(default)]
    pub makeup_cards: i64,
    /// How many days back a make-up card reaches (1 to 30; 7 unless set).
    #[serde(default)]
    pub makeup_days: Option<i64>,
    /// The rules as shown to customers (plain text).
    #[serde(default)]
    pub rules: Option<String>,
}

/// A check-in activity as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckin {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Opens.
    pub starts_at: jiff::Timestamp,
    /// Closes.
    pub ends_at: jiff::Timestamp,
    /// Streak rewards, by streak.
    pub milestones: Vec<Milestone>,
    /// Make-up cards per customer.
    pub makeup_cards: i64,
    /// How far back a make-up card reaches, in days.
    pub makeup_days: i64,
    /// Rules text.
    pub rules: String,
    /// Created.
    pub created_at: jiff::Timestamp,
}

impl CheckinInput {
    /// Checks every field; returns the activity to store. Which coupon templates and lotteries
    /// exist is the service's check.
    pub fn into_checkin(self, now: jiff::Timestamp) -> Result<StoredCheckin, DomainError> {
        let mut errors = Vec::new();
        let name = input::text("name", &self.name, 200, false, &mut errors);
        let longest = jiff::SignedDuration::from_hours(24 * MAX_DAYS);
        let window = input::window(&self.starts_at, &self.ends_at, now, Some(longest), &mut errors);
        if self.milestones.len() > MAX_MILESTONES {
            errors.push(FieldError::new("milestones", format!("must hold at most {MAX_MILESTONES} milestones")));
        }
        let mut streaks = std::collections::BTreeSet::new();
        for (i, m) in self.milestones.iter().enumerate() {
            if !(2..=MAX_DAYS).contains(&m.streak) {
                errors.push(FieldError::new(format!("milestones[{i}].streak"), format!("must be 2 to {MAX_DAYS}")));
            } else if !streaks.insert(m.streak) {
                errors.push(FieldError::new(format!("milestones[{i}].streak"), "is used twice"));
            }
            if m.coupon_template.is_none() && m.lottery.is_none() {
                errors.push(FieldError::new(
                    format!("milestones[{i}]"),
                    "gives nothing: name a coupon_template or a lottery",
                ));
            }
            if m.chances.is_some() && m.lottery.is_none() {
                errors.push(FieldError::new(format!("milestones[{i}].chances"), "needs a lottery"));
            }
            if m.chances.is_some_and(|n| !(1..=100).contains(&n)) {
                errors.push(FieldError::new(format!("milestones[{i}].chances"), "must be 1 to 100"));
            }
        }
        if !(0..=MAX_MAKEUP_CARDS).contains(&self.makeup_cards) {
            errors.push(FieldError::new("makeup_cards", format!("must be 0 to {MAX_MAKEUP_CARDS}")));
        }
        let makeup_days = self.makeup_days.unwrap_or(7);
        if !(1..=MAX_MAKEUP_DAYS).contains(&makeup_days) {
            errors.push(FieldError::new("makeup_days", format!("must be 1 to {MAX_MAKEUP_DAYS}")));
        }
        let rules = self.rules.unwrap_or_default();
        if rules.chars().count() > 5_000 {
            errors.push(FieldError::new("rules", "must be at most 5000 characters"));
        }
        let (Some((starts_at, ends_at)), true) = (window, errors.is_empty()) else {
            return Err(DomainError::Invalid(errors));
        };
        let mut milestones = self.milestones;
        milestones.sort_by_key(|m| m.streak);
        for m in &mut milestones {
            if m.lottery.is_some() {
                m.chances = Some(m.chances.unwrap_or(1));
            }
        }
        Ok(StoredCheckin {
            id: 0,
            name,
            starts_at,
            ends_at,
            milestones,
            makeup_cards: self.makeup_cards,
            makeup_days,
            rules,
            created_at: now,
        })
    }
}

/// A date's day number: days since 1970-01-01.
pub fn day_number(date: jiff::civil::Date) -> i64 {
    let epoch = jiff::civil::date(1970, 1, 1);
    i64::from(date.since((jiff::Unit::Day, epoch)).map_or(0, |span| span.get_days()))
}

/// The date of a day number.
pub fn date_of(day: i64) -> jiff::civil::Date {
    let epoch = jiff::civil::date(1970, 1, 1);
    epoch.checked_add(jiff::Span::new().days(day)).unwrap_or(epoch)
}

/// The streak standing on `today`: the run of consecutive days that ends today, or yesterday when
/// today has no check-in yet (the streak is still alive until today ends). `days` are the
/// customer's check-in days, newest first, without repeats.
pub fn current_streak(days: &[i64], today: i64) -> i64 {
    let Some(&newest) = days.first() else { return 0 };
    if newest != today && newest != today - 1 {
        return 0;
    }
    let mut streak = 1;
    for pair in days.windows(2) {
        if pair[0] - pair[1] != 1 {
            break;
        }
        streak += 1;
    }
    streak
}

/// The longest run of consecutive days among `days` (newest first, without repeats).
pub fn best_streak(days: &[i64]) -> i64 {
    let (mut best, mut run) = (0, 0);
    let mut previous: Option<i64> = None;
    for day in days {
        run = if previous.is_some_and(|p| p - day == 1) { run + 1 } else { 1 };
        best = best.max(run);
        previous = Some(*day);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_are_days_since_1970() {
        assert_eq!(day_number(jiff::civil::date(1970, 1, 2)), 1);
        let day = day_number(jiff::civil::date(2026, 12, 4));
        assert_eq!(date_of(day), jiff::civil::date(2026, 12, 4));
    }

    #[test]
    fn a_streak_runs_back_from_today_or_yesterday() {
        assert_eq!(current_streak(&[], 100), 0);
        assert_eq!(current_streak(&[100, 99, 98, 96], 100), 3);
        assert_eq!(current_streak(&[99, 98], 100), 2, "alive until today ends");
        assert_eq!(current_streak(&[98, 97], 100), 0, "a missed day ends it");
        assert_eq!(best_streak(&[100, 99, 98, 96, 95, 94, 93]), 4);
        assert_eq!(best_streak(&[]), 0);
    }

    #[test]
    fn every_bad_field_is_named() {
        let input: CheckinInput = serde_json::from_value(serde_json::json!({
            "name": "", "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2028-12-01T00:00:00Z",
            "milestones": [{"streak": 1, "coupon_template": 3}, {"streak": 7}, {"streak": 7, "lottery": 2, "chances": 0}],
            "makeup_cards": 31, "makeup_days": 0,
        }))
        .unwrap();
        let now = "2026-11-01T00:00:00Z".parse().unwrap();
        let Err(DomainError::Invalid(errors)) = input.into_checkin(now) else { panic!("accepted") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "ends_at",
                "milestones[0].streak",
                "milestones[1]",
                "milestones[2].streak",
                "milestones[2].chances",
                "makeup_cards",
                "makeup_days"
            ]
        );
    }
}
