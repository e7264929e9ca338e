//! `siyu export events`: a workspace's whole event log as Parquet (columns below) or NDJSON
//! (Segment messages), so any lakehouse engine can read it, and `siyu import events` can read it back.
//!
//! Parquet columns: `user_id`, `anonymous_id`, `message_id`, `type`, `event` (strings), `ts`
//! (timestamp µs, UTC), `received_at` (timestamp µs, UTC), `customer_id` (int64), `amount` (float64:
//! the order revenue of `Order Completed`, else 0), `properties` and `context` (JSON text).
//!
//! Every event names its customer: by the `userId`/`anonymousId` it was sent with, and always by
//! siyu's customer id (the profile it counts for today: a merged-away profile's survivor), in the
//! `customer_id` column or at `context.siyu.customerId`. siyu's own events (`Segment Entered`,
//! `Segment Exited`) have only that id. No phone number or e-mail address is written.

use anyhow::Context;
use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use siyu_core::{CustomerId, WorkspaceId};
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::events::{EventKind, EventView, order_cents};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Apache Parquet (zstd).
    Parquet,
    /// One Segment message per line.
    Ndjson,
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Track => "track",
        EventKind::Identify => "identify",
        EventKind::Page => "page",
        EventKind::Screen => "screen",
        EventKind::Group => "group",
        EventKind::Alias => "alias",
    }
}

fn instant(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map(|t| t.to_string()).unwrap_or_default()
}

/// Merged-away profiles and the profile each now counts for.
struct Survivors(HashMap<i64, i64>);

impl Survivors {
    async fn of(services: &Services, ws: WorkspaceId) -> anyhow::Result<Self> {
        let merged = services.stores.customers.merged_customers(ws).await?;
        Ok(Self(merged.into_iter().map(|(from, to)| (from.0, to.0)).collect()))
    }

    /// Returns the profile `customer` counts for (following later merges of its survivor).
    fn of_customer(&self, customer: CustomerId) -> CustomerId {
        let mut id = customer.0;
        // Bounded: a cycle, which merges never make, cannot hang the export.
        for _ in 0..self.0.len() {
            match self.0.get(&id) {
                Some(next) => id = *next,
                None => break,
            }
        }
        CustomerId(id)
    }
}

/// Returns the event as a Segment message, its customer at `context.siyu.customerId`; an event
/// stored without a `messageId` (imported from Parquet or CSV) gets `log-<position>`, stable for
/// one log, so re-importing an export de-duplicates.
fn segment_json(event: &EventView<'_>, customer: CustomerId, position: u64) -> serde_json::Value {
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or(serde_json::Value::Null);
    let mut context = match parse(event.context) {
        serde_json::Value::Object(context) => context,
        _ => serde_json::Map::new(),
    };
    siyu_domain::events::tracking::set_customer_id(&mut context, customer);
    let mut message = serde_json::json!({
        "type": kind_name(event.kind),
        "messageId": if event.message_id.is_empty() { format!("log-{position}") } else { event.message_id.to_string() },
        "timestamp": instant(event.ts_us),
        "receivedAt": instant(event.received_us),
        "context": context,
    });
    let properties_key =
        if matches!(event.kind, EventKind::Identify | EventKind::Group) { "traits" } else { "properties" };
    message[properties_key] = parse(event.properties);
    if event.kind == EventKind::Track {
        message["event"] = event.name.into();
    }
    if !event.user_id.is_empty() {
        message["userId"] = event.user_id.into();
    }
    if !event.anonymous_id.is_empty() {
        message["anonymousId"] = event.anonymous_id.into();
    }
    message
}

struct Columns {
    user_id: StringBuilder,
    anonymous_id: StringBuilder,
    message_id: StringBuilder,
    kind: StringBuilder,
    event: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    customer_id: Int64Builder,
    amount: Float64Builder,
    properties: StringBuilder,
    context: StringBuilder,
    rows: usize,
}

impl Columns {
    fn new() -> Self {
        Self {
            user_id: StringBuilder::new(),
            anonymous_id: StringBuilder::new(),
            message_id: StringBuilder::new(),
            kind: StringBuilder::new(),
            event: StringBuilder::new(),
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            received_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            customer_id: Int64Builder::new(),
            amount: Float64Builder::new(),
            properties: StringBuilder::new(),
            context: StringBuilder::new(),
            rows: 0,
        }
    }

    fn push(&mut self, event: &EventView<'_>, customer: CustomerId) {
        self.user_id.append_value(event.user_id);
        self.anonymous_id.append_value(event.anonymous_id);
        self.message_id.append_value(event.message_id);
        self.kind.append_value(kind_name(event.kind));
        self.event.append_value(event.name);
        self.ts.append_value(event.ts_us);
        self.received_at.append_value(event.received_us);
        self.customer_id.append_value(customer.0);
        self.amount.append_value(order_cents(event.name, event.properties).map_or(0.0, |c| c as f64 / 100.0));
        self.properties.append_value(event.properties);
        self.context.append_value(event.context);
        self.rows += 1;
    }

    fn finish(&mut self) -> anyhow::Result<RecordBatch> {
        self.rows = 0;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("user_id", Arc::new(self.user_id.finish())),
            ("anonymous_id", Arc::new(self.anonymous_id.finish())),
            ("message_id", Arc::new(self.message_id.finish())),
            ("type", Arc::new(self.kind.finish())),
            ("event", Arc::new(self.event.finish())),
            ("ts", Arc::new(self.ts.finish())),
            ("received_at", Arc::new(self.received_at.finish())),
            ("customer_id", Arc::new(self.customer_id.finish())),
            ("amount", Arc::new(self.amount.finish())),
            ("properties", Arc::new(self.properties.finish())),
            ("context", Arc::new(self.context.finish())),
        ];
        Ok(RecordBatch::try_from_iter(columns)?)
    }
}

/// Writes every event of the workspace to `out` (NDJSON may go to stdout); returns the count.
pub async fn export(
    services: &Services,
    principal: &Principal,
    format: ExportFormat,
    out: Option<&Path>,
    progress: impl Fn(u64) + Sync,
) -> anyhow::Result<u64> {
    principal.require(siyu_domain::access::Permission::AnalyticsRead)?;
    let survivors = Survivors::of(services, principal.workspace_id()).await?;
    // The log seals events' ids, properties and context; an export gives them as they were sent.
    let mut opener = services.events.event_opener(principal, None).await?;
    let mut failure: Option<anyhow::Error> = None;
    let count = match format {
        ExportFormat::Ndjson => {
            let sink: Box<dyn Write + Send> = match out {
                Some(path) => Box::new(private_file(path)?),
                None => Box::new(std::io::stdout()),
            };
            let mut writer = std::io::BufWriter::new(sink);
            let mut n = 0u64;
            let count = services
                .stores
                .events
                .scan(principal.workspace_id(), &mut |event| {
                    let opened = opener.open(event);
                    let event = opened.view();
                    if failure.is_none() {
                        let customer = survivors.of_customer(event.customer);
                        if let Err(e) = serde_json::to_writer(&mut writer, &segment_json(&event, customer, n))
                            .map_err(anyhow::Error::from)
                            .and_then(|()| Ok(writer.write_all(b"\n")?))
                        {
                            failure = Some(e);
                        }
                        n += 1;
                        if n.is_multiple_of(100_000) {
                            progress(n);
                        }
                    }
                })
                .await?;
            writer.flush()?;
            count
        }
        ExportFormat::Parquet => {
            let path = out.context("Parquet goes to a file: give --out FILE.parquet")?;
            let file = private_file(path)?;
            let mut columns = Columns::new();
            let schema = columns.finish()?.schema();
            let properties = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(properties))?;
            let mut n = 0u64;
            let count = services
                .stores
                .events
                .scan(principal.workspace_id(), &mut |event| {
                    if failure.is_some() {
                        return;
                    }
                    let opened = opener.open(event);
                    let event = opened.view();
                    columns.push(&event, survivors.of_customer(event.customer));
                    n += 1;
                    if columns.rows == 65_536 {
                        if let Err(e) = columns.finish().and_then(|batch| Ok(writer.write(&batch)?)) {
                            failure = Some(e);
                        }
                        progress(n);
                    }
                })
                .await?;
            if failure.is_none() {
                let batch = columns.finish()?;
                writer.write(&batch)?;
            }
            writer.close()?;
            count
        }
    };
    match failure {
        Some(e) => Err(e),
        None => Ok(count),
    }
}

/// Creates an export file readable by its owner only: it holds personal data.
pub(crate) fn private_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    siyu_store::private_files::create(path).with_context(|| format!("cannot create {}", path.display()))
}
