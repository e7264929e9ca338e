//! `siyu model …`: customer models on the command line. `ltv` fits BG/NBD (and, with spend,
//! Gamma-Gamma) to any customer summary in the `lifetimes` layout and prints each customer's
//! probability of being alive, expected purchases and expected value over a horizon.

use crate::query::Format;
use anyhow::Context;
use siyu_analytics::ltv::{Summary, fit_bgnbd, fit_gamma_gamma};
use std::path::PathBuf;

/// A customer model.
#[derive(clap::Subcommand, Debug)]
pub enum ModelCommand {
    /// BG/NBD + Gamma-Gamma lifetime value from a summary CSV: columns ID,frequency,recency,T and
    /// optionally monetary_value (time in any one unit; frequency counts repeat purchases).
    Ltv {
        /// The summary CSV.
        #[arg(long)]
        summary: PathBuf,
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

/// Runs a model command.
pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    let ModelCommand::Ltv { summary, horizon, format } = command;
    anyhow::ensure!(horizon.is_finite() && horizon > 0.0, "--horizon must be a positive number");
    let (ids, rows) = read_summary(&summary)?;
    // A row number in an error is 0-based over the data rows; the file's line is two more.
    let located = |e: siyu_analytics::ltv::FitError| match e {
        siyu_analytics::ltv::FitError::BadRow { row, reason } => anyhow::anyhow!("line {}: {reason}", row + 2),
        other => anyhow::anyhow!(other),
    };
    let bgnbd = fit_bgnbd(&rows).map_err(located)?;
    let spend = rows.iter().any(|r| r.monetary.is_some());
    let gamma_gamma = if spend { Some(fit_gamma_gamma(&rows).map_err(located)?) } else { None };
    let customers: Vec<Prediction> = ids
        .into_iter()
        .zip(&rows)
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
                    "log_likelihood": bgnbd.log_likelihood},
                "horizon": horizon,
                "customers": customers,
            });
            if let Some(g) = gamma_gamma {
                answer["gamma_gamma"] =
                    serde_json::json!({"p": g.p, "q": g.q, "v": g.v, "log_likelihood": g.log_likelihood});
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
