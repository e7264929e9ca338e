//! `/api/v1/lotteries/*`: lotteries created with their prizes, odds and published seed hash,
//! watched (each prize's count given), extra chances granted, and the audit (prizes, every draw
//! and, once closed, the seed) that `siyu lottery verify` checks.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use siyu_domain::campaigns::lotteries::{ChancesInput, LotteryView};
use siyu_domain::campaigns::lottery::{LotteryAudit, LotteryInput};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(audit))
        .routes(routes!(chances))
}

/// Every lottery.
#[derive(Serialize, ToSchema)]
struct LotteryList {
    /// Lotteries, newest first.
    items: Vec<LotteryView>,
}

/// GET /api/v1/lotteries: every lottery with its prizes' counts.
#[utoipa::path(get, path = "/api/v1/lotteries", tag = "lotteries", responses((status = 200, body = LotteryList)))]
async fn list(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<LotteryList>, Problem> {
    Ok(Json(LotteryList { items: app.services.campaigns.lotteries(&principal).await? }))
}

/// POST /api/v1/lotteries: creates a lottery; its seed's SHA-256 is published at once.
#[utoipa::path(post, path = "/api/v1/lotteries", tag = "lotteries", request_body = LotteryInput,
    responses((status = 201, body = LotteryView), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<LotteryInput>,
) -> Result<(StatusCode, Json<LotteryView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.create_lottery(&principal, input).await?)))
}

/// GET /api/v1/lotteries/{id}: a lottery with its prizes' counts (and its seed once closed).
#[utoipa::path(get, path = "/api/v1/lotteries/{id}", tag = "lotteries", params(("id" = i64, Path)),
    responses((status = 200, body = LotteryView), (status = 404, body = Problem)))]
async fn show(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<LotteryView>, Problem> {
    Ok(Json(app.services.campaigns.lottery(&principal, id).await?))
}

/// GET /api/v1/lotteries/{id}/audit: the prizes, every draw and, once closed, the seed: give it to
/// `siyu lottery verify`.
#[utoipa::path(get, path = "/api/v1/lotteries/{id}/audit", tag = "lotteries", params(("id" = i64, Path)),
    responses((status = 200, body = LotteryAudit), (status = 404, body = Problem)))]
async fn audit(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<LotteryAudit>, Problem> {
    Ok(Json(app.services.campaigns.lottery_audit(&principal, id).await?))
}

/// POST /api/v1/lotteries/{id}/chances: grants a customer extra draws (1 to 100).
#[utoipa::path(post, path = "/api/v1/lotteries/{id}/chances", tag = "lotteries", params(("id" = i64, Path)),
    request_body = ChancesInput,
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn chances(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<ChancesInput>,
) -> Result<StatusCode, Problem> {
    app.services.campaigns.grant_chances(&principal, id, &input).await?;
    Ok(StatusCode::NO_CONTENT)
}
