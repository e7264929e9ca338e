//! Group robots for internal notifications (agent tasks, failures): DingTalk (钉钉) and Feishu
//! (飞书) custom robots, each POSTed a text message to the webhook URL the group's robot gives
//! (`https://oapi.dingtalk.com/robot/send?access_token=…`,
//! `https://open.feishu.cn/open-apis/bot/v2/hook/…`), signed when the robot has a secret:
//!
//! - DingTalk (加签): `timestamp` in milliseconds and `sign`, the base64 of HMAC-SHA256 keyed by
//!   the secret over `timestamp + "\n" + secret`, added to the URL's query (URL-encoded).
//! - Feishu (签名校验): `timestamp` in seconds and `sign`, the base64 of HMAC-SHA256 keyed by
//!   `timestamp + "\n" + secret` over nothing, in the JSON body.
//!
//! Both answer HTTP 200 with a code in the body: 0 is accepted; their rate limits (DingTalk
//! 130101, Feishu 11232) are retried a minute later; any other code (a signature that does not
//! match, keywords missing, a bad token) is refused with the robot's own message. An answer whose
//! body cannot be read is refused, not retried: the robot may have posted the message.

use crate::http::{Client, ConfigError, MAX_ERROR_BODY};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use siyu_core::clock::Clock;
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::sync::Arc;
use std::time::Duration;

/// Which robot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RobotKind {
    /// A DingTalk group's custom robot.
    DingTalk,
    /// A Feishu group's custom bot.
    Feishu,
}

/// DingTalk's code for "sending too fast" (over 20 messages a minute).
pub const DINGTALK_TOO_FAST: i64 = 130_101;
/// Feishu's code for "request frequency limited".
pub const FEISHU_TOO_FAST: i64 = 11_232;
/// How long a rate-limited robot is left alone.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Returns DingTalk's `sign` for `timestamp_ms` (before URL encoding).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    hmac_base64(secret.as_bytes(), format!("{timestamp_ms}\n{secret}").as_bytes())
}

/// Returns Feishu's `sign` for `timestamp_s`.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    hmac_base64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

/// A robot's settings.
pub struct RobotConfig {
    /// Which robot.
    pub kind: RobotKind,
    /// The webhook URL the group's robot gives (its token included).
    pub url: url::Url,
    /// The signing secret (DingTalk's starts with `SEC`), when the robot has one.
    pub secret: Option<SecretString>,
    /// The whole attempt's limit.
    pub timeout: Duration,
    /// Whether the URL may lead to a private address (a relay inside the network; off by default).
    pub allow_private_addresses: bool,
}

impl std::fmt::Debug for RobotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RobotConfig")
            .field("kind", &self.kind)
            .field("host", &self.url.host_str())
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A group robot adapter.
#[derive(Debug)]
pub struct Robot {
    config: RobotConfig,
    client: Client,
    clock: Arc<dyn Clock>,
}

impl Robot {
    /// Checks the settings and sets up the client; `clock` dates each signature.
    pub fn new(config: RobotConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        if config.secret.as_ref().is_some_and(|s| s.expose_secret().trim().is_empty()) {
            return Err(ConfigError::Secret("is empty".into()));
        }
        // The URL holds the robot's token (query or path): reasons name only the host.
        let shown = format!("{}://{}", config.url.scheme(), config.url.host_str().unwrap_or_default());
        let client = Client::new(&config.url, config.timeout, config.allow_private_addresses)?.shown_as(shown);
        Ok(Self { config, client, clock })
    }

    /// The request for `text`: its URL and JSON body, signed when there is a secret.
    fn request(&self, text: &str) -> (url::Url, serde_json::Value) {
        let now = self.clock.now();
        let secret = self.config.secret.as_ref().map(|s| s.expose_secret().to_string());
        let mut url = self.config.url.clone();
        match self.config.kind {
            RobotKind::DingTalk => {
                if let Some(secret) = secret {
                    let timestamp = now.as_millisecond();
                    url.query_pairs_mut()
                        .append_pair("timestamp", &timestamp.to_string())
                        .append_pair("sign", &dingtalk_sign(&secret, timestamp));
                }
                (url, serde_json::json!({"msgtype": "text", "text": {"content": text}}))
            }
            RobotKind::Feishu => {
                let mut body = serde_json::json!({"msg_type": "text", "content": {"text": text}});
                if let Some(secret) = secret {
                    let timestamp = now.as_second();
                    body["timestamp"] = timestamp.to_string().into();
                    body["sign"] = feishu_sign(&secret, timestamp).into();
                }
                (url, body)
            }
        }
    }

    /// What the robot's code means.
    fn outcome(&self, code: i64, message: &str) -> Delivery {
        let (name, too_fast) = match self.config.kind {
            RobotKind::DingTalk => ("DingTalk", DINGTALK_TOO_FAST),
            RobotKind::Feishu => ("Feishu", FEISHU_TOO_FAST),
        };
        match code {
            0 => Delivery::Accepted { provider_id: None },
            code if code == too_fast => {
                Delivery::Retry { reason: format!("{name} code {code}: {message}"), after: Some(RATE_LIMIT_WAIT) }
            }
            code => Delivery::Rejected { reason: format!("{name} code {code}: {message}") },
        }
    }
}

#[async_trait]
impl ChannelAdapter for Robot {
    fn name(&self) -> &'static str {
        match self.config.kind {
            RobotKind::DingTalk => "dingtalk",
            RobotKind::Feishu => "feishu",
        }
    }

    async fn send(&self, message: &OutgoingMessage) -> Delivery {
        let text = match &message.subject {
            Some(subject) if !subject.is_empty() => format!("{subject}\n{}", message.body),
            _ => message.body.clone(),
        };
        let (url, body) = self.request(&text);
        let answer = match self.client.send_json(self.client.post(url).json(&body), MAX_ERROR_BODY).await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        let (code, text) = match self.config.kind {
            RobotKind::DingTalk => (&answer["errcode"], &answer["errmsg"]),
            RobotKind::Feishu => (&answer["code"], &answer["msg"]),
        };
        match code.as_i64() {
            Some(code) => self.outcome(code, text.as_str().unwrap_or_default()),
            None => Delivery::Rejected { reason: format!("unreadable answer: {answer}") },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_the_token_nor_the_secret_is_shown() {
        for url in [
            "https://open.feishu.cn/open-apis/bot/v2/hook/tok-123",
            "https://oapi.dingtalk.com/robot/send?access_token=tok-123",
        ] {
            let config = RobotConfig {
                kind: RobotKind::Feishu,
                url: url.parse().unwrap(),
                secret: Some(SecretString::from("SECsecret-456")),
                timeout: Duration::from_secs(1),
                allow_private_addresses: false,
            };
            let robot = Robot::new(config, Arc::new(siyu_core::clock::SystemClock)).unwrap();
            let shown = format!("{robot:?}");
            assert!(!shown.contains("tok-123") && !shown.contains("secret-456"), "{shown}");
        }
    }

    /// The published sample code's secret, signed at fixed times (cross-checked with Python's hmac).
    #[test]
    fn signatures_match_the_published_algorithms() {
        assert_eq!(dingtalk_sign("this is secret", 1_700_000_000_000), "sSFWELbV2YwjdDQhWZwTcWlX5BWUx5J6TPpsZmuPii0=");
        assert_eq!(feishu_sign("this is secret", 1_700_000_000), "OfGzRzoUICBOoc8wVra1e4A1hPfbZ9zqXozA8CWVUuY=");
    }
}
