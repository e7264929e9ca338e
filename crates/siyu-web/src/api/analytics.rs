//! `/api/v1/analytics/*`: funnels, retention and RFM over the workspace's live event index.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use siyu_analytics::Granularity;
use siyu_domain::events::analytics::{
    FunnelAnswer, KpiAnswer, PathsAnswer, RetentionAnswer, RfmAnswer, SegmentationAnswer, parse_window,
};
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
    /// Event names in order, 2 to 32 (a name may repeat).
    steps: Vec<String>,
    /// Conversion window from the first step: `7d`, `12h`, `30m`, `90s` (default `7d`).
    #[serde(default)]
    window: Option<String>,
}

/// A retention query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RetentionQuery {
    /// `day`, `week` (Monday weeks; default) or `month`.
    #[serde(default)]
    period: Option<String>,
    /// Event that puts a customer in a cohort (default: any event, i.e. first seen).
    #[serde(default)]
    cohort_event: Option<String>,
    /// Event that counts as a return (default: any event).
    #[serde(default)]
    return_event: Option<String>,
    /// IANA time zone of the buckets (default: the workspace's).
    #[serde(default)]
    tz: Option<String>,
}

/// An RFM query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RfmQuery {
    /// Measure recency to this instant, RFC 3339 (default: the latest event).
    #[serde(default)]
    as_of: Option<String>,
}

/// An event segmentation query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SegmentationQuery {
    /// Event names, 1 to 20: one series each.
    events: Vec<String>,
    /// `day` (default), `week` or `month`.
    #[serde(default)]
    period: Option<String>,
    /// First local date (ISO); default: the first day with events.
    #[serde(default)]
    from: Option<String>,
    /// Last local date (ISO); default: the last day with events.
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
    /// The local date (ISO) the KPIs are for; default: the day of the latest event.
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
        None => app.services.workspace(principal).await?.time_zone,
    };
    jiff::tz::TimeZone::get(&name).map_err(|_| invalid("tz", format!("unknown time zone \"{name}\"")))
}

fn granularity(period: &str) -> Result<Granularity, Problem> {
    Granularity::parse(period).ok_or_else(|| invalid("period", format!("\"{period}\": expected day, week or month")))
}

fn date(field: &str, text: Option<String>) -> Result<Option<jiff::civil::Date>, Problem> {
    text.map(|t| {
        t.parse::<jiff::civil::Date>().map_err(|_| invalid(field, format!("\"{t}\" is not an ISO date (YYYY-MM-DD)")))
    })
    .transpose()
}

fn invalid(field: &str, reason: String) -> Problem {
    Problem::from(DomainError::Invalid(vec![FieldError::new(field, reason)]))
}

/// POST /api/v1/analytics/funnel: customers reaching each step (ClickHouse `windowFunnel` semantics).
#[utoipa::path(post, path = "/api/v1/analytics/funnel", tag = "analytics", request_body = FunnelQuery,
    responses((status = 200, body = FunnelAnswer), (status = 422, body = Problem)))]
async fn funnel(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<FunnelQuery>,
) -> Result<Json<FunnelAnswer>, Problem> {
    let window = parse_window(query.window.as_deref().unwrap_or("7d"))?;
    let index = app.services.event_index(&principal).await?;
    Ok(Json(index.funnel(&query.steps, window)?))
}

/// POST /api/v1/analytics/retention: the cohort × period matrix.
#[utoipa::path(post, path = "/api/v1/analytics/retention", tag = "analytics", request_body = RetentionQuery,
    responses((status = 200, body = RetentionAnswer), (status = 422, body = Problem)))]
async fn retention(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<RetentionQuery>,
) -> Result<Json<RetentionAnswer>, Problem> {
    let granularity = granularity(query.period.as_deref().unwrap_or("week"))?;
    let index = app.services.event_index(&principal).await?;
    let tz = time_zone(&app, &principal, query.tz).await?;
    Ok(Json(index.retention(&tz, granularity, query.cohort_event.as_deref(), query.return_event.as_deref())?))
}

/// POST /api/v1/analytics/rfm: customers per RFM score triple.
#[utoipa::path(post, path = "/api/v1/analytics/rfm", tag = "analytics", request_body = RfmQuery,
    responses((status = 200, body = RfmAnswer), (status = 422, body = Problem)))]
async fn rfm(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<RfmQuery>,
) -> Result<Json<RfmAnswer>, Problem> {
    let as_of = query
        .as_of
        .map(|t| {
            t.parse::<jiff::Timestamp>().map_err(|_| invalid("as_of", format!("\"{t}\" is not an RFC 3339 instant")))
        })
        .transpose()?
        .map(|t| t.as_microsecond());
    let index = app.services.event_index(&principal).await?;
    Ok(Json(index.rfm(as_of)))
}

/// POST /api/v1/analytics/segmentation: counts, customers and revenue of events per day, week or month.
#[utoipa::path(post, path = "/api/v1/analytics/segmentation", tag = "analytics", request_body = SegmentationQuery,
    responses((status = 200, body = SegmentationAnswer), (status = 422, body = Problem)))]
async fn segmentation(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<SegmentationQuery>,
) -> Result<Json<SegmentationAnswer>, Problem> {
    let granularity = granularity(query.period.as_deref().unwrap_or("day"))?;
    let (from, to) = (date("from", query.from)?, date("to", query.to)?);
    let index = app.services.event_index(&principal).await?;
    let tz = time_zone(&app, &principal, query.tz).await?;
    Ok(Json(index.segmentation(&tz, granularity, &query.events, from, to)?))
}

/// POST /api/v1/analytics/paths: the most frequent next (or previous) events, as Sankey links.
#[utoipa::path(post, path = "/api/v1/analytics/paths", tag = "analytics", request_body = PathsQuery,
    responses((status = 200, body = PathsAnswer), (status = 422, body = Problem)))]
async fn paths(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<PathsQuery>,
) -> Result<Json<PathsAnswer>, Problem> {
    let index = app.services.event_index(&principal).await?;
    Ok(Json(index.paths(&query.event, query.direction.as_deref().unwrap_or("next"), query.depth.unwrap_or(3))?))
}

/// POST /api/v1/analytics/kpi: DAU/WAU/MAU, new customers, D1/D7/D30 retention, repurchase rate,
/// GMV, ARPU, message open and coupon redemption rates.
#[utoipa::path(post, path = "/api/v1/analytics/kpi", tag = "analytics", request_body = KpiQuery,
    responses((status = 200, body = KpiAnswer), (status = 422, body = Problem)))]
async fn kpi(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(query): ApiJson<KpiQuery>,
) -> Result<Json<KpiAnswer>, Problem> {
    let as_of = date("as_of", query.as_of)?;
    let index = app.services.event_index(&principal).await?;
    let tz = time_zone(&app, &principal, query.tz).await?;
    Ok(Json(index.kpis(&tz, as_of)))
}
