//! WeCom's customer-contact adapters over [`crate::tencent_api`]: the group send to one contact
//! (`add_msg_template`) and the welcome to a contact just added (`send_welcome_msg`).

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
