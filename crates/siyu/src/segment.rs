//! `siyu segment …`: segments on the command line — create one from the text form or a JSON tree,
//! preview a definition's size, show a segment, list its members.

use crate::query::Format;
use anyhow::Context;
use siyu_core::PageRequest;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::services::{DefinitionInput, SegmentInput, SegmentView};
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
        let ws = services.workspace_by_slug(&slug).await?;
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
            let view = services.save_segment(&principal, &input, false).await?;
            print_view(&view, format)
        }
        SegmentCommand::Preview { workspace, text, format } => {
            let principal = principal(workspace).await?;
            let preview =
                services.preview_segment(&principal, &DefinitionInput { definition: None, text: Some(text) }).await?;
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
            print_view(&services.segment(&principal, &key).await?, format)
        }
        SegmentCommand::Members { workspace, key, limit, format } => {
            anyhow::ensure!((1..=PageRequest::MAX_LIMIT).contains(&limit), "--limit must be 1 to 1000");
            let principal = principal(workspace).await?;
            let (total, page) = services.segment_members(&principal, &key, PageRequest::first(limit)).await?;
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
