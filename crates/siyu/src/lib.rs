//! The siyu binary's library half: configuration, wiring of stores and services into the web app,
//! and the commands (`demo`, `bench`) that the CLI and the integration tests share.
//!
//! Modules, in reading order: [`config`], [`app`], [`demo`], [`customer`], [`event_import`], [`event_export`], [`query`], [`bench`], [`wecom`].

pub mod app;
pub mod bench;
pub mod config;
pub mod customer;
pub mod demo;
pub mod event_export;
pub mod event_import;
pub mod lottery;
pub mod model;
pub mod query;
pub mod segment;
#[cfg(test)]
mod tidy;
pub mod wecom;

/// Returns a builder of HTTP clients (the benchmarks' load and the tests' requests), after installing
/// the process's TLS provider: reqwest is built without one of its own (one TLS stack, rustls on ring).
pub fn http_client() -> reqwest::ClientBuilder {
    siyu_channels::tls::install_crypto_provider();
    reqwest::Client::builder()
}

pub use app::App;
pub use config::Config;
