//! Customer tokens: what a customer presents to the public campaign endpoints. A token names the
//! workspace, the customer and the instant it expires, and is signed (HMAC-SHA-256, truncated to
//! 128 bits) under the workspace's index key, so it is checked without a database read:
//! `st1.<workspace>.<customer>.<expires, unix seconds>.<signature, hex>`. The brand's backend asks
//! siyu for one (`POST /api/v1/customers/{id}/token`) for the customer it signed in and hands it
//! to its page or mini-program.

use siyu_core::crypto::DataKey;
use siyu_core::{CustomerId, WorkspaceId};

/// The token format's version prefix.
const PREFIX: &str = "st1";
/// What the signature binds besides the claim, so a token cannot pass for another signed value.
const CONTEXT: &str = "customer token";
/// The longest token accepted (longer input is refused before it is parsed).
pub const MAX_TOKEN: usize = 128;
/// Tokens live a day unless asked otherwise.
pub const DEFAULT_TTL_SECONDS: i64 = 86_400;
/// The shortest and longest lives a token may be given.
pub const TTL_RANGE: std::ops::RangeInclusive<i64> = 60..=30 * 86_400;

/// A token's claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// The customer.
    pub customer: CustomerId,
    /// Unix seconds after which the token is refused.
    pub expires: i64,
}

impl Claim {
    fn signed_text(&self) -> String {
        format!("{}.{}.{}", self.workspace.0, self.customer.0, self.expires)
    }

    /// Signs the claim under the workspace's key.
    pub fn sign(&self, key: &DataKey) -> String {
        let text = self.signed_text();
        let signature = key.blind_index(CONTEXT, &text);
        format!("{PREFIX}.{text}.{signature}")
    }
}

/// Reads a token's claim without checking it (the workspace names the key to check it with);
/// `None` for anything not shaped as a token.
pub fn read(token: &str) -> Option<Claim> {
    if token.len() > MAX_TOKEN {
        return None;
    }
    let mut parts = token.split('.');
    let (prefix, ws, customer, expires, signature) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if prefix != PREFIX || parts.next().is_some() || signature.len() != 32 {
        return None;
    }
    let number = |text: &str| -> Option<i64> {
        // Only canonical decimals: one text per claim, so a signature covers exactly one token.
        (!text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0'))
            .then(|| text.parse().ok())
            .flatten()
    };
    Some(Claim {
        workspace: WorkspaceId(number(ws)?),
        customer: CustomerId(number(customer)?),
        expires: number(expires)?,
    })
}

/// Whether `token` is `claim` signed under `key` (compared in constant time).
pub fn is_signed(token: &str, claim: &Claim, key: &DataKey) -> bool {
    subtle::ConstantTimeEq::ct_eq(claim.sign(key).as_bytes(), token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use siyu_core::crypto::SecretKey;

    fn key(byte: u8) -> DataKey {
        DataKey::new(SecretKey::from_bytes(&[byte; 32]).expect("32 bytes"))
    }

    #[test]
    fn a_signed_token_reads_back_and_any_change_breaks_it() {
        let claim = Claim { workspace: WorkspaceId(7), customer: CustomerId(42), expires: 1_800_000_000 };
        let token = claim.sign(&key(1));
        assert!(token.starts_with("st1.7.42.1800000000."), "{token}");
        assert_eq!(read(&token), Some(claim));
        assert!(is_signed(&token, &claim, &key(1)));
        assert!(!is_signed(&token, &claim, &key(2)), "another workspace's key");
        let other = Claim { customer: CustomerId(43), ..claim };
        let forged = token.replacen(".42.", ".43.", 1);
        assert_eq!(read(&forged), Some(other));
        assert!(!is_signed(&forged, &other, &key(1)), "another customer under the same signature");
        let later = token.replacen("1800000000", "1900000000", 1);
        assert!(!is_signed(&later, &read(&later).expect("shaped"), &key(1)), "a later expiry");
    }

    #[test]
    fn malformed_tokens_are_not_read() {
        for text in [
            "",
            "st1",
            "st1.7.42.1800000000",
            "st2.7.42.1800000000.00000000000000000000000000000000",
            "st1.07.42.1800000000.00000000000000000000000000000000",
            "st1.-7.42.1800000000.00000000000000000000000000000000",
            "st1.7.42.1800000000.0000",
            "st1.7.42.1800000000.00000000000000000000000000000000.x",
            "st1.99999999999999999999.42.1800000000.00000000000000000000000000000000",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
        assert_eq!(read(&"x".repeat(10_000)), None);
    }
}
