//! `/api/v1/analytics/*`: funnels, retention and RFM over the workspace's live event index.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use siyu_analytics::Granularity;
use siyu_domain::events::analytics::{FunnelAnswer, RetentionAnswer, RfmAnswer, parse_window};
use siyu_domain::{DomainError, FieldError};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(funnel)).routes(routes!(retention)).routes(routes!(rfm))
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
    let period = query.period.as_deref().unwrap_or("week");
    let granularity = Granularity::parse(period)
        .ok_or_else(|| invalid("period", format!("\"{period}\": expected day, week or month")))?;
    let index = app.services.event_index(&principal).await?;
    let tz_name = match query.tz {
        Some(tz) => tz,
        None => app.services.workspace(&principal).await?.time_zone,
    };
    let tz =
        jiff::tz::TimeZone::get(&tz_name).map_err(|_| invalid("tz", format!("unknown time zone \"{tz_name}\"")))?;
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
