//! Analytics answers over a workspace's event index: event names resolved with errors that name
//! the parameter, and results shaped for the API, the CLI and the console.

use crate::error::{DomainError, DomainResult, FieldError};
use siyu_analytics::funnel::{FunnelQuery, funnel};
use siyu_analytics::retention::{RetentionQuery, retention};
use siyu_analytics::{Calendar, EventNames, Granularity, Index, QueryError, rfm};

/// A workspace's events, indexed for analytics.
#[derive(Clone, Debug, Default)]
pub struct EventIndex {
    /// Event names and their ids.
    pub names: EventNames,
    /// The events, by customer and time.
    pub columns: Index,
    /// Events left out because their workspace already had 65,536 other event names.
    pub unindexed_events: u64,
}

/// One funnel step's answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FunnelStepAnswer {
    /// Step number, from 1.
    pub step: usize,
    /// The step's event.
    pub event: String,
    /// Customers who reached at least this step.
    pub customers: u64,
    /// Share of step 1's customers (1 for step 1; 0 when step 1 is empty).
    pub conversion_rate: f64,
    /// Share of the previous step's customers.
    pub step_conversion_rate: f64,
    /// Median seconds from step 1 to this step, among those who reached it.
    pub median_seconds_to_convert: Option<f64>,
}

/// A funnel's answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FunnelAnswer {
    /// The conversion window, seconds.
    pub window_seconds: i64,
    /// Steps in order.
    pub steps: Vec<FunnelStepAnswer>,
}

/// One retention cell.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RetentionRow {
    /// First local day of the cohort's bucket (ISO date; a Monday for weeks).
    pub cohort: String,
    /// Buckets since the cohort's.
    pub period: i64,
    /// Customers of the cohort counted in the period.
    pub customers: u64,
    /// Share of the cohort.
    pub rate: f64,
}

/// A retention matrix.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RetentionAnswer {
    /// `day`, `week` or `month`.
    pub period: String,
    /// The time zone of the buckets.
    pub tz: String,
    /// Non-empty cells, by cohort then period.
    pub rows: Vec<RetentionRow>,
}

/// Customers with one RFM score triple.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RfmCell {
    /// Recency score 1..5 (5: most recent).
    pub r: u8,
    /// Frequency score 1..5.
    pub f: u8,
    /// Monetary score 1..5.
    pub m: u8,
    /// Customers.
    pub customers: u64,
}

/// RFM scores of a workspace.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RfmAnswer {
    /// Customers with at least one order.
    pub customers: u64,
    /// The instant recency is measured to (RFC 3339).
    pub as_of: Option<String>,
    /// Non-empty score triples, by r, f, m.
    pub cells: Vec<RfmCell>,
}

fn query_error(error: QueryError) -> DomainError {
    match error {
        QueryError::Invalid { field, reason } => DomainError::Invalid(vec![FieldError::new(field, reason)]),
        QueryError::UnknownEvent { field, name } => {
            DomainError::Invalid(vec![FieldError::new(field, format!("unknown event \"{name}\""))])
        }
    }
}

impl EventIndex {
    /// Returns the id of the event `name`, or an error naming `field`.
    pub fn event_id(&self, field: &str, name: &str) -> DomainResult<u16> {
        self.names
            .id(name)
            .ok_or_else(|| query_error(QueryError::UnknownEvent { field: field.into(), name: name.into() }))
    }

    /// Answers a funnel over named steps with a window in seconds.
    pub fn funnel(&self, steps: &[String], window_seconds: i64) -> DomainResult<FunnelAnswer> {
        if steps.len() < 2 {
            return Err(query_error(QueryError::Invalid {
                field: "steps",
                reason: "a funnel needs at least 2 steps".into(),
            }));
        }
        if window_seconds <= 0 {
            return Err(query_error(QueryError::Invalid {
                field: "window",
                reason: "the window must be positive".into(),
            }));
        }
        let ids = steps
            .iter()
            .enumerate()
            .map(|(i, name)| self.event_id(&format!("steps[{i}]"), name))
            .collect::<DomainResult<Vec<u16>>>()?;
        let window_us = window_seconds.saturating_mul(1_000_000);
        let results = funnel(&self.columns, &FunnelQuery { steps: ids, window_us }).map_err(query_error)?;
        let first = results.first().map_or(0, |r| r.customers);
        let mut previous = first;
        let steps = results
            .iter()
            .zip(steps)
            .enumerate()
            .map(|(i, (result, name))| {
                let answer = FunnelStepAnswer {
                    step: i + 1,
                    event: name.clone(),
                    customers: result.customers,
                    conversion_rate: ratio(result.customers, first),
                    step_conversion_rate: ratio(result.customers, previous),
                    median_seconds_to_convert: result.median_us.map(|us| us as f64 / 1e6),
                };
                previous = result.customers;
                answer
            })
            .collect();
        Ok(FunnelAnswer { window_seconds, steps })
    }

    /// Answers a retention matrix in `tz`.
    pub fn retention(
        &self,
        tz: &jiff::tz::TimeZone,
        granularity: Granularity,
        cohort_event: Option<&str>,
        return_event: Option<&str>,
    ) -> DomainResult<RetentionAnswer> {
        let cohort_event = cohort_event.map(|name| self.event_id("cohort_event", name)).transpose()?;
        let return_event = return_event.map(|name| self.event_id("return_event", name)).transpose()?;
        let (from, to) = self.columns.time_range().unwrap_or((0, 0));
        let calendar = Calendar::new(tz.clone(), from, to);
        let cells = retention(&self.columns, &calendar, &RetentionQuery { granularity, cohort_event, return_event });
        let mut cohort_size = 0;
        let rows = cells
            .into_iter()
            .map(|cell| {
                if cell.period == 0 {
                    cohort_size = cell.customers;
                }
                RetentionRow {
                    cohort: calendar.bucket_start(cell.cohort, granularity).to_string(),
                    period: cell.period,
                    customers: cell.customers,
                    rate: ratio(cell.customers, cohort_size),
                }
            })
            .collect();
        let period = match granularity {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        };
        Ok(RetentionAnswer { period: period.into(), tz: tz.iana_name().unwrap_or("UTC").into(), rows })
    }

    /// Answers RFM scores, recency measured to `as_of_us` (default: the latest event).
    pub fn rfm(&self, as_of_us: Option<i64>) -> RfmAnswer {
        let rows = rfm::rfm(&self.columns, as_of_us);
        let as_of = as_of_us
            .or(self.columns.time_range().map(|(_, end)| end))
            .and_then(|us| jiff::Timestamp::from_microsecond(us).ok())
            .map(|t| t.to_string());
        let cells =
            rfm::cells(&rows).into_iter().map(|((r, f, m), customers)| RfmCell { r, f, m, customers }).collect();
        RfmAnswer { customers: rows.len() as u64, as_of, cells }
    }
}

/// Parses a window like `7d`, `12h`, `30m`, `90s`, `2w` or plain seconds into seconds; errors name `window`.
pub fn parse_window(text: &str) -> DomainResult<i64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let bad = || {
        DomainError::Invalid(vec![FieldError::new(
            "window",
            format!("\"{text}\": expected a number followed by w, d, h, m or s"),
        )])
    };
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    let n: i64 = digits.parse().map_err(|_| bad())?;
    Ok(n.saturating_mul(scale))
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_take_units() {
        assert_eq!(parse_window("7d").ok(), Some(604_800));
        assert_eq!(parse_window("90").ok(), Some(90));
        assert_eq!(parse_window("2h").ok(), Some(7_200));
        assert!(parse_window("7y").is_err());
        assert!(parse_window("d").is_err());
    }
}
