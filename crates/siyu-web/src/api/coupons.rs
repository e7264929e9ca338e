//! `/api/v1/coupon-templates/*`, `/api/v1/coupons/*` and a customer's coupons: templates created
//! and watched (issued, claimed, redeemed, expired, redemption rate, revenue, refusals), bulk issues
//! to a segment with their progress, one coupon granted, a code looked up, redeemed against an order
//! (idempotent by the order's id) and given back when the order is refunded.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use siyu_core::CustomerId;
use siyu_domain::campaigns::{CouponView, IssueView, RedeemInput, RedemptionView, TemplateInput, TemplateView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(issue))
        .routes(routes!(grant))
        .routes(routes!(issue_progress))
        .routes(routes!(by_code))
        .routes(routes!(redeem))
        .routes(routes!(release))
        .routes(routes!(customer_coupons))
}

/// Every coupon template.
#[derive(Serialize, ToSchema)]
struct TemplateList {
    /// Templates, newest first, with their counts.
    items: Vec<TemplateView>,
}

/// GET /api/v1/coupon-templates: every template with its counts.
#[utoipa::path(get, path = "/api/v1/coupon-templates", tag = "coupons", responses((status = 200, body = TemplateList)))]
async fn list(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<TemplateList>, Problem> {
    Ok(Json(TemplateList { items: app.services.campaigns.coupon_templates(&principal).await? }))
}

/// POST /api/v1/coupon-templates: creates a template (every bad field named).
#[utoipa::path(post, path = "/api/v1/coupon-templates", tag = "coupons", request_body = TemplateInput,
    responses((status = 201, body = TemplateView), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<(StatusCode, Json<TemplateView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.create_coupon_template(&principal, input).await?)))
}

/// GET /api/v1/coupon-templates/{id}: a template with its counts.
#[utoipa::path(get, path = "/api/v1/coupon-templates/{id}", tag = "coupons", params(("id" = i64, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = Problem)))]
async fn show(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<TemplateView>, Problem> {
    Ok(Json(app.services.campaigns.coupon_template(&principal, id).await?))
}

/// A bulk issue to ask for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IssueInput {
    /// The segment whose members get one coupon each.
    segment: String,
}

/// POST /api/v1/coupon-templates/{id}/issue: issues one coupon to each member of a segment, in
/// the background; 202 with the issue, whose progress `GET /api/v1/coupon-issues/{id}` shows.
#[utoipa::path(post, path = "/api/v1/coupon-templates/{id}/issue", tag = "coupons", params(("id" = i64, Path)),
    request_body = IssueInput,
    responses((status = 202, body = IssueView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn issue(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<IssueInput>,
) -> Result<(StatusCode, Json<IssueView>), Problem> {
    Ok((StatusCode::ACCEPTED, Json(app.services.campaigns.issue_coupons(&principal, id, &input.segment).await?)))
}

/// One coupon to give.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GrantInput {
    /// The customer.
    customer_id: i64,
}

/// POST /api/v1/coupon-templates/{id}/grant: gives one coupon to a customer (held to the stock).
#[utoipa::path(post, path = "/api/v1/coupon-templates/{id}/grant", tag = "coupons", params(("id" = i64, Path)),
    request_body = GrantInput,
    responses((status = 201, body = CouponView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn grant(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<GrantInput>,
) -> Result<(StatusCode, Json<CouponView>), Problem> {
    let coupon = app.services.campaigns.grant_coupon(&principal, id, CustomerId(input.customer_id)).await?;
    Ok((StatusCode::CREATED, Json(coupon)))
}

/// GET /api/v1/coupon-issues/{id}: a bulk issue's progress.
#[utoipa::path(get, path = "/api/v1/coupon-issues/{id}", tag = "coupons", params(("id" = i64, Path)),
    responses((status = 200, body = IssueView), (status = 404, body = Problem)))]
async fn issue_progress(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<IssueView>, Problem> {
    Ok(Json(app.services.campaigns.coupon_issue(&principal, id).await?))
}

/// GET /api/v1/coupons/{code}: the coupon a code names (a store checks it before the order).
#[utoipa::path(get, path = "/api/v1/coupons/{code}", tag = "coupons", params(("code" = String, Path)),
    responses((status = 200, body = CouponView), (status = 404, body = Problem)))]
async fn by_code(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(code): Path<String>,
) -> Result<Json<CouponView>, Problem> {
    Ok(Json(app.services.campaigns.coupon_by_code(&principal, &code).await?))
}

/// POST /api/v1/coupons/redeem: redeems a coupon against an order. The same order and code again
/// answer as the first time; each refusal is its own problem type (`coupon-expired`,
/// `coupon-already-redeemed`, `order-already-used`, `threshold-not-met`, `coupon-not-yours`, …).
#[utoipa::path(post, path = "/api/v1/coupons/redeem", tag = "coupons", request_body = RedeemInput,
    responses((status = 200, body = RedemptionView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn redeem(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<RedeemInput>,
) -> Result<Json<RedemptionView>, Problem> {
    Ok(Json(app.services.campaigns.redeem_coupon(&principal, &input).await?))
}

/// A refunded order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReleaseInput {
    /// The order's id.
    order_id: String,
}

/// POST /api/v1/coupons/release: gives back the coupon a refunded order used (usable again while
/// its window lasts).
#[utoipa::path(post, path = "/api/v1/coupons/release", tag = "coupons", request_body = ReleaseInput,
    responses((status = 200, body = CouponView), (status = 404, body = Problem)))]
async fn release(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<ReleaseInput>,
) -> Result<Json<CouponView>, Problem> {
    Ok(Json(app.services.campaigns.release_coupon(&principal, &input.order_id).await?))
}

/// A customer's coupons.
#[derive(Serialize, ToSchema)]
struct CouponList {
    /// Coupons, newest first.
    items: Vec<CouponView>,
}

/// GET /api/v1/customers/{id}/coupons: a customer's coupons with their codes.
#[utoipa::path(get, path = "/api/v1/customers/{id}/coupons", tag = "coupons", params(("id" = i64, Path)),
    responses((status = 200, body = CouponList), (status = 404, body = Problem)))]
async fn customer_coupons(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<CouponList>, Problem> {
    Ok(Json(CouponList { items: app.services.campaigns.customer_coupons(&principal, CustomerId(id)).await? }))
}
