//! Tencent's server APIs as every WeCom and WeChat adapter calls them — WeCom's (企业微信服务端
//! API, `https://qyapi.weixin.qq.com`) and WeChat's for official accounts and mini-programs
//! (`https://api.weixin.qq.com`), which share one shape: an access token fetched with the app's id
//! and secret (WeCom: `GET /cgi-bin/gettoken?corpid=&corpsecret=`; WeChat: `GET
//! /cgi-bin/token?grant_type=client_credential&appid=&secret=`), kept until shortly before it
//! expires (`expires_in`, 7,200 s) and fetched by one caller at a time, and calls that carry it
//! (`?access_token=`). When the platform answers that the token is expired or invalid (42001,
//! 40014, 40001) the token is fetched again and the call made once more.
//!
//! Answers carry `errcode`: 0 is success; a busy system (-1) or a frequency limit (WeCom 45009,
//! 45033; WeChat 45009, 45011) may pass later; anything else is refused with the `errmsg`.

use crate::http::{Client, ConfigError};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use siyu_core::clock::Clock;
use siyu_domain::channels::Delivery;
use std::sync::Arc;
use std::time::Duration;

/// Codes that mean the token must be fetched again.
pub const TOKEN_CODES: [i64; 3] = [42001, 40014, 40001];

/// Whose API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// WeCom (企业微信): the corp id and an app's (or the customer-contact) secret.
    WeCom,
    /// WeChat official accounts and mini-programs (微信公众平台): the app id and secret.
    WeChat,
}

impl Platform {
    /// The platform's API host, the default base URL.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Platform::WeCom => "https://qyapi.weixin.qq.com",
            Platform::WeChat => "https://api.weixin.qq.com",
        }
    }

    /// Its name in reasons.
    pub fn name(self) -> &'static str {
        match self {
            Platform::WeCom => "WeCom",
            Platform::WeChat => "WeChat",
        }
    }

    /// Codes that may pass later: system busy, API frequency limits.
    pub fn retry_codes(self) -> &'static [i64] {
        match self {
            Platform::WeCom => &[-1, 45009, 45033],
            Platform::WeChat => &[-1, 45009, 45011],
        }
    }

    /// The token's path and query for `id` and `secret`.
    fn token_request<'a>(self, id: &'a str, secret: &'a str) -> (&'static str, Vec<(&'static str, &'a str)>) {
        match self {
            Platform::WeCom => ("/cgi-bin/gettoken", vec![("corpid", id), ("corpsecret", secret)]),
            Platform::WeChat => {
                ("/cgi-bin/token", vec![("grant_type", "client_credential"), ("appid", id), ("secret", secret)])
            }
        }
    }
}
/// The longest answer read.
const MAX_ANSWER: usize = 1 << 20;
/// A token is fetched again this long before the platform says it expires.
const TOKEN_MARGIN: SignedDuration = SignedDuration::from_secs(300);

/// An app's API settings.
pub struct ApiConfig {
    /// Whose API.
    pub platform: Platform,
    /// The API's base URL (the platform's own by default; a local double in tests).
    pub base_url: url::Url,
    /// The corp id (企业ID) or app id (AppID).
    pub app_id: String,
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
    /// The request did not get an answer, or got one that is not the platform's: what it means for
    /// a send.
    Transport(Delivery),
    /// The platform answered with a code other than 0.
    Code {
        /// Whose answer.
        platform: Platform,
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
            ApiError::Code { platform, code, message } if platform.retry_codes().contains(&code) => {
                Delivery::Retry { reason: format!("{} errcode {code}: {message}", platform.name()), after: None }
            }
            ApiError::Code { platform, code, message } => {
                Delivery::Rejected { reason: format!("{} errcode {code}: {message}", platform.name()) }
            }
        }
    }
}

/// An API client for one app.
pub struct TencentApi {
    config: ApiConfig,
    client: Client,
    clock: Arc<dyn Clock>,
    /// The token and when it is to be fetched again; held while one is fetched, so one caller
    /// fetches and the others wait for it.
    token: tokio::sync::Mutex<Option<(String, Timestamp)>>,
}

impl std::fmt::Debug for TencentApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentApi")
            .field("platform", &self.config.platform)
            .field("app_id", &self.config.app_id)
            .field("client", &self.client)
            .finish()
    }
}

impl TencentApi {
    /// Checks the settings and sets up the client; `clock` decides when the token expires.
    pub fn new(config: ApiConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
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

    /// Reads the platform's answer: its JSON with `errcode` 0, or the failure.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<serde_json::Value, ApiError> {
        // Answers of the calls siyu makes are small; a bound keeps a runaway one out of memory.
        let answer = self.client.send_json(request, MAX_ANSWER).await.map_err(ApiError::Transport)?;
        match answer.get("errcode").map(serde_json::Value::as_i64) {
            None | Some(Some(0)) => Ok(answer),
            Some(code) => Err(ApiError::Code {
                platform: self.config.platform,
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
        let (path, query) = self.config.platform.token_request(&self.config.app_id, self.config.secret.expose_secret());
        let url = self.url(path, &query);
        let answer = self.answer(self.client.get(url)).await?;
        let token = answer["access_token"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| {
            let reason = format!("{} gave no access_token", self.config.platform.name());
            ApiError::Transport(Delivery::Retry { reason, after: None })
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
