//! Providers' callbacks to a workspace's channels: `/callbacks/wecom/{workspace}/{channel}`, the
//! URL set as a WeCom app's or customer-contact callback (接收事件服务器). `GET` is WeCom's URL
//! check (`msg_signature`, `timestamp`, `nonce`, `echostr`: answered with the echo's plaintext);
//! `POST` a message (the same query, an XML body holding `Encrypt`), answered `success`. No login:
//! the channel's callback token and EncodingAESKey authenticate each request
//! (`siyu_domain::channels::callbacks`); errors are problem+json.

use crate::AppState;
use crate::problem::Problem;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use siyu_domain::channels::callbacks::CallbackAnswer;
use siyu_domain::channels::{CallbackPayload, SignedCallback};
use std::collections::HashMap;

/// The largest callback body (WeCom's are a few kilobytes).
pub const CALLBACK_BODY_LIMIT: usize = 64 * 1024;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/callbacks/wecom/{workspace}/{channel}", axum::routing::get(verify_url).post(receive))
        .layer(DefaultBodyLimit::max(CALLBACK_BODY_LIMIT))
}

/// The query's signature fields, each required, or a 400 naming the first one missing.
fn signed(query: &HashMap<String, String>, payload: CallbackPayload) -> Result<SignedCallback, Problem> {
    let get = |name: &str| match query.get(name).filter(|v| !v.is_empty() && v.len() <= 256) {
        Some(value) => Ok(value.clone()),
        None => Err(Problem::malformed(name, "is required (at most 256 characters)")),
    };
    Ok(SignedCallback {
        msg_signature: get("msg_signature")?,
        timestamp: get("timestamp")?,
        nonce: get("nonce")?,
        payload,
    })
}

fn answer(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// GET: WeCom's URL check.
async fn verify_url(
    State(app): State<AppState>,
    Path((workspace, channel)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let Some(echo) = query.get("echostr").filter(|e| !e.is_empty()) else {
        return Err(Problem::malformed("echostr", "is required"));
    };
    let callback = signed(&query, CallbackPayload::Echo(echo.clone()))?;
    match app.services.messaging.receive_callback(&workspace, &channel, callback).await? {
        CallbackAnswer::Echo(plaintext) => Ok(answer(plaintext)),
        CallbackAnswer::Received => Ok(answer("success".into())),
    }
}

/// POST: a message (a contact added, edited or deleted).
async fn receive(
    State(app): State<AppState>,
    Path((workspace, channel)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Result<Response, Problem> {
    let callback = signed(&query, CallbackPayload::Body(body))?;
    app.services.messaging.receive_callback(&workspace, &channel, callback).await?;
    Ok(answer("success".into()))
}
