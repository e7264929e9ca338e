//! The webhook channel: each message POSTed as JSON to the channel's URL and signed, so that the
//! receiver can tell it came from siyu, unaltered, and not replayed (docs/CHANNELS.md shows the
//! check in a few lines).
//!
//! Headers: `Siyu-Timestamp` (Unix seconds when the attempt was made), `Siyu-Signature` (`v1=`
//! and the lowercase hex HMAC-SHA256, under the channel's secret, of the timestamp, a `.` and the
//! body's bytes; several comma-separated `v1=` values are accepted by [`verify`], for a secret
//! being rotated) and `Idempotency-Key` (the message's key, the same on every attempt at it).
//!
//! The client and what its answers mean are [`crate::http`]'s: no redirects, non-public addresses
//! refused unless allowed, 2xx accepted, 408, 425, 429 and 5xx retried, anything else refused.

use crate::http::{Client, ConfigError, redacted_url};
use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use siyu_core::clock::Clock;
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::sync::Arc;
use std::time::Duration;

/// The header carrying the attempt's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "siyu-timestamp";
/// The header carrying the signature(s).
pub const SIGNATURE_HEADER: &str = "siyu-signature";
/// The header carrying the message's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// How far a timestamp may lie from the receiver's clock, either way, by default.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(300);

/// Returns the `Siyu-Signature` value for a body sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a received webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `Siyu-Timestamp` is not a whole number of seconds.
    #[error("the timestamp header is not a Unix time in seconds")]
    BadTimestamp,
    /// The timestamp lies outside the replay window.
    #[error("the timestamp is {off_by_s} s away from now, outside the {window_s} s window")]
    Stale {
        /// How far it is from the receiver's clock, in seconds.
        off_by_s: i64,
        /// The window, in seconds.
        window_s: u64,
    },
    /// `Siyu-Signature` holds no `v1=` value of 64 hex digits.
    #[error("the signature header holds no v1 signature")]
    BadSignatureHeader,
    /// No signature matches the body, the timestamp and the secret.
    #[error("no signature matches")]
    Mismatch,
}

/// Checks a received webhook: its timestamp lies within `window` of `now_s` (Unix seconds) and one
/// of the signature header's `v1=` values is the HMAC of the timestamp and `body` under `secret`
/// (compared in constant time).
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_s: i64,
    window: Duration,
) -> Result<(), VerifyError> {
    let sent: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    let off_by_s = now_s.saturating_sub(sent).saturating_abs();
    if u64::try_from(off_by_s).map_or(true, |off| off > window.as_secs()) {
        return Err(VerifyError::Stale { off_by_s, window_s: window.as_secs() });
    }
    let candidates: Vec<Vec<u8>> = signature
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(|digits| hex::decode(digits).ok())
        .filter(|bytes| bytes.len() == 32)
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::BadSignatureHeader);
    }
    if candidates.iter().any(|candidate| mac(secret, sent, body).verify_slice(candidate).is_ok()) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Checks a received webhook from its headers ([`TIMESTAMP_HEADER`], [`SIGNATURE_HEADER`]) and
/// body, as [`verify`] does; a missing or unreadable header counts as a malformed one.
pub fn verify_headers(
    secret: &[u8],
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    now_s: i64,
    window: Duration,
) -> Result<(), VerifyError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default();
    verify(secret, header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), body, now_s, window)
}

/// A webhook channel's settings.
pub struct WebhookConfig {
    /// Where messages are POSTed (`http` or `https`).
    pub url: url::Url,
    /// The signing secret.
    pub secret: SecretString,
    /// The whole attempt's limit: connecting, sending and the answer.
    pub timeout: Duration,
    /// Whether the URL may lead to a loopback, private or link-local address (a receiver on the
    /// same host or network; off by default).
    pub allow_private_addresses: bool,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redacted_url(&self.url))
            .field("secret", &"[redacted]")
            .field("timeout", &self.timeout)
            .field("allow_private_addresses", &self.allow_private_addresses)
            .finish()
    }
}

/// The webhook adapter.
#[derive(Debug)]
pub struct Webhook {
    config: WebhookConfig,
    client: Client,
    /// Dates each attempt (its signed timestamp).
    clock: Arc<dyn Clock>,
}

impl Webhook {
    /// Checks the settings and sets up the client; `clock` dates each attempt.
    pub fn new(config: WebhookConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        if config.secret.expose_secret().len() < 16 {
            return Err(ConfigError::Secret("must be at least 16 characters".into()));
        }
        let client = Client::new(&config.url, config.timeout, config.allow_private_addresses)?;
        Ok(Self { config, client, clock })
    }

    /// The JSON body of a message: its key, workspace, customer, address, subject, text and data,
    /// and its registered template and parameters when it has them.
    fn body(message: &OutgoingMessage, sent_at: jiff::Timestamp) -> Vec<u8> {
        let mut body = serde_json::json!({
            "id": message.idempotency_key,
            "workspace_id": message.workspace,
            "customer_id": message.customer,
            "to": message.to,
            "subject": message.subject,
            "body": message.body,
            "html": message.html,
            "unsubscribe_url": message.unsubscribe_url,
            "data": message.data,
            "sent_at": sent_at.to_string(),
        });
        if let Some(template) = &message.template {
            body["template"] = template.as_str().into();
        }
        if !message.params.is_empty() {
            body["params"] = serde_json::json!(message.params);
        }
        serde_json::to_vec(&body).expect("a JSON value always serializes")
    }
}

#[async_trait]
impl ChannelAdapter for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, message: &OutgoingMessage) -> Delivery {
        let now = self.clock.now();
        let body = Self::body(message, now);
        let timestamp = now.as_second();
        let signature = sign(self.config.secret.expose_secret().as_bytes(), timestamp, &body);
        let request = self
            .client
            .post(self.config.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .header(IDEMPOTENCY_HEADER, &message.idempotency_key)
            .body(body);
        match self.client.send(request).await {
            Ok(response) => {
                let provider_id = response
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.chars().take(200).collect());
                Delivery::Accepted { provider_id }
            }
            Err(failed) => failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec-0123456789abcdef";

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let body = br#"{"id":"k1"}"#;
        let signature = sign(SECRET, 1_700_000_000, body);
        assert!(signature.starts_with("v1=") && signature.len() == 3 + 64);
        let window = DEFAULT_REPLAY_WINDOW;
        assert_eq!(verify(SECRET, "1700000000", &signature, body, 1_700_000_100, window), Ok(()));
        assert_eq!(
            verify(SECRET, "1700000000", &signature, br#"{"id":"k2"}"#, 1_700_000_000, window),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"another-secret-of-16", "1700000000", &signature, body, 1_700_000_000, window),
            Err(VerifyError::Mismatch)
        );
        // The timestamp is signed: moving it forward to get past the window breaks the signature.
        assert_eq!(verify(SECRET, "1700000001", &signature, body, 1_700_000_001, window), Err(VerifyError::Mismatch));
    }

    #[test]
    fn the_documented_example_is_what_sign_makes() {
        let docs = include_str!("../../../docs/CHANNELS.md");
        let signature = sign(b"whsec-doc-example-0123", 1_764_662_400, br#"{"id":"welcome:v3:send:1842","body":"hi"}"#);
        assert!(docs.contains(&format!("signature = \"{signature}\"")), "docs/CHANNELS.md shows {signature}");
    }

    #[test]
    fn old_and_future_timestamps_are_refused_as_replays() {
        let body = b"{}";
        let signature = sign(SECRET, 1_000, body);
        let window = Duration::from_secs(300);
        assert_eq!(verify(SECRET, "1000", &signature, body, 1_300, window), Ok(()));
        assert_eq!(
            verify(SECRET, "1000", &signature, body, 1_301, window),
            Err(VerifyError::Stale { off_by_s: 301, window_s: 300 })
        );
        assert_eq!(
            verify(SECRET, "1000", &signature, body, 699, window),
            Err(VerifyError::Stale { off_by_s: 301, window_s: 300 })
        );
        assert_eq!(
            verify(SECRET, "-9223372036854775808", &signature, body, 1_000, window).unwrap_err(),
            VerifyError::Stale { off_by_s: i64::MAX, window_s: 300 }
        );
        assert_eq!(verify(SECRET, "soon", &signature, body, 1_000, window), Err(VerifyError::BadTimestamp));
    }

    #[test]
    fn malformed_headers_are_named_and_a_rotated_secret_still_verifies() {
        let body = b"{}";
        for header in ["", "v1=", "v1=zz", "v0=00", "sha256=abcd", "v1=abcd"] {
            assert_eq!(
                verify(SECRET, "5", header, body, 5, DEFAULT_REPLAY_WINDOW),
                Err(VerifyError::BadSignatureHeader),
                "{header:?}"
            );
        }
        let old = sign(b"old-secret-0123456", 5, body);
        let new = sign(SECRET, 5, body);
        assert_eq!(verify(SECRET, "5", &format!("{old}, {new}"), body, 5, DEFAULT_REPLAY_WINDOW), Ok(()));
        assert_eq!(verify(SECRET, "5", &old, body, 5, DEFAULT_REPLAY_WINDOW), Err(VerifyError::Mismatch));
    }

    impl Webhook {
        fn new_for_test(config: WebhookConfig) -> Result<Self, ConfigError> {
            Self::new(config, Arc::new(siyu_core::clock::SystemClock))
        }
    }

    fn config(url: &str) -> WebhookConfig {
        WebhookConfig {
            url: url.parse().unwrap(),
            secret: SecretString::from("0123456789abcdef"),
            timeout: Duration::from_secs(5),
            allow_private_addresses: false,
        }
    }

    #[test]
    fn settings_are_checked_and_never_print_the_secret() {
        assert_eq!(Webhook::new_for_test(config("ftp://example.com/")).unwrap_err(), ConfigError::Scheme);
        assert_eq!(
            Webhook::new_for_test(config("http://169.254.169.254/latest")).unwrap_err(),
            ConfigError::PrivateAddress("169.254.169.254".parse().unwrap())
        );
        assert_eq!(
            Webhook::new_for_test(config("http://[::1]:8080/")).unwrap_err(),
            ConfigError::PrivateAddress("::1".parse().unwrap())
        );
        let mut short = config("https://example.com/");
        short.secret = SecretString::from("short");
        assert_eq!(
            Webhook::new_for_test(short).unwrap_err(),
            ConfigError::Secret("must be at least 16 characters".into())
        );
        let mut slow = config("https://example.com/");
        slow.timeout = Duration::ZERO;
        assert_eq!(Webhook::new_for_test(slow).unwrap_err(), ConfigError::Timeout);
        let shown = format!("{:?}", Webhook::new_for_test(config("https://user:pw@example.com/hook?token=t")).unwrap());
        assert!(!shown.contains("0123456789abcdef") && !shown.contains("pw") && !shown.contains("token=t"), "{shown}");
    }
}
