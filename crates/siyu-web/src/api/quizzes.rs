//! `/api/v1/quizzes/*`: quizzes (知识竞赛) created with their questions, time limit, attempts,
//! passing score and prizes, and watched: participants, attempts, pass rate, average score, the
//! leaderboard and the refusals.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use siyu_domain::campaigns::quiz::QuizInput;
use siyu_domain::campaigns::quizzes::QuizView;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(show))
}

/// Every quiz.
#[derive(Serialize, ToSchema)]
struct QuizList {
    /// Quizzes with their counts, newest first.
    items: Vec<QuizView>,
}

/// GET /api/v1/quizzes: every quiz with its counts.
#[utoipa::path(get, path = "/api/v1/quizzes", tag = "quizzes", responses((status = 200, body = QuizList)))]
async fn list(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<QuizList>, Problem> {
    Ok(Json(QuizList { items: app.services.campaigns.quizzes(&principal).await? }))
}

/// POST /api/v1/quizzes: creates a quiz; its rewards' coupon templates and lotteries must exist.
#[utoipa::path(post, path = "/api/v1/quizzes", tag = "quizzes", request_body = QuizInput,
    responses((status = 201, body = QuizView), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<QuizInput>,
) -> Result<(StatusCode, Json<QuizView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.campaigns.create_quiz(&principal, input).await?)))
}

/// GET /api/v1/quizzes/{id}: the quiz with its counts and leaderboard (customer ids).
#[utoipa::path(get, path = "/api/v1/quizzes/{id}", tag = "quizzes", params(("id" = i64, Path)),
    responses((status = 200, body = QuizView), (status = 404, body = Problem)))]
async fn show(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<QuizView>, Problem> {
    Ok(Json(app.services.campaigns.quiz(&principal, id).await?))
}
