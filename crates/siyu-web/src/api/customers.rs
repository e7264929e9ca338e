//! `/api/v1/customers`: upsert (single and batch), search, read, update, delete, identities, tags,
//! notes, merges, consent and CSV import.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use siyu_core::{CustomerId, PageRequest};
use siyu_domain::FieldError;
use siyu_domain::customers::{ConsentChange, ConsentView, CustomerQuery, CustomerView, ImportReport, UpsertResult};
use siyu_domain::customers::{CustomerInput, IdentityInput, MergeRecord, Note};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most customers in one batch request.
pub const MAX_BATCH: usize = 1000;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, upsert_customer))
        .routes(routes!(upsert_customers_batch))
        .routes(routes!(import_customers))
        .routes(routes!(get_customer, update_customer, delete_customer))
        .routes(routes!(export_customer))
        .routes(routes!(add_identity))
        .routes(routes!(remove_identity))
        .routes(routes!(add_tags))
        .routes(routes!(remove_tag))
        .routes(routes!(list_notes, add_note))
        .routes(routes!(list_merges))
        .routes(routes!(get_consent, change_consent))
        .routes(routes!(unsubscribe_link))
}

/// Parses a customer id path segment.
pub(crate) fn customer_id(raw: &str) -> Result<CustomerId, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(CustomerId)
        .ok_or_else(|| Problem::malformed("id", format!("\"{raw}\" is not a customer id")))
}

/// POST /api/v1/customers: creates a customer, or updates (and merges) the profiles its identities
/// already belong to.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = CustomerInput,
    responses((status = 201, body = UpsertResult, description = "created"), (status = 200, body = UpsertResult, description = "updated"),
        (status = 422, body = Problem), (status = 400, body = Problem)))]
async fn upsert_customer(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<CustomerInput>,
) -> Result<(StatusCode, Json<UpsertResult>), Problem> {
    let result = app.services.customers.upsert_customer(&principal, input).await?;
    let status = if result.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(result)))
}

/// A batch of upserts.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    /// Up to 1000 customers; each is validated and applied on its own merits.
    customers: Vec<CustomerInput>,
}

/// One item's outcome in a batch.
#[derive(Serialize, ToSchema)]
struct BatchItem {
    /// Position in the request.
    index: usize,
    /// The result, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<UpsertResult>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
}

/// The outcome of a batch.
#[derive(Serialize, ToSchema)]
struct BatchResponse {
    /// Items applied.
    accepted: usize,
    /// Items rejected (nothing of them was written).
    rejected: usize,
    /// One entry per item, in order.
    items: Vec<BatchItem>,
}

/// POST /api/v1/customers/batch: upserts up to 1000 customers; good items are applied in one
/// transaction, bad ones are reported by index.
#[utoipa::path(post, path = "/api/v1/customers/batch", tag = "customers", request_body = BatchBody,
    responses((status = 200, body = BatchResponse), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn upsert_customers_batch(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<Json<BatchResponse>, Problem> {
    if body.customers.len() > MAX_BATCH {
        return Err(Problem::invalid(vec![FieldError::new(
            "customers",
            format!("at most {MAX_BATCH} customers per batch, got {}", body.customers.len()),
        )]));
    }
    let results = app.services.customers.upsert_customers(&principal, body.customers, "api", "customers").await?;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let items: Vec<BatchItem> = results
        .into_iter()
        .enumerate()
        .map(|(index, result)| match result {
            Ok(result) => BatchItem { index, result: Some(result), errors: vec![] },
            Err(errors) => BatchItem { index, result: None, errors },
        })
        .collect();
    Ok(Json(BatchResponse { accepted, rejected: items.len() - accepted, items }))
}

/// Search parameters; `tag` and `trait` may repeat.
#[derive(Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query string; parsing is done by `parse_search`
struct SearchParams {
    /// Free text matched exactly against phone, e-mail and other identity values.
    q: Option<String>,
    /// `type:value`, e.g. `phone:13800000000`.
    identity: Option<String>,
    /// `key=value` trait equality (repeatable; numbers and booleans compare typed).
    #[param(rename = "trait")]
    trait_: Option<String>,
    /// Tag name the customer must carry (repeatable).
    tag: Option<String>,
    /// Page size, 1-1000 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn parse_search(raw: Option<&str>) -> Result<CustomerQuery, Problem> {
    let mut query = CustomerQuery { page: PageRequest::first(PageRequest::DEFAULT_LIMIT), ..Default::default() };
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "q" => query.q = Some(value),
            "identity" => query.identity = Some(value),
            "trait" => query.traits.push(value),
            "tag" => query.tags.push(value),
            "limit" => {
                query.page.limit =
                    value.parse().ok().filter(|l| (1..=PageRequest::MAX_LIMIT).contains(l)).ok_or_else(|| {
                        Problem::malformed("limit", format!("\"{value}\" must be a number from 1 to 1000"))
                    })?
            }
            "cursor" => {
                query.page.after = Some(PageRequest::decode_cursor(&value).ok_or_else(|| {
                    Problem::malformed("cursor", format!("\"{value}\" is not a cursor from this API"))
                })?)
            }
            other => {
                return Err(Problem::malformed(
                    other,
                    format!("unknown query parameter \"{other}\"; expected q, identity, trait, tag, limit or cursor"),
                ));
            }
        }
    }
    Ok(query)
}

/// A page of customers.
#[derive(Serialize, ToSchema)]
pub(crate) struct CustomerPage {
    /// Customers, newest first.
    items: Vec<CustomerView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// GET /api/v1/customers: searches customers by identity, trait and tag, newest first.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(SearchParams),
    responses((status = 200, body = CustomerPage), (status = 400, body = Problem)))]
async fn list_customers(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<CustomerPage>, Problem> {
    let query = parse_search(raw.as_deref())?;
    let page = app.services.customers.search_customers(&principal, &query).await?;
    Ok(Json(CustomerPage { items: page.items, next_cursor: page.next_after.map(PageRequest::encode_cursor) }))
}

/// GET /api/v1/customers/{id}: reads a customer (merged-away ids resolve to the survivor).
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerView), (status = 404, body = Problem)))]
async fn get_customer(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<CustomerView>, Problem> {
    Ok(Json(app.services.customers.customer(&principal, customer_id(&id)?).await?))
}

/// PATCH /api/v1/customers/{id}: sets traits (`null` removes), adds identities (merging) and tags.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    request_body = CustomerInput, responses((status = 200, body = CustomerView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_customer(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CustomerInput>,
) -> Result<Json<CustomerView>, Problem> {
    let result = app.services.customers.update_customer(&principal, customer_id(&id)?, input).await?;
    Ok(Json(app.services.customers.customer(&principal, result.id).await?))
}

/// GET /api/v1/customers/{id}/export: everything siyu holds about a customer and the profiles
/// merged into it (PIPL's right of access and portability), unmasked, one part per slice:
/// `customers` (profile, notes, consent, merges), `events` (the events they sent, up to 100,000),
/// `models` (their scores), `segments` (the segments they are in). Needs `pii:read`; audited.
#[utoipa::path(get, path = "/api/v1/customers/{id}/export", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Object, description = "the customer's data"), (status = 404, body = Problem),
        (status = 403, body = Problem)))]
async fn export_customer(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    Ok(Json(app.services.export_customer(&principal, customer_id(&id)?).await?))
}

/// DELETE /api/v1/customers/{id}: erases the customer and everything attached.
#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 403, body = Problem)))]
async fn delete_customer(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    app.services.erase_customer(&principal, customer_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/v1/customers/{id}/identities: attaches an identity; a profile already holding it is merged.
#[utoipa::path(post, path = "/api/v1/customers/{id}/identities", tag = "customers", params(("id" = i64, Path)),
    request_body = IdentityInput, responses((status = 200, body = UpsertResult), (status = 422, body = Problem)))]
async fn add_identity(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
    ApiJson(identity): ApiJson<IdentityInput>,
) -> Result<Json<UpsertResult>, Problem> {
    let result =
        app.services.customers.add_identity(&principal, customer_id(&id)?, &identity.kind, &identity.value).await?;
    Ok(Json(result))
}

/// DELETE /api/v1/customers/{id}/identities/{type}/{value}: detaches an identity.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/identities/{type}/{value}", tag = "customers",
    params(("id" = i64, Path), ("type" = String, Path), ("value" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_identity(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path((id, kind, value)): Path<(String, String, String)>,
) -> Result<StatusCode, Problem> {
    app.services.customers.remove_identity(&principal, customer_id(&id)?, &kind, &value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tags to assign.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    /// Tag names (must exist).
    tags: Vec<String>,
    /// `rule`, `import`, `manual` (default) or `model`.
    #[serde(default)]
    source: Option<String>,
}

/// POST /api/v1/customers/{id}/tags: assigns tags with a source.
#[utoipa::path(post, path = "/api/v1/customers/{id}/tags", tag = "customers", params(("id" = i64, Path)),
    request_body = TagsBody, responses((status = 204), (status = 422, body = Problem)))]
async fn add_tags(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TagsBody>,
) -> Result<StatusCode, Problem> {
    let source = body.source.as_deref().unwrap_or("manual");
    app.services.customers.add_tags(&principal, customer_id(&id)?, &body.tags, source).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/v1/customers/{id}/tags/{tag}: removes a tag.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/tags/{tag}", tag = "customers",
    params(("id" = i64, Path), ("tag" = String, Path)), responses((status = 204), (status = 422, body = Problem)))]
async fn remove_tag(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    app.services.customers.remove_tag(&principal, customer_id(&id)?, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new note.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    /// Text, 1-4000 characters.
    body: String,
}

/// GET /api/v1/customers/{id}/notes: staff notes, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/notes", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Note>)))]
async fn list_notes(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<Vec<Note>>, Problem> {
    Ok(Json(app.services.customers.notes(&principal, customer_id(&id)?).await?))
}

/// POST /api/v1/customers/{id}/notes: writes a staff note.
#[utoipa::path(post, path = "/api/v1/customers/{id}/notes", tag = "customers", params(("id" = i64, Path)),
    request_body = NoteBody, responses((status = 201, body = Note), (status = 422, body = Problem)))]
async fn add_note(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<Note>), Problem> {
    Ok((StatusCode::CREATED, Json(app.services.customers.add_note(&principal, customer_id(&id)?, &body.body).await?)))
}

/// GET /api/v1/customers/{id}/merges: the profiles merged into this one.
#[utoipa::path(get, path = "/api/v1/customers/{id}/merges", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<MergeRecord>)))]
async fn list_merges(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<Vec<MergeRecord>>, Problem> {
    Ok(Json(app.services.customers.merges(&principal, customer_id(&id)?).await?))
}

/// GET /api/v1/customers/{id}/consent: current state and full history.
#[utoipa::path(get, path = "/api/v1/customers/{id}/consent", tag = "consent", params(("id" = i64, Path)),
    responses((status = 200, body = ConsentView)))]
async fn get_consent(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<ConsentView>, Problem> {
    Ok(Json(app.services.customers.consent(&principal, customer_id(&id)?).await?))
}

/// Consent changes, applied all or none.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    /// Changes.
    changes: Vec<ConsentChange>,
}

/// POST /api/v1/customers/{id}/consent: records grants and withdrawals.
#[utoipa::path(post, path = "/api/v1/customers/{id}/consent", tag = "consent", params(("id" = i64, Path)),
    request_body = ConsentBody, responses((status = 200, body = ConsentView), (status = 422, body = Problem)))]
async fn change_consent(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConsentBody>,
) -> Result<Json<ConsentView>, Problem> {
    Ok(Json(app.services.customers.change_consent(&principal, customer_id(&id)?, body.changes).await?))
}

/// An unsubscribe link to put in a message.
#[derive(Serialize, ToSchema)]
struct UnsubscribeLink {
    /// Public URL: opening it asks the customer to confirm; a POST to it (RFC 8058 one-click, for the
    /// `List-Unsubscribe` header with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`) withdraws
    /// marketing consent for the channel at once.
    url: String,
    /// The link stops working at this time.
    #[schema(value_type = String, format = DateTime)]
    expires_at: jiff::Timestamp,
}

/// GET /api/v1/customers/{id}/unsubscribe-link?channel=email: the customer's one-click unsubscribe link
/// (needs `consent:write`, since the link withdraws consent).
#[utoipa::path(get, path = "/api/v1/customers/{id}/unsubscribe-link", tag = "consent",
    params(("id" = i64, Path), ("channel" = String, Query)), responses((status = 200, body = UnsubscribeLink)))]
async fn unsubscribe_link(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<UnsubscribeLink>, Problem> {
    let mut channel = None;
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "channel" => channel = Some(value.into_owned()),
            other => return Err(Problem::malformed(other, format!("unknown query parameter \"{other}\""))),
        }
    }
    let channel = channel.ok_or_else(|| Problem::malformed("channel", "the channel query parameter is required"))?;
    let (token, expires_at) = app
        .services
        .customers
        .unsubscribe_link(&principal, customer_id(&id)?, &channel)
        .await
        .map_err(Problem::bad_query)?;
    Ok(Json(UnsubscribeLink { url: format!("{}/u/{token}", app.public_url.trim_end_matches('/')), expires_at }))
}

/// POST /api/v1/customers/import: streams a CSV (layout in docs/IMPORT.md); every good row is
/// imported and every bad row reported with its line, column and reason.
#[utoipa::path(post, path = "/api/v1/customers/import", tag = "customers",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn import_customers(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Json<ImportReport>, Problem> {
    let limit = crate::IMPORT_BODY_LIMIT;
    let too_large = || {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", format!("an import may be at most {limit} bytes"))
    };
    let declared = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    // A body without a length is counted as it streams and cut off at the limit.
    let exceeded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut seen = 0usize;
    let flag = exceeded.clone();
    let stream = body.into_data_stream().map_err(std::io::Error::other).and_then(move |chunk| {
        seen += chunk.len();
        let over = seen > limit;
        flag.store(over, std::sync::atomic::Ordering::Relaxed);
        futures::future::ready(if over {
            Err(std::io::Error::other("the body exceeds the import limit"))
        } else {
            Ok(chunk)
        })
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let report = app.services.customers.import_customers(&principal, reader, |_| {}).await?;
    if exceeded.load(std::sync::atomic::Ordering::Relaxed) {
        let mut problem = too_large();
        problem.detail = format!("{}; {} rows before the limit were imported", problem.detail, report.imported);
        return Err(problem);
    }
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_parameters_repeat_and_reject_unknowns() {
        let query = parse_search(Some("tag=VIP&tag=%E6%96%B0&trait=city%3D%E4%B8%8A%E6%B5%B7&limit=10")).unwrap();
        assert_eq!(query.tags, vec!["VIP", "新"]);
        assert_eq!(query.traits, vec!["city=上海"]);
        assert_eq!(query.page.limit, 10);
        assert!(parse_search(Some("limit=0")).is_err());
        assert!(parse_search(Some("sort=name")).is_err());
        assert!(parse_search(Some("cursor=zzz")).is_err());
    }
}
