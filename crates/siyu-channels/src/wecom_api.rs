//! WeCom's adapters over [`crate::tencent_api`]: the customer-contact group send to one contact
//! (`add_msg_template`), the welcome to a contact just added (`send_welcome_msg`), and application
//! messages to staff (`message/send`).

use crate::tencent_api::TencentApi;
use siyu_domain::channels::Delivery;
use std::sync::Arc;

/// The key of a message's data that holds a welcome code (`send_welcome_msg` instead of a
/// group send).
pub const WELCOME_CODE: &str = "welcome_code";

/// WeCom's customer-contact group send (企业群发) to one external contact as a channel: each
/// message becomes a single-chat task (`/cgi-bin/externalcontact/add_msg_template`) that the
/// sending staff member confirms in their WeCom client, as WeCom requires of messages to
/// customers. The message's `to` is the contact's external user id. A message whose data holds a
/// [`WELCOME_CODE`] is the welcome to a contact just added, sent with `send_welcome_msg`.
pub struct WeComGroupSend {
    api: Arc<TencentApi>,
    /// The staff member (userid) who sends; the contact must be one of theirs.
    sender: String,
}

impl WeComGroupSend {
    /// Sends as `sender` through `api`.
    pub fn new(api: Arc<TencentApi>, sender: impl Into<String>) -> Self {
        Self { api, sender: sender.into() }
    }
}

#[async_trait::async_trait]
impl siyu_domain::channels::ChannelAdapter for WeComGroupSend {
    fn name(&self) -> &'static str {
        "wecom"
    }

    async fn send(&self, message: &siyu_domain::channels::OutgoingMessage) -> Delivery {
        if message.to.is_empty() {
            return Delivery::Rejected { reason: "the message names no external contact".into() };
        }
        if let Err(reason) = siyu_domain::channels::templates::check_length("wecom", &message.body) {
            return Delivery::Rejected { reason };
        }
        // A welcome to a contact who has just added the staff member goes with the callback's
        // welcome code (valid for 20 seconds), straight into their new chat.
        if let Some(code) = message.data.get(WELCOME_CODE).and_then(serde_json::Value::as_str) {
            let body = serde_json::json!({"welcome_code": code, "text": {"content": message.body}});
            return match self.api.post("/cgi-bin/externalcontact/send_welcome_msg", &body).await {
                Ok(_) => Delivery::Accepted { provider_id: None },
                Err(error) => error.delivery(),
            };
        }
        let body = serde_json::json!({
            "chat_type": "single",
            "external_userid": [message.to],
            "sender": self.sender,
            "text": {"content": message.body},
        });
        match self.api.post("/cgi-bin/externalcontact/add_msg_template", &body).await {
            Ok(answer) => {
                // WeCom lists the contacts it could not reach (not the sender's customer).
                let failed = answer["fail_list"].as_array().is_some_and(|list| list.iter().any(|id| *id == message.to));
                if failed {
                    Delivery::Rejected {
                        reason: format!("{} is not a contact of {} (fail_list)", message.to, self.sender),
                    }
                } else {
                    Delivery::Accepted { provider_id: answer["msgid"].as_str().map(str::to_string) }
                }
            }
            Err(error) => error.delivery(),
        }
    }
}

/// WeCom application messages (应用消息) to staff members as a channel for internal notifications
/// (an agent's follow-up, a failing channel): `POST /cgi-bin/message/send` with the app's
/// `agentid`, a text to the message's `to` (userids joined by `|`; the channel's default when the
/// message names none), and WeCom's duplicate check over half an hour, so a message sent again
/// (a retry after a lost answer) is not shown twice. Staff WeCom does not know are refused with
/// its `invaliduser` list.
pub struct WeComAppMessage {
    api: Arc<TencentApi>,
    agent_id: i64,
    default_to: Option<String>,
}

impl WeComAppMessage {
    /// Sends as the app `agent_id` through `api`, to `default_to` unless a message names staff.
    pub fn new(api: Arc<TencentApi>, agent_id: i64, default_to: Option<String>) -> Self {
        Self { api, agent_id, default_to }
    }
}

#[async_trait::async_trait]
impl siyu_domain::channels::ChannelAdapter for WeComAppMessage {
    fn name(&self) -> &'static str {
        "wecom_app"
    }

    async fn send(&self, message: &siyu_domain::channels::OutgoingMessage) -> Delivery {
        let to = Some(message.to.trim()).filter(|t| !t.is_empty()).or(self.default_to.as_deref());
        let Some(to) = to else {
            return Delivery::Rejected {
                reason: "the message names no staff member and the channel has no `to`".into(),
            };
        };
        if let Err(reason) = siyu_domain::channels::templates::check_length("wecom", &message.body) {
            return Delivery::Rejected { reason };
        }
        let text = match &message.subject {
            Some(subject) if !subject.is_empty() => format!("{subject}\n{}", message.body),
            _ => message.body.clone(),
        };
        let body = serde_json::json!({
            "touser": to,
            "msgtype": "text",
            "agentid": self.agent_id,
            "text": {"content": text},
            "enable_duplicate_check": 1,
            "duplicate_check_interval": 1800,
        });
        match self.api.post("/cgi-bin/message/send", &body).await {
            Ok(answer) => match answer["invaliduser"].as_str().filter(|u| !u.is_empty()) {
                Some(invalid) if invalid.split('|').count() >= to.split('|').count() => {
                    Delivery::Rejected { reason: format!("WeCom knows none of the staff {invalid} (invaliduser)") }
                }
                _ => Delivery::Accepted { provider_id: answer["msgid"].as_str().map(str::to_string) },
            },
            Err(error) => error.delivery(),
        }
    }
}
