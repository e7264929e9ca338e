//! siyu's channel adapters, behind the domain's [`siyu_domain::channels::ChannelAdapter`] port:
//! [`webhook`] (JSON POSTed and signed with HMAC-SHA256 over timestamp and body, private addresses
//! refused unless allowed), [`email`] (SMTP with one-click unsubscribe), [`sms`] (a configurable
//! HTTP gateway, Yunpian's shape by default), [`wecom_api`] (WeCom's group send, welcome
//! message and application messages to staff), [`wechat`] (WeChat service notifications: official-account template messages,
//! mini-program subscribe messages) and [`robots`] (DingTalk and Feishu group robots, with their
//! signing schemes); [`tencent_api`] is WeCom's and WeChat's server API (the access token kept and
//! refreshed when refused), [`wecom`] WeCom's callback crypto (message signatures, AES-256-CBC
//! with the EncodingAESKey), [`http`] the client, the address policy and what an answer means,
//! and [`tls`] the one TLS crypto provider (ring) the HTTP client uses. [`factory`] builds them
//! from a workspace's configured channels and opens their callbacks.

pub mod email;
pub mod factory;
pub mod http;
pub mod robots;
pub mod sms;
pub mod tencent_api;
pub mod tls;
pub mod webhook;
pub mod wechat;
pub mod wecom;
pub mod wecom_api;
