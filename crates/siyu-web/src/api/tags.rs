//! `/api/v1/tag-groups` and `/api/v1/tags`.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use siyu_core::TagId;
use siyu_domain::customers::tags::{Tag, TagGroup};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tag_groups, create_tag_group))
        .routes(routes!(list_tags, create_tag))
        .routes(routes!(delete_tag))
}

/// A new tag group.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTagGroup {
    /// Name, unique in the workspace.
    name: String,
    /// `demographic`, `consumption_preference`, `content_interest`, `behaviour` or `social`.
    family: String,
}

/// GET /api/v1/tag-groups: lists tag groups.
#[utoipa::path(get, path = "/api/v1/tag-groups", tag = "tags", responses((status = 200, body = Vec<TagGroup>)))]
async fn list_tag_groups(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
) -> Result<Json<Vec<TagGroup>>, Problem> {
    Ok(Json(app.services.customers.tag_groups(&principal).await?))
}

/// POST /api/v1/tag-groups: creates a tag group in one of the five families.
#[utoipa::path(post, path = "/api/v1/tag-groups", tag = "tags", request_body = NewTagGroup,
    responses((status = 201, body = TagGroup), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_tag_group(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(body): ApiJson<NewTagGroup>,
) -> Result<(StatusCode, Json<TagGroup>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(app.services.customers.create_tag_group(&principal, &body.name, &body.family).await?),
    ))
}

/// A new tag.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTag {
    /// Name, unique in the workspace.
    name: String,
    /// Name of an existing tag group.
    group: String,
}

/// GET /api/v1/tags: lists tags with customer counts.
#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", responses((status = 200, body = Vec<Tag>)))]
async fn list_tags(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<Vec<Tag>>, Problem> {
    Ok(Json(app.services.customers.tags(&principal).await?))
}

/// POST /api/v1/tags: creates a tag in a group.
#[utoipa::path(post, path = "/api/v1/tags", tag = "tags", request_body = NewTag,
    responses((status = 201, body = Tag), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_tag(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(body): ApiJson<NewTag>,
) -> Result<(StatusCode, Json<Tag>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.customers.create_tag(&principal, &body.group, &body.name).await?)))
}

/// DELETE /api/v1/tags/{id}: deletes a tag and its assignments.
#[utoipa::path(delete, path = "/api/v1/tags/{id}", tag = "tags", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_tag(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = id.parse().map(TagId).map_err(|_| Problem::malformed("id", format!("\"{id}\" is not a tag id")))?;
    app.services.customers.delete_tag(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
