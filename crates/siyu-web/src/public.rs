//! Public pages that need no login: the one-click unsubscribe link (`/u/{token}`).

use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use siyu_domain::DomainError;

pub(crate) fn router() -> Router<AppState> {
    // GET withdraws at once, as the link promises; POST serves RFC 8058 one-click unsubscribe.
    Router::new().route("/u/{token}", axum::routing::get(unsubscribe).post(unsubscribe))
}

fn page(status: StatusCode, zh: &str, en: &str) -> Response {
    let body = format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>退订 · Unsubscribe</title><link rel="stylesheet" href="/assets/siyu.css"></head>
<body class="public"><main class="card"><h1>{zh}</h1><p lang="en">{en}</p></main></body></html>"#
    );
    (status, Html(body)).into_response()
}

async fn unsubscribe(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    match app.services.unsubscribe(&token).await {
        Ok((_, channel)) => {
            let (zh, en) = channel_names(channel.as_str());
            page(
                StatusCode::OK,
                &format!("您已退订{zh}营销消息，即刻生效。"),
                &format!("You have been unsubscribed from marketing {en} messages. This takes effect immediately."),
            )
        }
        Err(DomainError::NotFound(_)) => page(
            StatusCode::NOT_FOUND,
            "退订链接无效或已失效。",
            "This unsubscribe link is invalid or no longer valid.",
        ),
        Err(error) => {
            let problem = crate::problem::Problem::from(error);
            page(StatusCode::INTERNAL_SERVER_ERROR, "暂时无法处理，请稍后再试。", &problem.detail)
        }
    }
}

fn channel_names(channel: &str) -> (&'static str, &'static str) {
    match channel {
        "wecom" => ("企业微信", "WeCom"),
        "sms" => ("短信", "SMS"),
        "email" => ("邮件", "e-mail"),
        "wechat_mp" => ("公众号", "WeChat official account"),
        _ => ("电话", "phone"),
    }
}
