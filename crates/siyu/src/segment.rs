//! `siyu segment …`: segments on the command line — create one from the text form or a JSON tree,
//! preview a definition's size, show a segment, list its members, export them as CSV or Parquet.

use crate::query::Format;
use anyhow::Context;
use siyu_core::PageRequest;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::segments::{DefinitionInput, MEMBER_COLUMNS, SegmentInput, SegmentView, member_row};
use std::path::PathBuf;

/// A segment command.
#[derive(clap::Subcommand, Debug)]
pub enum SegmentCommand {
    /// Creates a segment from `--text` (the segment language) or `--json FILE` (the JSON tree).
    Create {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Key: 1-64 lower-case letters, digits, - or _.
        #[arg(long)]
        key: String,
        /// Display name (default: the key).
        #[arg(long)]
        name: Option<String>,
        /// The definition as text, e.g. 'tag("VIP") and did("Order Completed", within 30d)'.
        #[arg(long, conflicts_with = "json")]
        text: Option<String>,
        /// A file holding the definition's JSON tree.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Evaluates a definition without saving it: its size and warnings.
    Preview {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// The definition as text.
        #[arg(long)]
        text: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Shows a segment: definition, text and size now.
    Show {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Segment key.
        #[arg(long)]
        key: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Exports a segment's members with their identities, traits and tags as CSV or Parquet
    /// (columns: customer_id, identities, traits, tags, created_at; identities and traits as JSON).
    Export {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Segment key.
        #[arg(long)]
        key: String,
        /// File format.
        #[arg(long, value_enum, default_value_t = MemberFormat::Csv)]
        format: MemberFormat,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Mask personal data (phone, e-mail, name, birthday, address) as roles without pii:read see it.
        #[arg(long)]
        masked: bool,
    },
    /// Lists a segment's members (customer ids, ascending).
    Members {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Segment key.
        #[arg(long)]
        key: String,
        /// How many to list (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// A member export's file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MemberFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet (zstd).
    Parquet,
}

async fn export(
    services: &Services,
    principal: &Principal,
    key: &str,
    format: MemberFormat,
    out: &PathBuf,
    masked: bool,
) -> anyhow::Result<u64> {
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} members {per_sec}").expect("static template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut csv =
        (format == MemberFormat::Csv).then(|| csv::Writer::from_writer(file.try_clone().expect("file handle")));
    if let Some(w) = &mut csv {
        // A UTF-8 byte order mark first: without it Excel reads the file as the local code page
        // and garbles Chinese.
        std::io::Write::write_all(&mut &file, "\u{feff}".as_bytes())?;
        w.write_record(MEMBER_COLUMNS)?;
    }
    let mut failure: Option<anyhow::Error> = None;
    let count = services
        .segments
        .export_segment(principal, key, masked, &mut |customer| {
            let row = member_row(&customer);
            match &mut csv {
                Some(w) => {
                    if let Err(e) = w.write_record(&row) {
                        failure.get_or_insert(e.into());
                    }
                }
                None => rows.push(row),
            }
            bar.inc(1);
            Ok(())
        })
        .await?;
    if let Some(e) = failure {
        return Err(e);
    }
    match csv {
        Some(mut w) => w.flush()?,
        None => {
            use arrow_array::builder::{Int64Builder, StringBuilder};
            let mut id = Int64Builder::new();
            let mut text: Vec<StringBuilder> = (1..5).map(|_| StringBuilder::new()).collect();
            for row in &rows {
                id.append_value(row[0].parse::<i64>().unwrap_or_default());
                for (builder, value) in text.iter_mut().zip(&row[1..]) {
                    builder.append_value(value);
                }
            }
            let mut columns: Vec<(&str, arrow_array::ArrayRef)> =
                vec![("customer_id", std::sync::Arc::new(id.finish()))];
            for (name, mut builder) in MEMBER_COLUMNS[1..].iter().zip(text) {
                columns.push((name, std::sync::Arc::new(builder.finish())));
            }
            let batch = arrow_array::RecordBatch::try_from_iter(columns)?;
            let properties = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties))?;
            writer.write(&batch)?;
            writer.close()?;
        }
    }
    bar.finish_and_clear();
    Ok(count)
}

fn print_view(view: &SegmentView, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string(view)?),
        Format::Table => {
            println!("{} ({}): {} members", view.key, view.name, view.size);
            println!("{}", view.text);
            for warning in &view.warnings {
                println!("warning: {warning}");
            }
        }
    }
    Ok(())
}

/// Runs a segment command.
pub async fn run(services: &Services, command: SegmentCommand) -> anyhow::Result<()> {
    let principal = |slug: String| async move {
        let ws = services.access.workspace_by_slug(&slug).await?;
        anyhow::Ok(Principal::cli(ws.id))
    };
    match command {
        SegmentCommand::Create { workspace, key, name, text, json, format } => {
            let principal = principal(workspace).await?;
            let definition = json
                .map(|path| -> anyhow::Result<_> {
                    let body =
                        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    serde_json::from_str(&body)
                        .with_context(|| format!("{} is not a segment definition", path.display()))
                })
                .transpose()?;
            let input = SegmentInput { key, name, definition, text };
            let view = services.segments.save_segment(&principal, &input, false).await?;
            print_view(&view, format)
        }
        SegmentCommand::Preview { workspace, text, format } => {
            let principal = principal(workspace).await?;
            let preview = services
                .segments
                .preview_segment(&principal, &DefinitionInput { definition: None, text: Some(text) })
                .await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&preview)?),
                Format::Table => {
                    println!("{} members ({:.1} ms)", preview.size, preview.elapsed_ms);
                    println!("{}", preview.text);
                    for warning in &preview.warnings {
                        println!("warning: {warning}");
                    }
                }
            }
            Ok(())
        }
        SegmentCommand::Show { workspace, key, format } => {
            let principal = principal(workspace).await?;
            print_view(&services.segments.segment(&principal, &key).await?, format)
        }
        SegmentCommand::Export { workspace, key, format, out, masked } => {
            let principal = principal(workspace).await?;
            let count = export(services, &principal, &key, format, &out, masked).await?;
            eprintln!("exported {count} members of {key} to {}", out.display());
            Ok(())
        }
        SegmentCommand::Members { workspace, key, limit, format } => {
            anyhow::ensure!((1..=PageRequest::MAX_LIMIT).contains(&limit), "--limit must be 1 to 1000");
            let principal = principal(workspace).await?;
            let (total, page) = services.segments.segment_members(&principal, &key, PageRequest::first(limit)).await?;
            match format {
                Format::Json => println!("{}", serde_json::json!({"total": total, "items": page.items})),
                Format::Table => {
                    println!("{total} members");
                    for id in &page.items {
                        println!("{id}");
                    }
                }
            }
            Ok(())
        }
    }
}
