//! siyu's channel adapters, behind the domain's [`siyu_domain::channels::ChannelAdapter`] port:
//! [`webhook`] (JSON POSTed and signed with HMAC-SHA256 over timestamp and body, private addresses
//! refused unless allowed) and [`wecom`] (WeCom's callback crypto: message signatures, AES-256-CBC
//! with the EncodingAESKey). E-mail, WeChat service notifications, SMS and group robots follow.
//! [`tls`] installs the one TLS crypto provider (ring) the HTTP client uses.

pub mod tls;
pub mod webhook;
pub mod wecom;
