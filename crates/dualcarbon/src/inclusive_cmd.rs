//! `dualcarbon inclusive ...`: 碳普惠 methodology files (docs/inclusive.md).

use anyhow::{Context, Result};
use clap::Subcommand;
use inclusive::methodology::{self, milli_text, Methodology};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum InclusiveCommand {
    /// Carbon inclusive methodologies (TOML, versioned, every number with its source).
    Methodology {
        #[command(subcommand)]
        command: MethodologyCommand,
    },
}

#[derive(Subcommand)]
pub enum MethodologyCommand {
    /// Check a methodology file: every problem at once (exit code 1), or what it credits.
    Check { file: PathBuf },
    /// The shipped methodologies: what each credits per action and mode, caps and sources.
    List,
}

pub fn run(cmd: InclusiveCommand) -> Result<ExitCode> {
    match cmd {
        InclusiveCommand::Methodology { command: MethodologyCommand::Check { file } } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            match methodology::parse(&text, false) {
                Ok(m) => {
                    print!("{}", describe(&m));
                    println!("{}: valid", file.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{}: {} problem(s)", file.display(), errors.len());
                    for e in errors {
                        eprintln!("  {e}");
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        InclusiveCommand::Methodology { command: MethodologyCommand::List } => {
            for m in &inclusive::Library::shipped().methodologies {
                print!("{}", describe(m));
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What a methodology credits, one line per action and mode.
pub fn describe(m: &Methodology) -> String {
    let mut s = format!(
        "{} v{} — {} (region {}, from {}{}; claim within {} days; {} point(s) per g)\n  {}\n",
        m.id,
        m.version,
        m.title,
        m.region,
        inclusive::time::day_text(m.effective_from),
        m.effective_to.map(|t| format!(" to {}", inclusive::time::day_text(t))).unwrap_or_default(),
        m.claim_days,
        m.points_per_g,
        m.structure
    );
    for a in &m.actions {
        let caps: Vec<String> = [
            a.daily_cap_g.map(|v| format!("{v} g/day")),
            a.monthly_cap_g.map(|v| format!("{v} g/month")),
            a.daily_count.map(|v| format!("{v}/day")),
            a.monthly_count.map(|v| format!("{v}/month")),
            a.max_speed_milli_kmh.map(|v| format!("≤ {} km/h", milli_text(v))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let net = a.factors.iter().any(|f| f.name.ends_with(".reduction"));
        let er = if net {
            format!("ER {} (published as BE − PE)", milli_text(a.reduction_mg()))
        } else {
            format!(
                "BE {} − PE {} = {}",
                milli_text(a.baseline_mg),
                milli_text(a.project_mg),
                milli_text(a.reduction_mg())
            )
        };
        s.push_str(&format!(
            "  {:<20} {:<8} {} g per {}; {} {}; dedup {:?}\n",
            a.action,
            a.mode,
            er,
            a.unit.code(),
            if caps.is_empty() { "no caps".to_string() } else { caps.join(", ") },
            a.max_quantity_milli
                .map(|q| format!("(≤ {} {} an event)", milli_text(q), a.unit.code()))
                .unwrap_or_default(),
            a.dedup
        ));
    }
    s
}
