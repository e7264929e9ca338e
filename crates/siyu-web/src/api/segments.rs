//! `/api/v1/segments/*`: segment definitions (JSON tree or text), the live size of a definition
//! being edited, and members. Invalid text is a 400 naming `text` with the line and column.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Serialize;
use siyu_core::{CustomerId, PageRequest};
use siyu_domain::segments::{DefinitionInput, SegmentInput, SegmentPreview, SegmentView};
use siyu_domain::{DomainError, FieldError};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(preview))
        .routes(routes!(show, replace, delete))
        .routes(routes!(members))
        .routes(routes!(export))
}

/// Every segment with its size now.
#[derive(Serialize, ToSchema)]
struct SegmentList {
    /// Segments by key.
    items: Vec<SegmentView>,
}

/// GET /api/v1/segments: every segment with its size now.
#[utoipa::path(get, path = "/api/v1/segments", tag = "segments", responses((status = 200, body = SegmentList)))]
async fn list(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<SegmentList>, Problem> {
    Ok(Json(SegmentList { items: app.services.segments.segments(&principal).await? }))
}

/// POST /api/v1/segments: creates a segment from a JSON tree (`definition`) or text (`text`).
#[utoipa::path(post, path = "/api/v1/segments", tag = "segments", request_body = SegmentInput,
    responses((status = 201, body = SegmentView), (status = 400, body = Problem), (status = 409, body = Problem)))]
async fn create(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<SegmentInput>,
) -> Result<(StatusCode, Json<SegmentView>), Problem> {
    let view = app.services.segments.save_segment(&principal, &input, false).await.map_err(Problem::bad_query)?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// POST /api/v1/segments/preview: the size and warnings of a definition, without saving it.
#[utoipa::path(post, path = "/api/v1/segments/preview", tag = "segments", request_body = DefinitionInput,
    responses((status = 200, body = SegmentPreview), (status = 400, body = Problem)))]
async fn preview(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<DefinitionInput>,
) -> Result<Json<SegmentPreview>, Problem> {
    Ok(Json(app.services.segments.preview_segment(&principal, &input).await.map_err(Problem::bad_query)?))
}

/// GET /api/v1/segments/{key}: a segment with its size now.
#[utoipa::path(get, path = "/api/v1/segments/{key}", tag = "segments", params(("key" = String, Path)),
    responses((status = 200, body = SegmentView), (status = 404, body = Problem)))]
async fn show(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(key): Path<String>,
) -> Result<Json<SegmentView>, Problem> {
    Ok(Json(app.services.segments.segment(&principal, &key).await?))
}

/// PUT /api/v1/segments/{key}: replaces a segment's name and definition.
#[utoipa::path(put, path = "/api/v1/segments/{key}", tag = "segments", params(("key" = String, Path)),
    request_body = SegmentInput,
    responses((status = 200, body = SegmentView), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn replace(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(key): Path<String>,
    ApiJson(input): ApiJson<SegmentInput>,
) -> Result<Json<SegmentView>, Problem> {
    if input.key != key {
        return Err(Problem::bad_query(DomainError::Invalid(vec![FieldError::new(
            "key",
            format!("\"{}\" differs from the path's \"{key}\"", input.key),
        )])));
    }
    Ok(Json(app.services.segments.save_segment(&principal, &input, true).await.map_err(Problem::bad_query)?))
}

/// DELETE /api/v1/segments/{key}: deletes a segment (409 while another refers to it).
#[utoipa::path(delete, path = "/api/v1/segments/{key}", tag = "segments", params(("key" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(key): Path<String>,
) -> Result<StatusCode, Problem> {
    app.services.segments.delete_segment(&principal, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of members.
#[derive(Serialize, ToSchema)]
struct MemberPage {
    /// Members in all.
    total: u64,
    /// Customer ids, ascending.
    items: Vec<CustomerId>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// GET /api/v1/segments/{key}/members: the segment's members now, paged.
#[utoipa::path(get, path = "/api/v1/segments/{key}/members", tag = "segments",
    params(("key" = String, Path), ("limit" = Option<u32>, Query, description = "1-1000, default 50"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = MemberPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn members(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MemberPage>, Problem> {
    let page = super::models::page_request(raw.as_deref())?;
    let (total, page) = app.services.segments.segment_members(&principal, &key, page).await?;
    Ok(Json(MemberPage { total, items: page.items, next_cursor: page.next_after.map(PageRequest::encode_cursor) }))
}

/// GET /api/v1/segments/{key}/export: the members as CSV (customer_id, identities, traits, tags,
/// created_at; identities and traits as JSON), personal data masked unless the key's role may
/// read it; the export is audited.
#[utoipa::path(get, path = "/api/v1/segments/{key}/export", tag = "segments", params(("key" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
async fn export(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(key): Path<String>,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse;
    // A UTF-8 byte order mark first, so that Excel reads Chinese right.
    let mut out = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    out.write_record(siyu_domain::segments::MEMBER_COLUMNS).map_err(|e| Problem::internal(&e))?;
    app.services
        .segments
        .export_segment(&principal, &key, false, &mut |c| {
            let row = siyu_domain::segments::member_row(&c);
            out.write_record(&row).map_err(|e| DomainError::internal_from("writing the CSV export failed", e))
        })
        .await?;
    let body = out.into_inner().map_err(|e| Problem::internal(&e))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{key}.csv\"")),
        ],
        body,
    )
        .into_response())
}
