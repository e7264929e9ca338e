//! `/api/v1/checkins/*`: daily check-in activities created with their streak milestones and
//! make-up cards, and watched: participants, each day's check-ins and make-ups, the check-in rate,
//! the milestones reached and the refusals.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use siyu_domain::campaigns::checkin::CheckinInput;
use siyu_domain::campaigns::checkins::{CheckinStats, CheckinView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(show))
}

/// Every check-in activity.
#[derive(Serialize, ToSchema)]
struct CheckinList {
    /// Activities, newest first.
    items: Vec<CheckinView>,
}

/// GET /api/v1/checkins: every check-in activity.
#[utoipa::path(get, path = "/api/v1/checkins", tag = "checkins", responses((status = 200, body = CheckinList)))]
async fn list(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<CheckinList>, Problem> {
    Ok(Json(CheckinList { items: app.services.campaigns.checkins(&principal).await? }))
}

/// POST /api/v1/checkins: creates a check-in activity; its milestones' coupon templates and
/// lotteries must exist.
#[utoipa::path(post, path = "/api/v1/checkins", tag = "checkins", request_body = CheckinInput,
    responses((status = 201, body = CheckinView), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<CheckinInput>,
) -> Result<(StatusCode, Json<CheckinView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.create_checkin(&principal, input).await?)))
}

/// GET /api/v1/checkins/{id}: the activity with its counts: participants, the last 30 days'
/// check-ins, make-ups and check-in rate, the milestones reached and the refusals.
#[utoipa::path(get, path = "/api/v1/checkins/{id}", tag = "checkins", params(("id" = i64, Path)),
    responses((status = 200, body = CheckinStats), (status = 404, body = Problem)))]
async fn show(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<CheckinStats>, Problem> {
    Ok(Json(app.services.campaigns.checkin_stats(&principal, id).await?))
}
