//! siyu's channel adapters, behind the domain's [`siyu_domain::channels::ChannelAdapter`] port:
//! [`webhook`] (JSON POSTed and signed with HMAC-SHA256 over timestamp and body, private addresses
//! refused unless allowed), [`wecom`] (WeCom's callback crypto: message signatures, AES-256-CBC
//! with the EncodingAESKey), [`wecom_api`] (WeCom's server API: the access token kept and
//! refreshed when refused), [`email`] (SMTP with one-click unsubscribe) and [`robots`] (DingTalk and Feishu group robots, with their signing schemes) and [`sms`] (a configurable HTTP gateway, Yunpian's shape by default), over [`http`] (the
//! client, the address policy and what an answer means); [`tls`] installs the one TLS crypto
//! provider (ring) the HTTP client uses. [`factory`] builds them from a workspace's configured channels.
//! WeChat messages follow.

pub mod email;
pub mod factory;
pub mod http;
pub mod robots;
pub mod sms;
pub mod tls;
pub mod webhook;
pub mod wecom;
pub mod wecom_api;
