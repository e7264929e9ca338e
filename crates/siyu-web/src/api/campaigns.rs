//! `/api/v1/flash-sales/*` and customer tokens: operators create flash sales and watch their
//! orders, attempts and refusals; the payment side marks orders paid; the brand's backend asks for
//! the token a signed-in customer presents to the customer API (`/c/v1`).

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use siyu_core::CustomerId;
use siyu_domain::campaigns::service::MAX_ORDER_PAGE;
use siyu_domain::campaigns::{FlashSaleInput, FlashSaleView, IssuedToken, OrderView, TokenInput};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customer_token))
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(orders))
        .routes(routes!(pay))
}

/// POST /api/v1/customers/{id}/token: a customer token for the customer API, living a day unless
/// `ttl_seconds` says otherwise (60 to 2,592,000).
#[utoipa::path(post, path = "/api/v1/customers/{id}/token", tag = "campaigns", params(("id" = i64, Path)),
    request_body = Option<TokenInput>,
    responses((status = 201, body = IssuedToken), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn customer_token(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<IssuedToken>), Problem> {
    let input: TokenInput = if body.iter().all(u8::is_ascii_whitespace) {
        TokenInput::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    Ok((StatusCode::CREATED, Json(app.services.campaigns.customer_token(&principal, CustomerId(id), &input).await?)))
}

/// Every flash sale.
#[derive(Serialize, ToSchema)]
struct FlashSaleList {
    /// Sales, newest first, with their counts.
    items: Vec<FlashSaleView>,
}

/// GET /api/v1/flash-sales: every flash sale with its counts.
#[utoipa::path(get, path = "/api/v1/flash-sales", tag = "campaigns", responses((status = 200, body = FlashSaleList)))]
async fn list(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<FlashSaleList>, Problem> {
    Ok(Json(FlashSaleList { items: app.services.campaigns.flash_sales(&principal).await? }))
}

/// POST /api/v1/flash-sales: creates a flash sale (every bad field named).
#[utoipa::path(post, path = "/api/v1/flash-sales", tag = "campaigns", request_body = FlashSaleInput,
    responses((status = 201, body = FlashSaleView), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<FlashSaleInput>,
) -> Result<(StatusCode, Json<FlashSaleView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.create_flash_sale(&principal, input).await?)))
}

/// GET /api/v1/flash-sales/{id}: a sale with its orders by status, buyers, attempts and refusals.
#[utoipa::path(get, path = "/api/v1/flash-sales/{id}", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = FlashSaleView), (status = 404, body = Problem)))]
async fn show(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<FlashSaleView>, Problem> {
    Ok(Json(app.services.campaigns.flash_sale(&principal, id).await?))
}

/// A page of orders.
#[derive(Serialize, ToSchema)]
struct OrderList {
    /// Orders, newest first.
    items: Vec<OrderView>,
    /// The `before` of the next page, if there may be one.
    next_before: Option<i64>,
}

/// GET /api/v1/flash-sales/{id}/orders: a sale's orders, newest first (`limit` 1 to 500, 100 unless
/// set; `before`: the `next_before` of the previous page).
#[utoipa::path(get, path = "/api/v1/flash-sales/{id}/orders", tag = "campaigns",
    params(("id" = i64, Path), ("limit" = Option<usize>, Query), ("before" = Option<i64>, Query)),
    responses((status = 200, body = OrderList), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn orders(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Json<OrderList>, Problem> {
    let (mut limit, mut before) = (100usize, None);
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "limit" => {
                limit = value.parse().ok().filter(|l| (1..=MAX_ORDER_PAGE).contains(l)).ok_or_else(|| {
                    Problem::malformed("limit", format!("\"{value}\" is not a number from 1 to {MAX_ORDER_PAGE}"))
                })?;
            }
            "before" => {
                before = Some(
                    value
                        .parse()
                        .map_err(|_| Problem::malformed("before", format!("\"{value}\" is not an order id")))?,
                );
            }
            _ => return Err(Problem::malformed(key.as_ref(), format!("unknown query parameter \"{key}\""))),
        }
    }
    let items = app.services.campaigns.sale_orders(&principal, id, before, limit).await?;
    let next_before = (items.len() == limit).then(|| items.last().map(|o| o.id)).flatten();
    Ok(Json(OrderList { items, next_before }))
}

/// A payment received.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct PayInput {
    /// The payment provider's reference (e.g. WeChat Pay's `transaction_id`).
    #[serde(default)]
    payment_ref: Option<String>,
}

/// POST /api/v1/flash-sales/{id}/orders/{order}/pay: marks an order paid (again: no change; 409 if
/// it was released unpaid).
#[utoipa::path(post, path = "/api/v1/flash-sales/{id}/orders/{order}/pay", tag = "campaigns",
    params(("id" = i64, Path), ("order" = i64, Path)), request_body = Option<PayInput>,
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn pay(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path((id, order)): Path<(i64, i64)>,
    body: axum::body::Bytes,
) -> Result<Json<OrderView>, Problem> {
    let input: PayInput =
        if body.iter().all(u8::is_ascii_whitespace) { PayInput::default() } else { crate::extract::parse_json(&body)? };
    Ok(Json(app.services.campaigns.pay_order(&principal, id, order, input.payment_ref.as_deref()).await?))
}
