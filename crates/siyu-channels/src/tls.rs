//! The process's TLS crypto provider: rustls with ring, the one TLS stack of siyu (reqwest is
//! built without a provider of its own).

/// Installs ring as rustls's default provider, once per process; later calls do nothing.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: another part of the process installed one first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
