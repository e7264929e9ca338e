//! `siyu customer …`: a customer's rights under PIPL on the command line — export everything siyu
//! holds about one customer as JSON, or erase them. The command line acts as an owner; both are
//! audited like the API's.

use anyhow::Context;
use siyu_core::CustomerId;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use std::io::Write;
use std::path::PathBuf;

/// A customer command.
#[derive(clap::Subcommand, Debug)]
pub enum CustomerCommand {
    /// Writes everything held about a customer (and the profiles merged into it) as JSON: profile,
    /// notes, consent, merges, events, models and segments, unmasked.
    Export {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// The customer's id (a merged-away id answers for its survivor).
        id: i64,
        /// Output file (stdout without it); created readable by its owner only.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erases a customer: the profile, the profiles merged into it and everything attached; a
    /// later event of the same sender makes a new profile.
    Erase {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// The customer's id.
        id: i64,
        /// Confirms the erasure (it cannot be undone).
        #[arg(long)]
        yes: bool,
    },
}

/// Runs a customer command.
pub async fn run(services: &Services, command: CustomerCommand) -> anyhow::Result<()> {
    match command {
        CustomerCommand::Export { workspace, id, out } => {
            let ws = services.access.workspace_by_slug(&workspace).await?;
            let export = services.export_customer(&Principal::cli(ws.id), CustomerId(id)).await?;
            let text = serde_json::to_string_pretty(&export)?;
            match out {
                Some(path) => {
                    // An export is personal data: readable by its owner only (an existing file too).
                    let mut file = crate::event_export::private_file(&path)?;
                    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("customer {id}: exported to {}", path.display());
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        CustomerCommand::Erase { workspace, id, yes } => {
            anyhow::ensure!(yes, "erasing customer {id} cannot be undone: add --yes to confirm");
            let ws = services.access.workspace_by_slug(&workspace).await?;
            services.erase_customer(&Principal::cli(ws.id), CustomerId(id)).await?;
            println!("customer {id} erased");
            Ok(())
        }
    }
}
