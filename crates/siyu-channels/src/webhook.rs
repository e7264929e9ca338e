//! The webhook channel: each message POSTed as JSON to the channel's URL and signed, so that the
//! receiver can tell it came from siyu, unaltered, and not replayed (docs/CHANNELS.md shows the
//! check in a few lines).
//!
//! Headers: `Siyu-Timestamp` (Unix seconds when the attempt was made), `Siyu-Signature` (`v1=`
//! and the lowercase hex HMAC-SHA256, under the channel's secret, of the timestamp, a `.` and the
//! body's bytes; several comma-separated `v1=` values are accepted by [`verify`], for a secret
//! being rotated) and `Idempotency-Key` (the message's key, the same on every attempt at it).
//!
//! The adapter follows no redirect, reads at most [`MAX_ERROR_BODY`] bytes of an error answer, and,
//! unless the channel allows private addresses, refuses to connect to loopback, private,
//! link-local and other non-public addresses — checked on the addresses a name resolves to, so a
//! name cannot be pointed at an internal service after the channel was saved.

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use siyu_core::clock::Clock;
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::net::{IpAddr, SocketAddr};
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
/// How much of an error answer's body is read into the reason.
pub const MAX_ERROR_BODY: usize = 512;
/// The longest `Retry-After` taken as it is.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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

/// A URL without its user name, password, query and fragment, as reasons and logs show it.
fn redacted_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Why a webhook channel's settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookConfigError {
    /// The URL's scheme is not http or https.
    #[error("the url must start with http:// or https://")]
    Scheme,
    /// The URL names no host.
    #[error("the url names no host")]
    NoHost,
    /// The URL's host is an address the channel may not reach.
    #[error("the url's address {0} is not public (allow private addresses to reach it)")]
    PrivateAddress(IpAddr),
    /// The secret is shorter than 16 bytes.
    #[error("the secret must be at least 16 characters")]
    ShortSecret,
    /// The timeout is zero or over a minute.
    #[error("the timeout must be between 1 ms and 60 s")]
    Timeout,
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be set up: {0}")]
    Client(String),
}

/// Whether a webhook may connect to `ip` when private addresses are not allowed: only globally
/// routable unicast addresses pass.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// Resolves names for the client and refuses those that lead to no public address.
struct PublicOnly;

/// A name or address a webhook may not reach.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to no public address (allow private addresses to reach it)")]
struct NotPublic {
    host: String,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if addresses.is_empty() {
                return Err(Box::new(NotPublic { host }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The webhook adapter.
#[derive(Debug)]
pub struct Webhook {
    config: WebhookConfig,
    client: reqwest::Client,
    /// Dates each attempt (its signed timestamp).
    clock: Arc<dyn Clock>,
}

impl Webhook {
    /// Checks the settings and sets up the client; `clock` dates each attempt.
    pub fn new(config: WebhookConfig, clock: Arc<dyn Clock>) -> Result<Self, WebhookConfigError> {
        if !matches!(config.url.scheme(), "http" | "https") {
            return Err(WebhookConfigError::Scheme);
        }
        let host = config.url.host().ok_or(WebhookConfigError::NoHost)?;
        if !config.allow_private_addresses {
            let literal = match host {
                url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
                url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
                url::Host::Domain(_) => None,
            };
            if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
                return Err(WebhookConfigError::PrivateAddress(ip));
            }
        }
        if config.secret.expose_secret().len() < 16 {
            return Err(WebhookConfigError::ShortSecret);
        }
        if config.timeout.is_zero() || config.timeout > Duration::from_secs(60) {
            return Err(WebhookConfigError::Timeout);
        }
        crate::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("siyu/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private_addresses {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder.build().map_err(|e| WebhookConfigError::Client(e.without_url().to_string()))?;
        Ok(Self { config, client, clock })
    }

    /// The JSON body of a message: its key, workspace, customer, address, subject, text and data.
    fn body(message: &OutgoingMessage, sent_at: jiff::Timestamp) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": message.idempotency_key,
            "workspace_id": message.workspace,
            "customer_id": message.customer,
            "to": message.to,
            "subject": message.subject,
            "body": message.body,
            "data": message.data,
            "sent_at": sent_at.to_string(),
        }))
        .expect("a JSON value always serializes")
    }

    /// Reads what an answer says about a failure: its status and up to [`MAX_ERROR_BODY`] bytes.
    async fn error_reason(mut response: reqwest::Response) -> String {
        let status = response.status();
        let mut text = Vec::new();
        while text.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => text.extend_from_slice(&chunk[..chunk.len().min(MAX_ERROR_BODY - text.len())]),
                _ => break,
            }
        }
        let text = String::from_utf8_lossy(&text);
        let text = text.trim();
        if text.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {text}") }
    }

    /// What a failed request means: refused addresses are for good, anything else may pass later.
    fn failure(&self, error: &reqwest::Error) -> Delivery {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<NotPublic>() {
                return Delivery::Rejected { reason: refused.to_string() };
            }
            source = cause.source();
        }
        let reason = if error.is_timeout() {
            format!("no answer from {} within {:?}", redacted_url(&self.config.url), self.config.timeout)
        } else if error.is_connect() {
            format!("could not connect to {}", redacted_url(&self.config.url))
        } else {
            format!("the request to {} failed: {}", redacted_url(&self.config.url), root_cause(error))
        };
        Delivery::Retry { reason, after: None }
    }
}

/// The innermost cause of an error, which names what went wrong (reqwest's own text is generic).
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The wait a `Retry-After` header asks for, in seconds (an HTTP date is not followed).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
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
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return self.failure(&error),
        };
        let status = response.status();
        if status.is_success() {
            let provider_id = response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(200).collect());
            return Delivery::Accepted { provider_id };
        }
        if status.is_redirection() {
            return Delivery::Rejected {
                reason: format!("HTTP {status}: the receiver redirects, and webhooks follow no redirect"),
            };
        }
        let retryable = status.is_server_error()
            || matches!(
                status,
                reqwest::StatusCode::REQUEST_TIMEOUT
                    | reqwest::StatusCode::TOO_EARLY
                    | reqwest::StatusCode::TOO_MANY_REQUESTS
            );
        let after = retry_after(&response);
        let reason = Self::error_reason(response).await;
        if retryable { Delivery::Retry { reason, after } } else { Delivery::Rejected { reason } }
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

    #[test]
    fn only_globally_routable_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "203.119.1.1", "2400:3200::1", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    impl Webhook {
        fn new_for_test(config: WebhookConfig) -> Result<Self, WebhookConfigError> {
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
        assert_eq!(Webhook::new_for_test(config("ftp://example.com/")).unwrap_err(), WebhookConfigError::Scheme);
        assert_eq!(
            Webhook::new_for_test(config("http://169.254.169.254/latest")).unwrap_err(),
            WebhookConfigError::PrivateAddress("169.254.169.254".parse().unwrap())
        );
        assert_eq!(
            Webhook::new_for_test(config("http://[::1]:8080/")).unwrap_err(),
            WebhookConfigError::PrivateAddress("::1".parse().unwrap())
        );
        let mut short = config("https://example.com/");
        short.secret = SecretString::from("short");
        assert_eq!(Webhook::new_for_test(short).unwrap_err(), WebhookConfigError::ShortSecret);
        let mut slow = config("https://example.com/");
        slow.timeout = Duration::ZERO;
        assert_eq!(Webhook::new_for_test(slow).unwrap_err(), WebhookConfigError::Timeout);
        let shown = format!("{:?}", Webhook::new_for_test(config("https://user:pw@example.com/hook?token=t")).unwrap());
        assert!(!shown.contains("0123456789abcdef") && !shown.contains("pw") && !shown.contains("token=t"), "{shown}");
    }
}
