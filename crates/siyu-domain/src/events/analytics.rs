//! Analytics answers over a workspace's event index: event names resolved with errors that name
//! the parameter, and results shaped for the API, the CLI and the console.

use crate::error::{DomainError, DomainResult, FieldError};
use crate::events::filters::{PropertyFilter, compile};
use crate::events::tracking::{EARLIEST_US, MAX_FUTURE_US};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use siyu_analytics::funnel::{FunnelQuery, funnel};
use siyu_analytics::retention::{RetentionQuery, retention};
use siyu_analytics::segmentation::SeriesQuery;
use siyu_analytics::{
    Calendar, DAY_US, EventNames, Granularity, Index, MAX_FUNNEL_WINDOW_US, MAX_RETENTION_BUCKETS,
    MAX_SEGMENTATION_BUCKETS, Passive, PropTable, QueryError, rfm,
};
use std::sync::{Arc, RwLock};

/// The local dates a query covers (`None`: the default, from the data) and the instant it is asked
/// at. Dates must lie between 2000-01-01 and the day 24 hours after `now_us` ends in (the range
/// ingestion accepts); defaults read only events in that range, and a default start is moved
/// later when the range would hold more buckets than the query allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dates {
    /// First local date.
    pub from: Option<Date>,
    /// Last local date.
    pub to: Option<Date>,
    /// Now, microseconds since the Unix epoch.
    pub now_us: i64,
}

impl Dates {
    /// Returns the default range as of `now_us`: the data's, cut to the query's limit.
    pub fn all(now_us: i64) -> Self {
        Self { from: None, to: None, now_us }
    }

    /// Returns the range `from..=to` (each `None` for its default) as of `now_us`.
    pub fn between(from: Option<Date>, to: Option<Date>, now_us: i64) -> Self {
        Self { from, to, now_us }
    }
}

/// Returns the first instant of `date` in `tz` (`None` past jiff's range).
/// Returns the local date of an instant (microseconds) in `tz`.
pub fn local_date(us: i64, tz: &TimeZone) -> Date {
    jiff::Timestamp::from_microsecond(us).map_or(Date::MAX, |t| t.to_zoned(tz.clone()).date())
}

fn tz_name(tz: &TimeZone) -> &str {
    tz.iana_name().unwrap_or("UTC")
}

fn start_of(date: Date, tz: &TimeZone) -> Option<i64> {
    let zoned = date.to_zoned(tz.clone()).ok()?;
    Some(zoned.start_of_day().unwrap_or(zoned).timestamp().as_microsecond())
}

/// Checks a date parameter against the plausible range: 2000-01-01 to the local day 24 hours after
/// `now_us`; the error names `field` and quotes the date.
pub fn check_date(field: &str, date: Date, tz: &TimeZone, now_us: i64) -> DomainResult<()> {
    let earliest = jiff::civil::date(2000, 1, 1);
    let latest = jiff::Timestamp::from_microsecond(now_us.saturating_add(MAX_FUTURE_US))
        .map(|t| t.to_zoned(tz.clone()).date())
        .unwrap_or(Date::MAX);
    if date < earliest {
        return Err(DomainError::invalid(
            field,
            format!("\"{date}\" is before 2000-01-01, the earliest day analytics reads"),
        ));
    }
    if date > latest {
        return Err(DomainError::invalid(field, format!("\"{date}\" is after {latest}, the day 24 hours from now")));
    }
    Ok(())
}

/// A workspace's events, indexed for analytics.
#[derive(Clone, Debug, Default)]
pub struct EventIndex {
    /// Event names and their ids.
    pub names: EventNames,
    /// Property keys, values and sets (shared with the live index, which only appends to it).
    pub props: Arc<RwLock<PropTable>>,
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
    /// With a breakdown: the customers of each value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<FunnelBreakdown>,
}

/// What a funnel may add to its steps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunnelOptions {
    /// Property filters per step, by step position (missing or empty: none).
    pub step_filters: Vec<Vec<PropertyFilter>>,
    /// Break the funnel down by this property of the event `attribution` names.
    pub breakdown: Option<String>,
    /// Which step's event gives a customer's breakdown value (default: step 1).
    pub attribution: Attribution,
    /// How many values to list, most step-1 customers first (0: the default, 20).
    pub limit: usize,
}

/// Which event of a customer's funnel gives their breakdown value: the step-1 event (`first`, the
/// default: first-touch attribution), the event of the last step they reached (`last`), or the
/// event of a chosen step (`step N`, from 1; customers who stopped before it count under `null`).
/// Written `first`, `last` or `step N`; `N` alone (a number or its text) also reads as `step N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Attribution {
    /// The step-1 event.
    #[default]
    First,
    /// The event of the last step the customer reached.
    Last,
    /// The event of this step (from 1).
    Step(usize),
}

impl Attribution {
    /// Reads `first`, `last`, `step N` or `N` (N from 1); the error says what is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let step = |n: &str| match n.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Attribution::Step(n)),
            _ => Err(format!("\"{text}\": expected first, last or a step number from 1 (e.g. step 2)")),
        };
        match text.to_ascii_lowercase().as_str() {
            "first" => Ok(Attribution::First),
            "last" => Ok(Attribution::Last),
            lower => step(lower.strip_prefix("step").unwrap_or(lower)),
        }
    }

    /// The attribution as [`Self::parse`] reads it.
    pub fn text(&self) -> String {
        match self {
            Attribution::First => "first".into(),
            Attribution::Last => "last".into(),
            Attribution::Step(n) => format!("step {n}"),
        }
    }
}

impl serde::Serialize for Attribution {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

impl<'de> serde::Deserialize<'de> for Attribution {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Attribution;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"first\", \"last\", \"step N\" or a step number from 1")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Attribution, E> {
                Attribution::parse(text).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Attribution, E> {
                Attribution::parse(&n.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Attribution, E> {
                Attribution::parse(&n.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl FunnelOptions {
    /// Adds a filter to step `step` (from 1), or to every one of the funnel's `steps` when `None`.
    /// A step past the funnel's last is kept, and refused by the query naming it.
    pub fn add_filter(&mut self, steps: usize, step: Option<usize>, filter: PropertyFilter) {
        let wanted = step.unwrap_or(0).max(steps);
        if self.step_filters.len() < wanted {
            self.step_filters.resize(wanted, Vec::new());
        }
        match step {
            Some(n) => self.step_filters[n - 1].push(filter),
            None => self.step_filters[..steps].iter_mut().for_each(|f| f.push(filter.clone())),
        }
    }
}

/// A funnel broken down by a property.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FunnelBreakdown {
    /// The property.
    pub property: String,
    /// Which step's event gave each customer's value: `first`, `last` (the last step they
    /// reached) or `step N`.
    #[schema(value_type = String, example = "first")]
    pub attribution: Attribution,
    /// Values, most step-1 customers first.
    pub groups: Vec<FunnelGroup>,
    /// Values left out by the limit.
    pub more_groups: usize,
}

/// A funnel's customers of one breakdown value.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FunnelGroup {
    /// The attributed event's value of the property (`null`: it had none, or the customer did not
    /// reach the attributed step).
    pub value: Option<String>,
    /// Customers who reached at least each step.
    pub customers: Vec<u64>,
    /// Share of step 1's customers who reached the last step.
    pub conversion_rate: f64,
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
    /// First local day of the first cohort (ISO date; `null` without events in range).
    pub from: Option<String>,
    /// First local day of the last cohort.
    pub to: Option<String>,
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

/// One series of an event segmentation to compute.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesSpec {
    /// The event.
    pub event: String,
    /// Only events whose properties pass all of these.
    #[serde(default)]
    pub filters: Vec<PropertyFilter>,
    /// A numeric property to sum and average.
    #[serde(default)]
    pub measure: Option<String>,
}

impl From<&str> for SeriesSpec {
    fn from(event: &str) -> Self {
        Self { event: event.into(), ..Default::default() }
    }
}

/// What an event segmentation may add to its series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SegmentationOptions {
    /// Filters every series shares.
    pub filters: Vec<PropertyFilter>,
    /// Break every series down by this property.
    pub breakdown: Option<String>,
    /// How many values per series to list, most events first (0: the default, 10).
    pub limit: usize,
}

/// One event's series in an event segmentation.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SegmentationSeries {
    /// The event.
    pub event: String,
    /// With a breakdown: the value (`null`: events without the property).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub breakdown_value: Option<Option<String>>,
    /// With a measure: the property summed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measure: Option<String>,
    /// With a measure: its sum per bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sums: Option<Vec<f64>>,
    /// With a measure: its average per bucket over the events that have it (`null`: none had).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub averages: Option<Vec<Option<f64>>>,
    /// Events per bucket.
    pub counts: Vec<u64>,
    /// Distinct customers per bucket.
    pub customers: Vec<u64>,
    /// Order revenue per bucket (in the currency's main unit; zero unless the event is `Order Completed`).
    pub revenue: Vec<f64>,
}

/// Event segmentation: series per bucket.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SegmentationAnswer {
    /// `day`, `week` or `month`.
    pub period: String,
    /// The time zone of the buckets.
    pub tz: String,
    /// First local day of each bucket (ISO dates).
    pub buckets: Vec<String>,
    /// Whether the last bucket had not ended when the answer was computed (its numbers are so far).
    pub partial: bool,
    /// One series per requested event, in order; with a breakdown, one per value of each (most
    /// events first).
    pub series: Vec<SegmentationSeries>,
    /// With a breakdown: the values left out by the limit, over all series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_groups: Option<usize>,
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
    /// Whether the day had ended when the KPIs were computed (`false`: today so far).
    pub complete: bool,
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
    pub fn funnel(&self, steps: &[String], window_seconds: i64, options: &FunnelOptions) -> DomainResult<FunnelAnswer> {
        if steps.len() < 2 {
            return Err(query_error(QueryError::Invalid {
                field: "steps",
                reason: "a funnel needs at least 2 steps".into(),
            }));
        }
        if window_seconds <= 0 || window_seconds > MAX_FUNNEL_WINDOW_US / 1_000_000 {
            return Err(query_error(QueryError::Invalid {
                field: "window",
                reason: format!("the window must be 1 second to 366 days, not {window_seconds} seconds"),
            }));
        }
        let ids = steps
            .iter()
            .enumerate()
            .map(|(i, name)| self.event_id(&format!("steps[{i}]"), name))
            .collect::<DomainResult<Vec<u16>>>()?;
        let window_us = window_seconds.saturating_mul(1_000_000);
        let table = self.props.read().expect("property table lock is never poisoned");
        let mut step_sets: Option<Vec<u32>> = None;
        let mut errors = Vec::new();
        for (k, filters) in options.step_filters.iter().enumerate().filter(|(_, f)| !f.is_empty()) {
            if k >= steps.len() {
                errors
                    .push(FieldError::new(format!("steps[{k}]"), "filters given for a step the funnel does not have"));
                continue;
            }
            if let Some(compiled) = gather(&mut errors, compile(&format!("steps[{k}].filters"), filters, &table))? {
                let sets = step_sets.get_or_insert_with(|| vec![u32::MAX; table.set_count()]);
                for (set, ok) in table.matching_sets(&compiled).into_iter().enumerate() {
                    if !ok {
                        sets[set] &= !(1 << k);
                    }
                }
            }
        }
        let breakdown = options.breakdown.as_deref().map(|p| self.property_key(&table, "breakdown", p));
        let breakdown = gather(&mut errors, breakdown.transpose())?.flatten();
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let attribution = match options.attribution {
            Attribution::First => siyu_analytics::funnel::Attribution::First,
            Attribution::Last => siyu_analytics::funnel::Attribution::Last,
            Attribution::Step(n) => siyu_analytics::funnel::Attribution::Step(n.saturating_sub(1)),
        };
        let query = FunnelQuery {
            steps: ids,
            window_us,
            step_sets,
            breakdown: breakdown.map(|k| table.values_of(k)),
            attribution,
        };
        // Ingestion appends to the table under its write lock: do not hold it while the kernel runs.
        drop(table);
        let result = funnel(&self.columns, &query).map_err(query_error)?;
        let table = self.props.read().expect("property table lock is never poisoned");
        let breakdown = options.breakdown.as_ref().map(|property| {
            let mut groups: Vec<(u32, Vec<u64>)> = result.groups.into_iter().collect();
            groups.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(&b.0)));
            let limit = if options.limit == 0 { 20 } else { options.limit };
            let more_groups = groups.len().saturating_sub(limit);
            groups.truncate(limit);
            FunnelBreakdown {
                property: property.clone(),
                attribution: options.attribution,
                more_groups,
                groups: groups
                    .into_iter()
                    .map(|(value, customers)| FunnelGroup {
                        value: (value != u32::MAX).then(|| table.value(value).to_text()),
                        conversion_rate: ratio(*customers.last().unwrap_or(&0), customers[0]),
                        customers,
                    })
                    .collect(),
            }
        });
        let results = result.steps;
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
        Ok(FunnelAnswer { window_seconds, steps, breakdown })
    }

    fn property_key(&self, table: &PropTable, field: &str, property: &str) -> DomainResult<u16> {
        table.key_id(property).ok_or_else(|| {
            DomainError::Invalid(vec![FieldError::new(field, format!("unknown property \"{property}\""))])
        })
    }

    /// Returns the property keys the workspace's events have, sorted.
    pub fn property_keys(&self) -> Vec<String> {
        let mut keys = self.props.read().expect("property table lock is never poisoned").keys().to_vec();
        keys.sort();
        keys
    }

    /// Returns the earliest and latest event time in the plausible range as of `now_us` (from
    /// 2000-01-01 to 24 hours after it): what a query's defaults may read.
    pub fn plausible_range(&self, now_us: i64) -> Option<(i64, i64)> {
        self.columns.time_range_within(EARLIEST_US, now_us.saturating_add(MAX_FUTURE_US))
    }

    /// Resolves a query's dates to its first and last bucket (`None`: no date given and no event in
    /// range), with a calendar tuned to them. Given dates are checked (see [`check_date`]); a
    /// default start is cut to `max_buckets` before the end; more buckets than that are refused
    /// naming `period`.
    fn buckets(
        &self,
        tz: &TimeZone,
        granularity: Granularity,
        dates: &Dates,
        max_buckets: i64,
    ) -> DomainResult<Option<(Calendar, i64, i64)>> {
        let mut errors = Vec::new();
        for (field, date) in [("from", dates.from), ("to", dates.to)] {
            if let Some(date) = date {
                gather(&mut errors, check_date(field, date, tz, dates.now_us))?;
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let data = self.plausible_range(dates.now_us);
        let from_us = dates.from.and_then(|d| start_of(d, tz)).or(data.map(|d| d.0));
        let to_us = dates.to.and_then(|d| start_of(d, tz)).or(data.map(|d| d.1)).or(from_us.map(|_| dates.now_us));
        let (Some(from_us), Some(to_us)) = (from_us.or(to_us), to_us) else { return Ok(None) };
        // Both ends are checked or plausible, so the calendar's table spans at most ~27 years.
        let margin = 32 * DAY_US;
        let calendar = Calendar::new(
            tz.clone(),
            from_us.min(to_us).saturating_sub(margin),
            from_us.max(to_us).saturating_add(margin),
        );
        let mut last = calendar.bucket(to_us, granularity);
        let mut first = calendar.bucket(from_us, granularity);
        if dates.from.is_none() {
            first = first.max(last - (max_buckets - 1)).min(last);
        }
        if dates.to.is_none() {
            last = last.max(first);
        }
        if last < first {
            return Err(query_error(QueryError::Invalid { field: "to", reason: "must not be before from".into() }));
        }
        if last - first >= max_buckets {
            return Err(query_error(QueryError::Invalid {
                field: "period",
                reason: format!(
                    "{} buckets are too many (at most {max_buckets}); use a coarser period or a shorter range",
                    last - first + 1
                ),
            }));
        }
        Ok(Some((calendar, first, last)))
    }

    /// Answers a retention matrix in `tz`, its cohorts the buckets of `dates` (at most
    /// [`MAX_RETENTION_BUCKETS`]; by default the latest ones with events). A cohort or return event
    /// left out means any active event: the `passive` events (the workspace's model settings) do
    /// not count.
    pub fn retention(
        &self,
        tz: &TimeZone,
        granularity: Granularity,
        events: (Option<&str>, Option<&str>),
        dates: Dates,
        passive: &[String],
    ) -> DomainResult<RetentionAnswer> {
        let (cohort_event, return_event) = events;
        let cohort_event = cohort_event.map(|name| self.event_id("cohort_event", name)).transpose()?;
        let return_event = return_event.map(|name| self.event_id("return_event", name)).transpose()?;
        let mut answer = RetentionAnswer {
            period: granularity_name(granularity).into(),
            from: None,
            to: None,
            tz: tz.iana_name().unwrap_or("UTC").into(),
            rows: Vec::new(),
        };
        let Some((calendar, first, last)) = self.buckets(tz, granularity, &dates, MAX_RETENTION_BUCKETS)? else {
            return Ok(answer);
        };
        let passive = self.passive(passive);
        let query = RetentionQuery { granularity, cohort_event, return_event, first, last, passive };
        let cells = retention(&self.columns, &calendar, &query).map_err(query_error)?;
        let mut cohort_size = 0;
        answer.rows = cells
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
        answer.from = Some(calendar.bucket_start(first, granularity).to_string());
        answer.to = Some(calendar.bucket_start(last, granularity).to_string());
        Ok(answer)
    }

    /// Answers RFM scores, recency measured to `as_of_us` (default: the latest event in the
    /// plausible range as of `now_us`); an `as_of_us` outside that range is refused naming `as_of`.
    pub fn rfm(&self, as_of_us: Option<i64>, now_us: i64) -> DomainResult<RfmAnswer> {
        if let Some(us) = as_of_us
            && let Some(reason) = crate::events::tracking::instant_refusal(&instant_text(us), us, now_us)
        {
            return Err(DomainError::invalid("as_of", reason.replace("after it was received", "from now")));
        }
        let as_of_us = as_of_us.or(self.plausible_range(now_us).map(|(_, end)| end));
        let rows = rfm::rfm(&self.columns, Some(as_of_us.unwrap_or(now_us)));
        let as_of = as_of_us.map(instant_text);
        let cells =
            rfm::cells(&rows).into_iter().map(|((r, f, m), customers)| RfmCell { r, f, m, customers }).collect();
        Ok(RfmAnswer { customers: rows.len() as u64, as_of, cells })
    }
}

/// Writes an instant in microseconds as RFC 3339.
fn instant_text(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map_or_else(|_| format!("{us} µs"), |t| t.to_string())
}

impl EventIndex {
    /// Answers an event segmentation: per bucket, counts, customers and order revenue of each
    /// series (and the sum and average of its measure), over the buckets of `dates` (at most
    /// [`MAX_SEGMENTATION_BUCKETS`]; by default the data's, the latest ones), optionally broken
    /// down by a property.
    pub fn segmentation(
        &self,
        tz: &jiff::tz::TimeZone,
        granularity: Granularity,
        series: &[SeriesSpec],
        options: &SegmentationOptions,
        dates: Dates,
    ) -> DomainResult<SegmentationAnswer> {
        if series.is_empty() || series.len() > 20 {
            return Err(query_error(QueryError::Invalid { field: "events", reason: "name 1 to 20 events".into() }));
        }
        let ids = series
            .iter()
            .enumerate()
            .map(|(i, spec)| self.event_id(&format!("events[{i}]"), &spec.event))
            .collect::<DomainResult<Vec<u16>>>()?;
        let table = self.props.read().expect("property table lock is never poisoned");
        let mut errors = Vec::new();
        let shared = gather(&mut errors, compile("filters", &options.filters, &table))?.unwrap_or_default();
        let mut queries = Vec::with_capacity(series.len());
        for ((i, spec), event) in series.iter().enumerate().zip(&ids) {
            let own = gather(&mut errors, compile(&format!("events[{i}].filters"), &spec.filters, &table))?;
            let measure =
                spec.measure.as_deref().map(|p| self.property_key(&table, &format!("events[{i}].measure"), p));
            let measure = gather(&mut errors, measure.transpose())?.flatten();
            let filters: Vec<_> = shared.iter().cloned().chain(own.unwrap_or_default()).collect();
            queries.push(SeriesQuery {
                event: *event,
                sets: (!filters.is_empty()).then(|| table.matching_sets(&filters)),
                measure: measure.map(|key| table.numbers_of(key)),
            });
        }
        let breakdown = options.breakdown.as_deref().map(|p| self.property_key(&table, "breakdown", p));
        let breakdown = gather(&mut errors, breakdown.transpose())?.flatten().map(|key| table.values_of(key));
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        // Without events in range and without dates, the answer is one empty bucket: today's.
        let resolved = self.buckets(tz, granularity, &dates, MAX_SEGMENTATION_BUCKETS)?;
        let (calendar, first, last) = resolved.unwrap_or_else(|| {
            let calendar =
                Calendar::new(tz.clone(), dates.now_us.saturating_sub(DAY_US), dates.now_us.saturating_add(DAY_US));
            let today = calendar.bucket(dates.now_us, granularity);
            (calendar, today, today)
        });
        let order = self.names.id(crate::events::ORDER_COMPLETED);
        let width = (last - first + 1) as usize;
        // Ingestion appends to the table under its write lock: do not hold it while the kernel runs.
        drop(table);
        let results = siyu_analytics::segmentation::segmentation(
            &self.columns,
            &calendar,
            granularity,
            &queries,
            breakdown.as_deref(),
            order,
            first,
            last,
        )
        .map_err(query_error)?;
        let table = self.props.read().expect("property table lock is never poisoned");
        let limit = if options.limit == 0 { 10 } else { options.limit };
        let mut more_groups = 0;
        let mut out = Vec::new();
        for (spec, groups) in series.iter().zip(results) {
            let mut groups: Vec<_> = groups.into_iter().collect();
            groups.sort_by(|a, b| {
                let total = |s: &siyu_analytics::segmentation::Series| s.counts.iter().sum::<u64>();
                total(&b.1).cmp(&total(&a.1)).then(a.0.cmp(&b.0))
            });
            if breakdown.is_none() && groups.is_empty() {
                groups.push((u32::MAX, siyu_analytics::segmentation::Series::empty(width)));
            }
            more_groups += groups.len().saturating_sub(limit);
            groups.truncate(limit);
            for (value, numbers) in groups {
                out.push(SegmentationSeries {
                    event: spec.event.clone(),
                    breakdown_value: breakdown
                        .is_some()
                        .then(|| (value != u32::MAX).then(|| table.value(value).to_text())),
                    measure: spec.measure.clone(),
                    sums: spec.measure.is_some().then(|| numbers.sums.clone()),
                    averages: spec.measure.is_some().then(|| {
                        numbers
                            .sums
                            .iter()
                            .zip(&numbers.measured)
                            .map(|(s, n)| (*n > 0).then(|| s / *n as f64))
                            .collect()
                    }),
                    counts: numbers.counts,
                    customers: numbers.customers,
                    revenue: numbers.revenue_cents.into_iter().map(|c| c as f64 / 100.0).collect(),
                });
            }
        }
        Ok(SegmentationAnswer {
            period: granularity_name(granularity).into(),
            tz: tz.iana_name().unwrap_or("UTC").into(),
            buckets: (first..=last).map(|b| calendar.bucket_start(b, granularity).to_string()).collect(),
            partial: calendar.bucket_start_us(last.saturating_add(1), granularity) > dates.now_us,
            series: out,
            more_groups: breakdown.is_some().then_some(more_groups),
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
        let (customers, links) =
            siyu_analytics::paths::paths(&self.columns, anchor, dir, depth).map_err(query_error)?;
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

    /// Returns the passive set of the named events (names no event has are left out).
    pub fn passive(&self, names: &[String]) -> Passive {
        Passive::of(names.iter().filter_map(|name| self.names.id(name)))
    }

    /// Returns the local day activity measures default to as of `now_us`: the last complete day
    /// with an active event (not one of `passive`), else today (when customers have been active
    /// only today, or never).
    pub fn default_day(&self, tz: &TimeZone, now_us: i64, passive: &[String]) -> Date {
        let today = local_date(now_us, tz);
        let Some(today_start) = start_of(today, tz) else { return today };
        siyu_analytics::kpi::latest_active(&self.columns, EARLIEST_US, today_start, &self.passive(passive))
            .map_or(today, |us| local_date(us, tz))
    }

    /// Returns the customers active (an event not among `passive`) on each local day from `first` to
    /// `last`: the daily `dau` of [`Self::kpis`]. At most [`MAX_SEGMENTATION_BUCKETS`] days, each
    /// in the plausible range (refused naming `from` or `to`).
    pub fn daily_active(
        &self,
        tz: &TimeZone,
        first: Date,
        last: Date,
        now_us: i64,
        passive: &[String],
    ) -> DomainResult<Vec<u64>> {
        check_date("from", first, tz, now_us)?;
        check_date("to", last, tz, now_us)?;
        let (Some(from_us), Some(to_us)) = (start_of(first, tz), start_of(last, tz)) else {
            return Err(DomainError::invalid("to", format!("\"{last}\" has no start in {}", tz_name(tz))));
        };
        if to_us < from_us {
            return Err(DomainError::invalid("to", "must not be before from"));
        }
        let calendar = Calendar::new(tz.clone(), from_us.saturating_sub(2 * DAY_US), to_us.saturating_add(2 * DAY_US));
        let (first_day, last_day) = (calendar.day(from_us), calendar.day(to_us));
        if last_day - first_day >= MAX_SEGMENTATION_BUCKETS {
            return Err(DomainError::invalid("from", format!("more than {MAX_SEGMENTATION_BUCKETS} days")));
        }
        Ok(siyu_analytics::kpi::daily_active(&self.columns, &calendar, first_day, last_day, &self.passive(passive)))
    }

    /// Answers the KPIs as of a local day (default: [`Self::default_day`], the last complete day
    /// with customer activity); a day outside the plausible range is refused naming `as_of`.
    /// Activity (active, new, retained customers) leaves the `passive` events out.
    pub fn kpis(&self, tz: &TimeZone, as_of: Option<Date>, now_us: i64, passive: &[String]) -> DomainResult<KpiAnswer> {
        if let Some(date) = as_of {
            check_date("as_of", date, tz, now_us)?;
        }
        let date = as_of.unwrap_or_else(|| self.default_day(tz, now_us, passive));
        let at = start_of(date, tz).unwrap_or(now_us);
        let complete = date.tomorrow().ok().and_then(|next| start_of(next, tz)).is_some_and(|end| end <= now_us);
        // The kernel reads the 31 days ending on the day; the calendar covers them alone.
        let calendar = Calendar::new(tz.clone(), at.saturating_sub(32 * DAY_US), at.saturating_add(2 * DAY_US));
        let day = calendar.day(at);
        let lookup = |names: &[&str]| names.iter().find_map(|n| self.names.id(n));
        let wanted = [
            lookup(&["Message Opened"]),
            lookup(&["Message Sent", "Message Delivered"]),
            lookup(&["Coupon Applied"]),
            lookup(&["Coupon Issued", "Coupon Entered"]),
        ];
        let counted: Vec<u16> = wanted.iter().map(|w| w.unwrap_or(u16::MAX)).collect();
        let k = siyu_analytics::kpi::kpis(&self.columns, &calendar, day, &counted, &self.passive(passive));
        let rate = |num: usize, den: usize| {
            (wanted[num].is_some() && wanted[den].is_some())
                .then(|| share(k.counted_30d[num], k.counted_30d[den]))
                .flatten()
        };
        let gmv = k.gmv_30d_cents as f64 / 100.0;
        Ok(KpiAnswer {
            as_of: calendar.bucket_start(day, Granularity::Day).to_string(),
            complete,
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
        })
    }
}

/// Runs a query on the index on the blocking pool: a kernel scans every event of the workspace, and
/// must not hold one of the async runtime's threads (which serve every other request) meanwhile.
pub async fn on_blocking_pool<T: Send + 'static>(
    index: &Arc<EventIndex>,
    query: impl FnOnce(&EventIndex) -> DomainResult<T> + Send + 'static,
) -> DomainResult<T> {
    let index = Arc::clone(index);
    tokio::task::spawn_blocking(move || query(&index))
        .await
        .map_err(|error| DomainError::internal_from("analytics query failed", error))?
}

/// Parses a window like `7d`, `12h`, `30m`, `90s` or `2w` into seconds: a unit is required (a bare
/// `7` could mean days as well as seconds), and the window is 1 second to 366 days; errors name `window`.
pub fn parse_window(text: &str) -> DomainResult<i64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let bad = |why: &str| DomainError::invalid("window", format!("\"{text}\": {why}"));
    let expected = "expected a number followed by a unit: w, d, h, m or s (e.g. 7d)";
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad(expected)),
    };
    let n: i64 = digits.parse().map_err(|_| bad(expected))?;
    let seconds = n.saturating_mul(scale);
    if seconds <= 0 || seconds > MAX_FUNNEL_WINDOW_US / 1_000_000 {
        return Err(bad("the window must be 1 second to 366 days"));
    }
    Ok(seconds)
}

/// Collects a refusal's field errors (so that one answer names every bad field); other errors pass.
fn gather<T>(errors: &mut Vec<FieldError>, result: DomainResult<T>) -> DomainResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(DomainError::Invalid(found)) => {
            errors.extend(found);
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_and_reason(error: DomainError) -> (String, String) {
        match error {
            DomainError::Invalid(mut errors) => {
                let e = errors.remove(0);
                (e.field, e.reason)
            }
            other => (String::new(), other.to_string()),
        }
    }

    #[test]
    fn windows_take_units() {
        assert_eq!(parse_window("7d").ok(), Some(604_800));
        assert_eq!(parse_window("90s").ok(), Some(90));
        assert_eq!(parse_window("2h").ok(), Some(7_200));
        assert_eq!(parse_window("366d").ok(), Some(366 * 86_400));
        assert!(parse_window("7y").is_err());
        assert!(parse_window("d").is_err());
    }

    #[test]
    fn funnel_windows_require_a_unit_and_at_most_366_days() {
        let (field, reason) = field_and_reason(parse_window("7").unwrap_err());
        assert_eq!(field, "window");
        assert!(reason.starts_with("\"7\": expected a number followed by a unit"), "{reason}");
        for text in ["367d", "53w", "0d", "99999999999999999999d", "9223372036854775807w"] {
            assert_eq!(field_and_reason(parse_window(text).unwrap_err()).0, "window", "{text}");
        }
    }

    #[test]
    fn dates_outside_2000_to_tomorrow_are_refused_naming_the_field() {
        let now_us =
            jiff::civil::date(2026, 7, 1).at(12, 0, 0, 0).to_zoned(TimeZone::UTC).unwrap().timestamp().as_microsecond();
        let check = |text: &str| {
            let date: Date = text.parse().unwrap();
            check_date("as_of", date, &TimeZone::UTC, now_us).map_err(field_and_reason)
        };
        assert!(check("2000-01-01").is_ok());
        assert!(check("2026-07-02").is_ok(), "the day 24 hours from now");
        for text in ["1900-01-01", "0000-01-01", "-009999-01-01", "2026-07-03", "9999-12-31"] {
            let (field, reason) = check(text).unwrap_err();
            assert_eq!(field, "as_of");
            assert!(reason.contains(text), "{reason}");
        }
    }
}
