//! `/api/v1/group-buys/*`: group-buying activities (拼团) created with their item, group size,
//! time limit and stock, and watched: groups open, completed and failed, orders confirmed, units
//! reserved, the completion rate and the refusals.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use siyu_domain::campaigns::group_buy::GroupBuyInput;
use siyu_domain::campaigns::group_buys::GroupBuyView;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(show))
}

/// Every group-buying activity.
#[derive(Serialize, ToSchema)]
struct GroupBuyList {
    /// Activities with their counts, newest first.
    items: Vec<GroupBuyView>,
}

/// GET /api/v1/group-buys: every group-buying activity with its counts.
#[utoipa::path(get, path = "/api/v1/group-buys", tag = "group-buys", responses((status = 200, body = GroupBuyList)))]
async fn list(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<GroupBuyList>, Problem> {
    Ok(Json(GroupBuyList { items: app.services.campaigns.group_buys(&principal).await? }))
}

/// POST /api/v1/group-buys: creates a group-buying activity.
#[utoipa::path(post, path = "/api/v1/group-buys", tag = "group-buys", request_body = GroupBuyInput,
    responses((status = 201, body = GroupBuyView), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<GroupBuyInput>,
) -> Result<(StatusCode, Json<GroupBuyView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.create_group_buy(&principal, input).await?)))
}

/// GET /api/v1/group-buys/{id}: the activity with its counts.
#[utoipa::path(get, path = "/api/v1/group-buys/{id}", tag = "group-buys", params(("id" = i64, Path)),
    responses((status = 200, body = GroupBuyView), (status = 404, body = Problem)))]
async fn show(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<GroupBuyView>, Problem> {
    Ok(Json(app.services.campaigns.group_buy(&principal, id).await?))
}
