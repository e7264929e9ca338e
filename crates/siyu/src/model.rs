//! `siyu model …`: customer models on the command line. `run` computes a workspace's models (RFM
//! classes, lifecycle stages, value tiers, health, recall list); `recall` lists the recall list;
//! `ltv` fits BG/NBD (and, with spend, Gamma-Gamma) to a workspace's orders or to any customer
//! summary in the `lifetimes` layout and prints each customer's probability of being alive,
//! expected purchases and expected value over a horizon.

use crate::query::Format;
use anyhow::Context;
use siyu_analytics::ltv::{Summary, fit_bgnbd, fit_gamma_gamma};
use siyu_core::PageRequest;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use std::path::PathBuf;

/// A customer model.
#[derive(clap::Subcommand, Debug)]
pub enum ModelCommand {
    /// Computes a workspace's models now and prints the overview: lifecycle stages, value tiers,
    /// health bands, the recall list's size, and (with orders) the eight RFM classes.
    Run {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Compute as of this RFC 3339 instant (default: now).
        #[arg(long)]
        as_of: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Lists the recall list (customers with a churn warning), healthiest first.
    Recall {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// How many to list (1-1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// BG/NBD + Gamma-Gamma lifetime value, from a workspace's orders (`--workspace`) or from a
    /// summary CSV (`--summary`): columns ID,frequency,recency,T and optionally monetary_value
    /// (time in any one unit; frequency counts repeat purchases).
    #[command(group(clap::ArgGroup::new("source").required(true).args(["summary", "workspace"])))]
    Ltv {
        /// The summary CSV.
        #[arg(long)]
        summary: Option<PathBuf>,
        /// Workspace slug: fit its orders (time in days; the horizon is the workspace's setting).
        #[arg(long)]
        workspace: Option<String>,
        /// The horizon of the predictions, in the summary's time unit.
        #[arg(long, default_value_t = 39.0)]
        horizon: f64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// One customer's prediction.
#[derive(serde::Serialize)]
struct Prediction {
    id: String,
    p_alive: f64,
    expected_purchases: f64,
    /// Expected purchases × expected spend per purchase; `null` without spend data.
    expected_value: Option<f64>,
}

fn read_summary(path: &PathBuf) -> anyhow::Result<(Vec<String>, Vec<Summary>)> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let id = column("ID").or_else(|| column("id"));
    let frequency = column("frequency").context("the summary has no frequency column")?;
    let recency = column("recency").context("the summary has no recency column")?;
    let t = column("T").context("the summary has no T column")?;
    let monetary = column("monetary_value");
    let (mut ids, mut rows) = (Vec::new(), Vec::new());
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("line {line}: unreadable CSV"))?;
        let number = |index: usize, name: &str| -> anyhow::Result<f64> {
            let text = record.get(index).unwrap_or_default().trim();
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| format!("line {line}: {name} \"{text}\" is not a number"))
        };
        ids.push(id.and_then(|c| record.get(c)).map_or_else(|| (line - 1).to_string(), str::to_string));
        rows.push(Summary {
            frequency: number(frequency, "frequency")?,
            recency: number(recency, "recency")?,
            t: number(t, "T")?,
            monetary: monetary.map(|c| number(c, "monetary_value")).transpose()?,
        });
    }
    Ok((ids, rows))
}

impl ModelCommand {
    /// Returns whether the command reads a workspace (and so needs the store opened).
    pub fn needs_workspace(&self) -> bool {
        !matches!(self, Self::Ltv { workspace: None, .. })
    }
}

/// Runs a model command; `services` must be given when [`ModelCommand::needs_workspace`].
pub async fn run(command: ModelCommand, services: Option<&Services>) -> anyhow::Result<()> {
    let principal = |slug: String| async move {
        let services = services.context("this command needs the store")?;
        let ws = services.access.workspace_by_slug(&slug).await?;
        anyhow::Ok(Principal::cli(ws.id))
    };
    match command {
        ModelCommand::Run { workspace, as_of, format } => {
            let principal = principal(workspace).await?;
            let services = services.context("this command needs the store")?;
            let as_of = as_of
                .map(|t| {
                    t.parse::<jiff::Timestamp>().with_context(|| format!("--as-of \"{t}\" is not an RFC 3339 instant"))
                })
                .transpose()?;
            services.models.run_models(&principal, as_of).await?;
            let summary = services.models.models_summary(&principal).await?;
            let rfm = if summary.buyers > 0 { Some(services.models.rfm_model(&principal).await?) } else { None };
            match format {
                Format::Json => println!("{}", serde_json::json!({"summary": summary, "rfm": rfm})),
                Format::Table => {
                    println!("as of {}: {} customers, {} buyers", summary.as_of, summary.customers, summary.buyers);
                    println!("\n{:<10} {:<8} {:>10} {:>14}", "stage", "阶段", "customers", "revenue");
                    for s in &summary.lifecycle {
                        println!("{:<10} {:<8} {:>10} {:>14.2}", s.key, s.name_zh, s.customers, s.revenue);
                    }
                    println!("\n{:<10} {:<8} {:>10} {:>14}", "tier", "层级", "customers", "revenue");
                    for s in &summary.tiers {
                        println!("{:<10} {:<8} {:>10} {:>14.2}", s.key, s.name_zh, s.customers, s.revenue);
                    }
                    println!("\nrecall list: {} customers; mean health {:.1}", summary.recall, summary.mean_health);
                    match &rfm {
                        Some(rfm) => {
                            println!("\n{:<20} {:<8} {:>10} {:>14}", "RFM class", "类别", "customers", "revenue");
                            for c in &rfm.classes {
                                println!("{:<20} {:<8} {:>10} {:>14.2}", c.key, c.name_zh, c.customers, c.revenue);
                            }
                        }
                        None => println!("\n{}", siyu_domain::models::NO_ORDER_DATA),
                    }
                }
            }
            Ok(())
        }
        ModelCommand::Recall { workspace, limit, format } => {
            anyhow::ensure!((1..=PageRequest::MAX_LIMIT).contains(&limit), "--limit must be 1 to 1000");
            let principal = principal(workspace).await?;
            let services = services.context("this command needs the store")?;
            let (total, page) = services.models.recall_list(&principal, PageRequest::first(limit)).await?;
            match format {
                Format::Json => println!("{}", serde_json::json!({"total": total, "items": page.items})),
                Format::Table => {
                    println!("{total} customers on the recall list");
                    println!(
                        "{:<12} {:<17} {:>6} {:<8} {:>6} {:>12}",
                        "customer", "since (UTC)", "health", "stage", "orders", "monetary"
                    );
                    for e in &page.items {
                        // Ids and instants are padded as text (an id's Display ignores widths, and
                        // instants vary in length with their fraction of a second).
                        let since = e
                            .since
                            .parse::<jiff::Timestamp>()
                            .map_or_else(|_| e.since.clone(), |at| at.strftime("%Y-%m-%d %H:%M").to_string());
                        println!(
                            "{:<12} {:<17} {:>6} {:<8} {:>6} {:>12.2}",
                            e.customer_id.to_string(),
                            since,
                            e.health,
                            e.stage,
                            e.orders,
                            e.monetary
                        );
                    }
                }
            }
            Ok(())
        }
        ModelCommand::Ltv { summary: None, workspace: Some(workspace), format, .. } => {
            let principal = principal(workspace).await?;
            let services = services.context("this command needs the store")?;
            // A command may wait for the fit (requests never do): compute the models if need be,
            // then wait for their fit.
            services.models.customer_models(&principal).await?;
            services.models.models_settled(&principal).await?;
            let answer = services.models.ltv_model(&principal).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&answer)?),
                Format::Table => {
                    println!(
                        "as of {}, horizon {} days, {} buyers",
                        answer.as_of, answer.horizon_days, answer.customers
                    );
                    println!("BG/NBD {}", answer.bgnbd);
                    if let Some(g) = &answer.gamma_gamma {
                        println!("Gamma-Gamma {g}");
                    }
                    match &answer.problem {
                        Some(problem) => println!("{problem}: no predictions"),
                        None => println!("expected value in all: {:.2}", answer.total_expected_value),
                    }
                }
            }
            Ok(())
        }
        ModelCommand::Ltv { summary, horizon, format, .. } => {
            ltv_from_file(&summary.context("--summary or --workspace is required")?, horizon, format)
        }
    }
}

fn ltv_from_file(summary: &PathBuf, horizon: f64, format: Format) -> anyhow::Result<()> {
    anyhow::ensure!(horizon.is_finite() && horizon > 0.0, "--horizon must be a positive number");
    let (ids, rows) = read_summary(summary)?;
    // A row number in an error is 0-based over the data rows; the file's line is two more.
    let located = |e: siyu_analytics::ltv::FitError| match e {
        siyu_analytics::ltv::FitError::BadRow { row, reason } => anyhow::anyhow!("line {}: {reason}", row + 2),
        other => anyhow::anyhow!(other),
    };
    let bgnbd = fit_bgnbd(&rows).map_err(located)?;
    let spend = rows.iter().any(|r| r.monetary.is_some());
    let gamma_gamma = if spend { Some(fit_gamma_gamma(&rows).map_err(located)?) } else { None };
    // A fit that did not converge is reported and predicts nothing.
    let problem = [Some(("BG/NBD", bgnbd.convergence)), gamma_gamma.map(|g| ("Gamma-Gamma", g.convergence))]
        .into_iter()
        .flatten()
        .find(|(_, c)| !c.converged())
        .map(|(model, c)| format!("{model}: {c}"));
    let predicted = if problem.is_some() { &[][..] } else { &rows[..] };
    let customers: Vec<Prediction> = ids
        .into_iter()
        .zip(predicted)
        .map(|(id, row)| {
            let expected_purchases = bgnbd.expected_purchases(row, horizon);
            Prediction {
                id,
                p_alive: bgnbd.p_alive(row),
                expected_purchases,
                expected_value: gamma_gamma.map(|g| expected_purchases * g.expected_spend(row)),
            }
        })
        .collect();
    match format {
        Format::Json => {
            let mut answer = serde_json::json!({
                "bgnbd": {"r": bgnbd.r, "alpha": bgnbd.alpha, "a": bgnbd.a, "b": bgnbd.b,
                    "log_likelihood": bgnbd.log_likelihood, "converged": bgnbd.convergence.converged(),
                    "convergence": bgnbd.convergence.key(), "evaluations": bgnbd.evaluations},
                "horizon": horizon,
                "customers": customers,
            });
            if let Some(g) = gamma_gamma {
                answer["gamma_gamma"] = serde_json::json!({"p": g.p, "q": g.q, "v": g.v,
                    "log_likelihood": g.log_likelihood, "converged": g.convergence.converged(),
                    "convergence": g.convergence.key(), "evaluations": g.evaluations});
            }
            if let Some(problem) = &problem {
                answer["problem"] = serde_json::json!(problem);
            }
            println!("{answer}");
        }
        Format::Table => {
            println!(
                "BG/NBD  r {:.4}  alpha {:.4}  a {:.4}  b {:.4}  log-likelihood {:.2}",
                bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b, bgnbd.log_likelihood
            );
            if let Some(g) = gamma_gamma {
                println!("Gamma-Gamma  p {:.4}  q {:.4}  v {:.4}", g.p, g.q, g.v);
            }
            if let Some(problem) = &problem {
                println!("{problem}: no predictions");
                return Ok(());
            }
            println!("{:<12} {:>8} {:>20} {:>16}", "id", "p_alive", "expected purchases", "expected value");
            for c in customers.iter().take(50) {
                let value = c.expected_value.map_or("-".into(), |v| format!("{v:.2}"));
                println!("{:<12} {:>8.3} {:>20.3} {:>16}", c.id, c.p_alive, c.expected_purchases, value);
            }
            if customers.len() > 50 {
                println!("… {} more customers (--format json lists all)", customers.len() - 50);
            }
        }
    }
    Ok(())
}
