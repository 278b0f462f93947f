//! `dualcarbon scenario ...`: scenarios (场). Reads files and data directories, calls the
//! `scenario` crate, prints. No modelling here.

use crate::format::{table, thousands};
use accounting::metrics::*;
use accounting::{InventoryOptions, ResidualBasis};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use scenario::engine::{Model, RunResult, Scenario};
use scenario::montecarlo::{self, Bands, McOptions};
use scenario::optimise;
use scenario::spec::{self, ScenarioFile};
use scenario::{lmdi, trend, Baseline, Catalogue, Class, Drivers};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Out {
    Table,
    Json,
}

#[derive(Args, Clone)]
pub struct BaseArgs {
    /// Data directory to calibrate the base year from (overrides the file's `data`/`baseline`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Base year of `--data`.
    #[arg(long)]
    year: Option<i32>,
    /// Baseline JSON from `dualcarbon scenario calibrate` (overrides the file's `baseline`).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// History CSV calibrating the drivers from the base year (overrides the file's `history`).
    #[arg(long)]
    history: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum ScenarioCommand {
    /// Run a scenario file: emission path to the horizon, peak, targets, cumulative emissions,
    /// measure costs, and Monte Carlo bands when the file has [monte_carlo] or --paths is given.
    Run {
        file: PathBuf,
        #[command(flatten)]
        base: BaseArgs,
        /// Monte Carlo paths (0 = none; default: the file's [monte_carlo]).
        #[arg(long)]
        paths: Option<usize>,
        #[arg(long, value_enum, default_value_t = Out::Table)]
        format: Out,
    },
    /// Compare scenario files side by side: gross emissions every five years, peak, targets, cost.
    Compare {
        files: Vec<PathBuf>,
        #[command(flatten)]
        base: BaseArgs,
        #[arg(long, value_enum, default_value_t = Out::Table)]
        format: Out,
    },
    /// Write a history CSV (the `lmdi --history` and `history =` format) from several years'
    /// inventories; activity is the number of facilities of each class.
    History {
        /// YEAR=DIR (repeatable).
        #[arg(long, required = true)]
        input: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Calibrate the base year from a data directory's inventory and write it as JSON.
    Calibrate {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        year: i32,
        #[arg(long)]
        out: PathBuf,
    },
    /// List the drivers with their labels, default paths and sources.
    Drivers {
        #[arg(long, value_enum, default_value_t = Out::Table)]
        format: Out,
    },
    /// List the measure catalogue with effects and costs.
    Measures {
        #[arg(long, value_enum, default_value_t = Out::Table)]
        format: Out,
    },
    /// Marginal abatement cost curve: every catalogue measure started in one year, cheapest first.
    Macc {
        file: PathBuf,
        #[command(flatten)]
        base: BaseArgs,
        /// Start year of every measure (default: the year after the base year).
        #[arg(long)]
        start: Option<i32>,
        #[arg(long, value_enum, default_value_t = Out::Table)]
        format: Out,
    },
    /// Least-cost plan: measures and start years meeting the peak and intensity targets.
    Optimise {
        file: PathBuf,
        #[command(flatten)]
        base: BaseArgs,
        #[arg(long, value_enum, default_value_t = Out::Table)]
        format: Out,
    },
    /// LMDI decomposition of the change of emissions between two years.
    Lmdi {
        /// History CSV (year,province,class,activity,electricity_mwh,pue,grid_factor,green_share,scope1_tco2e).
        #[arg(long)]
        history: Option<PathBuf>,
        /// First year (with --history), or the base year of --from-data.
        #[arg(long)]
        from: i32,
        #[arg(long)]
        to: i32,
        /// Data directory of the first year (instead of --history).
        #[arg(long)]
        from_data: Option<PathBuf>,
        #[arg(long)]
        to_data: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Out::Table)]
        format: Out,
    },
    /// Trend analysis of a monthly series: decomposition, forecast with intervals, backtest.
    Trend {
        /// CSV with a `period` column (YYYY-MM) and a value column.
        #[arg(long)]
        series: Option<PathBuf>,
        /// Value column of --series.
        #[arg(long, default_value = "value")]
        column: String,
        /// YEAR=DIR data directories whose monthly inventories form the series (repeatable).
        #[arg(long)]
        input: Vec<String>,
        /// With --input: emissions (Scope 1 + market Scope 2, t), scope1, scope2, electricity (MWh), energy (tce).
        #[arg(long, default_value = "emissions")]
        metric: String,
        /// With --input: the org whose subtree is analysed (default: the group).
        #[arg(long)]
        org: Option<String>,
        /// With --input: one analysis per province (org at depth 1), summarised in one table.
        #[arg(long)]
        by_province: bool,
        /// Months to forecast.
        #[arg(long, default_value_t = 12)]
        horizon: usize,
        /// Prediction-interval coverage.
        #[arg(long, default_value_t = 0.8)]
        level: f64,
        #[arg(long, value_enum, default_value_t = Out::Table)]
        format: Out,
    },
    /// Benchmark: Monte Carlo paths × provinces to 2060, and the deterministic re-run.
    Bench {
        /// Data directory to calibrate from (default: a synthetic 31-province baseline).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        year: Option<i32>,
        #[arg(long, default_value_t = 10_000)]
        paths: usize,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        #[arg(long)]
        threads: Option<usize>,
    },
}

pub fn run(cmd: ScenarioCommand) -> Result<ExitCode> {
    match cmd {
        ScenarioCommand::Run { file, base, paths, format } => run_file(&file, &base, paths, format),
        ScenarioCommand::Compare { files, base, format } => compare(&files, &base, format),
        ScenarioCommand::History { input, out } => {
            let d = Drivers::shipped();
            let mut csv =
                String::from("year,province,class,activity,electricity_mwh,pue,grid_factor,green_share,scope1_tco2e\n");
            for (year, dir) in parse_inputs(&input)? {
                for o in lmdi::observations_from_baseline(&calibrate_dir(&dir, year)?, &d) {
                    csv.push_str(&format!(
                        "{year},{},{},{},{},{},{},{},{}\n",
                        o.province,
                        o.class.code(),
                        o.activity,
                        o.electricity_mwh,
                        o.pue,
                        o.grid_factor,
                        o.green_share,
                        o.scope1_tco2e
                    ));
                }
            }
            std::fs::write(&out, csv).with_context(|| format!("writing {}", out.display()))?;
            println!("history of {} year(s) written to {}", input.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Calibrate { data, year, out } => {
            let (b, r) = calibrate_dir_with(&data, year, true)?;
            std::fs::write(&out, serde_json::to_string_pretty(&b)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: base year {year}, {} provinces, {} tCO2e (Scope 1 + market-based Scope 2) written to {}",
                data.display(),
                b.provinces.len(),
                thousands(b.total_tco2e(), 0),
                out.display()
            );
            if let Some(r) = r {
                print!("\n{}", reconciliation_lines(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Drivers { format } => {
            let d = Drivers::shipped();
            if format == Out::Json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                let rows: Vec<Vec<String>> = d
                    .list
                    .iter()
                    .map(|x| {
                        let path: Vec<String> = x.path.iter().map(|(y, v)| format!("{y}:{v}")).collect();
                        vec![
                            x.key.clone(),
                            x.zh.clone(),
                            x.en.clone(),
                            x.unit.clone(),
                            path.join(" "),
                            x.spread.to_string(),
                            x.status.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["driver", "中文", "English", "unit", "path", "spread", "status"], &rows));
                println!("\nsources: `dualcarbon scenario drivers --format json` or crates/scenario/data/drivers.toml");
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Measures { format } => {
            let c = Catalogue::shipped();
            if format == Out::Json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                let rows: Vec<Vec<String>> = c
                    .measures
                    .iter()
                    .map(|m| {
                        let eff: Vec<String> = m
                            .effects
                            .iter()
                            .map(|e| {
                                format!(
                                    "{:?}{} {}",
                                    e.kind,
                                    e.class.map(|c| format!("({})", c.code())).unwrap_or_default(),
                                    e.value
                                )
                            })
                            .collect();
                        vec![
                            m.id.clone(),
                            m.zh.clone(),
                            eff.join(", "),
                            m.ramp_years.to_string(),
                            format!("{:?}", m.cost_basis),
                            m.capex_per_unit.to_string(),
                            m.opex_per_unit_year.to_string(),
                            m.price_per_volume.to_string(),
                            m.status.clone(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "measure",
                            "中文",
                            "effects",
                            "ramp",
                            "cost basis",
                            "capex/unit",
                            "opex/unit/yr",
                            "price/vol",
                            "status"
                        ],
                        &rows
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Macc { file, base, start, format } => {
            let (_, sc, b, cat) = load_all(&file, &base)?;
            let model = Model::new(&b, &cat)?;
            let rows = optimise::macc(&model, &sc, start.unwrap_or(b.base_year + 1))?;
            if format == Out::Json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let t: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.clone(),
                            r.zh.clone(),
                            r.yuan_per_tco2e.map_or("-".into(), |v| thousands(v as f64, 0)),
                            thousands(r.abatement_tco2e, 0),
                            thousands(r.cumulative_abatement_tco2e, 0),
                            thousands(r.abatement_in_target_year_tco2e, 0),
                            thousands(r.net_cost_yuan as f64, 0),
                            thousands(r.present_value_yuan as f64, 0),
                        ]
                    })
                    .collect();
                println!(
                    "Marginal abatement cost curve, {} to {} (each measure alone, started {}):",
                    b.base_year,
                    sc.horizon,
                    start.unwrap_or(b.base_year + 1)
                );
                print!(
                    "{}",
                    table(
                        &[
                            "measure",
                            "中文",
                            "yuan/tCO2e",
                            "abatement t",
                            "cumulative t",
                            "in peak year t",
                            "net cost yuan",
                            "present value"
                        ],
                        &t
                    )
                );
                println!(
                    "Negative cost: the measure saves more on bills than it costs. Constant prices; yuan/t is the present value at the `discount_rate` driver (0 = undiscounted) per tonne."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Optimise { file, base, format } => {
            let (f, sc, b, cat) = load_all(&file, &base)?;
            let model = Model::new(&b, &cat)?;
            let opts = f.optimise.clone().unwrap_or_default();
            let t = Instant::now();
            let plan = optimise::least_cost_plan(&model, &sc, &opts)?;
            if format == Out::Json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                println!("{}", plan.explanation);
                println!("(solved in {:.2} s, {} round(s))", t.elapsed().as_secs_f64(), plan.rounds);
                if let Some(r) = &plan.run {
                    print!("\n{}", run_table(r));
                }
            }
            Ok(if plan.found { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        ScenarioCommand::Lmdi { history, from, to, from_data, to_data, format } => {
            let (a, b) = match (history, from_data, to_data) {
                (Some(h), None, None) => {
                    let text = std::fs::read_to_string(&h).with_context(|| format!("reading {}", h.display()))?;
                    let mut by_year = lmdi::parse_history(&text)
                        .map_err(|errs| anyhow::anyhow!("{}:\n{}", h.display(), errs.join("\n")))?;
                    let a =
                        by_year.remove(&from).with_context(|| format!("{}: no rows for year {from}", h.display()))?;
                    let b = by_year.remove(&to).with_context(|| format!("{}: no rows for year {to}", h.display()))?;
                    (a, b)
                }
                (None, Some(fd), Some(td)) => {
                    let d = Drivers::shipped();
                    let a = lmdi::observations_from_baseline(&calibrate_dir(&fd, from)?, &d);
                    let b = lmdi::observations_from_baseline(&calibrate_dir(&td, to)?, &d);
                    (a, b)
                }
                _ => bail!("give either --history FILE, or both --from-data DIR and --to-data DIR"),
            };
            let d = lmdi::decompose(from, &a, to, &b)?;
            if format == Out::Json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                println!("{}\n", d.summary);
                let row = |k: String, e: &lmdi::Effects| {
                    let mut v = vec![k];
                    for x in [e.activity, e.intensity, e.pue, e.grid_factor, e.green_power, e.scope1, e.sum()] {
                        v.push(thousands(x, 0));
                    }
                    v
                };
                let mut rows: Vec<Vec<String>> = d.by_class.iter().map(|(c, e)| row(c.code().to_string(), e)).collect();
                rows.push(row("TOTAL".into(), &d.total));
                print!(
                    "{}",
                    table(
                        &["class", "activity", "intensity", "PUE", "grid factor", "green power", "scope 1", "sum t"],
                        &rows
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Trend { series, column, input, metric, org, by_province, horizon, level, format } => {
            if !(0.0 < level && level < 1.0) {
                bail!("--level {level}: expected a coverage between 0 and 1, e.g. 0.8");
            }
            let all = match (series, input.is_empty()) {
                (Some(p), true) if !by_province => vec![read_series(&p, &column)?],
                (None, false) => series_from_inventories(&input, &metric, org.as_deref(), by_province)?,
                _ => bail!("give either --series FILE or one or more --input YEAR=DIR (--by-province needs --input)"),
            };
            let reports = all
                .iter()
                .map(|(name, periods, values)| trend::analyse(name, periods, values, horizon, level))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?;
            match (format, by_province) {
                (Out::Json, false) => println!("{}", serde_json::to_string_pretty(&reports[0])?),
                (Out::Json, true) => println!("{}", serde_json::to_string_pretty(&reports)?),
                (Out::Table, false) => print_trend(&reports[0]),
                (Out::Table, true) => print_trend_summary(&reports),
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Bench { data, year, paths, repeat, threads } => bench(data, year, paths, repeat, threads),
    }
}

fn calibrate_dir(dir: &Path, year: i32) -> Result<Baseline> {
    Ok(calibrate_dir_with(dir, year, false)?.0)
}

/// The baseline and, with `reconcile`, its reconciliation with the inventory that `dualcarbon
/// inventory` reports for the same directory and year (default options: NBS residual, Scope 3).
fn calibrate_dir_with(dir: &Path, year: i32, reconcile: bool) -> Result<(Baseline, Option<scenario::Reconciliation>)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (ds, _) = ingest::load_dir(dir, year, threads).map_err(|r| anyhow::anyhow!("{}:\n{r}", dir.display()))?;
    let lib = ingest::load_library(Some(dir), None).map_err(|r| anyhow::anyhow!("factor sets are invalid:\n{r}"))?;
    let mut o = InventoryOptions::new(year);
    o.threads = threads;
    let errors = |errs: Vec<accounting::PlanError>| {
        anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))
    };
    let reported = if reconcile {
        let inv = accounting::compute(&ds, &lib, &o).map_err(errors)?;
        Some(scenario::InventoryTotals::of(&inv.report(&ds, &lib, None, None).totals, o.residual))
    } else {
        None
    };
    // The model values grey electricity at the grid factor: market-based with the location residual.
    o.residual = ResidualBasis::Location;
    let inv = accounting::compute(&ds, &lib, &o).map_err(errors)?;
    let source = format!(
        "inventory of {} for {year}: Scope 1 + market-based Scope 2 (location residual), library {} [{}], {} records",
        dir.display(),
        inv.library_version,
        inv.library_fingerprint,
        inv.records
    );
    let b = scenario::calibrate(&ds, &inv, &source)?;
    let r = reported.map(|t| scenario::reconcile(&t, &b));
    Ok((b, r))
}

/// The reconciliation as lines: from the inventory's total to the scenario base.
fn reconciliation_lines(r: &scenario::Reconciliation) -> String {
    let residual = match r.inventory_residual.as_str() {
        "location" => "location residual",
        _ => "NBS residual",
    };
    let mut rows = vec![vec![
        format!("inventory total (Scope 1 + market-based Scope 2 on the {residual} + Scope 3)"),
        thousands(r.inventory_total_tco2e, 3),
    ]];
    for s in &r.steps {
        let what = match s.code.as_str() {
            "scope3_left_out" => "Scope 3 left out (outside the model)",
            "scope2_market_on_location_residual" => {
                "market-based Scope 2 recomputed on the location residual (grey electricity at the grid factor)"
            }
            "rounding" => "rounding",
            other => other,
        };
        let amount = thousands(s.tco2e, 3);
        rows.push(vec![what.to_string(), if amount.starts_with('-') { amount } else { format!("+{amount}") }]);
    }
    rows.push(vec![
        "= scenario base (Scope 1 + market-based Scope 2 on the location residual)".into(),
        thousands(r.scenario_base_tco2e, 3),
    ]);
    table(&["reconciliation with the inventory", "tCO2e"], &rows)
}

fn load_all(file: &Path, base: &BaseArgs) -> Result<(ScenarioFile, Scenario, Baseline, Catalogue)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let f = spec::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    // Checked before any data is read, so a typo is reported at once.
    f.scenario().map_err(|errs| anyhow::anyhow!("{}:\n{}", file.display(), errs.join("\n")))?;
    let rel = |p: &str| file.parent().unwrap_or(Path::new(".")).join(p);
    let b = if let Some(dir) = &base.data {
        let year = base.year.context("--data needs --year")?;
        calibrate_dir(dir, year)?
    } else if let Some(p) = &base.baseline {
        read_baseline(p)?
    } else if let Some(p) = &f.baseline {
        read_baseline(&rel(p))?
    } else if let Some(d) = &f.data {
        calibrate_dir(&rel(&d.dir), d.year)?
    } else {
        bail!("{}: no base year: give `baseline = \"...json\"` or `data = {{ dir = \"...\", year = ... }}` in the file, or --data DIR --year Y", file.display());
    };
    let cat = match &f.catalogue {
        Some(p) => {
            let p = rel(p);
            let t = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            Catalogue::parse(&t).map_err(|e| anyhow::anyhow!("{}:\n{e}", p.display()))?
        }
        None => Catalogue::shipped(),
    };
    let mut drivers = Drivers::shipped();
    let history = base.history.clone().or_else(|| f.history.as_deref().map(rel));
    if let Some(h) = history {
        let t = std::fs::read_to_string(&h).with_context(|| format!("reading {}", h.display()))?;
        let obs = lmdi::parse_history(&t).map_err(|errs| anyhow::anyhow!("{}:\n{}", h.display(), errs.join("\n")))?;
        let set = scenario::history::calibrate_drivers(&obs, b.base_year, &mut drivers)
            .map_err(|e| anyhow::anyhow!("{}: {e}", h.display()))?;
        for c in set {
            eprintln!("calibrated {} = {:.4} from {} ({})", c.driver, c.value, h.display(), c.note);
        }
    }
    let sc = f.scenario_on(drivers).map_err(|errs| anyhow::anyhow!("{}:\n{}", file.display(), errs.join("\n")))?;
    Ok((f, sc, b, cat))
}

fn read_baseline(p: &Path) -> Result<Baseline> {
    let t = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let b: Baseline = serde_json::from_str(&t).with_context(|| format!("{}: not a baseline JSON", p.display()))?;
    b.validate().map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    Ok(b)
}

#[derive(serde::Serialize)]
struct RunOutput<'a> {
    run: &'a RunResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    monte_carlo: Option<&'a Bands>,
}

fn run_file(file: &Path, base: &BaseArgs, paths: Option<usize>, format: Out) -> Result<ExitCode> {
    let (f, sc, b, cat) = load_all(file, base)?;
    let model = Model::new(&b, &cat)?;
    let r = model.run(&sc)?;
    let mut mc = f.mc_options();
    if let Some(n) = paths {
        mc = if n == 0 { None } else { Some(McOptions { paths: n, ..mc.unwrap_or_default() }) };
    }
    let bands = match &mc {
        Some(o) => Some(montecarlo::run(&model, &sc, o)?),
        None => None,
    };
    if format == Out::Json {
        println!("{}", serde_json::to_string_pretty(&RunOutput { run: &r, monte_carlo: bands.as_ref() })?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", run_table(&r));
    if let Some(bd) = &bands {
        println!(
            "\nMonte Carlo: {} paths (seed {}), drivers drawn: {}",
            bd.paths,
            bd.seed,
            bd.uncertain_drivers.iter().map(|(k, s)| format!("{k} ±{s}")).collect::<Vec<_>>().join(", ")
        );
        let rows: Vec<Vec<String>> = bd
            .years
            .iter()
            .enumerate()
            .filter(|(_, y)| *y % 5 == 0 || **y == bd.years[0])
            .map(|(k, y)| {
                vec![y.to_string(), thousands(bd.p10[k], 0), thousands(bd.p50[k], 0), thousands(bd.p90[k], 0)]
            })
            .collect();
        print!("{}", table(&["year", "P10 t", "P50 t", "P90 t"], &rows));
        println!(
            "peak year P10/P50/P90: {:.0} / {:.0} / {:.0}; peak level P50 {} t",
            bd.peak_year.p10,
            bd.peak_year.p50,
            bd.peak_year.p90,
            thousands(bd.peak_tco2e.p50, 0)
        );
        if let (Some(t), Some(p)) = (bd.peak_target_year, bd.probability_peak_by_target) {
            println!("probability of peaking by {t}: {:.1}%", p * 100.0);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_table(r: &RunResult) -> String {
    let mut s =
        format!("Scenario {} — {} to {}; base year from: {}\n\n", r.name, r.base_year, r.horizon, r.baseline_source);
    let rows: Vec<Vec<String>> = r
        .years
        .iter()
        .filter(|y| y.year % 5 == 0 || y.year == r.base_year || y.year == r.peak.year || y.year == r.horizon)
        .map(|y| {
            let mut v = vec![
                y.year.to_string(),
                thousands(y.scope1_tco2e, 0),
                thousands(y.scope2_tco2e, 0),
                thousands(y.gross_tco2e, 0),
                thousands(y.net_tco2e, 0),
                thousands(y.electricity_mwh, 0),
                format!("{:.1}%", y.green_share * 100.0),
                format!("{:.3}", y.intensity_index),
            ];
            for c in Class::ALL {
                v.push(thousands(y.by_class_tco2e[c as usize], 0));
            }
            v
        })
        .collect();
    let mut header =
        vec!["year", "scope 1 t", "scope 2 t", "gross t", "net t", "electricity MWh", "green", "intensity"];
    header.extend(Class::ALL.iter().map(|c| c.code()));
    s.push_str(&table(&header, &rows));
    s.push_str(&format!(
        "\npeak: {} at {} tCO2e{}\ncumulative {}–{}: gross {} t, net {} t\n",
        r.peak.year,
        thousands(r.peak.tco2e, 0),
        if r.peak.at_horizon { " (still rising at the horizon: not a peak)" } else { "" },
        r.base_year,
        r.horizon,
        thousands(r.cumulative_gross_tco2e, 0),
        thousands(r.cumulative_net_tco2e, 0)
    ));
    for t in &r.targets {
        s.push_str(&format!(
            "target {}: {} ({})\n",
            t.target,
            if t.met { "met".to_string() } else { format!("MISSED, gap {} t", thousands(t.gap_tco2e, 0)) },
            t.detail
        ));
    }
    if !r.measures.is_empty() {
        let rows: Vec<Vec<String>> = r
            .measures
            .iter()
            .map(|m| {
                vec![
                    m.id.clone(),
                    m.start.to_string(),
                    format!("{}", m.scale),
                    thousands(m.abatement_tco2e, 0),
                    thousands(m.capex_yuan as f64, 0),
                    thousands(m.opex_yuan as f64, 0),
                    thousands(m.purchases_yuan as f64, 0),
                    thousands(m.savings_yuan as f64, 0),
                    thousands(m.net_cost_yuan as f64, 0),
                    thousands(m.present_value_yuan as f64, 0),
                    m.yuan_per_tco2e.map_or("-".into(), |v| thousands(v as f64, 0)),
                ]
            })
            .collect();
        s.push_str("\nmeasures (each alone against the baseline; yuan, undiscounted, constant prices):\n");
        s.push_str(&table(
            &[
                "measure",
                "start",
                "scale",
                "abatement t",
                "capex",
                "opex",
                "purchases",
                "bill savings",
                "net cost",
                "present value",
                "yuan/t",
            ],
            &rows,
        ));
        s.push_str(&format!(
            "total net cost: {} yuan (bill savings of overlapping measures counted once: {} yuan less); present value {} yuan (yuan/t = present value per tonne)\n",
            thousands(r.total_net_cost_yuan as f64, 0),
            thousands(r.overlapping_savings_yuan as f64, 0),
            thousands(r.total_present_value_yuan as f64, 0)
        ));
    }
    s
}

fn read_series(p: &Path, column: &str) -> Result<(String, Vec<String>, Vec<f64>)> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().with_context(|| format!("{}: empty file", p.display()))?;
    let cols: Vec<&str> = header.trim_start_matches('\u{feff}').split(',').map(str::trim).collect();
    let pi = cols
        .iter()
        .position(|c| *c == "period")
        .with_context(|| format!("{}: line 1: no `period` column", p.display()))?;
    let vi = cols
        .iter()
        .position(|c| *c == column)
        .with_context(|| format!("{}: line 1: no `{column}` column", p.display()))?;
    let (mut periods, mut values, mut errs) = (Vec::new(), Vec::new(), Vec::new());
    for (i, l) in lines {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let period = f.get(pi).copied().unwrap_or("");
        let v = f.get(vi).copied().unwrap_or("");
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => values.push(x),
            _ => errs.push(format!("{}:{}: column {column}: value \"{v}\": not a number", p.display(), i + 1)),
        }
        if trend::add_months(period, 0).is_none() {
            errs.push(format!("{}:{}: column period: value \"{period}\": expected YYYY-MM", p.display(), i + 1));
        }
        periods.push(period.to_string());
    }
    if !errs.is_empty() {
        bail!("{}", errs.join("\n"));
    }
    Ok((format!("{} ({column})", p.display()), periods, values))
}

type Series = (String, Vec<String>, Vec<f64>);

/// Monthly series from the inventories of several years: of `org` (default the group), or of each
/// province below it.
fn series_from_inventories(
    inputs: &[String],
    metric: &str,
    org: Option<&str>,
    by_province: bool,
) -> Result<Vec<Series>> {
    let parts = parse_inputs(inputs)?;
    let pick: fn(&Metrics) -> f64 = match metric {
        "emissions" => |m| (m.scope1() + m.0[S2_MARKET]) as f64 / SCALE / 1000.0,
        "scope1" => |m| m.scope1() as f64 / SCALE / 1000.0,
        "scope2" => |m| m.0[S2_MARKET] as f64 / SCALE / 1000.0,
        "electricity" => |m| m.0[ELECTRICITY_KWH] as f64 / SCALE / 1000.0,
        "energy" => |m| m.0[ENERGY_KGCE] as f64 / SCALE / 1000.0,
        _ => bail!("--metric {metric:?}: expected emissions, scope1, scope2, electricity or energy"),
    };
    // Org code -> (periods, values), in the order of the first year's org tree.
    let mut out: Vec<(String, Vec<String>, Vec<f64>)> = Vec::new();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (i, (year, dir)) in parts.iter().enumerate() {
        let (ds, _) = ingest::load_dir(dir, *year, threads).map_err(|r| anyhow::anyhow!("{}:\n{r}", dir.display()))?;
        let lib =
            ingest::load_library(Some(dir), None).map_err(|r| anyhow::anyhow!("factor sets are invalid:\n{r}"))?;
        let mut o = InventoryOptions::new(*year);
        o.threads = threads;
        o.residual = ResidualBasis::Location;
        let inv = accounting::compute(&ds, &lib, &o)
            .map_err(|e| anyhow::anyhow!("{}", e.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("\n")))?;
        let top = match org {
            Some(c) => ds.orgs.get(c).with_context(|| format!("--org {c:?} is not in {}/orgs.csv", dir.display()))?,
            None => ds.orgs.root(),
        };
        let targets: Vec<u32> = if by_province {
            (0..ds.orgs.orgs.len() as u32)
                .filter(|&o| ds.orgs.orgs[o as usize].depth == 1 && ds.orgs.is_within(o, top))
                .collect()
        } else {
            vec![top]
        };
        for t in targets {
            let code = ds.orgs.orgs[t as usize].code.clone();
            let slot = match out.iter().position(|(c, _, _)| *c == code) {
                Some(p) => p,
                None if i == 0 => {
                    out.push((code.clone(), Vec::new(), Vec::new()));
                    out.len() - 1
                }
                None => bail!("{}: org {code} is not in the first year's data; series need every year", dir.display()),
            };
            let mut per = [Metrics::default(); 12];
            for (_, _, m, c) in inv.subtree_cells(&ds, t) {
                per[m as usize - 1].add(&c);
            }
            for (k, m) in per.iter().enumerate() {
                out[slot].1.push(format!("{year}-{:02}", k + 1));
                out[slot].2.push(pick(m));
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|(code, p, v)| {
            let name = if !by_province && org.is_none() {
                format!("{metric} of the group")
            } else {
                format!("{metric} of {code}")
            };
            (name, p, v)
        })
        .collect())
}

fn print_trend_summary(reports: &[trend::TrendReport]) {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let last12: f64 = r.values.iter().rev().take(12).sum();
            let next: f64 = r.forecast.mean.iter().take(12).sum();
            let (mape, naive, cov) = r.backtest.as_ref().map_or(("-".into(), "-".into(), "-".into()), |b| {
                (
                    format!("{:.2}%", b.mape),
                    format!("{:.2}%", b.naive_mape),
                    format!("{:.0}%", b.interval_coverage * 100.0),
                )
            });
            let trust = r.backtest.as_ref().map_or("too short", |b| if b.mape <= b.naive_mape { "yes" } else { "no" });
            vec![
                r.name.clone(),
                thousands(last12, 0),
                thousands(next, 0),
                if last12 != 0.0 { format!("{:+.1}%", (next / last12 - 1.0) * 100.0) } else { "-".into() },
                mape,
                naive,
                cov,
                trust.into(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "series",
                "last 12 months",
                "next 12 (forecast)",
                "change",
                "MAPE",
                "naive MAPE",
                "coverage",
                "beats naive"
            ],
            &rows
        )
    );
}

fn print_trend(r: &trend::TrendReport) {
    println!("Trend of {} ({} months, {} to {})", r.name, r.values.len(), r.periods[0], r.periods[r.periods.len() - 1]);
    if let Some(d) = &r.decomposition {
        let idx: Vec<String> = d.seasonal.iter().take(12).map(|v| thousands(*v, 1)).collect();
        println!(
            "seasonal pattern (from {}; strength {:.0}%): {}",
            r.periods[0],
            d.seasonal_strength * 100.0,
            idx.join(" ")
        );
        let first = d.trend.iter().flatten().next().copied().unwrap_or(f64::NAN);
        let last = d.trend.iter().flatten().last().copied().unwrap_or(f64::NAN);
        println!("trend (12-month centred average): {} → {}", thousands(first, 1), thousands(last, 1));
    } else {
        println!("seasonal decomposition needs at least 24 months");
    }
    let p = r.fit.params;
    println!(
        "model: additive Holt-Winters, damped trend{} (α {:.3}, β {:.3}, γ {:.3}, φ {:.3}; σ {})",
        if r.fit.period == 0 { ", no season (under 26 months)" } else { ", 12-month season" },
        p.alpha,
        p.beta,
        p.gamma,
        p.phi,
        thousands(r.fit.sigma, 2)
    );
    let rows: Vec<Vec<String>> = r
        .forecast_periods
        .iter()
        .enumerate()
        .map(|(i, per)| {
            vec![
                per.clone(),
                thousands(r.forecast.lower[i], 1),
                thousands(r.forecast.mean[i], 1),
                thousands(r.forecast.upper[i], 1),
            ]
        })
        .collect();
    let lo = format!("P{:.0}", (1.0 - r.forecast.level) / 2.0 * 100.0);
    let hi = format!("P{:.0}", (1.0 + r.forecast.level) / 2.0 * 100.0);
    print!("{}", table(&["period", &lo, "forecast", &hi], &rows));
    match &r.backtest {
        Some(b) => println!(
            "backtest: MAPE {:.2}%, sMAPE {:.2}% (seasonal naive: {:.2}% / {:.2}%), interval coverage {:.0}%\n{}",
            b.mape,
            b.smape,
            b.naive_mape,
            b.naive_smape,
            b.interval_coverage * 100.0,
            b.verdict
        ),
        None => println!(
            "backtest: not enough history (needs about 26 months plus the horizon); treat the forecast with caution"
        ),
    }
}

fn bench(
    data: Option<PathBuf>,
    year: Option<i32>,
    paths: usize,
    repeat: usize,
    threads: Option<usize>,
) -> Result<ExitCode> {
    let b = match data {
        Some(d) => calibrate_dir(&d, year.context("--data needs --year")?)?,
        None => scenario::synthetic::national_baseline(year.unwrap_or(2024), 60_000),
    };
    let cat = Catalogue::shipped();
    let model = Model::new(&b, &cat)?;
    let mut sc = Scenario::baseline("bench");
    // A typical console scenario: five measures with timing.
    for (id, start) in [
        ("ai_bs_energy_saving", 2026),
        ("dc_pue_upgrade", 2027),
        ("rooftop_pv", 2027),
        ("green_power_purchase", 2028),
        ("fleet_electrification", 2028),
    ] {
        sc.measures.push(scenario::Selected { id: id.into(), start, ramp_years: None, scale: 1.0 });
    }
    let years = sc.horizon - b.base_year + 1;
    let mut opts = McOptions { paths, ..Default::default() };
    if let Some(t) = threads {
        opts.threads = t.max(1);
    }
    println!(
        "baseline: {} ({} provinces), {} measures, years {}–{} ({years})",
        b.source,
        b.provinces.len(),
        sc.measures.len(),
        b.base_year,
        sc.horizon
    );
    let mut best_det = f64::INFINITY;
    let mut best_mc = f64::INFINITY;
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let r = model.run(&sc)?;
        best_det = best_det.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let bands = montecarlo::run(&model, &sc, &opts)?;
        best_mc = best_mc.min(t.elapsed().as_secs_f64());
        last = Some((r, bands));
    }
    let (r, bands) = last.expect("at least one repeat");
    println!(
        "deterministic run (path + each measure alone for costs): best of {repeat}: {:.1} ms  (target ≤ 100 ms)",
        best_det * 1000.0
    );
    println!(
        "Monte Carlo: {paths} paths × {} provinces × {years} years on {} threads: best of {repeat}: {:.3} s  (target ≤ 2 s)",
        b.provinces.len(),
        opts.threads,
        best_mc
    );
    println!(
        "check: peak {} at {} t; P50 {} t in {}; P(peak by 2030) {:.1}%",
        r.peak.year,
        thousands(r.peak.tco2e, 0),
        thousands(bands.p50[bands.p50.len() - 1], 0),
        sc.horizon,
        bands.probability_peak_by_target.unwrap_or(0.0) * 100.0
    );
    Ok(ExitCode::SUCCESS)
}

fn compare(files: &[PathBuf], base: &BaseArgs, format: Out) -> Result<ExitCode> {
    if files.len() < 2 {
        bail!("give two or more scenario files to compare");
    }
    let mut runs = Vec::new();
    for f in files {
        let (_, sc, b, cat) = load_all(f, base)?;
        let model = Model::new(&b, &cat)?;
        runs.push(model.run(&sc)?);
    }
    if format == Out::Json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    let years: Vec<i32> =
        runs[0].years.iter().map(|y| y.year).filter(|y| *y % 5 == 0 || *y == runs[0].base_year).collect();
    let mut header: Vec<String> = vec!["scenario".into()];
    header.extend(years.iter().map(|y| y.to_string()));
    header.extend(["peak".into(), "cumulative t".into(), "targets met".into(), "net cost yuan".into()]);
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut v = vec![r.name.clone()];
            for y in &years {
                v.push(r.years.iter().find(|x| x.year == *y).map_or("-".into(), |x| thousands(x.gross_tco2e, 0)));
            }
            v.push(format!("{} ({})", r.peak.year, thousands(r.peak.tco2e, 0)));
            v.push(thousands(r.cumulative_gross_tco2e, 0));
            v.push(format!("{}/{}", r.targets.iter().filter(|t| t.met).count(), r.targets.len()));
            v.push(thousands(r.total_net_cost_yuan as f64, 0));
            v
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    println!("Gross emissions (tCO2e, Scope 1 + 2):");
    print!("{}", table(&h, &rows));
    Ok(ExitCode::SUCCESS)
}

fn parse_inputs(inputs: &[String]) -> Result<Vec<(i32, PathBuf)>> {
    let mut parts: Vec<(i32, PathBuf)> = inputs
        .iter()
        .map(|s| {
            let (y, d) = s.split_once('=').with_context(|| format!("--input {s:?}: expected YEAR=DIR"))?;
            Ok((y.parse::<i32>().with_context(|| format!("--input {s:?}: {y:?} is not a year"))?, PathBuf::from(d)))
        })
        .collect::<Result<_>>()?;
    parts.sort();
    Ok(parts)
}
