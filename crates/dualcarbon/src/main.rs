//! `dualcarbon`: the command line of the DualCarbon platform. A thin shell over the crates: it
//! parses arguments, reads files through `ingest`, computes with `accounting`, and prints.

mod demo_meters;
mod format;
mod inclusive_cmd;
mod monitoring_cmd;
mod platform_cmd;
mod report_cmd;
mod scenario_cmd;
mod site_cmd;
mod supply_cmd;

use accounting::{compute, Boundary, ExplainScope, GroupBy, InventoryOptions, InventoryReport, ResidualBasis};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use factors::{Library, Parameter, Pin};
use format::{table, thousands};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "dualcarbon",
    version,
    about = "DualCarbon (双碳): carbon accounting and management for telecom and ICT operators"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Demo data: a realistic synthetic operator.
    /// The demo: without a subcommand, the platform pre-loaded with the demo operator.
    #[command(args_conflicts_with_subcommands = true)]
    Demo {
        #[command(subcommand)]
        command: Option<DemoCommand>,
        #[command(flatten)]
        run: platform_cmd::DemoRunArgs,
    },
    /// Compute the GHG inventory of a data directory for one year.
    Inventory(InventoryArgs),
    /// Show how one figure was computed: records × factors, with sources.
    Explain(ExplainArgs),
    /// Check a data directory and report every problem, without computing.
    Validate(DataArgs),
    /// The emission-factor library.
    Factors {
        #[command(subcommand)]
        command: FactorsCommand,
    },
    /// Monitoring and indicators: meter roll-ups, meter-derived activity, indicators, targets, scoreboard.
    Monitor {
        #[command(subcommand)]
        command: monitoring_cmd::MonitorCommand,
    },
    /// Scenarios (场): trends, peak forecast to 2060, measures, Monte Carlo, LMDI, MACC, least-cost plan.
    Scenario {
        #[command(subcommand)]
        command: scenario_cmd::ScenarioCommand,
    },
    /// Off-grid site energy systems (PV + fuel cell + battery) and base-station energy saving.
    Site {
        #[command(subcommand)]
        command: site_cmd::SiteCommand,
    },
    /// 碳普惠 (carbon inclusive): check methodology files, list the shipped ones.
    Inclusive {
        #[command(subcommand)]
        command: inclusive_cmd::InclusiveCommand,
    },
    /// Disclosure reports (GHG inventory, capital-market, government) as PDF, XLSX or CSV, from an
    /// approved snapshot or a data directory (docs/reports.md).
    Report(report_cmd::ReportArgs),
    /// Supply-chain carbon: Scope 3 of a data directory, a benchmark data directory, PACT checks (docs/supply.md).
    Supply {
        #[command(subcommand)]
        command: supply_cmd::SupplyCommand,
    },
    /// Benchmarks (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    #[command(flatten)]
    Platform(platform_cmd::PlatformCommand),
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Write orgs.csv, facilities.csv and activity.csv of a synthetic operator (with --years over
    /// several years: one activity-YYYY.csv per year, the same orgs and facilities).
    Generate {
        #[arg(long, default_value_t = 50_000)]
        sites: usize,
        /// One year (the same as --years YEAR-YEAR).
        #[arg(long, default_value_t = 2024, conflicts_with = "years")]
        year: i32,
        /// Several years, FIRST-LAST (e.g. 2022-2024): the last is generated as one year would be,
        /// the earlier ones follow the documented trends back from it (docs/formats.md).
        #[arg(long, value_parser = demo_years)]
        years: Option<(i32, i32)>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 20_211_229)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum FactorsCommand {
    /// List factors (filter by carrier, parameter, region, series).
    List {
        #[arg(long)]
        carrier: Option<String>,
        #[arg(long)]
        parameter: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        series: Option<String>,
        /// Add the user factor sets in this folder.
        #[arg(long)]
        factors: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one factor with its source, or one set with `--set`.
    Show {
        id: String,
        #[arg(long)]
        factors: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time one filing of N rows uploaded through the platform's HTTP API (see BENCHMARKS.md).
    Import(platform_cmd::ImportBenchArgs),
    /// Time loading and computing an inventory (phases reported separately).
    Inventory {
        #[command(flatten)]
        calc: CalcArgs,
        /// Repeat the computation this many times and report the best.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Write the resolved coefficients (per carrier, province, combustion kind and unit), the
    /// province-name table and each org's boundary share as CSV, so a peer engine can compute the
    /// same totals from the same files.
    ExportCoefficients {
        #[command(flatten)]
        calc: CalcArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// Sustained ingestion of meter readings into the crash-safe reading log, against VictoriaMetrics.
    Telemetry(monitoring_cmd::BenchTelemetryArgs),
    /// Time a one-year simulation of many off-grid sites.
    Site(site_cmd::BenchSiteArgs),
    /// Prepare a platform database for the market API benchmark (bench/market-api.sh): a group
    /// with two subsidiaries whose admins trade, each holding allowances and budget.
    MarketSetup(platform_cmd::MarketSetupArgs),
    /// 碳普惠 events: prepare the database and time the peer (plain inserts); bench/inclusive.sh runs the API part.
    Inclusive(inclusive_cmd::BenchArgs),
    /// Supply chain: prepare a database with footprints and a PACT partner's token (bench/supply.sh pages the PACT list).
    SupplyPact(supply_cmd::PactSetupArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum By {
    Province,
    City,
    FacilityType,
    Month,
    Org,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Data directory with orgs.csv, facilities.csv, activity.csv and optionally factors/.
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    year: i32,
    /// Write every input error as CSV (file,line,column,value,reason) to this file.
    #[arg(long)]
    errors_out: Option<PathBuf>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Clone)]
struct CalcArgs {
    #[command(flatten)]
    data: DataArgs,
    /// GWP set.
    #[arg(long, default_value = "AR6", value_parser = ["AR4", "AR5", "AR6"])]
    gwp: String,
    /// Location-based grid factor series.
    #[arg(long, default_value = "nbs-average", value_parser = ["nbs-average", "mee-reporting"])]
    grid_series: String,
    /// Market-based factor for electricity without a certificate.
    #[arg(long, default_value = "nbs-residual", value_parser = ["nbs-residual", "location"])]
    residual: String,
    /// Fuel defaults: China's accounting guidelines or IPCC 2006.
    #[arg(long, default_value = "cn", value_parser = ["cn", "ipcc"])]
    fuel_defaults: String,
    /// Electricity in standard coal: calorific value (0.1229 kgce/kWh) or power-generation coal equivalent.
    #[arg(long, default_value = "calorific", value_parser = ["calorific", "coal-equivalent"])]
    electricity_tce: String,
    /// Organisational boundary.
    #[arg(long, default_value = "operational-control", value_parser = ["operational-control", "equity-share"])]
    boundary: String,
    /// Extra folder of user factor sets (in addition to DATA/factors/).
    #[arg(long)]
    factors: Option<PathBuf>,
    /// Pin a factor: CARRIER[:PARAMETER]=FACTOR_ID (parameter defaults to emission_factor). Repeatable.
    #[arg(long)]
    pin: Vec<String>,
}

#[derive(Args)]
struct InventoryArgs {
    #[command(flatten)]
    calc: CalcArgs,
    /// Group rows by province, city, facility type, month, or every org node.
    #[arg(long, value_enum)]
    by: Option<By>,
    /// Report for this org's subtree (default: the whole group).
    #[arg(long)]
    org: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Args)]
struct ExplainArgs {
    #[command(flatten)]
    calc: CalcArgs,
    #[arg(long)]
    org: String,
    /// 1, 2, 3 or energy.
    #[arg(long)]
    scope: String,
    /// Records listed (all are summed).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if writes_a_report(&cli.command) {
        restore_default_sigpipe();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Every command but a long-running service prints and ends: piped into `head` or `less` and cut
/// short, it ends quietly as other command-line tools do (killed by SIGPIPE, no message), never
/// panics on the broken pipe. A new command gets this by default. Services keep Rust's default
/// (SIGPIPE ignored, a write to a closed socket is an error), so a client hanging up never kills
/// them: the platform (`serve`, `demo` without a subcommand) and the site gateway.
fn writes_a_report(c: &Command) -> bool {
    !matches!(
        c,
        Command::Demo { command: None, .. }
            | Command::Platform(platform_cmd::PlatformCommand::Serve(_))
            | Command::Site { command: site_cmd::SiteCommand::Gateway(_) }
    )
}

#[cfg(unix)]
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any thread is started; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_default_sigpipe() {}

/// `--years FIRST-LAST` (or one year).
pub(crate) fn demo_years(s: &str) -> std::result::Result<(i32, i32), String> {
    demo::parse_years(s)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo { command: None, run } => platform_cmd::demo(run),
        Command::Platform(cmd) => platform_cmd::run(cmd),
        Command::Bench { command: BenchCommand::Import(args) } => platform_cmd::bench_import(args),
        Command::Demo { command: Some(DemoCommand::Generate { sites, year, years, out, seed }), .. } => {
            let t = Instant::now();
            let (first_year, year) = years.unwrap_or((year, year));
            let s = demo::generate(&demo::DemoOptions { sites, first_year, year, seed }, &out)?;
            let span = if first_year == year { year.to_string() } else { format!("{first_year}-{year}") };
            println!(
                "wrote {} orgs, {} facilities, {} activity rows for {span} to {} in {:.1} s",
                s.orgs,
                s.facilities,
                s.activity_rows,
                out.display(),
                t.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate(data) => {
            let lib = load_library(&data, None)?;
            match load(&data) {
                Ok((ds, stats)) => {
                    println!(
                        "{}: {} orgs, {} facilities, {} activity rows: all valid; factor library {} ({} factors)",
                        data.data.display(),
                        stats.orgs,
                        stats.facilities,
                        ds.activity.len(),
                        lib.version(),
                        lib.factors.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(code) => Ok(code),
            }
        }
        Command::Inventory(args) => inventory(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Explain(args) => explain(args),
        Command::Factors { command } => factors_cmd(command),
        Command::Scenario { command } => scenario_cmd::run(command),
        Command::Bench { command: BenchCommand::Inventory { calc, repeat } } => bench_inventory(calc, repeat),
        Command::Bench { command: BenchCommand::ExportCoefficients { calc, out } } => export_coefficients(calc, out),
        Command::Monitor { command } => monitoring_cmd::run(command).map(|()| ExitCode::SUCCESS),
        Command::Bench { command: BenchCommand::Telemetry(args) } => {
            monitoring_cmd::bench_telemetry(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Site { command } => site_cmd::run(command),
        Command::Inclusive { command } => inclusive_cmd::run(command),
        Command::Supply { command } => supply_cmd::run(command),
        Command::Bench { command: BenchCommand::Inclusive(args) } => inclusive_cmd::bench(args),
        Command::Bench { command: BenchCommand::SupplyPact(args) } => supply_cmd::pact_setup(args),
        Command::Bench { command: BenchCommand::Site(args) } => site_cmd::bench(args),
        Command::Bench { command: BenchCommand::MarketSetup(args) } => platform_cmd::market_setup(args),
    }
}

fn threads(d: &DataArgs) -> usize {
    d.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Loads and validates the data directory; on failure prints every error and returns exit code 1.
/// The dataset lives until the process exits: freeing tens of millions of records one by one at
/// the end of a command cost more than the OS reclaiming the memory at once.
fn load(d: &DataArgs) -> std::result::Result<(&'static model::Dataset, ingest::LoadStats), ExitCode> {
    match ingest::load_dir(&d.data, d.year, threads(d)) {
        Ok((ds, stats)) => Ok((Box::leak(Box::new(ds)), stats)),
        Err(report) => {
            eprintln!("{report}");
            if let Some(path) = &d.errors_out {
                match std::fs::File::create(path).map(|f| report.write_csv(f)) {
                    Ok(Ok(())) => eprintln!("all kept errors written to {}", path.display()),
                    Ok(Err(e)) | Err(e) => eprintln!("could not write {}: {e}", path.display()),
                }
            }
            Err(ExitCode::from(1))
        }
    }
}

fn load_library(d: &DataArgs, extra: Option<&PathBuf>) -> Result<Library> {
    ingest::load_library(Some(&d.data), extra.map(|p| p.as_path()))
        .map_err(|r| anyhow::anyhow!("factor sets are invalid:\n{r}"))
}

fn options(c: &CalcArgs) -> Result<InventoryOptions> {
    let mut o = InventoryOptions::new(c.data.year);
    o.threads = threads(&c.data);
    o.gwp = c.gwp.clone();
    o.grid_series = c.grid_series.replace('-', "_");
    o.residual = if c.residual == "location" { ResidualBasis::Location } else { ResidualBasis::NbsResidual };
    o.fuel_defaults = if c.fuel_defaults == "ipcc" { "ipcc2006".into() } else { "cn_guideline".into() };
    o.electricity_tce = c.electricity_tce.replace('-', "_");
    o.boundary = if c.boundary == "equity-share" { Boundary::EquityShare } else { Boundary::OperationalControl };
    for p in &c.pin {
        let (lhs, id) =
            p.split_once('=').with_context(|| format!("--pin {p:?}: expected CARRIER[:PARAMETER]=FACTOR_ID"))?;
        let (carrier, parameter) = match lhs.rsplit_once(':') {
            Some((c, param)) if parse_parameter(param).is_some() => {
                (c.to_string(), parse_parameter(param).expect("checked"))
            }
            _ => (lhs.to_string(), Parameter::EmissionFactor),
        };
        o.pins.push(Pin { carrier, parameter, factor_id: id.to_string() });
    }
    Ok(o)
}

fn parse_parameter(s: &str) -> Option<Parameter> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

fn compute_or_report(
    ds: &model::Dataset,
    lib: &Library,
    o: &InventoryOptions,
) -> Result<accounting::Inventory, ExitCode> {
    for p in &o.pins {
        if lib.get(&p.factor_id).is_none() {
            eprintln!(
                "error: --pin names factor {:?}, which is not in the library (see `dualcarbon factors list`)",
                p.factor_id
            );
            return Err(ExitCode::from(2));
        }
    }
    compute(ds, lib, o).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("{} problem(s): no inventory was produced", errors.len());
        ExitCode::from(1)
    })
}

fn inventory(args: InventoryArgs) -> Result<ExitCode> {
    let lib = load_library(&args.calc.data, args.calc.factors.as_ref())?;
    let o = options(&args.calc)?;
    let (ds, _) = match load(&args.calc.data) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let inv = match compute_or_report(ds, &lib, &o) {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    let org = match &args.org {
        Some(code) => {
            Some(ds.orgs.get(code).with_context(|| format!("--org {code:?} is not an org code in orgs.csv"))?)
        }
        None => None,
    };
    let by = args.by.map(|b| match b {
        By::Province => GroupBy::Province,
        By::City => GroupBy::City,
        By::FacilityType => GroupBy::FacilityType,
        By::Month => GroupBy::Month,
        By::Org => GroupBy::Org,
    });
    let report = inv.report(ds, &lib, org, by);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Csv => print!("{}", report_csv(&report)),
        Format::Table => print!("{}", report_table(&report)),
    }
    Ok(ExitCode::SUCCESS)
}

const ROW_COLUMNS: &[&str] = &[
    "key",
    "name",
    "scope1_tco2e",
    "scope2_location_tco2e",
    "scope2_market_tco2e",
    "scope3_tco2e",
    "total_location_tco2e",
    "energy_tce",
    "electricity_mwh",
    "green_power_share",
    "allocated_away_tco2e",
];

fn row_values(key: &str, name: &str, f: &accounting::Figures) -> Vec<f64> {
    let _ = (key, name);
    vec![
        f.totals.scope1,
        f.totals.scope2_location,
        f.totals.scope2_market,
        f.totals.scope3,
        f.totals.total_location,
        f.totals.energy_tce,
        f.memo.electricity_mwh,
        f.memo.green_power_share,
        f.memo.allocated_away_tco2e,
    ]
}

fn figures_of(r: &InventoryReport) -> accounting::Figures {
    accounting::Figures {
        totals: r.totals.clone(),
        scope1: r.scope1.clone(),
        scope3: r.scope3.clone(),
        by_gas: r.by_gas.clone(),
        memo: r.memo.clone(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn report_csv(r: &InventoryReport) -> String {
    let mut out = ROW_COLUMNS.join(",") + "\n";
    let mut push = |key: &str, name: &str, f: &accounting::Figures| {
        let vals: Vec<String> = row_values(key, name, f).iter().map(|v| format!("{v}")).collect();
        out.push_str(&format!("{},{},{}\n", csv_field(key), csv_field(name), vals.join(",")));
    };
    for row in &r.rows {
        push(&row.key, &row.name, &row.figures);
    }
    push("TOTAL", &r.org_name, &figures_of(r));
    out
}

fn report_table(r: &InventoryReport) -> String {
    let t = &r.totals;
    let mut out = format!(
        "GHG inventory {} — {} ({})\nboundary {:?}, GWP {}, grid series {}, fuel defaults {}; factor library {} [{}]; {} activity records\n\n",
        r.year, r.org_name, r.org, r.options.boundary, r.options.gwp, r.options.grid_series, r.options.fuel_defaults, r.library_version, r.library_fingerprint, r.records
    );
    let rows = vec![
        vec!["Scope 1".to_string(), thousands(t.scope1, 2), "tCO2e".into()],
        vec!["  stationary combustion".to_string(), thousands(r.scope1.stationary_combustion, 2), "tCO2e".into()],
        vec!["  mobile combustion".to_string(), thousands(r.scope1.mobile_combustion, 2), "tCO2e".into()],
        vec!["  fugitive (refrigerants)".to_string(), thousands(r.scope1.fugitive_refrigerants, 2), "tCO2e".into()],
        vec!["Scope 2 location-based".to_string(), thousands(t.scope2_location, 2), "tCO2e".into()],
        vec!["Scope 2 market-based".to_string(), thousands(t.scope2_market, 2), "tCO2e".into()],
        vec!["Scope 3".to_string(), thousands(t.scope3, 2), "tCO2e".into()],
        vec!["  cat. 1 purchased goods".to_string(), thousands(r.scope3.cat1_purchased_goods, 2), "tCO2e".into()],
        vec!["  cat. 4 upstream transport".to_string(), thousands(r.scope3.cat4_upstream_transport, 2), "tCO2e".into()],
        vec!["  cat. 6 business travel".to_string(), thousands(r.scope3.cat6_business_travel, 2), "tCO2e".into()],
        vec!["  cat. 7 commuting".to_string(), thousands(r.scope3.cat7_commuting, 2), "tCO2e".into()],
        vec!["Total (location-based)".to_string(), thousands(t.total_location, 2), "tCO2e".into()],
        vec!["Total (market-based)".to_string(), thousands(t.total_market, 2), "tCO2e".into()],
        vec!["Energy (综合能耗)".to_string(), thousands(t.energy_tce, 2), "tce".into()],
        vec!["Electricity".to_string(), thousands(r.memo.electricity_mwh, 1), "MWh".into()],
        vec![
            "  green certified / PV self".to_string(),
            format!("{} / {}", thousands(r.memo.green_certified_mwh, 1), thousands(r.memo.pv_self_mwh, 1)),
            "MWh".into(),
        ],
        vec!["  green-power share".to_string(), format!("{:.2} %", r.memo.green_power_share * 100.0), String::new()],
        vec!["Memo: HCFC (Montreal gases)".to_string(), thousands(r.memo.montreal_gases_tco2e, 2), "tCO2e".into()],
        vec![
            "Memo: allocated away (shared sites)".to_string(),
            thousands(r.memo.allocated_away_tco2e, 2),
            "tCO2e".into(),
        ],
        vec!["Memo: outside boundary".to_string(), thousands(r.memo.excluded_by_boundary_tco2e, 2), "tCO2e".into()],
    ];
    out.push_str(&table(&["figure", "value", "unit"], &rows));
    out.push_str("\nBy gas (Scope 1 + Scope 2 location-based)\n");
    let gas_rows: Vec<Vec<String>> =
        r.by_gas.iter().map(|(g, f)| vec![g.to_string(), thousands(f.tonnes, 3), thousands(f.tco2e, 2)]).collect();
    out.push_str(&table(&["gas", "tonnes", "tCO2e"], &gas_rows));
    if !r.rows.is_empty() {
        out.push_str(&format!("\nBy {}\n", r.by.as_deref().unwrap_or("")));
        let rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|row| {
                let f = &row.figures;
                vec![
                    row.key.clone(),
                    row.name.clone(),
                    thousands(f.totals.scope1, 1),
                    thousands(f.totals.scope2_location, 1),
                    thousands(f.totals.scope2_market, 1),
                    thousands(f.totals.scope3, 1),
                    thousands(f.totals.energy_tce, 1),
                ]
            })
            .collect();
        out.push_str(&table(
            &["key", "name", "S1 tCO2e", "S2 loc tCO2e", "S2 mkt tCO2e", "S3 tCO2e", "energy tce"],
            &rows,
        ));
    }
    if !r.factor_vintages.is_empty() {
        out.push_str(&format!(
            "\nFactors of another year than {} (rule: the newest published per series, docs/factor-selection.md)\n",
            r.year
        ));
        for v in &r.factor_vintages {
            out.push_str(&format!("- {} (year {}) → {}\n", v.factor_id, v.factor_year, v.figures.join(", ")));
        }
    }
    if !r.warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for w in &r.warnings {
            out.push_str(&format!("- {w}\n"));
        }
    }
    out.push_str(&format!(
        "\n{} factors used; `--format json` lists them with sources, `dualcarbon explain` shows the arithmetic.\n",
        r.factors_used.len()
    ));
    out
}

fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let scope = ExplainScope::parse(&args.scope)
        .with_context(|| format!("--scope {:?}: expected 1, 2, 3 or energy", args.scope))?;
    let lib = load_library(&args.calc.data, args.calc.factors.as_ref())?;
    let o = options(&args.calc)?;
    let (ds, _) = match load(&args.calc.data) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let org = ds.orgs.get(&args.org).with_context(|| format!("--org {:?} is not an org code in orgs.csv", args.org))?;
    let inv = match compute_or_report(ds, &lib, &o) {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    let ex = inv.explain(ds, &lib, org, scope, args.limit);
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&ex)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!("{} — {} ({}), {:?}, {}\n", ex.year, ex.org_name, ex.org, ex.scope, ex.library_version);
    for (c, t) in ex.columns.iter().zip(&ex.totals) {
        out.push_str(&format!("{c}: {} {}\n", thousands(*t, 3), ex.totals_unit));
    }
    out.push_str(&format!("= the sum of {} activity records below, each quantity × booked share × factors\n\nHow each kind of record is computed\n", ex.record_count));
    for (i, p) in ex.plans.iter().enumerate() {
        out.push_str(&format!(
            "[{}] {} in {} ({} combustion), per {} of activity → {:?} {}\n",
            i + 1,
            p.carrier,
            p.province,
            p.combustion,
            p.base_unit,
            p.per_base_unit,
            ex.values_unit
        ));
        for s in &p.steps {
            out.push_str(&format!("    {}: {} {}", s.label, s.value, s.unit));
            if let Some(id) = &s.factor_id {
                out.push_str(&format!("  [{id}, {}]", s.set.as_deref().unwrap_or("")));
            }
            if let (Some(y), Some(_)) = (s.factor_year, s.vintage) {
                out.push_str(&format!("  (factor year {y}, inventory year {})", ex.year));
            }
            out.push('\n');
            out.push_str(&format!("        why: {}\n", s.reason));
            if let Some(src) = &s.source {
                out.push_str(&format!("        source: {src}\n"));
            }
        }
    }
    if let Some(g) = &ex.scope2_gap {
        out.push_str(&format!(
            "\nMarket-based minus location-based: {} {}\n",
            thousands(g.market_minus_location, 3),
            ex.totals_unit
        ));
        for p in &g.parts {
            let years = match (p.location_year, p.market_year) {
                (Some(l), Some(m)) if l != m => format!(" (location factor {l}, market factor {m})"),
                (Some(l), _) => format!(" ({l})"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "    {}: {} {} on {} MWh{years}\n",
                p.code,
                thousands(p.value, 3),
                ex.totals_unit,
                thousands(p.mwh, 3)
            ));
        }
    }
    out.push_str("\nRecords\n");
    let rows: Vec<Vec<String>> = ex
        .lines
        .iter()
        .map(|l| {
            let mut v = vec![
                format!("{}:{}", l.record.file.rsplit('/').next().unwrap_or(&l.record.file), l.record.line),
                l.facility.clone(),
                l.month.clone(),
                l.carrier.clone(),
                format!("{} {}", thousands(l.quantity, 3), l.unit),
                format!("{}", l.booked_share),
                format!("[{}]", l.plan + 1),
            ];
            v.extend(l.values.iter().map(|x| thousands(*x, 3)));
            v
        })
        .collect();
    let mut header = vec!["record", "facility", "period", "carrier", "quantity", "share", "how"];
    let value_headers: Vec<String> = ex.columns.iter().map(|c| format!("{c} {}", ex.values_unit)).collect();
    header.extend(value_headers.iter().map(|s| s.as_str()));
    out.push_str(&table(&header, &rows));
    if ex.lines_truncated {
        out.push_str(&format!(
            "... {} more records (use --limit or --format json)\n",
            ex.record_count - ex.lines.len()
        ));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn factors_cmd(cmd: FactorsCommand) -> Result<ExitCode> {
    match cmd {
        FactorsCommand::List { carrier, parameter, region, series, factors, format } => {
            let lib = lib_with(factors.as_ref())?;
            let list: Vec<&factors::Factor> = lib
                .factors
                .iter()
                .filter(|f| carrier.as_ref().is_none_or(|c| &f.row.carrier == c))
                .filter(|f| parameter.as_ref().is_none_or(|p| f.row.parameter.code() == p))
                .filter(|f| region.as_ref().is_none_or(|r| &f.row.region == r))
                .filter(|f| series.as_ref().is_none_or(|s| &f.row.series == s))
                .collect();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&list)?),
                Format::Csv => {
                    println!("id,parameter,carrier,series,region,year,gas,value,unit,status,set,source");
                    for f in &list {
                        let r = &f.row;
                        println!(
                            "{},{},{},{},{},{},{},{},{},{},{},{}",
                            csv_field(&r.id),
                            r.parameter.code(),
                            csv_field(&r.carrier),
                            r.series,
                            r.region,
                            r.year.map(|y| y.to_string()).unwrap_or_default(),
                            r.gas,
                            r.value,
                            csv_field(&r.unit),
                            r.status,
                            lib.set_of(f).header.id,
                            csv_field(&r.source)
                        );
                    }
                }
                Format::Table => {
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|f| {
                            let r = &f.row;
                            vec![
                                r.id.clone(),
                                r.region.clone(),
                                r.year.map(|y| y.to_string()).unwrap_or_else(|| "-".into()),
                                format!("{}", r.value),
                                r.unit.clone(),
                                r.status.clone(),
                                format!("{}@{}", lib.set_of(f).header.id, lib.set_of(f).header.version),
                            ]
                        })
                        .collect();
                    print!("{}", table(&["id", "region", "year", "value", "unit", "status", "set"], &rows));
                    println!("{} factor(s); library {} [{}]", list.len(), lib.version(), lib.fingerprint());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FactorsCommand::Show { id, factors, format } => {
            let lib = lib_with(factors.as_ref())?;
            let f =
                lib.get(&id).with_context(|| format!("no factor with id {id:?} (see `dualcarbon factors list`)"))?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(f)?);
                return Ok(ExitCode::SUCCESS);
            }
            let r = &f.row;
            let set = lib.set_of(f);
            println!("id:         {}", r.id);
            println!("parameter:  {}", r.parameter.code());
            println!("carrier:    {}", r.carrier);
            println!("series:     {}", r.series);
            println!("context:    {}", r.context);
            println!("region:     {}", r.region);
            println!("year:       {}", r.year.map(|y| y.to_string()).unwrap_or_else(|| "(any)".into()));
            println!("gas:        {}", r.gas);
            println!("value:      {} {}", r.value, r.unit);
            println!("source:     {}", r.source);
            println!("url:        {}", r.url);
            println!("edition:    {}", r.edition);
            println!("licence:    {}", r.licence);
            println!("status:     {}", r.status);
            println!("note:       {}", r.note);
            println!(
                "set:        {}@{} ({}){}",
                set.header.id,
                set.header.version,
                set.origin,
                if set.user { ", user set" } else { "" }
            );
            if let Some(old) = &f.replaces {
                println!("replaces:   shipped factor {old}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn lib_with(extra: Option<&PathBuf>) -> Result<Library> {
    ingest::load_library(None, extra.map(|p| p.as_path())).map_err(|r| anyhow::anyhow!("factor sets are invalid:\n{r}"))
}

fn bench_inventory(calc: CalcArgs, repeat: usize) -> Result<ExitCode> {
    let t0 = Instant::now();
    let lib = load_library(&calc.data, calc.factors.as_ref())?;
    let o = options(&calc)?;
    let (ds, _) = match load(&calc.data) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let load_s = t0.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    let mut inv = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let i = match compute_or_report(ds, &lib, &o) {
            Ok(i) => i,
            Err(code) => return Ok(code),
        };
        best = best.min(t.elapsed().as_secs_f64());
        inv = Some(i);
    }
    let inv = inv.expect("ran at least once");
    let report = inv.report(ds, &lib, None, None);
    let out = serde_json::json!({
        "records": ds.activity.len(),
        "facilities": ds.facilities.len(),
        "load_seconds": load_s,
        "compute_seconds_best": best,
        "end_to_end_seconds": load_s + best,
        "threads": o.threads,
        "peak_rss_mb": peak_rss_mb(),
        "totals": report.totals,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !report.totals.scope1.is_finite() {
        bail!("non-finite result");
    }
    Ok(ExitCode::SUCCESS)
}

/// Peak resident memory of this process (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn export_coefficients(calc: CalcArgs, out: PathBuf) -> Result<ExitCode> {
    use accounting::metrics::*;
    let lib = load_library(&calc.data, calc.factors.as_ref())?;
    let o = options(&calc)?;
    let (ds, _) = match load(&calc.data) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let inv = match compute_or_report(ds, &lib, &o) {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut coef =
        String::from("carrier,province,mobile,unit,scope1_t,scope2_location_t,scope2_market_t,scope3_t,energy_tce\n");
    for p in &inv.plans {
        for u in model::UNITS.iter().filter(|u| u.dimension == p.key.dimension) {
            // Per original unit, in tonnes.
            let k = |ms: &[usize]| ms.iter().map(|&m| p.coef_of(m)).sum::<f64>() * u.in_base / 1000.0;
            coef.push_str(&format!(
                "{},{},{},{},{:e},{:e},{:e},{:e},{:e}\n",
                csv_field(&p.carrier_code),
                model::PROVINCES[p.key.province as usize].code,
                u8::from(p.key.mobile),
                csv_field(u.code),
                k(&[S1_STATIONARY, S1_MOBILE, S1_FUGITIVE]),
                k(&[S2_LOCATION]),
                k(&[S2_MARKET]),
                k(&[S3_CAT1, S3_CAT4, S3_CAT6, S3_CAT7]),
                k(&[ENERGY_KGCE]),
            ));
        }
    }
    std::fs::write(out.join("coefficients.csv"), coef)?;
    let mut names = String::from("name,code\n");
    let mut seen = std::collections::BTreeSet::new();
    // Every spelling used in facilities.csv is resolved by the same parser the platform uses.
    let text = std::fs::read_to_string(calc.data.data.join("facilities.csv"))?;
    let mut rdr = csv_reader(&text);
    let header = rdr.next().unwrap_or_default();
    let pi = header
        .iter()
        .position(|h| h.trim_start_matches('\u{feff}') == "province")
        .context("facilities.csv has no province column")?;
    for row in rdr {
        if let Some(name) = row.get(pi) {
            if seen.insert(name.clone()) {
                if let Some(p) = model::parse_province(name) {
                    names.push_str(&format!("{},{}\n", csv_field(name), model::PROVINCES[p as usize].code));
                }
            }
        }
    }
    std::fs::write(out.join("provinces.csv"), names)?;
    // The organisational boundary, per org node, as the engine applies it to a facility's share.
    let mut boundary = String::from("org_code,boundary_share\n");
    for (id, org) in ds.orgs.orgs.iter().enumerate() {
        let id = id as model::OrgId;
        let share = match o.boundary {
            Boundary::OperationalControl => f64::from(u8::from(ds.orgs.under_operational_control(id))),
            Boundary::EquityShare => ds.orgs.equity_factor(id),
        };
        boundary.push_str(&format!("{},{share:e}\n", csv_field(&org.code)));
    }
    std::fs::write(out.join("org_boundary.csv"), boundary)?;
    println!(
        "wrote {}, {} and {}",
        out.join("coefficients.csv").display(),
        out.join("provinces.csv").display(),
        out.join("org_boundary.csv").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Minimal CSV rows for the export (the data files were validated by `ingest` before).
fn csv_reader(text: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| {
        let mut out = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = l.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => out.push(std::mem::take(&mut field)),
                _ => field.push(c),
            }
        }
        out.push(field);
        out
    })
}
