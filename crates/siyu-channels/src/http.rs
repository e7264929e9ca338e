//! What every HTTP channel shares: the client (a timeout on the whole attempt, no redirects, and,
//! unless private addresses are allowed, connections only to public addresses — checked on the
//! addresses a name resolves to at send time, so a name cannot be pointed at an internal service
//! after the channel was saved), the settings' checks, and what an answer means: a failed request
//! or a retryable status may pass later, a redirect or any other refusal never will.

use siyu_domain::channels::Delivery;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How much of an answer's body is read into a reason (or parsed, for providers that answer
/// errors in a 200).
pub const MAX_ERROR_BODY: usize = 512;
/// The longest `Retry-After` taken as it is.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The longest attempt a channel may allow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a channel's settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URL's scheme is not http or https.
    #[error("the url must start with http:// or https://")]
    Scheme,
    /// The URL names no host.
    #[error("the url names no host")]
    NoHost,
    /// The URL's host is an address the channel may not reach.
    #[error("the url's address {0} is not public (allow private addresses to reach it)")]
    PrivateAddress(IpAddr),
    /// The secret does not fit the channel.
    #[error("the secret {0}")]
    Secret(String),
    /// The timeout is zero or over a minute.
    #[error("the timeout must be between 1 ms and 60 s")]
    Timeout,
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be set up: {0}")]
    Client(String),
}

/// A URL without its user name, password, query and fragment (a robot's access token sits in its
/// query), as reasons and logs show it.
pub fn redacted_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Whether a channel may connect to `ip` when private addresses are not allowed: only globally
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

/// A name a channel may not reach.
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

/// Checks a channel's timeout: more than zero, at most [`MAX_TIMEOUT`].
pub fn check_timeout(timeout: Duration) -> Result<(), ConfigError> {
    if timeout.is_zero() || timeout > MAX_TIMEOUT { Err(ConfigError::Timeout) } else { Ok(()) }
}

/// An HTTP client for one channel's URL.
#[derive(Clone)]
pub struct Client {
    inner: reqwest::Client,
    /// The URL as reasons and logs show it.
    shown: String,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry credentials or a robot's token: shown without them.
        f.debug_struct("Client").field("url", &self.shown).field("timeout", &self.timeout).finish()
    }
}

impl Client {
    /// Checks the channel's URL and timeout and sets up the client.
    pub fn new(url: &url::Url, timeout: Duration, allow_private_addresses: bool) -> Result<Self, ConfigError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::Scheme);
        }
        let host = url.host().ok_or(ConfigError::NoHost)?;
        if !allow_private_addresses {
            let literal = match host {
                url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
                url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
                url::Host::Domain(_) => None,
            };
            if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
                return Err(ConfigError::PrivateAddress(ip));
            }
        }
        check_timeout(timeout)?;
        crate::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("siyu/", env!("CARGO_PKG_VERSION")));
        if !allow_private_addresses {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let inner = builder.build().map_err(|e| ConfigError::Client(e.without_url().to_string()))?;
        Ok(Self { inner, shown: redacted_url(url), timeout })
    }

    /// Shows the channel as `shown` in reasons and logs instead of its URL (whose path holds a
    /// token, as a Feishu robot's does).
    pub fn shown_as(mut self, shown: String) -> Self {
        self.shown = shown;
        self
    }

    /// Starts a POST to `url` (the channel's, or one made from it).
    pub fn post(&self, url: url::Url) -> reqwest::RequestBuilder {
        self.inner.post(url)
    }

    /// Starts a GET of `url` (the channel's, or one made from it).
    pub fn get(&self, url: url::Url) -> reqwest::RequestBuilder {
        self.inner.get(url)
    }

    /// Sends `request`: the answer when it is a 2xx, else what the failure means for the message
    /// ([`Client::failure`] for a request without an answer, [`unsuccessful`] for any other status).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Delivery> {
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(response),
            Ok(response) => Err(unsuccessful(response).await),
            Err(error) => Err(self.failure(&error)),
        }
    }

    /// Sends `request` and reads its 2xx answer as JSON, up to `limit` bytes (providers that
    /// answer errors in a 200 put them there). An answer that is not JSON is refused, not retried:
    /// the provider may have acted on the request.
    pub async fn send_json(
        &self,
        request: reqwest::RequestBuilder,
        limit: usize,
    ) -> Result<serde_json::Value, Delivery> {
        let mut response = self.send(request).await?;
        let bytes = read_limited(&mut response, limit).await;
        serde_json::from_slice(&bytes).map_err(|_| Delivery::Rejected {
            reason: format!(
                "unreadable answer from {}: {}",
                self.shown,
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).trim()
            ),
        })
    }

    /// What a failed request means: refused addresses are for good, anything else may pass later.
    pub fn failure(&self, error: &reqwest::Error) -> Delivery {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<NotPublic>() {
                return Delivery::Rejected { reason: refused.to_string() };
            }
            source = cause.source();
        }
        let url = &self.shown;
        let reason = if error.is_timeout() {
            format!("no answer from {url} within {:?}", self.timeout)
        } else if error.is_connect() {
            format!("could not connect to {url}")
        } else {
            format!("the request to {url} failed: {}", root_cause(error))
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

/// Reads up to `limit` bytes of an answer's body.
async fn read_limited(response: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk[..chunk.len().min(limit - bytes.len())]),
            _ => break,
        }
    }
    bytes
}

/// What an answer that is not a 2xx means: 408, 425, 429 and 5xx may pass later (after
/// `Retry-After`, when given), a redirect is never followed, anything else is refused for good;
/// the reason holds the status and up to [`MAX_ERROR_BODY`] bytes of the body.
async fn unsuccessful(mut response: reqwest::Response) -> Delivery {
    let status = response.status();
    if status.is_redirection() {
        return Delivery::Rejected {
            reason: format!("HTTP {status}: the receiver redirects, and channels follow no redirect"),
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
    let text = read_limited(&mut response, MAX_ERROR_BODY).await;
    let text = String::from_utf8_lossy(&text);
    let text = text.trim();
    let reason = if text.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {text}") };
    if retryable { Delivery::Retry { reason, after } } else { Delivery::Rejected { reason } }
}

/// The wait a `Retry-After` header asks for, in seconds (an HTTP date is not followed).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn urls_and_timeouts_are_checked() {
        let client = |url: &str, timeout| Client::new(&url.parse().unwrap(), timeout, false);
        let second = Duration::from_secs(1);
        assert_eq!(client("ftp://example.com/", second).unwrap_err(), ConfigError::Scheme);
        assert_eq!(
            client("http://169.254.169.254/latest", second).unwrap_err(),
            ConfigError::PrivateAddress("169.254.169.254".parse().unwrap())
        );
        assert_eq!(
            client("http://[::1]:8080/", second).unwrap_err(),
            ConfigError::PrivateAddress("::1".parse().unwrap())
        );
        assert_eq!(client("https://example.com/", Duration::ZERO).unwrap_err(), ConfigError::Timeout);
        assert_eq!(client("https://example.com/", MAX_TIMEOUT + second).unwrap_err(), ConfigError::Timeout);
        assert!(Client::new(&"http://127.0.0.1:9/".parse().unwrap(), second, true).is_ok());
        assert_eq!(
            redacted_url(&"https://u:p@example.com/robot/send?access_token=t#x".parse().unwrap()),
            "https://example.com/robot/send"
        );
    }
}
