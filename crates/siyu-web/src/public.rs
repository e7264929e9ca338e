//! Public pages that need no login: the unsubscribe link (`/u/{token}`), and a sent message's
//! tracked links (`/t/c/{token}`: records the click, redirects to the signed target) and open pixel
//! (`/t/o/{token}`: records the open, answers a 1×1 GIF — also for a bad token, so a mail shows no
//! broken image, but records nothing). Opening the unsubscribe link only asks for confirmation, so
//! that mail scanners which follow links unsubscribe nobody; the change happens on POST — the
//! page's button, or a mail client's RFC 8058 one-click POST — and can be undone.

use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use siyu_domain::DomainError;
use siyu_domain::customers::consent::Channel;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/u/{token}", axum::routing::get(confirm).post(unsubscribe))
        .route("/u/{token}/undo", axum::routing::post(undo))
        .route("/t/c/{token}", axum::routing::get(follow_link))
        .route("/t/o/{token}", axum::routing::get(open_pixel))
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// GET /t/c/{token}: records `Message Clicked` and redirects to the link's target.
async fn follow_link(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    match app.services.tracking.follow_link(&token).await {
        Ok(target) => match HeaderValue::from_str(&target) {
            Ok(location) => {
                let mut response = StatusCode::FOUND.into_response();
                response.headers_mut().insert(header::LOCATION, location);
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
                response
            }
            Err(_) => link_invalid(),
        },
        Err(DomainError::NotFound(_)) => link_invalid(),
        Err(error) => failed(error),
    }
}

fn link_invalid() -> Response {
    page(StatusCode::NOT_FOUND, "链接无效。", "This link is invalid.", None)
}

/// GET /t/o/{token}: records `Message Opened` (when the token is good) and answers the pixel.
async fn open_pixel(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    if let Err(error) = app.services.tracking.record_open(&token).await
        && !matches!(error, DomainError::NotFound(_))
    {
        tracing::warn!(error = %error.chain(), "an open could not be recorded");
    }
    let mut response = ([(header::CONTENT_TYPE, "image/gif")], PIXEL).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, max-age=0"));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Escapes text for HTML (tokens are checked before they are echoed, but escape anyway).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(status: StatusCode, zh: &str, en: &str, form: Option<(&str, &str, &str)>) -> Response {
    let form = match form {
        Some((action, zh_button, en_button)) => format!(
            r#"<form method="post" action="{}"><button type="submit" class="btn primary" id="unsubscribe-submit">{zh_button} · <span lang="en">{en_button}</span></button></form>"#,
            escape(action)
        ),
        None => String::new(),
    };
    let body = format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>退订 · Unsubscribe</title><link rel="stylesheet" href="/assets/siyu.css"></head>
<body class="public"><main class="card"><h1>{zh}</h1><p lang="en">{en}</p>{form}</main></body></html>"#
    );
    let mut response = (status, Html(body)).into_response();
    // The token is in the path: keep it out of other sites' logs, and out of caches.
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn invalid() -> Response {
    page(StatusCode::NOT_FOUND, "退订链接无效或已过期。", "This unsubscribe link is invalid or has expired.", None)
}

fn failed(error: DomainError) -> Response {
    match error {
        DomainError::NotFound(_) => invalid(),
        other => {
            let problem = crate::problem::Problem::from(other);
            page(StatusCode::INTERNAL_SERVER_ERROR, "暂时无法处理，请稍后再试。", &problem.detail, None)
        }
    }
}

/// GET /u/{token}: asks the customer to confirm; changes nothing.
async fn confirm(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    match app.services.customers.check_unsubscribe_token(&token).await {
        Ok((_, _, channel)) => {
            let (zh, en) = channel_names(channel);
            page(
                StatusCode::OK,
                &format!("退订{zh}营销消息？"),
                &format!("Unsubscribe from marketing {en} messages?"),
                Some((&format!("/u/{token}"), "确认退订", "Unsubscribe")),
            )
        }
        Err(error) => failed(error),
    }
}

/// POST /u/{token}: withdraws marketing consent for the channel at once (also RFC 8058 one-click).
async fn unsubscribe(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    match app.services.customers.unsubscribe(&token).await {
        Ok((_, channel)) => {
            let (zh, en) = channel_names(channel);
            page(
                StatusCode::OK,
                &format!("您已退订{zh}营销消息，即刻生效。"),
                &format!("You have been unsubscribed from marketing {en} messages. This takes effect immediately."),
                Some((&format!("/u/{token}/undo"), "撤销退订", "Undo")),
            )
        }
        Err(error) => failed(error),
    }
}

/// POST /u/{token}/undo: restores the consent the link's unsubscribe withdrew.
async fn undo(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    match app.services.customers.undo_unsubscribe(&token).await {
        Ok((_, channel)) => {
            let (zh, en) = channel_names(channel);
            page(
                StatusCode::OK,
                &format!("已恢复接收{zh}营销消息。"),
                &format!("You will receive marketing {en} messages again."),
                None,
            )
        }
        Err(DomainError::Conflict(_)) => {
            page(StatusCode::CONFLICT, "没有可撤销的退订。", "There is no unsubscribe to undo.", None)
        }
        Err(error) => failed(error),
    }
}

fn channel_names(channel: Channel) -> (&'static str, &'static str) {
    match channel {
        Channel::Wecom => ("企业微信", "WeCom"),
        Channel::Sms => ("短信", "SMS"),
        Channel::Email => ("邮件", "e-mail"),
        Channel::WechatMp => ("公众号", "WeChat official account"),
        Channel::Phone => ("电话", "phone"),
    }
}
