//! The channel adapters against real receivers and faithful doubles: the webhook adapter POSTs to an
//! HTTP server this test starts on an ephemeral port, SMS, WeCom and WeChat adapters call local
//! doubles of their providers, e-mail goes to a real SMTP server, and WeCom's callback crypto is
//! checked against every published vector in `tests/fixtures/wecom.json` (a copy of
//! ../shared/vectors/wecom.json).

// Test cases: a panic is their failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod email;
mod robots;
mod sms;
mod webhook;
mod wechat;
mod wecom_api;
mod wecom_vectors;

/// A message to customer `customer` at `to` under `key`, saying `body`, with nothing else.
pub(crate) fn outgoing(key: &str, customer: i64, to: &str, body: &str) -> siyu_domain::channels::OutgoingMessage {
    siyu_domain::channels::OutgoingMessage {
        idempotency_key: key.into(),
        workspace: siyu_core::WorkspaceId(1),
        customer: Some(siyu_core::CustomerId(customer)),
        to: to.into(),
        subject: None,
        body: body.into(),
        html: None,
        unsubscribe_url: None,
        data: serde_json::json!({}),
        template: None,
        params: Default::default(),
    }
}
