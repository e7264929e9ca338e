//! `siyu import events`: history from Parquet or CSV files (the layout of
//! `scripts/reference/gen_events.py`, see docs/EVENTS.md), streamed in batches: each batch's senders
//! are resolved to customers (profiles created as needed) and its events appended durably; and from
//! NDJSON files of Segment messages, which take the ingestion path of the Tracking API.

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int16Type, Int32Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use siyu_core::CustomerId;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::events::{EventKind, NewEvent};
use std::collections::HashMap;
use std::path::Path;

/// Rows read, appended and refused by an import.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    /// Rows read.
    pub rows: u64,
    /// Events appended.
    pub imported: u64,
    /// Rows refused.
    pub failed: u64,
    /// Rows whose `messageId` was already stored in the last 24 hours (NDJSON only), not stored again.
    pub duplicates: u64,
    /// Distinct senders (`user_id`s), each resolved to a customer (created when new).
    pub senders: u64,
    /// The first refused rows (at most 100): row number (1-based, header excluded) and reason.
    pub errors: Vec<RowError>,
}

/// A refused row.
#[derive(Debug, serde::Serialize)]
pub struct RowError {
    /// 1-based row number (for CSV: the line number, the header being line 1).
    pub row: u64,
    /// Which column.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// One row in the common shape of every input format.
struct Row {
    /// 1-based row number (for CSV, the line number), for refusals found while writing.
    number: u64,
    /// Who it is about: the `user_id`, else the `anonymous_id`, else siyu's `customer_id` (an
    /// export's rows of siyu's own events, such as segment entries, have only that).
    user_id: String,
    anonymous_id: String,
    customer_id: Option<CustomerId>,
    ts_us: i64,
    event: String,
    amount: f64,
}

/// Rows per batch: each batch is one durable append.
const BATCH_ROWS: usize = 65_536;
/// NDJSON messages per batch (they go through the ingestion path, like a Tracking API batch).
const NDJSON_BATCH: usize = 5_000;

/// Parses one NDJSON line as a Segment message (`type` defaults to `track` when `event` is present).
fn ndjson_message(
    services: &Services,
    line: &str,
) -> Result<siyu_domain::events::TrackingMessage, Vec<siyu_domain::FieldError>> {
    let mut map = match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => return Err(vec![siyu_domain::FieldError::new("line", "must be a JSON object")]),
        Err(e) => return Err(vec![siyu_domain::FieldError::new("line", format!("not JSON: {e}"))]),
    };
    if !map.contains_key("type") && map.contains_key("event") {
        map.insert("type".into(), serde_json::Value::String("track".into()));
    }
    // History has no sending device to correct for: `timestamp` is taken as is.
    map.remove("sentAt");
    // An export names the customers of siyu's own events by siyu's id (docs/EVENTS.md).
    let envelope = siyu_domain::events::Envelope {
        received_us: services.now().as_microsecond(),
        reads_customer_id: true,
        ..Default::default()
    };
    siyu_domain::events::parse_message(map, None, &envelope, "", siyu_domain::events::new_message_id)
}

/// Imports a file (format by extension: `.parquet`, `.csv` or `.ndjson`), calling `progress` with
/// rows (or bytes) done.
pub async fn import(
    services: &Services,
    principal: &Principal,
    path: &Path,
    progress: impl Fn(u64, Option<u64>),
) -> anyhow::Result<ImportReport> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mut importer = Importer {
        services,
        principal,
        report: ImportReport::default(),
        customers: HashMap::new(),
        anonymous: HashMap::new(),
        named: HashMap::new(),
        appending: None,
    };
    match extension.as_str() {
        "parquet" => {
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .with_context(|| format!("{} is not a readable Parquet file", path.display()))?;
            let total = u64::try_from(builder.metadata().file_metadata().num_rows()).ok();
            // Every sender first, in key order: the identity index is then written once, front to
            // back, instead of once per batch at random places (5M new senders: most of the import).
            let started = std::time::Instant::now();
            importer.resolve(parquet_senders(path)?).await?;
            tracing::info!(
                senders = importer.report.senders,
                seconds = started.elapsed().as_secs_f64(),
                "senders resolved"
            );
            let reader = builder.with_batch_size(BATCH_ROWS).build()?;
            let received_us = services.now().as_microsecond();
            // Decoding runs on its own thread, a batch or two ahead of the appends.
            let (sender, mut batches) = tokio::sync::mpsc::channel::<(Vec<Row>, u64)>(2);
            let decoder = tokio::task::spawn_blocking(move || -> anyhow::Result<ImportReport> {
                let (mut report, mut number) = (ImportReport::default(), 0u64);
                for batch in reader {
                    let batch = batch.context("reading a Parquet row group")?;
                    let rows = parquet_rows(&batch, &mut number, &mut report, received_us)?;
                    if sender.blocking_send((rows, number)).is_err() {
                        // The writer stopped on an error of its own, which it reports.
                        break;
                    }
                }
                Ok(report)
            });
            while let Some((rows, number)) = batches.recv().await {
                importer.write(rows).await?;
                progress(number, total);
            }
            let decoded = decoder.await.context("the Parquet decoder stopped")??;
            importer.report.rows += decoded.rows;
            importer.report.failed += decoded.failed;
            importer.report.errors.extend(decoded.errors);
        }
        "csv" => {
            let total = std::fs::metadata(path).ok().map(|m| m.len());
            let mut reader =
                csv::ReaderBuilder::new().from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
            let headers = reader.headers()?.clone();
            let column = |name: &str| headers.iter().position(|h| h.trim() == name);
            let user_id = column("user_id").context("the CSV header has no user_id column")?;
            let event = column("event").context("the CSV header has no event column")?;
            let ts_us = column("ts_us");
            let ts = column("ts");
            anyhow::ensure!(ts_us.is_some() || ts.is_some(), "the CSV header has neither a ts_us nor a ts column");
            let amount = column("amount");
            let mut rows = Vec::with_capacity(BATCH_ROWS);
            let mut record = csv::StringRecord::new();
            let received_us = services.now().as_microsecond();
            loop {
                let more = match reader.read_record(&mut record) {
                    Ok(more) => more,
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        importer.report.refuse(line, "row", format!("unreadable CSV: {e}"));
                        continue;
                    }
                };
                if more {
                    let line = record.position().map_or(0, |p| p.line());
                    importer.report.rows += 1;
                    match csv_row(&record, user_id, event, ts_us, ts, amount, received_us) {
                        Ok(row) => rows.push(Row { number: line, ..row }),
                        Err((field, reason)) => importer.report.refuse(line, field, reason),
                    }
                }
                if rows.len() == BATCH_ROWS || (!more && !rows.is_empty()) {
                    importer.write(std::mem::take(&mut rows)).await?;
                    progress(reader.position().byte(), total);
                }
                if !more {
                    break;
                }
            }
        }
        "ndjson" | "jsonl" | "json" => {
            use std::io::BufRead;
            let total = std::fs::metadata(path).ok().map(|m| m.len());
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let mut lines = std::io::BufReader::new(file);
            let (mut line, mut number, mut read) = (String::new(), 0u64, 0u64);
            let mut batch: Vec<(u64, Result<siyu_domain::events::TrackingMessage, Vec<siyu_domain::FieldError>>)> =
                Vec::new();
            loop {
                line.clear();
                let n = lines.read_line(&mut line).with_context(|| format!("reading {}", path.display()))?;
                read += n as u64;
                if n > 0 {
                    number += 1;
                    if !line.trim().is_empty() {
                        importer.report.rows += 1;
                        batch.push((number, ndjson_message(services, line.trim())));
                    }
                }
                if batch.len() == NDJSON_BATCH || (n == 0 && !batch.is_empty()) {
                    let (numbers, messages): (Vec<u64>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
                    let outcome = services.events.ingest(principal, messages, services.now().as_microsecond()).await?;
                    importer.report.imported += outcome.accepted as u64;
                    importer.report.duplicates += outcome.duplicates as u64;
                    for rejected in outcome.rejected {
                        for error in rejected.errors {
                            importer.report.refuse(numbers[rejected.index], &error.field, error.reason);
                        }
                    }
                    progress(read, total);
                }
                if n == 0 {
                    break;
                }
            }
        }
        other => anyhow::bail!(
            "cannot import \"{}\": unknown format \".{other}\"; expected .parquet, .csv or .ndjson (layout in docs/EVENTS.md)",
            path.display()
        ),
    }
    importer.finish().await?;
    Ok(importer.report)
}

impl ImportReport {
    fn refuse(&mut self, row: u64, field: &str, reason: String) {
        self.failed += 1;
        if self.errors.len() < 100 {
            self.errors.push(RowError { row, field: field.into(), reason });
        }
    }
}

struct Importer<'a> {
    services: &'a Services,
    principal: &'a Principal,
    report: ImportReport,
    /// Customers by `user_id`.
    customers: HashMap<String, CustomerId>,
    /// Customers by `anonymous_id`.
    anonymous: HashMap<String, CustomerId>,
    /// siyu's customer ids a file named, and what each is in this workspace (`None`: not in it).
    named: HashMap<CustomerId, Option<CustomerId>>,
    /// The batch being appended, and how many events it holds.
    appending: Option<tokio::task::JoinHandle<siyu_domain::error::DomainResult<u64>>>,
}

impl Importer<'_> {
    /// Resolves `user_id`s not resolved yet to customers (creating profiles), in key order.
    async fn resolve(&mut self, senders: Vec<String>) -> anyhow::Result<()> {
        let mut unseen: Vec<String> = senders.into_iter().filter(|u| !self.customers.contains_key(u)).collect();
        unseen.sort_unstable();
        unseen.dedup();
        if !unseen.is_empty() {
            let ids = self.services.events.customers_for_user_ids(self.principal, &unseen).await?;
            self.report.senders += unseen.len() as u64;
            self.customers.extend(unseen.into_iter().zip(ids));
        }
        Ok(())
    }

    /// Resolves the batch's new senders, then appends its events durably; refuses rows naming a
    /// `customer_id` this workspace does not have.
    async fn write(&mut self, rows: Vec<Row>) -> anyhow::Result<()> {
        let unseen = rows.iter().filter(|r| !r.user_id.is_empty() && !self.customers.contains_key(&r.user_id));
        let unseen: Vec<String> = unseen.map(|r| r.user_id.clone()).collect();
        self.resolve(unseen).await?;
        let mut anonymous: Vec<String> = rows
            .iter()
            .filter(|r| r.user_id.is_empty() && !r.anonymous_id.is_empty())
            .filter(|r| !self.anonymous.contains_key(&r.anonymous_id))
            .map(|r| r.anonymous_id.clone())
            .collect();
        anonymous.sort_unstable();
        anonymous.dedup();
        if !anonymous.is_empty() {
            let ids = self.services.events.customers_for_anonymous_ids(self.principal, &anonymous).await?;
            self.report.senders += anonymous.len() as u64;
            self.anonymous.extend(anonymous.into_iter().zip(ids));
        }
        let mut named: Vec<CustomerId> = rows
            .iter()
            .filter(|r| r.user_id.is_empty() && r.anonymous_id.is_empty())
            .filter_map(|r| r.customer_id.filter(|id| !self.named.contains_key(id)))
            .collect();
        named.sort_unstable();
        named.dedup();
        if !named.is_empty() {
            let found = self.services.events.customers_in_workspace(self.principal, &named).await?;
            self.named.extend(named.into_iter().zip(found));
        }
        let received_us = self.services.now().as_microsecond();
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let customer = if !row.user_id.is_empty() {
                self.customers[&row.user_id]
            } else if !row.anonymous_id.is_empty() {
                self.anonymous[&row.anonymous_id]
            } else {
                let named = row.customer_id.expect("a row without a sender is refused when read");
                // Ids are global: one of another workspace is refused, never attributed.
                let Some(customer) = self.named[&named] else {
                    let reason = format!("\"{named}\" names no customer of this workspace");
                    self.report.refuse(row.number, "customer_id", reason);
                    continue;
                };
                customer
            };
            events.push(NewEvent {
                customer,
                kind: EventKind::Track,
                properties: if row.amount != 0.0 { format!("{{\"revenue\":{}}}", row.amount) } else { "{}".into() },
                name: row.event,
                ts_us: row.ts_us,
                received_us,
                message_id: String::new(),
                user_id: row.user_id,
                anonymous_id: row.anonymous_id,
                context: "{}".into(),
            });
        }
        // One append in flight while the next batch is prepared; appends stay in file order.
        self.finish().await?;
        let (services, principal) = (self.services.clone(), self.principal.clone());
        self.appending = Some(tokio::spawn(async move {
            services.events.append_events(&principal, &events).await.map(|()| events.len() as u64)
        }));
        Ok(())
    }

    /// Waits for the append in flight, if any.
    async fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(appending) = self.appending.take() {
            self.report.imported += appending.await.context("an append task stopped")??;
        }
        Ok(())
    }
}

/// Returns why an event name is refused, if it is (as the Tracking API refuses it).
fn event_refusal(name: &str) -> Option<String> {
    if name.chars().any(char::is_control) {
        Some(format!("{name:?} contains a control character"))
    } else if name.len() > 200 {
        Some("must be at most 200 characters".into())
    } else {
        None
    }
}

fn csv_row(
    record: &csv::StringRecord,
    user_id: usize,
    event: usize,
    ts_us: Option<usize>,
    ts: Option<usize>,
    amount: Option<usize>,
    received_us: i64,
) -> Result<Row, (&'static str, String)> {
    let field = |i: usize| record.get(i).map(str::trim).unwrap_or("");
    let user = field(user_id);
    if user.is_empty() {
        return Err(("user_id", "must not be empty".into()));
    }
    let name = field(event);
    if name.is_empty() {
        return Err(("event", "must not be empty".into()));
    }
    if let Some(reason) = event_refusal(name) {
        return Err(("event", reason));
    }
    let ts_us = match (ts_us, ts) {
        (Some(i), _) => {
            let us = field(i).parse::<i64>().map_err(|_| ("ts_us", format!("\"{}\" is not an integer", field(i))))?;
            if let Some(reason) = instant_refusal(field(i), us, received_us) {
                return Err(("ts_us", reason));
            }
            us
        }
        (None, Some(i)) => {
            siyu_domain::events::tracking::parse_instant(field(i), received_us).map_err(|reason| ("ts", reason))?
        }
        (None, None) => unreachable!("checked against the header"),
    };
    let amount = match amount.map(field).filter(|a| !a.is_empty()) {
        None => 0.0,
        Some(text) => match text.parse::<f64>() {
            Ok(value) if value.is_finite() => value,
            _ => return Err(("amount", format!("\"{text}\" is not a number"))),
        },
    };
    Ok(Row {
        number: 0,
        user_id: user.to_string(),
        anonymous_id: String::new(),
        customer_id: None,
        ts_us,
        event: name.to_string(),
        amount,
    })
}

fn parquet_column<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .with_context(|| format!("the Parquet file has no \"{name}\" column (layout in docs/EVENTS.md)"))
}

/// Returns row `i` of a string-like column (plain or dictionary-encoded).
fn string_at(column: &ArrayRef, i: usize) -> anyhow::Result<Option<String>> {
    if column.is_null(i) {
        return Ok(None);
    }
    let value = match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => column.as_string::<i64>().value(i).to_string(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(i).to_string(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Dictionary(key, _) => {
            let (values, k) = match key.as_ref() {
                DataType::Int8 => {
                    let d = column.as_dictionary::<Int8Type>();
                    (d.values(), d.keys().value(i) as usize)
                }
                DataType::Int16 => {
                    let d = column.as_dictionary::<Int16Type>();
                    (d.values(), d.keys().value(i) as usize)
                }
                DataType::Int32 => {
                    let d = column.as_dictionary::<Int32Type>();
                    (d.values(), d.keys().value(i) as usize)
                }
                other => anyhow::bail!("unsupported dictionary key type {other}"),
            };
            return string_at(values, k);
        }
        other => anyhow::bail!("unsupported column type {other} for a text column"),
    };
    Ok(Some(value))
}

/// Returns the distinct non-empty `user_id`s of a Parquet file, reading that column only.
fn parquet_senders(path: &Path) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?;
    let Some(leaf) = builder.parquet_schema().columns().iter().position(|c| c.name() == "user_id") else {
        anyhow::bail!("the Parquet file has no \"user_id\" column");
    };
    let mask = parquet::arrow::ProjectionMask::leaves(builder.parquet_schema(), [leaf]);
    let reader = builder.with_projection(mask).with_batch_size(BATCH_ROWS * 4).build()?;
    // Integer ids (the generator's layout) are collected as numbers: no string per row.
    let (mut numbers, mut texts) = (NumberSet::default(), std::collections::HashSet::new());
    for batch in reader {
        let batch = batch.context("reading a Parquet row group")?;
        let users = parquet_column(&batch, "user_id")?;
        match users.data_type() {
            DataType::UInt64 => users.as_primitive::<UInt64Type>().iter().flatten().for_each(|n| numbers.insert(n)),
            DataType::Int64 => {
                for n in users.as_primitive::<Int64Type>().iter().flatten() {
                    match u64::try_from(n) {
                        Ok(n) => numbers.insert(n),
                        Err(_) => {
                            texts.insert(n.to_string());
                        }
                    }
                }
            }
            _ => {
                for i in 0..users.len() {
                    if let Some(user) = string_at(users, i)?.filter(|u| !u.is_empty()) {
                        texts.insert(user);
                    }
                }
            }
        }
    }
    texts.extend(numbers.into_iter().map(|n| n.to_string()));
    Ok(texts.into_iter().collect())
}

/// Distinct non-negative integers: a bit set while they stay small (ids from a brand's database are
/// mostly dense, and 100M inserts into a hash set of millions would each miss the cache), a hash
/// set once one is not.
enum NumberSet {
    Dense(Vec<u64>),
    Sparse(std::collections::HashSet<u64>),
}

impl Default for NumberSet {
    fn default() -> Self {
        Self::Dense(Vec::new())
    }
}

impl NumberSet {
    /// Numbers below this stay in the bit set (at most 32 MiB).
    const DENSE_LIMIT: u64 = 1 << 28;

    fn insert(&mut self, n: u64) {
        match self {
            Self::Dense(bits) if n < Self::DENSE_LIMIT => {
                let word = (n / 64) as usize;
                if word >= bits.len() {
                    bits.resize((word + 1).next_power_of_two(), 0);
                }
                bits[word] |= 1 << (n % 64);
            }
            Self::Dense(_) => {
                let Self::Dense(bits) = std::mem::take(self) else { unreachable!("matched Dense") };
                let mut set: std::collections::HashSet<u64> = Self::Dense(bits).into_iter().collect();
                set.insert(n);
                *self = Self::Sparse(set);
            }
            Self::Sparse(set) => {
                set.insert(n);
            }
        }
    }

    fn into_iter(self) -> Box<dyn Iterator<Item = u64>> {
        match self {
            Self::Dense(bits) => Box::new(bits.into_iter().enumerate().flat_map(|(word, mut value)| {
                std::iter::from_fn(move || {
                    (value != 0).then(|| {
                        let bit = value.trailing_zeros() as u64;
                        value &= value - 1;
                        word as u64 * 64 + bit
                    })
                })
            })),
            Self::Sparse(set) => Box::new(set.into_iter()),
        }
    }
}

/// Returns why an instant in microseconds (`text` as the file gave it) is refused, if it is: the
/// Tracking API's range (docs/EVENTS.md).
fn instant_refusal(text: &str, us: i64, received_us: i64) -> Option<String> {
    siyu_domain::events::tracking::instant_refusal(text, us, received_us)
}

fn parquet_rows(
    batch: &RecordBatch,
    number: &mut u64,
    report: &mut ImportReport,
    received_us: i64,
) -> anyhow::Result<Vec<Row>> {
    let users = parquet_column(batch, "user_id")?;
    let events = parquet_column(batch, "event")?;
    let ts = parquet_column(batch, "ts")?;
    let amounts = batch.column_by_name("amount");
    // An export's columns: rows without a user_id may name their customer by these.
    let anonymous_ids = batch.column_by_name("anonymous_id");
    let customer_ids = batch.column_by_name("customer_id");
    let no_sender = if anonymous_ids.is_some() || customer_ids.is_some() {
        "user_id, anonymous_id or customer_id is required"
    } else {
        "must not be empty"
    };
    let ts_scale: i64 = match ts.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => 1_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Int64 => 1,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => -1_000,
        other => anyhow::bail!("the \"ts\" column has type {other}; expected a timestamp or int64 microseconds"),
    };
    let raw_ts: Vec<Option<i64>> = match ts.data_type() {
        DataType::Int64 => ts.as_primitive::<Int64Type>().iter().collect(),
        DataType::Timestamp(TimeUnit::Second, _) => {
            ts.as_primitive::<arrow_array::types::TimestampSecondType>().iter().collect()
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            ts.as_primitive::<arrow_array::types::TimestampMillisecondType>().iter().collect()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            ts.as_primitive::<arrow_array::types::TimestampMicrosecondType>().iter().collect()
        }
        _ => ts.as_primitive::<arrow_array::types::TimestampNanosecondType>().iter().collect(),
    };
    let amounts: Option<Vec<Option<f64>>> = match amounts {
        None => None,
        Some(a) if a.data_type() == &DataType::Float64 => {
            Some(a.as_primitive::<arrow_array::types::Float64Type>().iter().collect())
        }
        Some(a) => anyhow::bail!("the \"amount\" column has type {}; expected float64", a.data_type()),
    };
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        *number += 1;
        report.rows += 1;
        let user_id = string_at(users, i)?.filter(|u| !u.is_empty()).unwrap_or_default();
        let text_at = |column: Option<&ArrayRef>| match column {
            Some(column) if user_id.is_empty() => string_at(column, i).map(Option::unwrap_or_default),
            _ => Ok(String::new()),
        };
        let anonymous_id = text_at(anonymous_ids)?;
        let customer_id = if anonymous_id.is_empty() { text_at(customer_ids)? } else { String::new() };
        let customer_id = match customer_id.parse::<i64>() {
            _ if customer_id.is_empty() => None,
            Ok(id) if id > 0 => Some(CustomerId(id)),
            _ => {
                let reason = format!("must be a customer id (a positive integer), not \"{customer_id}\"");
                report.refuse(*number, "customer_id", reason);
                continue;
            }
        };
        if user_id.is_empty() && anonymous_id.is_empty() && customer_id.is_none() {
            report.refuse(*number, "user_id", no_sender.into());
            continue;
        }
        let Some(event) = string_at(events, i)?.filter(|e| !e.is_empty()) else {
            report.refuse(*number, "event", "must not be empty".into());
            continue;
        };
        if let Some(reason) = event_refusal(&event) {
            report.refuse(*number, "event", reason);
            continue;
        }
        let Some(raw) = raw_ts[i] else {
            report.refuse(*number, "ts", "must not be empty".into());
            continue;
        };
        let ts_us = if ts_scale > 0 { raw.saturating_mul(ts_scale) } else { raw.div_euclid(-ts_scale) };
        let text = || {
            jiff::Timestamp::from_microsecond(ts_us).map_or_else(|_| format!("{raw} (raw value)"), |t| t.to_string())
        };
        if let Some(reason) = instant_refusal(&text(), ts_us, received_us) {
            report.refuse(*number, "ts", reason);
            continue;
        }
        let amount = amounts.as_ref().and_then(|a| a[i]).unwrap_or(0.0);
        if !amount.is_finite() {
            report.refuse(*number, "amount", "must be a finite number".into());
            continue;
        }
        rows.push(Row { number: *number, user_id, anonymous_id, customer_id, ts_us, event, amount });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::NumberSet;

    #[test]
    fn small_numbers_use_bits_and_a_large_one_moves_all_to_a_hash_set() {
        let mut set = NumberSet::default();
        for n in [5, 0, 64, 5, 1_000] {
            set.insert(n);
        }
        assert!(matches!(set, NumberSet::Dense(_)));
        set.insert(u64::MAX);
        assert!(matches!(set, NumberSet::Sparse(_)));
        let mut all: Vec<u64> = set.into_iter().collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 5, 64, 1_000, u64::MAX]);
    }

    #[test]
    fn parquet_rows_without_a_user_id_name_their_customer_by_anonymous_id_or_siyu_id() {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
        use std::sync::Arc;
        let received_us = 1_767_600_000_000_000; // 2026-01-05T08:00:00Z
        let text = |values: [&str; 5]| Arc::new(StringArray::from(values.to_vec())) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("user_id", text(["u", "", "", "", ""])),
            ("anonymous_id", text(["a-ignored", "a", "", "", ""])),
            ("customer_id", Arc::new(Int64Array::from(vec![Some(9), Some(9), Some(7), Some(-1), None])) as ArrayRef),
            ("event", text(["E"; 5])),
            ("ts", Arc::new(TimestampMicrosecondArray::from(vec![received_us; 5]).with_timezone("UTC")) as ArrayRef),
        ])
        .unwrap();
        let (mut number, mut report) = (0, super::ImportReport::default());
        let rows = super::parquet_rows(&batch, &mut number, &mut report, received_us).unwrap();
        let senders: Vec<(u64, &str, &str, Option<i64>)> = rows
            .iter()
            .map(|r| (r.number, r.user_id.as_str(), r.anonymous_id.as_str(), r.customer_id.map(|c| c.0)))
            .collect();
        assert_eq!(senders, vec![(1, "u", "", None), (2, "", "a", None), (3, "", "", Some(7))]);
        let refused: Vec<(u64, &str, &str)> =
            report.errors.iter().map(|e| (e.row, e.field.as_str(), e.reason.as_str())).collect();
        assert_eq!(
            refused,
            vec![
                (4, "customer_id", "must be a customer id (a positive integer), not \"-1\""),
                (5, "user_id", "user_id, anonymous_id or customer_id is required"),
            ]
        );
    }

    #[test]
    fn csv_rows_refuse_instants_and_event_names_as_the_tracking_api_does() {
        let received_us = 1_767_600_000_000_000; // 2026-01-05T08:00:00Z
        let row = |fields: &[&str]| {
            let record = csv::StringRecord::from(fields.to_vec());
            super::csv_row(&record, 0, 1, None, Some(2), None, received_us).map(|row| row.ts_us)
        };
        let refused = |fields: &[&str]| row(fields).err().map(|(field, reason)| (field.to_string(), reason));
        assert_eq!(row(&["u", "E", "2026-01-05T07:00:00Z"]), Ok(received_us - 3_600_000_000));
        let (field, reason) = refused(&["u", "E", "0001-01-01T00:00:00Z"]).unwrap();
        assert_eq!(
            (field.as_str(), reason.as_str()),
            ("ts", "\"0001-01-01T00:00:00Z\" is before 2000-01-01T00:00:00Z, the earliest accepted instant")
        );
        let (field, reason) = refused(&["u", "E", "9999-12-31T23:59:59Z"]).unwrap();
        assert_eq!(
            (field.as_str(), reason.as_str()),
            ("ts", "\"9999-12-31T23:59:59Z\" is more than 24 hours after it was received")
        );
        assert_eq!(refused(&["u", "Order\u{0}Completed", "2026-01-05T07:00:00Z"]).unwrap().0, "event");
        let record = csv::StringRecord::from(vec!["u", "E", "-9223372036854775808"]);
        let by_number = super::csv_row(&record, 0, 1, Some(2), None, None, received_us);
        assert_eq!(by_number.err().map(|(field, _)| field), Some("ts_us"));
    }
}
