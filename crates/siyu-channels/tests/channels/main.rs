//! The channel adapters against real receivers: the webhook adapter POSTs to an HTTP server this
//! test starts on an ephemeral port, and WeCom's callback crypto is checked against every published
//! vector in `tests/fixtures/wecom.json` (a copy of ../shared/vectors/wecom.json).

// Test cases: a panic is their failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod email;
mod robots;
mod sms;
mod webhook;
mod wechat;
mod wecom_api;
mod wecom_vectors;
