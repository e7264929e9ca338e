//! The e-mail channel: each message sent over SMTP (lettre) as text, or text and HTML, with the
//! headers mail providers ask of bulk senders: `List-Unsubscribe` with the customer's one-click
//! link and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058) when the message has
//! one, and a `Message-ID` made from the workspace and the message's idempotency key, so that every
//! attempt at one message carries the same id.
//!
//! The server's answer decides: 2xx is accepted; a 4xx reply, a timeout or a lost connection is
//! retried; a 5xx reply (no such mailbox, refused content) is refused for good with the server's
//! text. Unless private addresses are allowed, the server's name must resolve to public addresses
//! only (checked before each connection).

use crate::http::{ConfigError, check_timeout, is_public};
use async_trait::async_trait;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::time::Duration;

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS, required (port 587).
    StartTls,
    /// None: only for a relay on the same host or network.
    Plain,
}

/// An e-mail channel's settings.
pub struct EmailConfig {
    /// The SMTP server's host name.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// The user name and password, when the server asks for them.
    pub credentials: Option<(String, SecretString)>,
    /// The sender, as `Name <address>` or an address.
    pub from: String,
    /// The whole attempt's limit.
    pub timeout: Duration,
    /// Whether the server may be at a private address (a relay inside the network).
    pub allow_private_addresses: bool,
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The e-mail adapter.
pub struct Email {
    config: EmailConfig,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").field("config", &self.config).finish()
    }
}

impl Email {
    /// Checks the settings and sets up the transport (connections are opened when sending, and
    /// pooled); call it on a Tokio runtime, which the pool lives on.
    pub fn new(config: EmailConfig) -> Result<Self, ConfigError> {
        if config.host.trim().is_empty() {
            return Err(ConfigError::NoHost);
        }
        check_timeout(config.timeout)?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| ConfigError::Client(format!("the sender \"{}\" is not an e-mail address", config.from)))?;
        crate::tls::install_crypto_provider();
        let builder = match config.security {
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host),
            SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host),
            SmtpSecurity::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())),
        }
        .map_err(|e| ConfigError::Client(e.to_string()))?;
        let mut builder = builder.port(config.port).timeout(Some(config.timeout));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_string()));
        }
        Ok(Self { transport: builder.build(), from, config })
    }

    /// The message as mailed, or why it cannot be.
    fn mail(&self, message: &OutgoingMessage) -> Result<Message, String> {
        let to: Mailbox = message.to.parse().map_err(|_| format!("\"{}\" is not an e-mail address", message.to))?;
        let domain = self.from.email.domain().to_string();
        let id = Sha256::digest(format!("{}:{}", message.workspace, message.idempotency_key).as_bytes());
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone().unwrap_or_default())
            .message_id(Some(format!("<{}@{domain}>", hex::encode(&id[..16]))));
        if let Some(url) = &message.unsubscribe_url {
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let built = match &message.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(message.body.clone(), html.clone())),
            None => {
                builder.singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(message.body.clone()))
            }
        };
        built.map_err(|e| format!("the message cannot be built: {e}"))
    }

    /// Whether the server's name leads only to addresses this channel may reach.
    async fn reachable(&self) -> Result<(), Delivery> {
        if self.config.allow_private_addresses {
            return Ok(());
        }
        let addresses = match tokio::net::lookup_host((self.config.host.as_str(), self.config.port)).await {
            Ok(addresses) => addresses.collect::<Vec<_>>(),
            Err(error) => {
                return Err(Delivery::Retry {
                    reason: format!("{} cannot be resolved: {error}", self.config.host),
                    after: None,
                });
            }
        };
        if addresses.is_empty() || addresses.iter().any(|a| !is_public(a.ip())) {
            return Err(Delivery::Rejected {
                reason: format!(
                    "{} resolves to an address that is not public (allow private addresses to reach it)",
                    self.config.host
                ),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ChannelAdapter for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    async fn send(&self, message: &OutgoingMessage) -> Delivery {
        let mail = match self.mail(message) {
            Ok(mail) => mail,
            Err(reason) => return Delivery::Rejected { reason },
        };
        if let Err(refused) = self.reachable().await {
            return refused;
        }
        match self.transport.send(mail).await {
            Ok(response) => Delivery::Accepted {
                provider_id: response.message().next().map(|line| line.chars().take(200).collect()),
            },
            Err(error) if error.is_permanent() => Delivery::Rejected { reason: format!("SMTP {error}") },
            Err(error) if error.is_timeout() => Delivery::Retry {
                reason: format!(
                    "no answer from {}:{} within {:?}",
                    self.config.host, self.config.port, self.config.timeout
                ),
                after: None,
            },
            Err(error) => Delivery::Retry { reason: format!("SMTP {error}"), after: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str, from: &str) -> EmailConfig {
        EmailConfig {
            host: host.into(),
            port: 587,
            security: SmtpSecurity::StartTls,
            credentials: Some(("news".into(), SecretString::from("smtp-password-1"))),
            from: from.into(),
            timeout: Duration::from_secs(5),
            allow_private_addresses: false,
        }
    }

    #[tokio::test]
    async fn settings_are_checked_and_never_print_the_password() {
        assert_eq!(Email::new(config(" ", "news@brand.example")).unwrap_err(), ConfigError::NoHost);
        assert!(matches!(Email::new(config("smtp.brand.example", "not an address")), Err(ConfigError::Client(_))));
        let email = Email::new(config("smtp.brand.example", "品牌 <news@brand.example>")).unwrap();
        assert!(!format!("{email:?}").contains("smtp-password-1"));
    }
}
