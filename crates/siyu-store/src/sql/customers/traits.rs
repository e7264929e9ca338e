// Traits as one JSON document per customer (included into `sqlite` and `postgres`): one row write
// per customer instead of one per trait, which keeps bulk upserts fast.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// One trait in the document: a plain JSON value (`v`) or base64 ciphertext (`s`).
#[derive(Clone, Debug, PartialEq)]
struct TraitEntry {
    v: Option<serde_json::Value>,
    s: Option<String>,
    src: String,
    at: i64,
}

type TraitDoc = BTreeMap<String, TraitEntry>;

/// Key of the document's shared provenance; trait names start with a letter, so it cannot clash.
const SHARED: &str = "@";

/// An entry as stored: `src` and `at` are left out when they equal the document's shared ones
/// (the `"@"` entry), which is the common case — a profile's traits mostly arrive together —
/// and keeps the document about 40% smaller.
#[derive(serde::Deserialize)]
struct StoredEntry {
    #[serde(default)]
    v: Option<serde_json::Value>,
    #[serde(default)]
    s: Option<String>,
    #[serde(default)]
    src: Option<String>,
    #[serde(default)]
    at: Option<i64>,
}

/// The written form of [`StoredEntry`], borrowing from the document.
#[derive(serde::Serialize)]
struct EntryOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<i64>,
}

fn parse_doc(text: &str) -> Result<TraitDoc, StoreError> {
    let corrupt_doc = |e: String| StoreError::Corrupt(format!("traits document: {e}"));
    let mut stored: BTreeMap<String, StoredEntry> = serde_json::from_str(text).map_err(|e| corrupt_doc(e.to_string()))?;
    let (shared_src, shared_at) = stored.remove(SHARED).map(|e| (e.src, e.at)).unwrap_or_default();
    stored
        .into_iter()
        .map(|(key, entry)| {
            let src = entry.src.or_else(|| shared_src.clone()).ok_or_else(|| corrupt_doc(format!("{key} has no source")))?;
            let at = entry.at.or(shared_at).ok_or_else(|| corrupt_doc(format!("{key} has no time")))?;
            Ok((key, TraitEntry { v: entry.v, s: entry.s, src, at }))
        })
        .collect()
}

fn doc_text(doc: &TraitDoc) -> String {
    // The most frequent (source, time) pair becomes the shared one (ties: the latest, then by source).
    let mut counts: HashMap<(&str, i64), usize> = HashMap::new();
    for entry in doc.values() {
        *counts.entry((entry.src.as_str(), entry.at)).or_default() += 1;
    }
    let shared = counts.into_iter().max_by_key(|&((src, at), n)| (n, at, src)).map(|(pair, _)| pair);
    let mut out: BTreeMap<&str, EntryOut<'_>> = BTreeMap::new();
    if let Some((src, at)) = shared {
        out.insert(SHARED, EntryOut { v: None, s: None, src: Some(src), at: Some(at) });
    }
    for (key, entry) in doc {
        let (shared_src, shared_at) = shared.unzip();
        out.insert(
            key,
            EntryOut {
                v: entry.v.as_ref(),
                s: entry.s.as_deref(),
                src: (shared_src != Some(entry.src.as_str())).then_some(entry.src.as_str()),
                at: (shared_at != Some(entry.at)).then_some(entry.at),
            },
        );
    }
    serde_json::to_string(&out).expect("a map of JSON values serialises")
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

#[cfg(test)]
mod trait_doc_tests {
    use super::*;

    fn entry(v: serde_json::Value, src: &str, at: i64) -> TraitEntry {
        TraitEntry { v: Some(v), s: None, src: src.into(), at }
    }

    #[test]
    fn shared_provenance_is_written_once_and_read_back_per_entry() {
        let mut doc = TraitDoc::new();
        doc.insert("city".into(), entry(serde_json::json!("上海"), "api", 7));
        doc.insert("orders".into(), entry(serde_json::json!(3), "api", 7));
        doc.insert("level".into(), entry(serde_json::json!("gold"), "import", 5));
        doc.insert("name".into(), TraitEntry { v: None, s: Some("AAEC".into()), src: "api".into(), at: 9 });
        let text = doc_text(&doc);
        assert_eq!(
            text,
            r#"{"@":{"src":"api","at":7},"city":{"v":"上海"},"level":{"v":"gold","src":"import","at":5},"name":{"s":"AAEC","at":9},"orders":{"v":3}}"#
        );
        assert_eq!(parse_doc(&text).unwrap(), doc);
    }

    #[test]
    fn documents_written_before_the_compact_form_still_read() {
        let doc = parse_doc(r#"{"city":{"v":"杭州","src":"api","at":1}}"#).unwrap();
        assert_eq!(doc["city"], entry(serde_json::json!("杭州"), "api", 1));
        assert_eq!(doc_text(&TraitDoc::new()), "{}");
        assert!(matches!(parse_doc(r#"{"city":{"v":1}}"#), Err(StoreError::Corrupt(_))));
    }
}
