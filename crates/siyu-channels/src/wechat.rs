//! WeChat service notifications (服务通知) over [`crate::tencent_api`]
//! (`https://api.weixin.qq.com`), each message to the customer's `wechat_openid` with a template
//! registered in the WeChat admin console and its fields from the message's `params`:
//!
//! - an official account's **template message** (`POST /cgi-bin/message/template/send`: `touser`,
//!   `template_id`, `data` — `{"keyword1": {"value": …}}` —, the message's idempotency key as
//!   `client_msg_id`, and the channel's `url` or mini-program page to open); only a follower
//!   receives one (43004 otherwise);
//! - a mini-program's **subscribe message** (`POST /cgi-bin/message/subscribe/send`: `touser`,
//!   `template_id`, `data`, `page`, `miniprogram_state`, `lang`), which WeChat delivers once per
//!   subscription the user granted in the mini-program (`wx.requestSubscribeMessage`): without one
//!   left it answers 43101 and the message is refused with that reason, never retried.
//!
//! A message names its template (`template`) or the channel's `template_id` is used; a message
//! without template fields is refused before any call.

use crate::tencent_api::TencentApi;
use async_trait::async_trait;
use serde_json::{Map, Value, json};
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::sync::Arc;

/// The longest `client_msg_id` WeChat takes.
const MAX_CLIENT_MSG_ID: usize = 64;

/// Which notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// An official account's template message, opening `url` or a mini-program page when tapped.
    Template {
        /// The page to open (a URL).
        url: Option<String>,
        /// A mini-program to open instead: (app id, page path).
        miniprogram: Option<(String, String)>,
    },
    /// A mini-program's subscribe message, opening `page`.
    Subscribe {
        /// The mini-program page to open.
        page: Option<String>,
        /// `formal`, `trial` or `developer`.
        state: String,
    },
}

/// The adapter.
pub struct WeChatNotify {
    api: Arc<TencentApi>,
    notification: Notification,
    /// The template used when a message names none.
    template_id: Option<String>,
}

impl WeChatNotify {
    /// Sends `notification`s through `api`, with `template_id` by default.
    pub fn new(api: Arc<TencentApi>, notification: Notification, template_id: Option<String>) -> Self {
        Self { api, notification, template_id }
    }

    /// The call's path and body for `message`, or why it cannot be sent.
    pub fn request(&self, message: &OutgoingMessage) -> Result<(&'static str, Value), String> {
        if message.to.is_empty() {
            return Err("the message names no WeChat openid".into());
        }
        let template = message
            .template
            .clone()
            .or_else(|| self.template_id.clone())
            .ok_or_else(|| "the message names no template and the channel has no template_id".to_string())?;
        if message.params.is_empty() {
            return Err("a WeChat notification needs its template's fields (params)".into());
        }
        let data: Map<String, Value> =
            message.params.iter().map(|(name, value)| (name.clone(), json!({"value": value}))).collect();
        Ok(match &self.notification {
            Notification::Template { url, miniprogram } => {
                let client_msg_id: String = message.idempotency_key.chars().take(MAX_CLIENT_MSG_ID).collect();
                let mut body = json!({"touser": message.to, "template_id": template, "data": data, "client_msg_id": client_msg_id});
                if let Some(url) = url {
                    body["url"] = url.as_str().into();
                }
                if let Some((appid, pagepath)) = miniprogram {
                    body["miniprogram"] = json!({"appid": appid, "pagepath": pagepath});
                }
                ("/cgi-bin/message/template/send", body)
            }
            Notification::Subscribe { page, state } => {
                let mut body = json!({"touser": message.to, "template_id": template, "data": data,
                    "miniprogram_state": state, "lang": "zh_CN"});
                if let Some(page) = page {
                    body["page"] = page.as_str().into();
                }
                ("/cgi-bin/message/subscribe/send", body)
            }
        })
    }
}

#[async_trait]
impl ChannelAdapter for WeChatNotify {
    fn name(&self) -> &'static str {
        match self.notification {
            Notification::Template { .. } => "wechat_mp",
            Notification::Subscribe { .. } => "wechat_mini",
        }
    }

    async fn send(&self, message: &OutgoingMessage) -> Delivery {
        let (path, body) = match self.request(message) {
            Ok(request) => request,
            Err(reason) => return Delivery::Rejected { reason },
        };
        match self.api.post(path, &body).await {
            Ok(answer) => {
                let id = match &answer["msgid"] {
                    Value::Number(id) => Some(id.to_string()),
                    Value::String(id) => Some(id.clone()),
                    _ => None,
                };
                Delivery::Accepted { provider_id: id }
            }
            Err(error) => error.delivery(),
        }
    }
}
