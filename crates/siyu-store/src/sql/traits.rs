// Traits as one JSON document per customer (included into `sqlite` and `postgres`): one row write
// per customer instead of one per trait, which keeps bulk upserts fast.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// One trait in the document: a plain JSON value (`v`) or base64 ciphertext (`s`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct TraitEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    src: String,
    at: i64,
}

type TraitDoc = BTreeMap<String, TraitEntry>;

fn parse_doc(text: &str) -> Result<TraitDoc, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("traits document: {e}")))
}

fn doc_text(doc: &TraitDoc) -> String {
    serde_json::to_string(doc).expect("a map of JSON values serialises")
}

/// Applies trait writes (set or remove) to a document.
fn apply_traits(doc: &mut TraitDoc, traits: &[SealedTrait], source: &str, now: i64) -> Result<(), StoreError> {
    for t in traits {
        let entry = match &t.value {
            TraitPayload::Remove => {
                doc.remove(&t.key);
                continue;
            }
            TraitPayload::Json(json) => TraitEntry {
                v: Some(
                    serde_json::from_str(json.as_str())
                        .map_err(|e| StoreError::Corrupt(format!("trait {}: {e}", t.key)))?,
                ),
                s: None,
                src: source.to_string(),
                at: now,
            },
            TraitPayload::Sealed(bytes) => {
                TraitEntry { v: None, s: Some(BASE64.encode(bytes)), src: source.to_string(), at: now }
            }
        };
        doc.insert(t.key.clone(), entry);
    }
    Ok(())
}

/// Merges a merged-away profile's traits into the survivor's: per key, the newest write wins.
fn merge_docs(survivor: &mut TraitDoc, loser: TraitDoc) {
    for (key, entry) in loser {
        match survivor.get(&key) {
            Some(kept) if kept.at >= entry.at => {}
            _ => {
                survivor.insert(key, entry);
            }
        }
    }
}

fn stored_traits(doc: TraitDoc) -> Result<Vec<StoredTrait>, StoreError> {
    doc.into_iter()
        .map(|(key, entry)| {
            let value = match (entry.v, entry.s) {
                (_, Some(sealed)) => TraitPayload::Sealed(
                    BASE64.decode(sealed).map_err(|e| StoreError::Corrupt(format!("trait {key}: {e}")))?,
                ),
                (Some(value), None) => TraitPayload::Json(value.to_string()),
                (None, None) => return Err(corrupt("trait without value", &key)),
            };
            Ok(StoredTrait { key, value, source: entry.src, updated_at: siyu_core::clock::from_millis(entry.at) })
        })
        .collect()
}

/// Reads one customer's trait document, locking the row for the rest of the transaction.
async fn read_doc(tx: &mut Tx, customer: i64) -> Result<TraitDoc, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT traits FROM customers WHERE id = $1{LOCK_ROW}"));
    let text: String = sqlx::query_scalar(sql).bind(customer).fetch_one(&mut **tx).await.map_err(db_err)?;
    parse_doc(&text)
}

/// Writes one customer's trait document.
async fn write_doc(tx: &mut Tx, customer: i64, doc: &TraitDoc) -> Result<(), StoreError> {
    sqlx::query("UPDATE customers SET traits = $2 WHERE id = $1")
        .bind(customer)
        .bind(doc_text(doc))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Reads, changes and writes back one customer's trait document.
async fn rewrite_traits(
    tx: &mut Tx,
    customer: i64,
    traits: &[SealedTrait],
    source: &str,
    now: i64,
) -> Result<(), StoreError> {
    if traits.is_empty() {
        return Ok(());
    }
    let mut doc = read_doc(tx, customer).await?;
    apply_traits(&mut doc, traits, source, now)?;
    write_doc(tx, customer, &doc).await
}
