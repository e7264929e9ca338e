//! `/api/v1/models/*`: the built-in customer models (RFM classes, lifecycle stages, value tiers,
//! churn warning and recall list, health score, LTV), their thresholds, and a customer's models.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Serialize;
use siyu_core::{CustomerId, PageRequest};
use siyu_domain::models::{CustomerModelView, LtvAnswer, RecallEntry};
use siyu_domain::models::{ModelSettings, ModelsSummary, RfmModelAnswer, StageFlow};
use siyu_domain::{DomainError, FieldError};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(run))
        .routes(routes!(rfm))
        .routes(routes!(ltv))
        .routes(routes!(recall))
        .routes(routes!(flows))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(customer_models))
}

fn bad(field: &str, reason: String) -> Problem {
    Problem::bad_query(DomainError::Invalid(vec![FieldError::new(field, reason)]))
}

/// Parses `key=value` query parameters, refusing any key not in `allowed`.
fn query_pairs(raw: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    let mut pairs = Vec::new();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            return Err(bad(&key, format!("unknown query parameter \"{key}\"; expected {}", allowed.join(", "))));
        }
        pairs.push((key.into_owned(), value.into_owned()));
    }
    Ok(pairs)
}

/// Reads `limit` and `cursor` (and nothing else) from a query string.
pub(crate) fn page_request(raw: Option<&str>) -> Result<PageRequest, Problem> {
    let mut page = PageRequest::first(PageRequest::DEFAULT_LIMIT);
    for (key, value) in query_pairs(raw, &["limit", "cursor"])? {
        if key == "limit" {
            page.limit = value
                .parse()
                .ok()
                .filter(|l| (1..=PageRequest::MAX_LIMIT).contains(l))
                .ok_or_else(|| bad("limit", format!("\"{value}\" must be a number from 1 to 1000")))?;
        } else {
            page.after = Some(
                PageRequest::decode_cursor(&value)
                    .ok_or_else(|| bad("cursor", format!("\"{value}\" is not a cursor from this API")))?,
            );
        }
    }
    Ok(page)
}

fn instant(field: &str, text: &str) -> Result<jiff::Timestamp, Problem> {
    text.parse().map_err(|_| bad(field, format!("\"{text}\" is not an RFC 3339 instant")))
}

/// GET /api/v1/models: lifecycle stages, value tiers, health bands and the recall list's size.
#[utoipa::path(get, path = "/api/v1/models", tag = "models", responses((status = 200, body = ModelsSummary)))]
async fn summary(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<ModelsSummary>, Problem> {
    Ok(Json(app.services.models.models_summary(&principal).await?))
}

/// The answer to a recomputation request.
#[derive(Serialize, ToSchema)]
struct RunScheduled {
    /// Always `scheduled`: the models (and then their LTV fit) are computed in the background;
    /// `GET /api/v1/models` says `refreshing: true` until they are done.
    status: &'static str,
    /// The instant they are computed as of (absent: the time the computation starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<String>,
}

/// POST /api/v1/models/run: schedules a recomputation of the models (as of `?as_of=`, default
/// now) in the background and answers at once; reads go on answering the last computed models.
#[utoipa::path(post, path = "/api/v1/models/run", tag = "models",
    params(("as_of" = Option<String>, Query, description = "RFC 3339 instant to compute as of (default now)")),
    responses((status = 202, body = RunScheduled), (status = 400, body = Problem)))]
async fn run(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<RunScheduled>), Problem> {
    let mut as_of = None;
    for (_, value) in query_pairs(raw.as_deref(), &["as_of"])? {
        as_of = Some(instant("as_of", &value)?);
    }
    app.services.models.schedule_models(&principal, as_of).await?;
    Ok((StatusCode::ACCEPTED, Json(RunScheduled { status: "scheduled", as_of: as_of.map(|t| t.to_string()) })))
}

/// GET /api/v1/models/rfm: the eight RFM classes and the R × F heatmap (422 `no-order-data`
/// when the workspace has no orders).
#[utoipa::path(get, path = "/api/v1/models/rfm", tag = "models",
    responses((status = 200, body = RfmModelAnswer), (status = 422, body = Problem)))]
async fn rfm(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<RfmModelAnswer>, Problem> {
    Ok(Json(app.services.models.rfm_model(&principal).await?))
}

/// GET /api/v1/models/ltv: the BG/NBD and Gamma-Gamma fit over the workspace's orders and the
/// distribution of predicted value (422 `no-order-data` when there are no orders). Never waits
/// for a fit: it answers the last finished one (`status`: `fitted`, or `not_converged` without
/// predictions), or `computing` before the first.
#[utoipa::path(get, path = "/api/v1/models/ltv", tag = "models",
    responses((status = 200, body = LtvAnswer), (status = 422, body = Problem)))]
async fn ltv(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<LtvAnswer>, Problem> {
    Ok(Json(app.services.models.ltv_model(&principal).await?))
}

/// A page of the recall list.
#[derive(Serialize, ToSchema)]
struct RecallPage {
    /// Customers on the list in all.
    total: u64,
    /// This page, healthiest first.
    items: Vec<RecallEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// GET /api/v1/models/recall: customers with a churn warning (no interaction for `churn_days`).
#[utoipa::path(get, path = "/api/v1/models/recall", tag = "models",
    params(("limit" = Option<u32>, Query, description = "1-1000, default 50"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = RecallPage), (status = 400, body = Problem)))]
async fn recall(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<RecallPage>, Problem> {
    let (total, page) = app.services.models.recall_list(&principal, page_request(raw.as_deref())?).await?;
    Ok(Json(RecallPage { total, items: page.items, next_cursor: page.next_after.map(PageRequest::encode_cursor) }))
}

/// GET /api/v1/models/lifecycle/flows?from=&to=: customers moving between lifecycle stages from
/// one instant to another (`unseen`: not seen yet at `from`).
#[utoipa::path(get, path = "/api/v1/models/lifecycle/flows", tag = "models",
    params(("from" = String, Query, description = "RFC 3339 instant"), ("to" = Option<String>, Query, description = "RFC 3339 instant (default now)")),
    responses((status = 200, body = Vec<StageFlow>), (status = 400, body = Problem)))]
async fn flows(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<StageFlow>>, Problem> {
    let (mut from, mut to) = (None, None);
    for (key, value) in query_pairs(raw.as_deref(), &["from", "to"])? {
        let at = instant(&key, &value)?;
        if key == "from" { from = Some(at) } else { to = Some(at) }
    }
    let from = from.ok_or_else(|| bad("from", "is required".into()))?;
    let to = to.unwrap_or_else(|| app.services.now());
    Ok(Json(app.services.models.lifecycle_flows(&principal, from, to).await.map_err(Problem::bad_query)?))
}

/// GET /api/v1/models/settings: the thresholds in force (defaults until some are saved).
#[utoipa::path(get, path = "/api/v1/models/settings", tag = "models", responses((status = 200, body = ModelSettings)))]
async fn get_settings(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
) -> Result<Json<ModelSettings>, Problem> {
    Ok(Json(app.services.models.model_settings(&principal).await?))
}

/// PUT /api/v1/models/settings: replaces the thresholds (omitted fields take their defaults); a
/// threshold out of range is a 400 naming it, and nothing is saved.
#[utoipa::path(put, path = "/api/v1/models/settings", tag = "models", request_body = ModelSettings,
    responses((status = 200, body = ModelSettings), (status = 400, body = Problem)))]
async fn put_settings(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(settings): ApiJson<ModelSettings>,
) -> Result<Json<ModelSettings>, Problem> {
    app.services.models.set_model_settings(&principal, &settings).await.map_err(Problem::bad_query)?;
    Ok(Json(settings))
}

/// A customer's models.
#[derive(Serialize, ToSchema)]
struct CustomerModels {
    /// The customer (the survivor, for a merged-away id).
    customer_id: i64,
    /// The models; `null` until the customer has an event.
    models: Option<CustomerModelView>,
}

/// GET /api/v1/customers/{id}/models: one customer's stage, tier, RFM, health, recall and LTV.
#[utoipa::path(get, path = "/api/v1/customers/{id}/models", tag = "models", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerModels), (status = 404, body = Problem)))]
async fn customer_models(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<CustomerModels>, Problem> {
    let models = app.services.models.customer_model(&principal, CustomerId(id)).await?;
    Ok(Json(CustomerModels { customer_id: id, models }))
}
