//! `/api/v1/journeys/*`, `/api/v1/tasks/*` and a customer's journeys: drafts, publishing (the whole
//! graph checked, every problem named by its path under `definition`), pause, resume, archive,
//! entering customers by API, counts per node and arm, and the agents' follow-up tasks.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use siyu_core::CustomerId;
use siyu_domain::FieldError;
use siyu_domain::journeys::service::{EntryView, JourneyStats};
use siyu_domain::journeys::store::{JourneyStatus, StoredTask};
use siyu_domain::journeys::{Definition, JourneyInput, JourneyView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, replace))
        .routes(routes!(check))
        .routes(routes!(publish))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(archive))
        .routes(routes!(enter))
        .routes(routes!(customer_journeys))
        .routes(routes!(tasks))
        .routes(routes!(complete_task))
}

/// Every journey.
#[derive(Serialize, ToSchema)]
struct JourneyList {
    /// Journeys, newest first.
    items: Vec<JourneyView>,
}

/// GET /api/v1/journeys: every journey with its status and version.
#[utoipa::path(get, path = "/api/v1/journeys", tag = "journeys", responses((status = 200, body = JourneyList)))]
async fn list(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<JourneyList>, Problem> {
    Ok(Json(JourneyList { items: app.services.journeys.journeys(&principal).await? }))
}

/// POST /api/v1/journeys: creates a draft (checked as a whole when published).
#[utoipa::path(post, path = "/api/v1/journeys", tag = "journeys", request_body = JourneyInput,
    responses((status = 201, body = JourneyView), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<JourneyInput>,
) -> Result<(StatusCode, Json<JourneyView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.journeys.create(&principal, &input).await?)))
}

/// A journey with its counts.
#[derive(Serialize, ToSchema)]
struct JourneyDetail {
    /// The journey.
    #[serde(flatten)]
    journey: JourneyView,
    /// Its counts per node, state and arm.
    stats: JourneyStats,
}

/// GET /api/v1/journeys/{id}: a journey with its counts per node (entered, passed, waiting, and
/// its messages' statuses), per state, and conversions per split arm.
#[utoipa::path(get, path = "/api/v1/journeys/{id}", tag = "journeys", params(("id" = i64, Path)),
    responses((status = 200, body = JourneyDetail), (status = 404, body = Problem)))]
async fn show(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<JourneyDetail>, Problem> {
    let journey = app.services.journeys.journey(&principal, id).await?;
    let stats = app.services.journeys.stats(&principal, id).await?;
    Ok(Json(JourneyDetail { journey, stats }))
}

/// PUT /api/v1/journeys/{id}: replaces the name and draft (customers on it keep their version).
#[utoipa::path(put, path = "/api/v1/journeys/{id}", tag = "journeys", params(("id" = i64, Path)),
    request_body = JourneyInput,
    responses((status = 200, body = JourneyView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn replace(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<JourneyInput>,
) -> Result<Json<JourneyView>, Problem> {
    Ok(Json(app.services.journeys.update(&principal, id, &input).await?))
}

/// A definition to check.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckInput {
    /// The definition, as a journey's.
    definition: Definition,
}

/// What publishing a definition would find.
#[derive(Serialize, ToSchema)]
struct CheckOutcome {
    /// Each problem by its path under `definition` (none: it would publish).
    problems: Vec<FieldError>,
}

/// POST /api/v1/journeys/check: checks a definition as publishing would, against the workspace's
/// channels, tags, segments and traits, without saving anything.
#[utoipa::path(post, path = "/api/v1/journeys/check", tag = "journeys", request_body = CheckInput,
    responses((status = 200, body = CheckOutcome), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn check(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<CheckInput>,
) -> Result<Json<CheckOutcome>, Problem> {
    Ok(Json(CheckOutcome { problems: app.services.journeys.validate(&principal, &input.definition).await? }))
}

/// POST /api/v1/journeys/{id}/publish: checks the draft as a whole (422 naming each problem's
/// path, e.g. `definition.nodes.welcome.body`) and publishes it as the next version.
#[utoipa::path(post, path = "/api/v1/journeys/{id}/publish", tag = "journeys", params(("id" = i64, Path)),
    responses((status = 200, body = JourneyView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn publish(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<JourneyView>, Problem> {
    Ok(Json(app.services.journeys.publish(&principal, id).await?))
}

/// POST /api/v1/journeys/{id}/pause: nobody enters, entries wait where they are.
#[utoipa::path(post, path = "/api/v1/journeys/{id}/pause", tag = "journeys", params(("id" = i64, Path)),
    responses((status = 200, body = JourneyView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn pause(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<JourneyView>, Problem> {
    Ok(Json(app.services.journeys.set_status(&principal, id, JourneyStatus::Paused).await?))
}

/// POST /api/v1/journeys/{id}/resume: entries go on (a wait that ended meanwhile runs at once).
#[utoipa::path(post, path = "/api/v1/journeys/{id}/resume", tag = "journeys", params(("id" = i64, Path)),
    responses((status = 200, body = JourneyView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn resume(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<JourneyView>, Problem> {
    Ok(Json(app.services.journeys.set_status(&principal, id, JourneyStatus::Active).await?))
}

/// POST /api/v1/journeys/{id}/archive: nobody enters, and the entries on it leave.
#[utoipa::path(post, path = "/api/v1/journeys/{id}/archive", tag = "journeys", params(("id" = i64, Path)),
    responses((status = 200, body = JourneyView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn archive(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<JourneyView>, Problem> {
    Ok(Json(app.services.journeys.set_status(&principal, id, JourneyStatus::Archived).await?))
}

/// Customers to enter.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EntriesInput {
    /// The customers (1 to 1,000).
    #[schema(value_type = Vec<i64>)]
    customer_ids: Vec<CustomerId>,
    /// Makes the call idempotent: the same key enters a customer once.
    key: String,
}

/// How many entered.
#[derive(Serialize, ToSchema)]
struct Entered {
    /// Customers who entered (the others were on it already, or the re-entry policy kept them out).
    entered: usize,
}

/// POST /api/v1/journeys/{id}/entries: enters customers on an active journey now.
#[utoipa::path(post, path = "/api/v1/journeys/{id}/entries", tag = "journeys", params(("id" = i64, Path)),
    request_body = EntriesInput,
    responses((status = 200, body = Entered), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn enter(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<EntriesInput>,
) -> Result<Json<Entered>, Problem> {
    let entered = app.services.journeys.enter_customers(&principal, id, &input.customer_ids, &input.key).await?;
    Ok(Json(Entered { entered }))
}

/// A customer's journeys.
#[derive(Serialize, ToSchema)]
struct EntryList {
    /// Entries, newest first.
    items: Vec<EntryView>,
}

/// GET /api/v1/customers/{id}/journeys: the customer's journeys (where they are, split arms,
/// conversions).
#[utoipa::path(get, path = "/api/v1/customers/{id}/journeys", tag = "journeys", params(("id" = i64, Path)),
    responses((status = 200, body = EntryList), (status = 404, body = Problem)))]
async fn customer_journeys(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<EntryList>, Problem> {
    Ok(Json(EntryList { items: app.services.journeys.customer_entries(&principal, CustomerId(id)).await? }))
}

/// Agent tasks.
#[derive(Serialize, ToSchema)]
struct TaskList {
    /// Tasks, newest first.
    items: Vec<StoredTask>,
}

/// GET /api/v1/tasks: the agents' follow-up tasks journeys created (`status=open` by default, or
/// `all`).
#[utoipa::path(get, path = "/api/v1/tasks", tag = "journeys", params(("status" = Option<String>, Query)),
    responses((status = 200, body = TaskList), (status = 400, body = Problem)))]
async fn tasks(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<TaskList>, Problem> {
    let mut open_only = true;
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("status", "open") => open_only = true,
            ("status", "all") => open_only = false,
            ("status", other) => {
                return Err(Problem::malformed("status", format!("\"{other}\" is not open or all")));
            }
            _ => return Err(Problem::malformed(key.as_ref(), format!("unknown query parameter \"{key}\""))),
        }
    }
    Ok(Json(TaskList { items: app.services.journeys.tasks(&principal, open_only).await? }))
}

/// POST /api/v1/tasks/{id}/done: marks a task done.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/done", tag = "journeys", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn complete_task(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    app.services.journeys.complete_task(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
