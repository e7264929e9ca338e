//! `/api/v1/analytics/*`: funnels, retention and RFM over the workspace's live event index.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson, name_or_object};
use crate::problem::Problem;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use siyu_analytics::Granularity;
use siyu_domain::events::analytics::{
    Attribution, Dates, FunnelAnswer, FunnelOptions, KpiAnswer, PathsAnswer, RetentionAnswer, RfmAnswer,
    SegmentationAnswer, SegmentationOptions, SeriesSpec, on_blocking_pool, parse_window,
};
use siyu_domain::events::filters::PropertyFilter;
use siyu_domain::{DomainError, FieldError};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(funnel))
        .routes(routes!(retention))
        .routes(routes!(rfm))
        .routes(routes!(segmentation))
        .routes(routes!(paths))
        .routes(routes!(kpi))
}

/// A funnel query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FunnelQuery {
    /// Steps in order, 2 to 32 (an event may repeat): event names, or objects with property filters.
    steps: Vec<FunnelStep>,
    /// Conversion window from the first step, with its unit: `7d`, `12h`, `30m`, `90s`, `2w`; 1 second
    /// to 366 days (default `7d`).
    #[serde(default)]
    window: Option<String>,
    /// Break the funnel down by this property of the event `attribution` names.
    #[serde(default)]
    breakdown: Option<String>,
    /// Which step's event gives a customer's breakdown value: `first` (default; first-touch), `last`
    /// (the last step the customer reached) or `step N` (N from 1, or the number N alone; customers
    /// who stopped before step N count under `null`).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "last")]
    attribution: Option<Attribution>,
    /// With a breakdown: how many values to list, most step-1 customers first (default 20, at most 500).
    #[serde(default)]
    limit: Option<usize>,
}

/// A funnel step: an event name, or an event with property filters.
#[derive(ToSchema)]
#[serde(untagged)]
enum FunnelStep {
    /// Just the event.
    Event(String),
    /// The event, counted only when its properties pass every filter.
    Filtered(FilteredStep),
}

/// A funnel step with property filters.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FilteredStep {
    /// The event name.
    event: String,
    /// Property filters.
    #[serde(default)]
    filters: Vec<PropertyFilter>,
}

impl<'de> Deserialize<'de> for FunnelStep {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let found = name_or_object(deserializer, "an event name or an object with `event` and `filters`")?;
        Ok(found.map_or_else(FunnelStep::Filtered, FunnelStep::Event))
    }
}

/// An event segmentation series: an event name, or an event with filters and a measure.
#[derive(ToSchema)]
#[serde(untagged)]
enum SeriesInput {
    /// Just the event.
    Event(String),
    /// The event with filters and a numeric property to sum and average.
    Spec(SeriesSpec),
}

impl<'de> Deserialize<'de> for SeriesInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let found = name_or_object(deserializer, "an event name or an object with `event`, `filters` and `measure`")?;
        Ok(found.map_or_else(SeriesInput::Spec, SeriesInput::Event))
    }
}

fn limit(limit: Option<usize>) -> Result<usize, Problem> {
    match limit {
        Some(n) if !(1..=500).contains(&n) => Err(bad("limit", "must be 1 to 500".into())),
        other => Ok(other.unwrap_or(0)),
    }
}

/// A retention query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RetentionQuery {
    /// `day`, `week` (Monday weeks; default) or `month`.
    #[serde(default)]
    period: Option<String>,
    /// Event that puts a customer in a cohort (default: any active event, i.e. first seen; the
    /// workspace's passive events, such as `Segment Entered` or `Message Sent`, are not activity).
    #[serde(default)]
    cohort_event: Option<String>,
    /// Event that counts as a return (default: any active event).
    #[serde(default)]
    return_event: Option<String>,
    /// First local date (ISO) of the first cohort, 2000-01-01 or later; default: the earliest with
    /// events, at most 400 cohorts before the last.
    #[serde(default)]
    from: Option<String>,
    /// Last local date (ISO) of the cohorts and returns, at most a day ahead; default: the latest with events.
    #[serde(default)]
    to: Option<String>,
    /// IANA time zone of the buckets (default: the workspace's).
    #[serde(default)]
    tz: Option<String>,
}

/// An RFM query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RfmQuery {
    /// Measure recency to this instant, RFC 3339, from 2000-01-01 to 24 hours from now (default: the
    /// latest event).
    #[serde(default)]
    as_of: Option<String>,
}

/// An event segmentation query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SegmentationQuery {
    /// 1 to 20 series: event names, or objects with filters and a measure.
    events: Vec<SeriesInput>,
    /// Property filters every series shares.
    #[serde(default)]
    filters: Vec<PropertyFilter>,
    /// Break every series down by this property.
    #[serde(default)]
    breakdown: Option<String>,
    /// With a breakdown: values per series, most events first (default 10, at most 500).
    #[serde(default)]
    limit: Option<usize>,
    /// `day` (default), `week` or `month`.
    #[serde(default)]
    period: Option<String>,
    /// First local date (ISO), 2000-01-01 or later; default: the first day with events, at most 1,000
    /// buckets before the last.
    #[serde(default)]
    from: Option<String>,
    /// Last local date (ISO), at most a day ahead; default: the last day with events.
    #[serde(default)]
    to: Option<String>,
    /// IANA time zone of the buckets (default: the workspace's).
    #[serde(default)]
    tz: Option<String>,
}

/// A paths query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PathsQuery {
    /// The anchor event.
    event: String,
    /// `next` (default) or `previous`.
    #[serde(default)]
    direction: Option<String>,
    /// Steps from the anchor, 1 to 10 (default 3).
    #[serde(default)]
    depth: Option<usize>,
}

/// A KPI query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KpiQuery {
    /// The local date (ISO) the KPIs are for, from 2000-01-01 to a day ahead (today's answer is
    /// marked `complete: false`); default: the last complete day with customer activity (passive
    /// events such as `Segment Entered` are not activity), or today when there is none.
    #[serde(default)]
    as_of: Option<String>,
    /// IANA time zone of the days (default: the workspace's).
    #[serde(default)]
    tz: Option<String>,
}

async fn time_zone(
    app: &AppState,
    principal: &siyu_domain::access::Principal,
    tz: Option<String>,
) -> Result<jiff::tz::TimeZone, Problem> {
    let name = match tz {
        Some(tz) => tz,
        None => app.services.access.workspace(principal).await?.time_zone,
    };
    jiff::tz::TimeZone::get(&name).map_err(|_| bad("tz", format!("unknown time zone \"{name}\"")))
}

fn granularity(period: &str) -> Result<Granularity, Problem> {
    Granularity::parse(period).ok_or_else(|| bad("period", format!("\"{period}\": expected day, week or month")))
}

fn date(field: &str, text: Option<String>) -> Result<Option<jiff::civil::Date>, Problem> {
    text.map(|t| {
        t.parse::<jiff::civil::Date>().map_err(|_| bad(field, format!("\"{t}\" is not an ISO date (YYYY-MM-DD)")))
    })
    .transpose()
}

/// A 400 naming a query parameter.
fn bad(field: &str, reason: String) -> Problem {
    Problem::bad_query(DomainError::Invalid(vec![FieldError::new(field, reason)]))
}

/// POST /api/v1/analytics/funnel: customers reaching each step (ClickHouse `windowFunnel` semantics).
#[utoipa::path(post, path = "/api/v1/analytics/funnel", tag = "analytics", request_body = FunnelQuery,
    responses((status = 200, body = FunnelAnswer), (status = 400, body = Problem)))]
async fn funnel(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<FunnelQuery>,
) -> Result<Json<FunnelAnswer>, Problem> {
    let window = parse_window(query.window.as_deref().unwrap_or("7d")).map_err(Problem::bad_query)?;
    let mut steps = Vec::with_capacity(query.steps.len());
    let mut options = FunnelOptions {
        breakdown: query.breakdown,
        attribution: query.attribution.unwrap_or_default(),
        limit: limit(query.limit)?,
        ..Default::default()
    };
    for step in query.steps {
        let (event, filters) = match step {
            FunnelStep::Event(event) => (event, Vec::new()),
            FunnelStep::Filtered(FilteredStep { event, filters }) => (event, filters),
        };
        steps.push(event);
        options.step_filters.push(filters);
    }
    let index = app.services.events.event_index(&principal).await?;
    let answer = on_blocking_pool(&index, move |index| index.funnel(&steps, window, &options)).await;
    Ok(Json(answer.map_err(Problem::bad_query)?))
}

/// POST /api/v1/analytics/retention: the cohort × period matrix.
#[utoipa::path(post, path = "/api/v1/analytics/retention", tag = "analytics", request_body = RetentionQuery,
    responses((status = 200, body = RetentionAnswer), (status = 400, body = Problem)))]
async fn retention(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<RetentionQuery>,
) -> Result<Json<RetentionAnswer>, Problem> {
    let granularity = granularity(query.period.as_deref().unwrap_or("week"))?;
    let (from, to) = (date("from", query.from)?, date("to", query.to)?);
    let index = app.services.events.event_index(&principal).await?;
    let tz = time_zone(&app, &principal, query.tz).await?;
    let dates = Dates::between(from, to, app.services.now().as_microsecond());
    let passive = app.services.models.model_settings(&principal).await?.passive_events;
    let (cohort_event, return_event) = (query.cohort_event, query.return_event);
    let answer = on_blocking_pool(&index, move |index| {
        let events = (cohort_event.as_deref(), return_event.as_deref());
        index.retention(&tz, granularity, events, dates, &passive)
    })
    .await;
    Ok(Json(answer.map_err(Problem::bad_query)?))
}

/// POST /api/v1/analytics/rfm: customers per RFM score triple.
#[utoipa::path(post, path = "/api/v1/analytics/rfm", tag = "analytics", request_body = RfmQuery,
    responses((status = 200, body = RfmAnswer), (status = 400, body = Problem)))]
async fn rfm(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<RfmQuery>,
) -> Result<Json<RfmAnswer>, Problem> {
    let as_of = query
        .as_of
        .map(|t| t.parse::<jiff::Timestamp>().map_err(|_| bad("as_of", format!("\"{t}\" is not an RFC 3339 instant"))))
        .transpose()?
        .map(|t| t.as_microsecond());
    let index = app.services.events.event_index(&principal).await?;
    let now_us = app.services.now().as_microsecond();
    let answer = on_blocking_pool(&index, move |index| index.rfm(as_of, now_us)).await;
    Ok(Json(answer.map_err(Problem::bad_query)?))
}

/// POST /api/v1/analytics/segmentation: counts, customers and revenue of events per day, week or month.
#[utoipa::path(post, path = "/api/v1/analytics/segmentation", tag = "analytics", request_body = SegmentationQuery,
    responses((status = 200, body = SegmentationAnswer), (status = 400, body = Problem)))]
async fn segmentation(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<SegmentationQuery>,
) -> Result<Json<SegmentationAnswer>, Problem> {
    let granularity = granularity(query.period.as_deref().unwrap_or("day"))?;
    let (from, to) = (date("from", query.from)?, date("to", query.to)?);
    let index = app.services.events.event_index(&principal).await?;
    let tz = time_zone(&app, &principal, query.tz).await?;
    let series: Vec<SeriesSpec> = query
        .events
        .into_iter()
        .map(|s| match s {
            SeriesInput::Event(event) => SeriesSpec::from(event.as_str()),
            SeriesInput::Spec(spec) => spec,
        })
        .collect();
    let options =
        SegmentationOptions { filters: query.filters, breakdown: query.breakdown, limit: limit(query.limit)? };
    let dates = Dates::between(from, to, app.services.now().as_microsecond());
    let answer =
        on_blocking_pool(&index, move |index| index.segmentation(&tz, granularity, &series, &options, dates)).await;
    Ok(Json(answer.map_err(Problem::bad_query)?))
}

/// POST /api/v1/analytics/paths: the most frequent next (or previous) events, as Sankey links.
#[utoipa::path(post, path = "/api/v1/analytics/paths", tag = "analytics", request_body = PathsQuery,
    responses((status = 200, body = PathsAnswer), (status = 400, body = Problem)))]
async fn paths(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<PathsQuery>,
) -> Result<Json<PathsAnswer>, Problem> {
    let index = app.services.events.event_index(&principal).await?;
    let answer = on_blocking_pool(&index, move |index| {
        index.paths(&query.event, query.direction.as_deref().unwrap_or("next"), query.depth.unwrap_or(3))
    })
    .await;
    Ok(Json(answer.map_err(Problem::bad_query)?))
}

/// POST /api/v1/analytics/kpi: DAU/WAU/MAU, new customers, D1/D7/D30 retention, repurchase rate,
/// GMV, ARPU, message open and coupon redemption rates.
#[utoipa::path(post, path = "/api/v1/analytics/kpi", tag = "analytics", request_body = KpiQuery,
    responses((status = 200, body = KpiAnswer), (status = 400, body = Problem)))]
async fn kpi(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<KpiQuery>,
) -> Result<Json<KpiAnswer>, Problem> {
    let as_of = date("as_of", query.as_of)?;
    let index = app.services.events.event_index(&principal).await?;
    let tz = time_zone(&app, &principal, query.tz).await?;
    let passive = app.services.models.model_settings(&principal).await?.passive_events;
    let now_us = app.services.now().as_microsecond();
    let answer = on_blocking_pool(&index, move |index| index.kpis(&tz, as_of, now_us, &passive)).await;
    Ok(Json(answer.map_err(Problem::bad_query)?))
}
