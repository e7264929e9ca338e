//! WeCom's server API (企业微信服务端 API) as every WeCom adapter calls it: an access token fetched
//! with the corp id and the app's secret (`GET /cgi-bin/gettoken`), kept until shortly before it
//! expires (`expires_in`, 7,200 s) and fetched by one caller at a time, and calls that carry it
//! (`?access_token=`). When WeCom answers that the token is expired or invalid (42001, 40014,
//! 40001) the token is fetched again and the call made once more. The default base URL is WeCom's
//! own, `https://qyapi.weixin.qq.com`.
//!
//! Answers carry `errcode`: 0 is success; a busy system (-1) or a frequency limit (45009, 45033)
//! may pass later; anything else is refused with WeCom's `errmsg`.

use crate::http::{Client, ConfigError};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use siyu_core::clock::Clock;
use siyu_domain::channels::Delivery;
use std::sync::Arc;
use std::time::Duration;

/// WeCom's API host.
pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com";
/// Codes that mean the token must be fetched again.
pub const TOKEN_CODES: [i64; 3] = [42001, 40014, 40001];
/// Codes that may pass later: system busy, API frequency limits.
pub const RETRY_CODES: [i64; 3] = [-1, 45009, 45033];
/// The longest answer read.
const MAX_ANSWER: usize = 1 << 20;
/// A token is fetched again this long before WeCom says it expires.
const TOKEN_MARGIN: SignedDuration = SignedDuration::from_secs(300);

/// A WeCom app's API settings.
pub struct WeComApiConfig {
    /// The API's base URL (WeCom's own by default; a local double in tests).
    pub base_url: url::Url,
    /// The corp id (企业ID).
    pub corp_id: String,
    /// The app's secret (or the customer-contact secret for external-contact calls).
    pub secret: SecretString,
    /// Each request's limit.
    pub timeout: Duration,
    /// Whether the base URL may lead to a private address (a double or relay).
    pub allow_private_addresses: bool,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The request did not get an answer, or got one that is not WeCom's: what it means for a send.
    Transport(Delivery),
    /// WeCom answered with a code other than 0.
    Code {
        /// `errcode`.
        code: i64,
        /// `errmsg`.
        message: String,
    },
}

impl ApiError {
    /// What the failure means for a message being sent: retried for transport failures, a busy
    /// system or a frequency limit; refused otherwise.
    pub fn delivery(self) -> Delivery {
        match self {
            ApiError::Transport(delivery) => delivery,
            ApiError::Code { code, message } if RETRY_CODES.contains(&code) => {
                Delivery::Retry { reason: format!("WeCom errcode {code}: {message}"), after: None }
            }
            ApiError::Code { code, message } => {
                Delivery::Rejected { reason: format!("WeCom errcode {code}: {message}") }
            }
        }
    }
}

/// A WeCom API client for one app.
pub struct WeComApi {
    config: WeComApiConfig,
    client: Client,
    clock: Arc<dyn Clock>,
    /// The token and when it is to be fetched again; held while one is fetched, so one caller
    /// fetches and the others wait for it.
    token: tokio::sync::Mutex<Option<(String, Timestamp)>>,
}

impl std::fmt::Debug for WeComApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeComApi").field("corp_id", &self.config.corp_id).field("client", &self.client).finish()
    }
}

impl WeComApi {
    /// Checks the settings and sets up the client; `clock` decides when the token expires.
    pub fn new(config: WeComApiConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        if config.secret.expose_secret().trim().is_empty() {
            return Err(ConfigError::Secret("is empty".into()));
        }
        let client = Client::new(&config.base_url, config.timeout, config.allow_private_addresses)?;
        Ok(Self { config, client, clock, token: tokio::sync::Mutex::new(None) })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> url::Url {
        let mut url = self.config.base_url.clone();
        url.set_path(path);
        url.query_pairs_mut().extend_pairs(query);
        url
    }

    /// Reads WeCom's answer: its JSON with `errcode` 0, or the failure.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<serde_json::Value, ApiError> {
        // Answers of the calls siyu makes are small; a bound keeps a runaway one out of memory.
        let answer = self.client.send_json(request, MAX_ANSWER).await.map_err(ApiError::Transport)?;
        match answer.get("errcode").map(serde_json::Value::as_i64) {
            None | Some(Some(0)) => Ok(answer),
            Some(code) => Err(ApiError::Code {
                code: code.unwrap_or(-1),
                message: answer["errmsg"].as_str().unwrap_or_default().chars().take(300).collect(),
            }),
        }
    }

    /// Returns a valid token: the kept one, or a fresh one when there is none, it is about to
    /// expire, or `stale` (the one WeCom just refused) is the kept one.
    async fn token(&self, stale: Option<&str>) -> Result<String, ApiError> {
        let mut kept = self.token.lock().await;
        let now = self.clock.now();
        if let Some((token, until)) = kept.as_ref()
            && *until > now
            && stale != Some(token.as_str())
        {
            return Ok(token.clone());
        }
        let url = self.url(
            "/cgi-bin/gettoken",
            &[("corpid", &self.config.corp_id), ("corpsecret", self.config.secret.expose_secret())],
        );
        let answer = self.answer(self.client.get(url)).await?;
        let token = answer["access_token"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiError::Transport(Delivery::Retry { reason: "WeCom gave no access_token".into(), after: None })
        })?;
        let lifetime = SignedDuration::from_secs(answer["expires_in"].as_i64().unwrap_or(7200).clamp(0, 86_400));
        let until = now.checked_add(lifetime - TOKEN_MARGIN).unwrap_or(now);
        *kept = Some((token.to_string(), until));
        Ok(token.to_string())
    }

    /// POSTs `body` to `path` (`/cgi-bin/externalcontact/add_msg_template`, …) with the token; once
    /// more with a fresh token when WeCom says the token is expired or invalid. Returns WeCom's
    /// answer.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ApiError> {
        let token = self.token(None).await?;
        let first = self.answer(self.client.post(self.url(path, &[("access_token", &token)])).json(body)).await;
        match first {
            Err(ApiError::Code { code, .. }) if TOKEN_CODES.contains(&code) => {
                let fresh = self.token(Some(&token)).await?;
                self.answer(self.client.post(self.url(path, &[("access_token", &fresh)])).json(body)).await
            }
            other => other,
        }
    }
}

/// The key of a message's data that holds a welcome code (`send_welcome_msg` instead of a
/// group send).
pub const WELCOME_CODE: &str = "welcome_code";

/// WeCom's customer-contact group send (企业群发) to one external contact as a channel: each
/// message becomes a single-chat task (`/cgi-bin/externalcontact/add_msg_template`) that the
/// sending staff member confirms in their WeCom client, as WeCom requires of messages to
/// customers. The message's `to` is the contact's external user id. A message whose data holds a
/// [`WELCOME_CODE`] is the welcome to a contact just added, sent with `send_welcome_msg`.
pub struct WeComGroupSend {
    api: Arc<WeComApi>,
    /// The staff member (userid) who sends; the contact must be one of theirs.
    sender: String,
}

impl WeComGroupSend {
    /// Sends as `sender` through `api`.
    pub fn new(api: Arc<WeComApi>, sender: impl Into<String>) -> Self {
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
