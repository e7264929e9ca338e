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

/// One event's series in an event segmentation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SegmentationSeries {
    /// The event.
    pub event: String,
    /// Events per bucket.
    pub counts: Vec<u64>,
    /// Distinct customers per bucket.
    pub customers: Vec<u64>,
    /// Order revenue per bucket (in the currency's main unit; zero unless the event is `Order Completed`).
    pub revenue: Vec<f64>,
}

/// Event segmentation: series per bucket.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SegmentationAnswer {
    /// `day`, `week` or `month`.
    pub period: String,
    /// The time zone of the buckets.
    pub tz: String,
    /// First local day of each bucket (ISO dates).
    pub buckets: Vec<String>,
    /// One series per requested event, in order.
    pub series: Vec<SegmentationSeries>,
}

/// A flow between two steps of a path.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PathLink {
    /// Step of `from` (0: the anchor event).
    pub step: usize,
    /// Event at `step`.
    pub from: String,
    /// Event at `step + 1`.
    pub to: String,
    /// Customers who went this way.
    pub customers: u64,
}

/// Paths from (or to) an event, ready for a Sankey chart.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PathsAnswer {
    /// The anchor event.
    pub event: String,
    /// `next` or `previous`.
    pub direction: String,
    /// Customers who did the anchor event.
    pub customers: u64,
    /// Flows, by step, most frequent first.
    pub links: Vec<PathLink>,
}

/// Workspace KPIs as of one local day.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct KpiAnswer {
    /// The local day the KPIs are for (ISO date).
    pub as_of: String,
    /// The time zone of the days.
    pub tz: String,
    /// Customers active on the day.
    pub dau: u64,
    /// Customers active in the 7 days ending on the day.
    pub wau: u64,
    /// Customers active in the 30 days ending on the day.
    pub mau: u64,
    /// Customers first seen on the day.
    pub new_customers_1d: u64,
    /// Customers first seen in the 7 days ending on the day.
    pub new_customers_7d: u64,
    /// Customers first seen in the 30 days ending on the day.
    pub new_customers_30d: u64,
    /// Share of customers first seen 1 day before who were active on the day (`null` without such customers).
    pub retention_d1: Option<f64>,
    /// Same, 7 days before.
    pub retention_d7: Option<f64>,
    /// Same, 30 days before.
    pub retention_d30: Option<f64>,
    /// Share of buyers with at least two orders (`null` without buyers).
    pub repurchase_rate: Option<f64>,
    /// Order revenue in the 30 days ending on the day.
    pub gmv_30d: f64,
    /// Orders in the 30 days ending on the day.
    pub orders_30d: u64,
    /// GMV of the 30 days per monthly active customer (`null` without any).
    pub arpu_30d: Option<f64>,
    /// `Message Opened` per `Message Sent` (or `Message Delivered`) in the 30 days (`null` when none was sent).
    pub message_open_rate: Option<f64>,
    /// `Coupon Applied` per `Coupon Issued` (or `Coupon Entered`) in the 30 days (`null` when none was issued).
    pub coupon_redemption_rate: Option<f64>,
}

fn granularity_name(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Day => "day",
        Granularity::Week => "week",
        Granularity::Month => "month",
    }
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
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
        Ok(RetentionAnswer {
            period: granularity_name(granularity).into(),
            tz: tz.iana_name().unwrap_or("UTC").into(),
            rows,
        })
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

impl EventIndex {
    /// Answers an event segmentation: per bucket, counts, customers and order revenue of each event,
    /// between the local dates `from` and `to` (default: the data's first and last day).
    pub fn segmentation(
        &self,
        tz: &jiff::tz::TimeZone,
        granularity: Granularity,
        events: &[String],
        from: Option<jiff::civil::Date>,
        to: Option<jiff::civil::Date>,
    ) -> DomainResult<SegmentationAnswer> {
        if events.is_empty() || events.len() > 20 {
            return Err(query_error(QueryError::Invalid { field: "events", reason: "name 1 to 20 events".into() }));
        }
        let ids = events
            .iter()
            .enumerate()
            .map(|(i, name)| self.event_id(&format!("events[{i}]"), name))
            .collect::<DomainResult<Vec<u16>>>()?;
        let (data_from, data_to) = self.columns.time_range().unwrap_or((0, 0));
        let calendar = Calendar::new(tz.clone(), data_from, data_to);
        let local_start = |date: jiff::civil::Date| {
            date.to_zoned(tz.clone()).map(|z| z.timestamp().as_microsecond()).unwrap_or(data_from)
        };
        let first = calendar.bucket(from.map_or(data_from, local_start), granularity);
        let last = calendar.bucket(to.map_or(data_to, local_start), granularity);
        if last < first {
            return Err(query_error(QueryError::Invalid { field: "to", reason: "must not be before from".into() }));
        }
        if last - first >= 1_000 {
            return Err(query_error(QueryError::Invalid {
                field: "period",
                reason: format!("{} buckets are too many; use a coarser period or a shorter range", last - first + 1),
            }));
        }
        let order = self.names.id(crate::events::ORDER_COMPLETED);
        let series =
            siyu_analytics::segmentation::segmentation(&self.columns, &calendar, granularity, &ids, order, first, last);
        Ok(SegmentationAnswer {
            period: granularity_name(granularity).into(),
            tz: tz.iana_name().unwrap_or("UTC").into(),
            buckets: (first..=last).map(|b| calendar.bucket_start(b, granularity).to_string()).collect(),
            series: series
                .into_iter()
                .zip(events)
                .map(|(s, event)| SegmentationSeries {
                    event: event.clone(),
                    counts: s.counts,
                    customers: s.customers,
                    revenue: s.revenue_cents.into_iter().map(|c| c as f64 / 100.0).collect(),
                })
                .collect(),
        })
    }

    /// Answers the paths after (`next`) or before (`previous`) an event, `depth` steps deep (1 to 10).
    pub fn paths(&self, event: &str, direction: &str, depth: usize) -> DomainResult<PathsAnswer> {
        let anchor = self.event_id("event", event)?;
        let dir = match direction {
            "next" => siyu_analytics::paths::Direction::Next,
            "previous" => siyu_analytics::paths::Direction::Previous,
            other => {
                return Err(query_error(QueryError::Invalid {
                    field: "direction",
                    reason: format!("\"{other}\": expected next or previous"),
                }));
            }
        };
        if !(1..=10).contains(&depth) {
            return Err(query_error(QueryError::Invalid { field: "depth", reason: "must be 1 to 10".into() }));
        }
        let (customers, links) = siyu_analytics::paths::paths(&self.columns, anchor, dir, depth);
        let name = |id: u16| self.names.name(id).unwrap_or("?").to_string();
        Ok(PathsAnswer {
            event: event.into(),
            direction: direction.into(),
            customers,
            links: links
                .into_iter()
                .map(|l| PathLink { step: l.step, from: name(l.from), to: name(l.to), customers: l.count })
                .collect(),
        })
    }

    /// Answers the KPIs as of a local day (default: the day of the latest event).
    pub fn kpis(&self, tz: &jiff::tz::TimeZone, as_of: Option<jiff::civil::Date>) -> KpiAnswer {
        let (from, to) = self.columns.time_range().unwrap_or((0, 0));
        let calendar = Calendar::new(tz.clone(), from, to);
        let day = match as_of {
            Some(date) => calendar.day(date.to_zoned(tz.clone()).map(|z| z.timestamp().as_microsecond()).unwrap_or(to)),
            None => calendar.day(to),
        };
        let lookup = |names: &[&str]| names.iter().find_map(|n| self.names.id(n));
        let wanted = [
            lookup(&["Message Opened"]),
            lookup(&["Message Sent", "Message Delivered"]),
            lookup(&["Coupon Applied"]),
            lookup(&["Coupon Issued", "Coupon Entered"]),
        ];
        let counted: Vec<u16> = wanted.iter().map(|w| w.unwrap_or(u16::MAX)).collect();
        let k = siyu_analytics::kpi::kpis(&self.columns, &calendar, day, &counted);
        let rate = |num: usize, den: usize| {
            (wanted[num].is_some() && wanted[den].is_some())
                .then(|| share(k.counted_30d[num], k.counted_30d[den]))
                .flatten()
        };
        let gmv = k.gmv_30d_cents as f64 / 100.0;
        KpiAnswer {
            as_of: calendar.bucket_start(day, Granularity::Day).to_string(),
            tz: tz.iana_name().unwrap_or("UTC").into(),
            dau: k.dau,
            wau: k.wau,
            mau: k.mau,
            new_customers_1d: k.new_1d,
            new_customers_7d: k.new_7d,
            new_customers_30d: k.new_30d,
            retention_d1: share(k.retained[0], k.cohort[0]),
            retention_d7: share(k.retained[1], k.cohort[1]),
            retention_d30: share(k.retained[2], k.cohort[2]),
            repurchase_rate: share(k.repeat_buyers, k.buyers),
            gmv_30d: gmv,
            orders_30d: k.orders_30d,
            arpu_30d: (k.mau > 0).then(|| gmv / k.mau as f64),
            message_open_rate: rate(0, 1),
            coupon_redemption_rate: rate(2, 3),
        }
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
