//! `siyu lottery verify`: checks a lottery's audit (`GET /api/v1/lotteries/{id}/audit`, saved to a
//! file or read from standard input) with the same functions the draws used: the revealed seed
//! against the hash published before the start, and every draw's outcome recomputed from the seed,
//! the lottery, the customer and the draw number, prizes' stock counted in the draws' order. Exit
//! status 1 and one line per problem when anything does not match; 2 when the audit cannot be read.

use clap::Subcommand;
use siyu_domain::campaigns::lottery::{LotteryAudit, verify};

/// `siyu lottery …`.
#[derive(Subcommand)]
pub enum LotteryCommand {
    /// Verifies every draw of a closed lottery's audit.
    Verify {
        /// The audit's JSON file (`-`: standard input).
        file: String,
    },
}

/// Runs a `lottery` command; returns the exit status after printing what it found.
pub fn run(command: LotteryCommand) -> i32 {
    let LotteryCommand::Verify { file } = command;
    let text = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(&file)
    };
    let audit: LotteryAudit =
        match text.map_err(|e| e.to_string()).and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string())) {
            Ok(audit) => audit,
            Err(reason) => {
                eprintln!("error: cannot read the audit {file}: {reason}");
                return 2;
            }
        };
    match verify(&audit) {
        Err(reason) => {
            eprintln!("error: {reason}");
            2
        }
        Ok(problems) if problems.is_empty() => {
            println!(
                "lottery {}: the seed matches the published hash {} and all {} draws are what the seed gives",
                audit.lottery_id,
                audit.seed_hash,
                audit.draws.len()
            );
            0
        }
        Ok(problems) => {
            for problem in &problems {
                println!("{problem}");
            }
            println!("lottery {}: {} of {} draws do not verify", audit.lottery_id, problems.len(), audit.draws.len());
            1
        }
    }
}
