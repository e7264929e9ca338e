//! `/api/v1/channels/*` and `/api/v1/messages`: a workspace's configured channels (secrets
//! accepted, never shown), a test message on one, messages queued to customers, and the message
//! log with its filters; `/api/v1/templates` the saved templates.

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Serialize;
use siyu_core::CustomerId;
use siyu_domain::channels::library::{TemplateInput, TemplateView};
use siyu_domain::channels::messaging::{
    ChannelInput, ChannelView, MAX_PAGE, MessageInput, MessageView, MessagingSettings, Preview, PreviewInput,
    TestMessage, TestOutcome,
};
use siyu_domain::channels::store::{MessageFilter, MessageStatus};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels))
        .routes(routes!(save_channel, delete_channel))
        .routes(routes!(test_channel))
        .routes(routes!(list_messages, send_message))
        .routes(routes!(preview_message))
        .routes(routes!(list_templates))
        .routes(routes!(get_template, save_template, delete_template))
        .routes(routes!(settings, set_settings))
}

/// GET /api/v1/messaging/settings: the workspace's quiet hours and frequency cap.
#[utoipa::path(get, path = "/api/v1/messaging/settings", tag = "messages",
    responses((status = 200, body = MessagingSettings)))]
async fn settings(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
) -> Result<Json<MessagingSettings>, Problem> {
    Ok(Json(app.services.messaging.messaging_settings(&principal).await?))
}

/// PUT /api/v1/messaging/settings: replaces the quiet hours (`null`: none) and the frequency cap;
/// they apply to every message sent from then on.
#[utoipa::path(put, path = "/api/v1/messaging/settings", tag = "messages", request_body = MessagingSettings,
    responses((status = 200, body = MessagingSettings), (status = 422, body = Problem)))]
async fn set_settings(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<MessagingSettings>,
) -> Result<Json<MessagingSettings>, Problem> {
    Ok(Json(app.services.messaging.set_messaging_settings(&principal, &input).await?))
}

/// The configured channels.
#[derive(Serialize, ToSchema)]
struct ChannelList {
    /// Channels by name.
    items: Vec<ChannelView>,
}

/// GET /api/v1/channels: the configured channels (secrets never shown: only which are set).
#[utoipa::path(get, path = "/api/v1/channels", tag = "messages", responses((status = 200, body = ChannelList)))]
async fn list_channels(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<ChannelList>, Problem> {
    Ok(Json(ChannelList { items: app.services.messaging.channels(&principal).await? }))
}

/// PUT /api/v1/channels/{name}: creates or replaces a channel; its settings are checked by setting
/// up its adapter, and a secret left out keeps the stored one.
#[utoipa::path(put, path = "/api/v1/channels/{name}", tag = "messages", params(("name" = String, Path)),
    request_body = ChannelInput,
    responses((status = 200, body = ChannelView), (status = 400, body = Problem)))]
async fn save_channel(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<ChannelInput>,
) -> Result<Json<ChannelView>, Problem> {
    Ok(Json(app.services.messaging.save_channel(&principal, &name, input).await?))
}

/// DELETE /api/v1/channels/{name}: deletes a channel (its queued messages then fail).
#[utoipa::path(delete, path = "/api/v1/channels/{name}", tag = "messages", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_channel(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    app.services.messaging.delete_channel(&principal, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The saved templates.
#[derive(Serialize, ToSchema)]
struct TemplateList {
    /// Templates by name.
    items: Vec<TemplateView>,
}

/// GET /api/v1/templates: the saved templates.
#[utoipa::path(get, path = "/api/v1/templates", tag = "messages", responses((status = 200, body = TemplateList)))]
async fn list_templates(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
) -> Result<Json<TemplateList>, Problem> {
    Ok(Json(TemplateList { items: app.services.messaging.templates(&principal).await? }))
}

/// GET /api/v1/templates/{name}: one saved template.
#[utoipa::path(get, path = "/api/v1/templates/{name}", tag = "messages", params(("name" = String, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = Problem)))]
async fn get_template(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(name): Path<String>,
) -> Result<Json<TemplateView>, Problem> {
    Ok(Json(app.services.messaging.template(&principal, &name).await?))
}

/// PUT /api/v1/templates/{name}: saves a template (new, or replacing the one of that name),
/// checked as a message is; journeys already published keep the copy they were published with.
#[utoipa::path(put, path = "/api/v1/templates/{name}", tag = "messages", params(("name" = String, Path)),
    request_body = TemplateInput,
    responses((status = 200, body = TemplateView), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn save_template(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<Json<TemplateView>, Problem> {
    Ok(Json(app.services.messaging.save_template(&principal, &name, input).await?))
}

/// DELETE /api/v1/templates/{name}: deletes a saved template (published journeys keep their copy;
/// a draft that names it is refused at publish).
#[utoipa::path(delete, path = "/api/v1/templates/{name}", tag = "messages", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_template(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    app.services.messaging.delete_template(&principal, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/v1/channels/{name}/test: sends a test message at once and says what the provider
/// answered.
#[utoipa::path(post, path = "/api/v1/channels/{name}/test", tag = "messages", params(("name" = String, Path)),
    request_body = TestMessage,
    responses((status = 200, body = TestOutcome), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn test_channel(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<TestMessage>,
) -> Result<Json<TestOutcome>, Problem> {
    Ok(Json(app.services.messaging.test_channel(&principal, &name, input).await?))
}

/// POST /api/v1/messages: queues a message to a customer (checked now, held to the guardrails
/// when it is sent); the same `key` queues once.
#[utoipa::path(post, path = "/api/v1/messages", tag = "messages", request_body = MessageInput,
    responses((status = 202, body = MessageView), (status = 400, body = Problem)))]
async fn send_message(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<MessageInput>,
) -> Result<(StatusCode, Json<MessageView>), Problem> {
    Ok((StatusCode::ACCEPTED, Json(app.services.messaging.send(&principal, input).await?)))
}

/// POST /api/v1/messages/preview: renders a message's templates for one customer, as it would be
/// sent now (personal data masked unless the role may read it); nothing is sent or recorded.
#[utoipa::path(post, path = "/api/v1/messages/preview", tag = "messages", request_body = PreviewInput,
    responses((status = 200, body = Preview), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn preview_message(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(input): ApiJson<PreviewInput>,
) -> Result<Json<Preview>, Problem> {
    Ok(Json(app.services.messaging.preview(&principal, &input).await?))
}

/// A page of the message log.
#[derive(Serialize, ToSchema)]
struct MessagePage {
    /// Messages, newest first.
    items: Vec<MessageView>,
    /// Cursor of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// GET /api/v1/messages: the message log, newest first, filtered by channel, status, customer or
/// journey.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages",
    params(("channel" = Option<String>, Query), ("status" = Option<String>, Query),
        ("customer_id" = Option<i64>, Query), ("journey" = Option<i64>, Query),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = MessagePage), (status = 400, body = Problem)))]
async fn list_messages(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<MessagePage>, Problem> {
    let mut filter = MessageFilter::default();
    let mut limit = 50;
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let number = || value.parse::<i64>().ok().filter(|n| *n > 0);
        match key.as_ref() {
            "channel" => filter.channel = Some(value.to_string()),
            "status" => {
                let known: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
                filter.status = Some(MessageStatus::parse(&value).ok_or_else(|| {
                    Problem::malformed("status", format!("\"{value}\" is not one of {}", known.join(", ")))
                })?);
            }
            "customer_id" => {
                let id = number().ok_or_else(|| Problem::malformed("customer_id", "must be a customer id"))?;
                filter.customers = Some(vec![CustomerId(id)]);
            }
            "journey" => {
                filter.journey = Some(number().ok_or_else(|| Problem::malformed("journey", "must be a journey id"))?)
            }
            "limit" => {
                limit = number()
                    .filter(|n| *n as usize <= MAX_PAGE)
                    .ok_or_else(|| Problem::malformed("limit", format!("must be 1 to {MAX_PAGE}")))?
                    as usize;
            }
            "cursor" => {
                filter.before_id =
                    Some(number().ok_or_else(|| Problem::malformed("cursor", "is not a cursor of this log"))?)
            }
            _ => return Err(Problem::malformed(key.as_ref(), format!("unknown query parameter \"{key}\""))),
        }
    }
    let items = app.services.messaging.messages(&principal, filter, limit).await?;
    let next_cursor = (items.len() == limit).then(|| items.last().map(|m| m.id.to_string())).flatten();
    Ok(Json(MessagePage { items, next_cursor }))
}
