//! Scheduled triggers, fired by the `journeys.schedule` worker: a broadcast enters a segment's
//! members at a moment or on a cron schedule, an anniversary enters the customers whose date trait
//! falls on the day, at a local time — both in the workspace's time zone.
//!
//! Each round looks at every active journey with such a trigger and fires its latest occurrence
//! that has come, unless that occurrence already fired: an occurrence is recorded once fired
//! (`journey_firings`) and its entries are keyed by it (`schedule:<unix seconds>`), so a round
//! repeated after a crash, or run by two processes at once, enters nobody twice. Occurrences are
//! not fired late without bound: one more than [`CATCH_UP`] old, or from before the journey was
//! last published or resumed, is skipped.

use super::definition::Trigger;
use super::service::{Journeys, Live};
use super::store::NewEntry;
use crate::customers::PII_TRAITS;
use crate::customers::store::CustomerFilter;
use crate::error::DomainResult;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};
use serde_json::Value;
use siyu_core::{CustomerId, PageRequest, WorkspaceId};
use std::str::FromStr;
use std::sync::Arc;

/// The oldest occurrence still fired late (after a stop, say).
pub const CATCH_UP: SignedDuration = SignedDuration::from_hours(24);
/// The longest the worker sleeps, so that a journey published by another process is seen.
pub const MAX_SLEEP: SignedDuration = SignedDuration::from_secs(60);

/// Parses a broadcast's cron schedule: five fields (minute, hour, day of month, month, day of
/// week) or a nickname (`@daily`, `@weekly`, …); the reason otherwise.
pub fn parse_cron(text: &str) -> Result<croner::Cron, String> {
    let text = text.trim();
    if !text.starts_with('@') && text.split_whitespace().count() != 5 {
        return Err(format!(
            "\"{text}\" is not a cron schedule of five fields (minute hour day-of-month month day-of-week)"
        ));
    }
    croner::Cron::from_str(text).map_err(|e| format!("\"{text}\" is not a cron schedule: {e}"))
}

/// The `HH:MM` of a time of day.
fn time_of_day(text: &str) -> Option<jiff::civil::Time> {
    let (h, m) = text.split_once(':')?;
    jiff::civil::Time::new(h.trim().parse().ok()?, m.trim().parse().ok()?, 0, 0).ok()
}

/// A scheduled trigger's occurrences.
enum Schedule {
    Once(Timestamp),
    Cron(Box<croner::Cron>),
    Daily(jiff::civil::Time),
}

impl Schedule {
    fn of(trigger: &Trigger) -> Option<Self> {
        match trigger {
            Trigger::Broadcast { at: Some(at), .. } => Some(Self::Once(*at)),
            Trigger::Broadcast { cron: Some(cron), .. } => parse_cron(cron).ok().map(|c| Self::Cron(Box::new(c))),
            Trigger::Anniversary { time, .. } => time_of_day(time).map(Self::Daily),
            _ => None,
        }
    }

    /// The latest occurrence after `since` and at or before `now`.
    fn latest(&self, since: Timestamp, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let found = match self {
            Self::Once(at) => Some(*at),
            Self::Cron(cron) => {
                cron.find_previous_occurrence(&now.to_zoned(tz.clone()), true).ok().map(|z| z.timestamp())
            }
            Self::Daily(time) => {
                let today = now.to_zoned(tz.clone()).date();
                let at = |date: Date| date.to_datetime(*time).to_zoned(tz.clone()).ok().map(|z| z.timestamp());
                match at(today) {
                    Some(at) if at <= now => Some(at),
                    _ => today.yesterday().ok().and_then(at),
                }
            }
        };
        found.filter(|at| *at > since && *at <= now)
    }

    /// The first occurrence after `now`.
    fn next(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match self {
            Self::Once(at) => Some(*at).filter(|at| *at > now),
            Self::Cron(cron) => cron.find_next_occurrence(&now.to_zoned(tz.clone()), false).ok().map(|z| z.timestamp()),
            Self::Daily(time) => {
                let today = now.to_zoned(tz.clone()).date();
                [Some(today), today.tomorrow().ok()].into_iter().flatten().find_map(|date| {
                    let at = date.to_datetime(*time).to_zoned(tz.clone()).ok()?.timestamp();
                    (at > now).then_some(at)
                })
            }
        }
    }
}

/// The date a trait value holds (`YYYY-MM-DD`, or an RFC 3339 time's date in `tz`).
fn date_of(value: &Value, tz: &TimeZone) -> Option<Date> {
    let text = value.as_str()?.trim();
    if let Ok(date) = Date::from_str(text.get(..10)?)
        && text.len() == 10
    {
        return Some(date);
    }
    text.parse::<Timestamp>().ok().map(|at| at.to_zoned(tz.clone()).date())
}

/// Whether `date`'s anniversary falls on `day` (29 February's falls on 28 February in years
/// without one).
fn anniversary_on(date: Date, day: Date) -> bool {
    if date.month() == 2 && date.day() == 29 && !day.in_leap_year() {
        return day.month() == 2 && day.day() == 28;
    }
    date.month() == day.month() && date.day() == day.day()
}

/// Customers read per page when a sealed trait is searched.
const PAGE: u32 = 1_000;

impl Journeys {
    /// The customers whose sealed trait `key` (a birthday) passes `on_the_day`: every profile of
    /// the workspace opened a page at a time (the trait is sealed at rest, so no index holds it;
    /// this runs once a day per journey, in the worker).
    async fn sealed_anniversaries(
        &self,
        ws: WorkspaceId,
        key: &str,
        on_the_day: &(dyn Fn(&Value) -> bool + Sync),
    ) -> DomainResult<Vec<CustomerId>> {
        let data_key = self.access.data_key(ws).await?;
        let mut found = Vec::new();
        let mut page = PageRequest { limit: PAGE, after: None };
        loop {
            let listed = self.customers.stores.customers.list(ws, &CustomerFilter::default(), &page).await?;
            for stored in listed.items {
                if !stored.traits.iter().any(|t| t.key == key) {
                    continue;
                }
                let view = self.customers.open_customer(&data_key, stored, true)?;
                if view.traits.get(key).is_some_and(|t| on_the_day(&t.value)) {
                    found.push(view.id);
                }
            }
            match listed.next_after {
                Some(after) => page.after = Some(after),
                None => return Ok(found),
            }
        }
    }

    /// Fires every active journey's scheduled trigger whose occurrence has come (once per
    /// occurrence); returns when the next occurrence comes (at most [`MAX_SLEEP`] from now).
    pub async fn fire_schedules(&self) -> DomainResult<Timestamp> {
        let now = self.access.now();
        let live: Vec<(WorkspaceId, Arc<Vec<Live>>)> =
            self.live.lock().expect("live journeys").iter().map(|(ws, live)| (*ws, live.clone())).collect();
        let mut next = now.checked_add(MAX_SLEEP).unwrap_or(now);
        for (ws, journeys) in live {
            let mut tz = None;
            for journey in journeys.iter() {
                let Some(schedule) = Schedule::of(&journey.definition.trigger) else { continue };
                let tz = match &tz {
                    Some(tz) => tz,
                    None => tz.insert(self.access.time_zone(ws).await?),
                };
                let since = journey.since.max(now.checked_sub(CATCH_UP).unwrap_or(now));
                if let Some(occurrence) = schedule.latest(since, now, tz)
                    && !self.store.fired(ws, journey.id, occurrence).await?
                {
                    let entered = self.fire(ws, journey, occurrence, tz).await?;
                    self.store.note_fired(ws, journey.id, occurrence, entered as u64, now).await?;
                    tracing::info!(workspace = ws.0, journey = journey.id, %occurrence, entered, "scheduled trigger fired");
                }
                if let Some(at) = schedule.next(now, tz) {
                    next = next.min(at);
                }
            }
        }
        Ok(next)
    }

    /// Enters the customers an occurrence names; returns how many entered.
    async fn fire(&self, ws: WorkspaceId, journey: &Live, occurrence: Timestamp, tz: &TimeZone) -> DomainResult<usize> {
        let customers: Vec<CustomerId> = match &journey.definition.trigger {
            Trigger::Broadcast { segment, .. } => {
                let (_, definitions) = self.segments.segment_definitions(ws).await?;
                let (members, _) = self.segments.current_members(ws, segment, &definitions).await?;
                members.iter().filter_map(|c| i64::try_from(c).ok()).map(CustomerId).collect()
            }
            Trigger::Anniversary { key, .. } => {
                let day = Zoned::new(occurrence, tz.clone()).date();
                let on_the_day = |value: &Value| date_of(value, tz).is_some_and(|date| anniversary_on(date, day));
                if PII_TRAITS.contains(&key.as_str()) {
                    self.sealed_anniversaries(ws, key, &on_the_day).await?
                } else {
                    let facts = self.segments.profile_facts(ws).await?;
                    let Some(column) = facts.traits.get(key) else { return Ok(0) };
                    column
                        .entries()
                        .filter(|(_, value)| on_the_day(value))
                        .filter_map(|(customer, _)| i64::try_from(*customer).ok())
                        .map(CustomerId)
                        .collect()
                }
            }
            _ => return Ok(0),
        };
        let trigger_key = format!("schedule:{}", occurrence.as_second());
        let entries: Vec<NewEntry> = customers
            .into_iter()
            .map(|customer| NewEntry { customer, trigger_key: trigger_key.clone(), start_at: None })
            .collect();
        self.enter(ws, journey.id, &journey.definition, &entries).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn occurrences_come_in_the_workspaces_zone() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        // Mondays at 10:00 in Shanghai: 02:00 UTC.
        let weekly = Schedule::Cron(Box::new(parse_cron("0 10 * * MON").unwrap()));
        let monday = at("2026-12-07T02:00:00Z");
        assert_eq!(weekly.next(at("2026-12-03T00:00:00Z"), &shanghai), Some(monday));
        assert_eq!(weekly.latest(at("2026-12-01T00:00:00Z"), at("2026-12-07T02:00:30Z"), &shanghai), Some(monday));
        assert_eq!(weekly.latest(monday, at("2026-12-07T03:00:00Z"), &shanghai), None, "not after since");
        let daily = Schedule::Daily(time_of_day("09:00").unwrap());
        assert_eq!(
            daily.latest(at("2026-12-01T00:00:00Z"), at("2026-12-03T00:30:00Z"), &shanghai),
            Some(at("2026-12-02T01:00:00Z"))
        );
        assert_eq!(
            daily.latest(at("2026-12-01T00:00:00Z"), at("2026-12-03T01:00:00Z"), &shanghai),
            Some(at("2026-12-03T01:00:00Z"))
        );
        assert_eq!(daily.next(at("2026-12-03T01:00:00Z"), &shanghai), Some(at("2026-12-04T01:00:00Z")));
        let once = Schedule::Once(at("2026-12-24T12:00:00Z"));
        assert_eq!(once.latest(at("2026-12-01T00:00:00Z"), at("2026-12-24T11:59:59Z"), &shanghai), None);
        assert_eq!(once.next(at("2026-12-24T11:59:59Z"), &shanghai), Some(at("2026-12-24T12:00:00Z")));
    }

    #[test]
    fn schedules_and_dates_are_read_or_refused() {
        assert!(parse_cron("0 9 * * *").is_ok() && parse_cron("@daily").is_ok());
        assert!(parse_cron("0 0 9 * * *").unwrap_err().contains("five fields"));
        assert!(parse_cron("61 9 * * *").is_err());
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        assert_eq!(date_of(&Value::from("1990-02-28"), &tz), Some(jiff::civil::date(1990, 2, 28)));
        assert_eq!(date_of(&Value::from("1990-02-27T20:00:00Z"), &tz), Some(jiff::civil::date(1990, 2, 28)));
        assert_eq!(date_of(&Value::from("someday"), &tz), None);
        assert_eq!(date_of(&Value::from(19900228), &tz), None);
        let leap = jiff::civil::date(2000, 2, 29);
        assert!(anniversary_on(leap, jiff::civil::date(2027, 2, 28)));
        assert!(!anniversary_on(leap, jiff::civil::date(2028, 2, 28)));
        assert!(anniversary_on(leap, jiff::civil::date(2028, 2, 29)));
    }
}
