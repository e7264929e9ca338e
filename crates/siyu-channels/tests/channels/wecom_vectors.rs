//! Every vector of `tests/fixtures/wecom.json`: signatures recomputed, ciphertexts decrypted (and
//! re-encrypted with the vector's random bytes to the exact ciphertext), receive ids compared, and
//! each negative vector's change refused.

use serde_json::Value;
use siyu_channels::wecom::{CallbackCrypto, CallbackError};

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wecom.json"))
        .expect("the vectors are in the repository");
    serde_json::from_str(&text).expect("the vectors are JSON")
}

fn text<'a>(vector: &'a Value, field: &str) -> &'a str {
    vector[field].as_str().unwrap_or_else(|| panic!("{}: no {field}", vector["id"]))
}

fn crypto(vector: &Value) -> CallbackCrypto {
    CallbackCrypto::new(text(vector, "token"), text(vector, "encoding_aes_key"), text(vector, "receiveid"))
        .unwrap_or_else(|e| panic!("{}: {e}", vector["id"]))
}

#[test]
fn every_published_callback_vector_verifies_decrypts_and_re_encrypts_exactly() {
    let all = vectors();
    let callbacks = all["callback_vectors"].as_array().expect("callback vectors");
    assert!(callbacks.len() >= 4, "the vectors file lost vectors: {}", callbacks.len());
    for vector in callbacks {
        let id = &vector["id"];
        let crypto = crypto(vector);
        let (timestamp, nonce, encrypted) = (text(vector, "timestamp"), text(vector, "nonce"), text(vector, "encrypt"));
        assert_eq!(crypto.signature(timestamp, nonce, encrypted), text(vector, "msg_signature"), "{id}: signature");
        let message = crypto.decrypt(text(vector, "msg_signature"), timestamp, nonce, encrypted).unwrap();
        assert_eq!(message, text(vector, "plaintext"), "{id}: plaintext");
        assert_eq!(message.len() as u64, vector["msg_len"].as_u64().unwrap(), "{id}: length");
        let random: [u8; 16] = text(vector, "random").as_bytes().try_into().expect("16 random bytes");
        assert_eq!(crypto.encrypt_with(&random, &message), encrypted, "{id}: re-encryption");
    }
}

#[test]
fn every_negative_vector_is_refused_as_its_expectation_says() {
    let all = vectors();
    let callbacks = all["callback_vectors"].as_array().expect("callback vectors");
    let negatives = all["negative_vectors"].as_array().expect("negative vectors");
    assert!(!negatives.is_empty());
    for negative in negatives {
        assert_eq!(negative["expect"], "signature_error", "{}: an expectation this test knows", negative["id"]);
        // A negative names the SDK test it changes; where that base is not among the callback
        // vectors, the change is applied to each of them, which must refuse it all the same.
        let bases: Vec<&Value> = match callbacks.iter().find(|v| v["id"] == negative["base"]) {
            Some(base) => vec![base],
            None => callbacks.iter().collect(),
        };
        for base in bases {
            let mut changed = base.clone();
            for (field, value) in negative["override"].as_object().expect("an override") {
                changed[field] = value.clone();
            }
            let refused = crypto(&changed).decrypt(
                text(&changed, "msg_signature"),
                text(&changed, "timestamp"),
                text(&changed, "nonce"),
                text(&changed, "encrypt"),
            );
            assert_eq!(refused, Err(CallbackError::Signature), "{} on {}", negative["id"], base["id"]);
        }
    }
}

#[test]
fn a_vector_under_another_receive_id_or_key_names_what_is_wrong() {
    let all = vectors();
    let vector = &all["callback_vectors"][1];
    let (signature, timestamp, nonce, encrypted) =
        (text(vector, "msg_signature"), text(vector, "timestamp"), text(vector, "nonce"), text(vector, "encrypt"));
    let elsewhere = CallbackCrypto::new(text(vector, "token"), text(vector, "encoding_aes_key"), "wx-other").unwrap();
    assert!(matches!(elsewhere.decrypt(signature, timestamp, nonce, encrypted), Err(CallbackError::ReceiveId { .. })));
    let other_key = all["callback_vectors"][3]["encoding_aes_key"].as_str().unwrap();
    let wrong = CallbackCrypto::new(text(vector, "token"), other_key, text(vector, "receiveid")).unwrap();
    assert_eq!(wrong.decrypt(signature, timestamp, nonce, encrypted), Err(CallbackError::WrongKey));
}
