//! Providers' callbacks to a workspace's channels. `/callbacks/wecom/{workspace}/{channel}` is the
//! URL set as a WeCom app's or customer-contact callback (接收事件服务器): `GET` is WeCom's URL
//! check (`msg_signature`, `timestamp`, `nonce`, `echostr`: answered with the echo's plaintext),
//! `POST` a message (the same query, an XML body holding `Encrypt`), answered `success`.
//! `/callbacks/wechat/{workspace}/{channel}` is an official account's server URL (服务器配置, in
//! safe mode): `GET` its URL check (`signature`, `timestamp`, `nonce`, `echostr`: answered as it
//! is), `POST` a message as WeCom's are (a template's receipt). No login: the channel's callback
//! token and EncodingAESKey authenticate each request. `POST /callbacks/sms/{workspace}/{channel}/{token}`
//! takes an SMS gateway's delivery report, authenticated by the channel's report token, and answers
//! as the gateway expects (`siyu_domain::channels::callbacks`). Errors are problem+json.

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
/// The largest delivery report (a gateway batches up to 1,000
/// receipts of a few hundred bytes).
pub const REPORT_BODY_LIMIT: usize = 512 * 1024;

pub(crate) fn router() -> Router<AppState> {
    let callbacks = Router::new()
        .route("/callbacks/wecom/{workspace}/{channel}", axum::routing::get(verify_url).post(receive))
        .route("/callbacks/wechat/{workspace}/{channel}", axum::routing::get(verify_mp_url).post(receive))
        .layer(DefaultBodyLimit::max(CALLBACK_BODY_LIMIT));
    let reports = Router::new()
        .route("/callbacks/sms/{workspace}/{channel}/{token}", axum::routing::post(receive_report))
        .layer(DefaultBodyLimit::max(REPORT_BODY_LIMIT));
    callbacks.merge(reports)
}

/// The query's signature fields (the signature under `signature_field`), each required, or a 400
/// naming the first one missing.
fn signed_by(
    query: &HashMap<String, String>,
    signature_field: &str,
    payload: CallbackPayload,
) -> Result<SignedCallback, Problem> {
    let get = |name: &str| match query.get(name).filter(|v| !v.is_empty() && v.len() <= 256) {
        Some(value) => Ok(value.clone()),
        None => Err(Problem::malformed(name, "is required (at most 256 characters)")),
    };
    Ok(SignedCallback {
        msg_signature: get(signature_field)?,
        timestamp: get("timestamp")?,
        nonce: get("nonce")?,
        payload,
    })
}

fn signed(query: &HashMap<String, String>, payload: CallbackPayload) -> Result<SignedCallback, Problem> {
    signed_by(query, "msg_signature", payload)
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

/// GET: an official account's URL check (its `echostr` is not encrypted).
async fn verify_mp_url(
    State(app): State<AppState>,
    Path((workspace, channel)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let Some(echo) = query.get("echostr").filter(|e| !e.is_empty() && e.len() <= 256) else {
        return Err(Problem::malformed("echostr", "is required (at most 256 characters)"));
    };
    let callback = signed_by(&query, "signature", CallbackPayload::PlainEcho(echo.clone()))?;
    match app.services.messaging.receive_callback(&workspace, &channel, callback).await? {
        CallbackAnswer::Echo(plaintext) => Ok(answer(plaintext)),
        CallbackAnswer::Received => Ok(answer("success".into())),
    }
}

/// POST: an SMS gateway's delivery report, answered as the gateway expects.
async fn receive_report(
    State(app): State<AppState>,
    Path((workspace, channel, token)): Path<(String, String, String)>,
    body: String,
) -> Result<Response, Problem> {
    let answer = app.services.messaging.receive_report(&workspace, &channel, &token, &body).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
}

/// POST: a message (a contact added, edited or deleted; a template's receipt).
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
