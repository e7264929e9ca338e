//! WeCom (企业微信) callback crypto, as WeCom publishes it (加解密方案): a callback carries
//! `msg_signature`, `timestamp`, `nonce` and an `Encrypt` value.
//!
//! - The signature is the lowercase hex SHA-1 of the four strings token, timestamp, nonce and
//!   `Encrypt`, sorted bytewise and concatenated.
//! - The AES key is the base64 of the 43-character EncodingAESKey with one `=` appended (32 bytes);
//!   AES-256-CBC, the IV being the key's first 16 bytes.
//! - The plaintext is 16 random bytes, the message's length as a big-endian u32, the message
//!   (UTF-8) and the receive id (the corp id, suite id or app id; empty for some robots), padded
//!   PKCS#7-style to a multiple of 32 bytes (pad values 1–32).
//!
//! Every check names what failed ([`CallbackError`]), and the signature is checked (in constant
//! time) before anything is decrypted.

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as BASE64};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use quick_xml::events::Event;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// Base64 that accepts nonzero bits after the last whole byte: an EncodingAESKey's 43rd
/// character carries such bits, which WeCom's own SDKs ignore.
const KEY_BASE64: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));
/// WeCom pads to this many bytes.
const PAD_BLOCK: usize = 32;
/// The longest `Encrypt` value accepted (WeCom's messages are a few kilobytes).
pub const MAX_ENCRYPTED_LEN: usize = 1 << 20;

/// Why a callback could not be verified or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The EncodingAESKey is not 43 base64 characters.
    #[error("the EncodingAESKey must be 43 base64 characters (32 bytes once '=' is appended)")]
    Key,
    /// The signature does not match token, timestamp, nonce and ciphertext.
    #[error("msg_signature does not match the token, timestamp, nonce and ciphertext")]
    Signature,
    /// The ciphertext is not base64 of whole AES blocks (or is too long).
    #[error("the ciphertext is not base64 of whole AES blocks")]
    Ciphertext,
    /// The decrypted bytes are not a padded message: the EncodingAESKey is not the one it was
    /// encrypted with.
    #[error("the message does not decrypt under this EncodingAESKey")]
    WrongKey,
    /// The message is not WeCom's XML (`<xml>` and its elements).
    #[error("the message is not WeCom's XML: {0}")]
    Malformed(String),
    /// The message was meant for another receiver.
    #[error("the message is for receive id \"{found}\", not \"{expected}\"")]
    ReceiveId {
        /// The receive id configured.
        expected: String,
        /// The one in the message.
        found: String,
    },
}

/// The most values a WeCom or WeChat message is read with.
pub const MAX_FIELDS: usize = 256;
/// How deep a WeCom message may nest.
const MAX_XML_DEPTH: usize = 8;
/// How deep below `<xml>` a value is read (a list's items: `Event.List.0.MsgID`).
const MAX_FIELD_DEPTH: usize = 3;

/// An element being read: its name (a second-level one with its position among its kind), its
/// text so far, and whether elements are inside it.
struct Open {
    name: String,
    text: String,
    parent: bool,
}

/// Reads a WeCom or WeChat XML message (`<xml><ToUserName><![CDATA[…]]></ToUserName>…</xml>`, the
/// body of a callback and the message inside it) into its elements' texts by name. An element
/// inside a top-level one is named by its path, the second level numbered among its kind from 0:
/// `<SubscribeMsgSentEvent><List><MsgID>1</MsgID></List></SubscribeMsgSentEvent>` gives
/// `SubscribeMsgSentEvent.List.0.MsgID`; deeper ones are skipped. Entities beyond XML's own five
/// are not expanded (no DTD is read).
pub fn xml_fields(xml: &str) -> Result<BTreeMap<String, String>, CallbackError> {
    let malformed = |what: &str| CallbackError::Malformed(what.to_string());
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut fields = BTreeMap::new();
    let mut depth = 0usize;
    // The open elements below <xml>, and how many second-level elements of each path were seen.
    let mut open: Vec<Open> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    loop {
        let event = reader.read_event().map_err(|e| CallbackError::Malformed(e.to_string()))?;
        let text = match event {
            Event::Start(ref element) | Event::Empty(ref element) => {
                let empty = matches!(event, Event::Empty(_));
                let name = std::str::from_utf8(element.name().as_ref())
                    .map_err(|_| malformed("a name is not UTF-8"))?
                    .to_string();
                if depth == 0 {
                    if name != "xml" || empty {
                        return Err(malformed("the root element is not <xml>"));
                    }
                    depth = 1;
                    continue;
                }
                if depth + 1 > MAX_XML_DEPTH {
                    return Err(malformed("it nests too deep"));
                }
                let name = if depth == 2 {
                    let at = seen.entry(key(&open, &name)).or_default();
                    *at += 1;
                    format!("{name}.{}", *at - 1)
                } else {
                    name
                };
                if let Some(parent) = open.last_mut() {
                    parent.parent = true;
                }
                open.push(Open { name, text: String::new(), parent: false });
                depth += 1;
                if empty {
                    close(&mut open, &mut depth, &mut fields);
                }
                None
            }
            // Entity references arrive as events of their own.
            Event::Text(text) => Some(text.decode().map_err(|e| CallbackError::Malformed(e.to_string()))?.into_owned()),
            Event::GeneralRef(reference) => {
                Some(match reference.resolve_char_ref().map_err(|e| CallbackError::Malformed(e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| CallbackError::Malformed(e.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed("it names an entity XML does not define"))?
                            .to_string()
                    }
                })
            }
            Event::CData(data) => {
                Some(std::str::from_utf8(&data).map_err(|_| malformed("a value is not UTF-8"))?.to_string())
            }
            Event::End(_) => {
                if depth == 0 {
                    return Err(malformed("an element closes that never opened"));
                }
                if depth == 1 {
                    depth = 0;
                } else {
                    close(&mut open, &mut depth, &mut fields);
                }
                None
            }
            Event::Eof => break,
            _ => None,
        };
        let readable = open.len() <= MAX_FIELD_DEPTH;
        if let (Some(text), Some(current), true) = (text, open.last_mut(), readable) {
            current.text.push_str(&text);
        }
        if fields.len() > MAX_FIELDS {
            return Err(malformed("it has too many elements"));
        }
    }
    if depth != 0 {
        return Err(malformed("it ends inside an element"));
    }
    Ok(fields)
}

/// An element's dotted key: the names of the elements it is in, then its own.
fn key(open: &[Open], last: &str) -> String {
    open.iter().map(|o| o.name.as_str()).chain([last]).collect::<Vec<_>>().join(".")
}

/// Closes the innermost open element: a top-level one, or a deeper one holding no elements within
/// the depth read, is a value.
fn close(open: &mut Vec<Open>, depth: &mut usize, fields: &mut BTreeMap<String, String>) {
    let Some(element) = open.pop() else { return };
    *depth -= 1;
    let read = open.len() < MAX_FIELD_DEPTH;
    if open.is_empty() || (read && !element.parent) {
        fields.insert(key(open, &element.name), element.text.trim().to_string());
    }
}

/// A WeCom callback's token, key and receive id.
#[derive(Clone)]
pub struct CallbackCrypto {
    token: String,
    key: zeroize::Zeroizing<[u8; 32]>,
    receive_id: String,
}

impl std::fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackCrypto")
            .field("token", &"[redacted]")
            .field("key", &"[redacted]")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

impl CallbackCrypto {
    /// Builds the callback's crypto from its token, the 43-character EncodingAESKey and the receive
    /// id (corp id, suite id or app id).
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, CallbackError> {
        if encoding_aes_key.len() != 43 {
            return Err(CallbackError::Key);
        }
        let bytes = KEY_BASE64.decode(format!("{encoding_aes_key}=")).map_err(|_| CallbackError::Key)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CallbackError::Key)?;
        Ok(Self { token: token.to_string(), key: zeroize::Zeroizing::new(key), receive_id: receive_id.to_string() })
    }

    /// Returns the `msg_signature` of a callback's timestamp, nonce and `Encrypt` value.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypted];
        parts.sort_unstable();
        let mut sha = Sha1::new();
        for part in parts {
            sha.update(part.as_bytes());
        }
        hex::encode(sha.finalize())
    }

    /// Returns the `signature` a WeChat official account puts on its URL check and its plaintext
    /// callbacks: the SHA-1 of the sorted token, timestamp and nonce.
    pub fn plain_signature(&self, timestamp: &str, nonce: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce];
        parts.sort_unstable();
        let mut sha = Sha1::new();
        for part in parts {
            sha.update(part.as_bytes());
        }
        hex::encode(sha.finalize())
    }

    /// Checks a plain `signature` (see [`Self::plain_signature`]) in constant time.
    pub fn verify_plain_signature(&self, signature: &str, timestamp: &str, nonce: &str) -> Result<(), CallbackError> {
        use subtle::ConstantTimeEq;
        let expected = self.plain_signature(timestamp, nonce);
        let given = signature.trim().to_ascii_lowercase();
        if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) { Ok(()) } else { Err(CallbackError::Signature) }
    }

    /// Checks `msg_signature` in constant time.
    pub fn verify_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<(), CallbackError> {
        use subtle::ConstantTimeEq;
        let expected = self.signature(timestamp, nonce, encrypted);
        let given = msg_signature.trim().to_ascii_lowercase();
        if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) { Ok(()) } else { Err(CallbackError::Signature) }
    }

    /// Verifies the signature, decrypts `encrypted` and checks the receive id (unless this
    /// callback's receive id is empty, as for some robots); returns the message (XML or JSON).
    pub fn decrypt(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<String, CallbackError> {
        self.verify_signature(msg_signature, timestamp, nonce, encrypted)?;
        let (message, receive_id) = self.open(encrypted)?;
        if !self.receive_id.is_empty() && receive_id != self.receive_id {
            return Err(CallbackError::ReceiveId { expected: self.receive_id.clone(), found: receive_id });
        }
        Ok(message)
    }

    /// Decrypts an `Encrypt` value into the message and the receive id it names.
    fn open(&self, encrypted: &str) -> Result<(String, String), CallbackError> {
        if encrypted.len() > MAX_ENCRYPTED_LEN {
            return Err(CallbackError::Ciphertext);
        }
        let mut data = BASE64.decode(encrypted.trim()).map_err(|_| CallbackError::Ciphertext)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(CallbackError::Ciphertext);
        }
        let (key, iv) = (&self.key[..], &self.key[..16]);
        let decryptor = cbc::Decryptor::<Aes256>::new_from_slices(key, iv).map_err(|_| CallbackError::Key)?;
        let plain = decryptor
            .decrypt_padded::<cbc::cipher::block_padding::NoPadding>(&mut data)
            .map_err(|_| CallbackError::Ciphertext)?;
        let pad = usize::from(*plain.last().ok_or(CallbackError::WrongKey)?);
        if pad == 0
            || pad > PAD_BLOCK
            || pad > plain.len()
            || plain[plain.len() - pad..].iter().any(|b| usize::from(*b) != pad)
        {
            return Err(CallbackError::WrongKey);
        }
        let content = &plain[..plain.len() - pad];
        let length = content.get(16..20).ok_or(CallbackError::WrongKey)?;
        let length = usize::try_from(u32::from_be_bytes(length.try_into().expect("four bytes"))).unwrap_or(usize::MAX);
        let rest = &content[20..];
        if length > rest.len() {
            return Err(CallbackError::WrongKey);
        }
        let message = std::str::from_utf8(&rest[..length]).map_err(|_| CallbackError::WrongKey)?;
        let receive_id = std::str::from_utf8(&rest[length..]).map_err(|_| CallbackError::WrongKey)?;
        Ok((message.to_string(), receive_id.to_string()))
    }

    /// Encrypts a reply with the given 16 random bytes (fresh ones for each reply; fixed ones only
    /// to reproduce a published vector) and returns the `Encrypt` value.
    pub fn encrypt_with(&self, random: &[u8; 16], message: &str) -> String {
        let mut plain = Vec::with_capacity(20 + message.len() + self.receive_id.len() + PAD_BLOCK);
        plain.extend_from_slice(random);
        plain.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, u8::try_from(pad).expect("a pad is at most 32"));
        let (key, iv) = (&self.key[..], &self.key[..16]);
        let encryptor = cbc::Encryptor::<Aes256>::new_from_slices(key, iv).expect("a 32-byte key and a 16-byte IV");
        let length = plain.len();
        let sealed = encryptor
            .encrypt_padded::<cbc::cipher::block_padding::NoPadding>(&mut plain, length)
            .expect("the plaintext is whole blocks");
        BASE64.encode(sealed)
    }

    /// Encrypts a reply under fresh random bytes; returns the `Encrypt` value and its `msg_signature`.
    pub fn encrypt(&self, message: &str, timestamp: &str, nonce: &str) -> Result<(String, String), CallbackError> {
        let random = siyu_core::crypto::random_bytes::<16>().map_err(|_| CallbackError::Key)?;
        let encrypted = self.encrypt_with(&random, message);
        let signature = self.signature(timestamp, nonce, &encrypted);
        Ok((encrypted, signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

    #[test]
    fn a_reply_round_trips_and_each_failure_is_named() {
        let crypto = CallbackCrypto::new("token", KEY, "corp").unwrap();
        let (encrypted, signature) = crypto.encrypt("<xml>你好</xml>", "1409659813", "42").unwrap();
        assert_eq!(crypto.decrypt(&signature, "1409659813", "42", &encrypted).unwrap(), "<xml>你好</xml>");
        assert_eq!(crypto.decrypt(&signature, "1409659814", "42", &encrypted), Err(CallbackError::Signature));
        let other = CallbackCrypto::new("token", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "corp").unwrap();
        assert_eq!(other.decrypt(&signature, "1409659813", "42", &encrypted), Err(CallbackError::WrongKey));
        let elsewhere = CallbackCrypto::new("token", KEY, "another-corp").unwrap();
        assert_eq!(
            elsewhere.decrypt(&signature, "1409659813", "42", &encrypted),
            Err(CallbackError::ReceiveId { expected: "another-corp".into(), found: "corp".into() })
        );
        let robot = CallbackCrypto::new("token", KEY, "").unwrap();
        assert!(robot.decrypt(&signature, "1409659813", "42", &encrypted).is_ok());
    }

    #[test]
    fn messages_are_read_into_their_fields() {
        let xml = "<xml><ToUserName><![CDATA[ww-corp]]></ToUserName><CreateTime>1403610513</CreateTime>\
            <MsgType><![CDATA[event]]></MsgType><ChangeType><![CDATA[add_external_contact]]></ChangeType>\
            <State>a &amp; b</State><Extra><Inner>x</Inner></Extra><Empty/></xml>";
        let fields = xml_fields(xml).unwrap();
        assert_eq!(fields["ToUserName"], "ww-corp");
        assert_eq!(fields["CreateTime"], "1403610513");
        assert_eq!(fields["ChangeType"], "add_external_contact");
        assert_eq!(fields["State"], "a & b");
        assert_eq!(fields["Empty"], "");
        assert!(!fields.contains_key("Inner"));
        assert_eq!(fields["Extra.Inner.0"], "x");
        // A list's items, each numbered; deeper than three levels is not read.
        let list = "<xml><Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent>\
            <List><MsgID>1</MsgID><ErrorCode>0</ErrorCode></List>\
            <List><MsgID>2</MsgID><ErrorCode>10002</ErrorCode><Deep><Deeper>no</Deeper></Deep></List>\
            </SubscribeMsgSentEvent></xml>";
        let fields = xml_fields(list).unwrap();
        assert_eq!(fields["SubscribeMsgSentEvent.List.0.MsgID"], "1");
        assert_eq!(fields["SubscribeMsgSentEvent.List.1.ErrorCode"], "10002");
        assert_eq!(fields["SubscribeMsgSentEvent"], "");
        assert!(fields.keys().all(|k| !k.contains("Deeper")), "{fields:?}");
        for bad in [
            "<html></html>",
            "<xml><a>",
            "not xml at all <",
            "<xml></b></xml>",
            &format!("<xml>{}</xml>", "<a>".repeat(20)),
            &format!("<xml>{}</xml>", (0..300).map(|i| format!("<f{i}>v</f{i}>")).collect::<String>()),
            &format!("<xml><L>{}</L></xml>", "<i>v</i>".repeat(300)),
            "<xml/>",
            "<!DOCTYPE xml [<!ENTITY a \"aaaa\">]><xml><A>&a;</A></xml>",
        ] {
            assert!(matches!(xml_fields(bad), Err(CallbackError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn bad_keys_and_ciphertexts_are_refused_without_panicking() {
        assert_eq!(CallbackCrypto::new("t", "short", "r").unwrap_err(), CallbackError::Key);
        assert_eq!(CallbackCrypto::new("t", &"!".repeat(43), "r").unwrap_err(), CallbackError::Key);
        let crypto = CallbackCrypto::new("t", KEY, "r").unwrap();
        for encrypted in ["", "not base64", "AAAA", &BASE64.encode([0u8; 15]), &BASE64.encode([0u8; 32])] {
            let signature = crypto.signature("1", "2", encrypted);
            let error = crypto.decrypt(&signature, "1", "2", encrypted).unwrap_err();
            assert!(matches!(error, CallbackError::Ciphertext | CallbackError::WrongKey), "{encrypted}: {error:?}");
        }
        let huge = "A".repeat(MAX_ENCRYPTED_LEN + 4);
        let signature = crypto.signature("1", "2", &huge);
        assert_eq!(crypto.decrypt(&signature, "1", "2", &huge), Err(CallbackError::Ciphertext));
        assert!(!format!("{crypto:?}").contains(KEY));
    }
}
