//! Envelope encryption for personal data: a master key wraps one data key per workspace;
//! data keys seal values with AES-256-GCM and derive HMAC blind indexes for exact lookups.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Why a cryptographic operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Key material had the wrong length or encoding.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Ciphertext was truncated, tampered with, or sealed under another key.
    #[error("ciphertext cannot be opened")]
    Open,
    /// The system random source failed.
    #[error("random source failed")]
    Random,
}

const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// First byte of every sealed value, so the format can evolve.
const FORMAT_V1: u8 = 1;

/// Fills a fresh buffer of `N` random bytes from the thread's CSPRNG (ChaCha, seeded and
/// periodically reseeded from the operating system), which spares a system call per nonce.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    use rand::TryRngCore;
    let mut bytes = [0u8; N];
    rand::rng().try_fill_bytes(&mut bytes).map_err(|_| CryptoError::Random)?;
    Ok(bytes)
}

/// A 256-bit AES-GCM key; its bytes are wiped on drop and never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// Returns a new random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(Zeroizing::new(random_bytes::<32>()?)))
    }

    /// Builds a key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; 32] =
            bytes.try_into().map_err(|_| CryptoError::InvalidKey(format!("expected 32 bytes, got {}", bytes.len())))?;
        Ok(Self(Zeroizing::new(array)))
    }

    /// Parses 64 hexadecimal characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|e| CryptoError::InvalidKey(format!("not hexadecimal: {e}")))?,
        );
        Self::from_bytes(&bytes)
    }

    /// Returns the key as 64 hexadecimal characters (for writing a key file).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.0))
    }

    /// Encrypts `plaintext` bound to `context` (e.g. a column name), with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::new();
        SealingKey::new(self).seal_into(plaintext, context, &mut out)?;
        Ok(out)
    }

    /// Decrypts a value made by [`SecretKey::seal`] with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        SealingKey::new(self).open(sealed, context)
    }
}

/// A key with its cipher set up once, for sealing and opening many values (the event log's hot
/// path); the same format as [`SecretKey::seal`]: a version byte, the nonce, the ciphertext and tag.
#[derive(Clone)]
pub struct SealingKey(LessSafeKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// Sets up the cipher of `key`.
    pub fn new(key: &SecretKey) -> Self {
        Self(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key.0[..]).expect("a 32-byte key is a valid AES-256 key")))
    }

    /// Appends `plaintext` sealed under this key, bound to `context`, to `out`.
    pub fn seal_into(&self, plaintext: &[u8], context: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        out.reserve(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce_bytes);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context),
                &mut out[start..],
            )
            .map_err(|_| CryptoError::Open)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Decrypts a value sealed under this key with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT_V1 {
            return Err(CryptoError::Open);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN]).map_err(|_| CryptoError::Open)?;
        let mut plain = sealed[1 + NONCE_LEN..].to_vec();
        let length = self.0.open_in_place(nonce, Aad::from(context), &mut plain).map_err(|_| CryptoError::Open)?.len();
        plain.truncate(length);
        Ok(plain)
    }
}

/// A workspace's data key together with its derived blind-index key.
#[derive(Clone, Debug)]
pub struct DataKey {
    seal_key: SecretKey,
    index_key: SecretKey,
}

impl DataKey {
    /// Derives the sealing and index keys from a data key's 32 bytes.
    pub fn new(key: SecretKey) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"siyu data key v1"), &key.0[..]);
        let mut seal = Zeroizing::new([0u8; 32]);
        let mut index = Zeroizing::new([0u8; 32]);
        hk.expand(b"seal", &mut seal[..]).expect("32 bytes is a valid HKDF output length");
        hk.expand(b"blind-index", &mut index[..]).expect("32 bytes is a valid HKDF output length");
        Self { seal_key: SecretKey(seal), index_key: SecretKey(index) }
    }

    /// Encrypts a UTF-8 value bound to `context`.
    pub fn seal_str(&self, value: &str, context: &str) -> Result<Vec<u8>, CryptoError> {
        self.seal_key.seal(value.as_bytes(), context.as_bytes())
    }

    /// Decrypts a value sealed by [`DataKey::seal_str`].
    pub fn open_str(&self, sealed: &[u8], context: &str) -> Result<String, CryptoError> {
        let bytes = self.seal_key.open(sealed, context.as_bytes())?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Open)
    }

    /// Encrypts bytes bound to `context` (a snapshot, a wrapped key).
    pub fn seal_bytes(&self, value: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        self.seal_key.seal(value, context.as_bytes())
    }

    /// Decrypts bytes sealed by [`DataKey::seal_bytes`].
    pub fn open_bytes(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        self.seal_key.open(sealed, context.as_bytes())
    }

    /// Wraps a key of one customer (or any key kept beside the data it protects) under this data
    /// key; destroying the wrapped key makes what it sealed unreadable.
    pub fn wrap_key(&self, key: &SecretKey, context: &str) -> Result<Vec<u8>, CryptoError> {
        self.seal_key.seal(&key.0[..], context.as_bytes())
    }

    /// Unwraps a key wrapped by [`DataKey::wrap_key`].
    pub fn unwrap_key(&self, wrapped: &[u8], context: &str) -> Result<SecretKey, CryptoError> {
        let bytes = Zeroizing::new(self.seal_key.open(wrapped, context.as_bytes())?);
        SecretKey::from_bytes(&bytes)
    }

    /// Returns the keyed blind index (hex HMAC-SHA256) of a normalised value within `context`.
    pub fn blind_index(&self, context: &str, value: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.index_key.0[..]).expect("HMAC accepts any key length");
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// Wraps (encrypts) a workspace data key under the master key.
pub fn wrap_key(master: &SecretKey, data_key: &SecretKey) -> Result<Vec<u8>, CryptoError> {
    master.seal(&data_key.0[..], b"siyu workspace data key")
}

/// Unwraps a data key sealed by [`wrap_key`].
pub fn unwrap_key(master: &SecretKey, wrapped: &[u8]) -> Result<SecretKey, CryptoError> {
    let bytes = Zeroizing::new(master.open(wrapped, b"siyu workspace data key")?);
    SecretKey::from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value sealed by an earlier siyu (RustCrypto's aes-gcm, before the cipher moved to ring):
    /// key bytes 0..32, nonce of nines, context "phone". Data at rest must stay readable.
    #[test]
    fn values_sealed_by_the_earlier_cipher_still_open() {
        let key = SecretKey::from_bytes(&(0u8..32).collect::<Vec<_>>()).unwrap();
        let sealed =
            hex::decode("01090909090909090909090909822b300bb7ae709ce13900bbfef440e848d5871ffda6adcd279dd4").unwrap();
        assert_eq!(key.open(&sealed, b"phone").unwrap(), b"13800138000");
        assert_eq!(key.open(&sealed, b"email"), Err(CryptoError::Open));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&tampered, b"phone"), Err(CryptoError::Open));
        assert_eq!(key.open(&sealed[..20], b"phone"), Err(CryptoError::Open));
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = DataKey::new(SecretKey::generate().unwrap());
        let sealed = key.seal_str("13800000000", "phone").unwrap();
        assert_eq!(key.open_str(&sealed, "phone").unwrap(), "13800000000");
        assert_eq!(key.open_str(&sealed, "email"), Err(CryptoError::Open));
        let other = DataKey::new(SecretKey::generate().unwrap());
        assert_eq!(other.open_str(&sealed, "phone"), Err(CryptoError::Open));
        assert!(!sealed.windows(11).any(|w| w == b"13800000000"));
    }

    #[test]
    fn blind_index_is_deterministic_and_keyed() {
        let key = SecretKey::generate().unwrap();
        let a = DataKey::new(key.clone());
        let b = DataKey::new(key);
        assert_eq!(a.blind_index("phone", "+8613800000000"), b.blind_index("phone", "+8613800000000"));
        assert_ne!(a.blind_index("phone", "+8613800000000"), a.blind_index("email", "+8613800000000"));
        let c = DataKey::new(SecretKey::generate().unwrap());
        assert_ne!(a.blind_index("phone", "x"), c.blind_index("phone", "x"));
    }

    #[test]
    fn wrapped_data_keys_round_trip() {
        let master = SecretKey::generate().unwrap();
        let data = SecretKey::generate().unwrap();
        let wrapped = wrap_key(&master, &data).unwrap();
        assert_eq!(*unwrap_key(&master, &wrapped).unwrap().0, *data.0);
        assert!(unwrap_key(&SecretKey::generate().unwrap(), &wrapped).is_err());
        assert!(SecretKey::from_hex("abcd").is_err());
    }
}
