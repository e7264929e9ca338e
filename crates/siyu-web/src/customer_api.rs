//! The customer API under `/c/v1`: what end customers do in campaigns, authenticated by a customer
//! token (`Authorization: Bearer st1.…`, issued to the brand's backend by
//! `POST /api/v1/customers/{id}/token`), rate-limited per client address and per customer. Every
//! refusal is its own problem type (`sold-out`, `purchase-limit-reached`, `not-started`, `ended`,
//! `not-eligible`, `customer-token-invalid`, `customer-token-expired`, `rate-limited` with
//! `Retry-After`), so a page can say it in the customer's language.

use crate::AppState;
use crate::extract::ApiJson;
use crate::problem::Problem;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Json, Router, routing};
use siyu_domain::campaigns::checkins::{CheckInView, MakeupInput, MyCheckinView};
use siyu_domain::campaigns::group_buys::{GroupView, MyGroupBuyView};
use siyu_domain::campaigns::lotteries::{DrawView, LotteryView};
use siyu_domain::campaigns::quizzes::{AnswersInput, AttemptView, LeaderView, MyQuizView, ResultView};
use siyu_domain::campaigns::{CouponView, CustomerPass, OrderView, PublicSaleView};
use std::net::IpAddr;

/// The customer API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        flash_sale,
        purchase,
        my_coupons,
        claim,
        lottery,
        draw,
        my_checkin,
        check_in,
        make_up,
        my_group_buy,
        open_group,
        group,
        join_group,
        my_quiz,
        start_quiz,
        submit_quiz,
        quiz_leaderboard
    ),
    components(schemas(
        PublicSaleView,
        OrderView,
        CouponView,
        LotteryView,
        DrawView,
        MyCheckinView,
        CheckInView,
        MakeupInput,
        MyGroupBuyView,
        GroupView,
        MyQuizView,
        AttemptView,
        AnswersInput,
        ResultView,
        LeaderboardView
    ))
)]
pub struct CustomerDoc;

/// Every route of the customer API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/c/v1/flash-sales/{id}", routing::get(flash_sale))
        .route("/c/v1/flash-sales/{id}/purchase", routing::post(purchase))
        .route("/c/v1/coupons", routing::get(my_coupons))
        .route("/c/v1/lotteries/{id}", routing::get(lottery))
        .route("/c/v1/lotteries/{id}/draw", routing::post(draw))
        .route("/c/v1/coupon-templates/{id}/claim", routing::post(claim))
        .route("/c/v1/checkins/{id}", routing::get(my_checkin))
        .route("/c/v1/checkins/{id}/check-in", routing::post(check_in))
        .route("/c/v1/checkins/{id}/makeup", routing::post(make_up))
        .route("/c/v1/group-buys/{id}", routing::get(my_group_buy))
        .route("/c/v1/group-buys/{id}/groups", routing::post(open_group))
        .route("/c/v1/groups/{id}", routing::get(group))
        .route("/c/v1/groups/{id}/join", routing::post(join_group))
        .route("/c/v1/quizzes/{id}", routing::get(my_quiz))
        .route("/c/v1/quizzes/{id}/attempts", routing::post(start_quiz))
        .route("/c/v1/quizzes/{id}/leaderboard", routing::get(quiz_leaderboard))
        .route("/c/v1/quiz-attempts/{id}/answers", routing::post(submit_quiz))
        // The largest body here is a quiz's answers (100 indices).
        .layer(axum::extract::DefaultBodyLimit::max(4096))
        // A brand's own pages and mini-programs call it from their origins with the token in a
        // header; no cookies are involved.
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        )
}

/// The client's address for rate limits: the connection's peer, or, when the peer is a proxy on
/// this host or a private network, the address that proxy appended last to `X-Forwarded-For`
/// (what a client writes there itself stands to the left of it and is not believed).
pub fn client_address(headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
    let behind_proxy = match peer {
        Some(IpAddr::V4(v4)) => v4.is_loopback() || v4.is_private(),
        Some(IpAddr::V6(v6)) => v6.is_loopback() || v6.is_unique_local(),
        None => false,
    };
    let forwarded = || {
        let last = headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
        last.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    };
    if behind_proxy { forwarded().or(peer) } else { peer }
}

/// The customer a request's token names, after the address's and the customer's rate limits.
pub struct CustomerAuth(pub CustomerPass);

impl FromRequestParts<AppState> for CustomerAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
        let address = client_address(&parts.headers, peer);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        Ok(CustomerAuth(state.services.campaigns.authenticate(token, address).await?))
    }
}

/// GET /c/v1/flash-sales/{id}: the sale as the customer sees it (units left, their purchases).
#[utoipa::path(get, path = "/c/v1/flash-sales/{id}", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 200, body = PublicSaleView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 429, body = Problem)))]
async fn flash_sale(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<Json<PublicSaleView>, Problem> {
    Ok(Json(app.services.campaigns.public_flash_sale(&pass, id).await?))
}

/// POST /c/v1/flash-sales/{id}/purchase: buys one unit. 201 with the order, which holds the unit
/// until it is paid or its time to pay (`pay_by`) runs out; 409 `sold-out`,
/// `purchase-limit-reached`, `not-started` or `ended`; 403 `not-eligible`.
#[utoipa::path(post, path = "/c/v1/flash-sales/{id}/purchase", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 201, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 429, body = Problem),
        (status = 503, body = Problem)))]
async fn purchase(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<OrderView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.purchase(&pass, id).await?)))
}

/// The customer's coupons.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct MyCoupons {
    /// Coupons, newest first, with their codes.
    items: Vec<CouponView>,
}

/// GET /c/v1/coupons: the customer's own coupons, with their codes.
#[utoipa::path(get, path = "/c/v1/coupons", tag = "customer", security(("customer_token" = [])),
    responses((status = 200, body = MyCoupons), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn my_coupons(State(app): State<AppState>, CustomerAuth(pass): CustomerAuth) -> Result<Json<MyCoupons>, Problem> {
    Ok(Json(MyCoupons { items: app.services.campaigns.my_coupons(&pass).await? }))
}

/// POST /c/v1/coupon-templates/{id}/claim: claims a coupon of a claimable template. 201 with the
/// coupon and its code; 409 `out-of-stock` or `claim-limit-reached`; 403 `not-claimable`.
#[utoipa::path(post, path = "/c/v1/coupon-templates/{id}/claim", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 201, body = CouponView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 429, body = Problem)))]
async fn claim(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<CouponView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.claim_coupon(&pass, id).await?)))
}

/// GET /c/v1/lotteries/{id}: the rules, prizes and odds, the published seed hash (the seed once
/// closed) and the draw function.
#[utoipa::path(get, path = "/c/v1/lotteries/{id}", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 200, body = LotteryView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn lottery(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<Json<LotteryView>, Problem> {
    Ok(Json(app.services.campaigns.lottery_rules(&pass, id).await?))
}

/// POST /c/v1/lotteries/{id}/draw: draws once. 201 with the outcome (`won`, `none`,
/// `out_of_stock`); 409 `daily-draw-limit`, `no-draws-left`, `not-started` or `ended`.
#[utoipa::path(post, path = "/c/v1/lotteries/{id}/draw", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 201, body = DrawView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 429, body = Problem)))]
async fn draw(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<DrawView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.draw(&pass, id).await?)))
}

/// GET /c/v1/checkins/{id}: the activity's rules and milestones with the customer's standing:
/// today's check-in, the streak, the days checked in and the make-up cards left.
#[utoipa::path(get, path = "/c/v1/checkins/{id}", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 200, body = MyCheckinView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn my_checkin(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<Json<MyCheckinView>, Problem> {
    Ok(Json(app.services.campaigns.my_checkin(&pass, id).await?))
}

/// POST /c/v1/checkins/{id}/check-in: checks in for today (the workspace's local day). 201 with
/// the streak and any milestone's rewards; 409 `already-checked-in`, `not-started` or `ended`.
#[utoipa::path(post, path = "/c/v1/checkins/{id}/check-in", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 201, body = CheckInView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 429, body = Problem)))]
async fn check_in(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<CheckInView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.check_in(&pass, id).await?)))
}

/// POST /c/v1/checkins/{id}/makeup: fills a missed day with a make-up card. 201 as a check-in;
/// 409 `no-makeup-cards` or `already-checked-in`; 422 naming `date` when the card cannot reach it.
#[utoipa::path(post, path = "/c/v1/checkins/{id}/makeup", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])), request_body = MakeupInput,
    responses((status = 201, body = CheckInView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn make_up(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<MakeupInput>,
) -> Result<(StatusCode, Json<CheckInView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.make_up(&pass, id, &input).await?)))
}

/// GET /c/v1/group-buys/{id}: the activity (item, group price and size, time limit) with the
/// customer's groups in it.
#[utoipa::path(get, path = "/c/v1/group-buys/{id}", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 200, body = MyGroupBuyView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn my_group_buy(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<Json<MyGroupBuyView>, Problem> {
    Ok(Json(app.services.campaigns.my_group_buy(&pass, id).await?))
}

/// POST /c/v1/group-buys/{id}/groups: opens a group led by the customer, who takes its first
/// place; 201 with the group and its `join_path` to share. 409 `sold-out`,
/// `purchase-limit-reached`, `not-started` or `ended`.
#[utoipa::path(post, path = "/c/v1/group-buys/{id}/groups", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 201, body = GroupView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 429, body = Problem)))]
async fn open_group(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<GroupView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.open_group(&pass, id).await?)))
}

/// GET /c/v1/groups/{id}: a group as its link shows it: places taken and left, when it runs out.
#[utoipa::path(get, path = "/c/v1/groups/{id}", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 200, body = GroupView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn group(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<Json<GroupView>, Problem> {
    Ok(Json(app.services.campaigns.group(&pass, id).await?))
}

/// POST /c/v1/groups/{id}/join: joins the group; the last place completes it (every member's
/// order confirmed). 409 `group-full`, `group-expired`, `already-in-group`, `sold-out`,
/// `purchase-limit-reached`, `not-started` or `ended`.
#[utoipa::path(post, path = "/c/v1/groups/{id}/join", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 201, body = GroupView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 429, body = Problem)))]
async fn join_group(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<GroupView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.join_group(&pass, id).await?)))
}

/// GET /c/v1/quizzes/{id}: the quiz (no questions until an attempt starts) with the customer's
/// attempts left and best score.
#[utoipa::path(get, path = "/c/v1/quizzes/{id}", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 200, body = MyQuizView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn my_quiz(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<Json<MyQuizView>, Problem> {
    Ok(Json(app.services.campaigns.my_quiz(&pass, id).await?))
}

/// POST /c/v1/quizzes/{id}/attempts: starts an attempt; 201 with its questions (answers kept back)
/// and its deadline. 409 `no-attempts-left`, `not-started` or `ended`.
#[utoipa::path(post, path = "/c/v1/quizzes/{id}/attempts", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 201, body = AttemptView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 429, body = Problem)))]
async fn start_quiz(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<AttemptView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.start_quiz(&pass, id).await?)))
}

/// POST /c/v1/quiz-attempts/{id}/answers: scores the attempt, once and by its deadline; a passing
/// score gives the quiz's reward the first time. 409 `already-submitted` or `attempt-expired`;
/// 422 naming `answers` when they do not fit the questions.
#[utoipa::path(post, path = "/c/v1/quiz-attempts/{id}/answers", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])), request_body = AnswersInput,
    responses((status = 201, body = ResultView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn submit_quiz(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<AnswersInput>,
) -> Result<(StatusCode, Json<ResultView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.submit_quiz(&pass, id, &input).await?)))
}

/// The best of a quiz.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct LeaderboardView {
    /// The best customers' ranks, scores and times (the asking customer's marked `you`).
    items: Vec<LeaderView>,
}

/// GET /c/v1/quizzes/{id}/leaderboard: the 20 best, each customer's best attempt: the score, then
/// the quicker, then the earlier.
#[utoipa::path(get, path = "/c/v1/quizzes/{id}/leaderboard", tag = "customer", params(("id" = i64, Path)),
    security(("customer_token" = [])),
    responses((status = 200, body = LeaderboardView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn quiz_leaderboard(
    State(app): State<AppState>,
    CustomerAuth(pass): CustomerAuth,
    Path(id): Path<i64>,
) -> Result<Json<LeaderboardView>, Problem> {
    Ok(Json(LeaderboardView { items: app.services.campaigns.quiz_leaderboard(&pass, id).await? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_proxy_and_only_its_last_hop() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 198.51.100.7".parse().expect("header"));
        let proxy: IpAddr = "10.0.0.2".parse().expect("address");
        let public: IpAddr = "203.0.113.5".parse().expect("address");
        assert_eq!(client_address(&headers, Some(proxy)), Some("198.51.100.7".parse().expect("address")));
        assert_eq!(client_address(&headers, Some(public)), Some(public), "a client cannot name itself");
        headers.insert("x-forwarded-for", "not an address".parse().expect("header"));
        assert_eq!(client_address(&headers, Some(proxy)), Some(proxy));
        assert_eq!(client_address(&HeaderMap::new(), None), None);
    }
}
