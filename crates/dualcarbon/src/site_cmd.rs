//! `dualcarbon site ...` and `dualcarbon bench site`: off-grid site energy systems (光氢储) and
//! base-station energy saving, over the `site` crate. See docs/site-energy.md.

use crate::format::{table, thousands};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use site::bs::{schedule, CellMode, EarthType, PowerModel, SchedulerPolicy, Tr38864Category, Tr38864Set};
use site::sim::{self, SiteConfig};
use site::weather::{read_weather, Weather};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod gateway;

#[derive(Subcommand)]
pub enum SiteCommand {
    /// Simulate an off-grid PV + fuel cell + battery site over a weather year.
    Simulate(SimulateArgs),
    /// Find the cheapest PV/battery/fuel-cell sizes (from the site file's [sizing]) with zero unserved load.
    Size(SizeArgs),
    /// Forecast traffic per cell, schedule sleep modes under a quality constraint, report savings.
    BsSaving(BsSavingArgs),
    /// Print the meters.csv rows that register off-grid sites' meters (for the platform's state reports).
    Meters(MetersArgs),
    /// Run a site's controller step by step, report each step to the platform, take its set points.
    Gateway(gateway::GatewayArgs),
    /// Check the base-station power models against the ITU 2023 energy dataset.
    ItuCheck {
        /// Folder with CLdata.csv and ECdata.csv.
        #[arg(long, default_value = "../shared/data/itu-5g-energy-2023")]
        data: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    Table,
    Json,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Site file (TOML).
    site: PathBuf,
    /// Weather: a TMY3 file, an EPW file, a CSV time,ghi,dni,dhi,temp_air,wind_speed, or shipped:ID for a
    /// shipped typical year (shipped:cswd-qinzhou-596320, Qinzhou, 58.6 km from the example site).
    #[arg(long)]
    weather: PathBuf,
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
    /// Write every step (flows, state, SoC, fuel) as CSV to this file.
    #[arg(long)]
    hourly: Option<PathBuf>,
    /// Write every step as telemetry in the monitoring batch format (meter,timestamp,value; kW).
    #[arg(long)]
    telemetry: Option<PathBuf>,
    /// Site code used for the telemetry meters (default: the site file's name without extension).
    #[arg(long)]
    site_code: Option<String>,
    /// Add the user factor sets in this folder.
    #[arg(long)]
    factors: Option<PathBuf>,
}

#[derive(Args)]
pub struct MetersArgs {
    /// Facility codes of the sites.
    #[arg(required = true)]
    facilities: Vec<String>,
    /// How often the site reports, minutes (a meter is flagged silent after twice this).
    #[arg(long, default_value_t = 15)]
    report_minutes: u32,
    /// Print meters.csv's header line first.
    #[arg(long)]
    header: bool,
}

/// The header of the platform's meter registry (`meters.csv`, docs/monitoring.md).
const METERS_HEADER: &str = "meter_code,facility_code,role,kind,counter_max_kwh,max_power_kw,max_gap_minutes";

#[derive(Args)]
pub struct SizeArgs {
    site: PathBuf,
    #[arg(long)]
    weather: PathBuf,
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Baseline {
    /// A legacy cell whose power amplifier stays biased in idle symbols.
    Active,
    /// A cell that already sleeps in idle symbols (TR 38.864's baseline).
    SymbolSleep,
}

#[derive(Args)]
pub struct BsSavingArgs {
    /// Hourly per-cell load CSV: Time,BS,CellName,load[,ESMode1..6] (the ITU CLdata layout).
    #[arg(long)]
    cells: PathBuf,
    #[arg(long, value_enum, default_value_t = Baseline::Active)]
    baseline: Baseline,
    /// Capacity headroom the coverage cell keeps when it takes a shut carrier's traffic.
    #[arg(long, default_value_t = 0.2)]
    headroom: f64,
    /// Longest wake-up allowed, seconds (deep sleep only if its transition fits).
    #[arg(long, default_value_t = 0.1)]
    latency_budget_s: f64,
    #[arg(long, value_parser = ["cat1", "cat2"], default_value = "cat1")]
    category: String,
    #[arg(long, value_parser = ["set1", "set2", "set3"], default_value = "set1")]
    set: String,
    /// Watts per TR 38.864 relative power unit.
    #[arg(long, default_value_t = 1.6)]
    power_unit_w: f64,
    /// Power model for the energy: TR 38.864 relative powers, or EARTH watts.
    #[arg(long, value_parser = ["tr38864", "earth"], default_value = "tr38864")]
    model: String,
    /// EARTH base-station type (with --model earth).
    #[arg(long, value_parser = ["macro", "rrh", "micro", "pico", "femto"], default_value = "macro")]
    earth_type: String,
    /// Transceiver chains per cell (with --model earth; an EARTH macro site is 3 cells × 2).
    #[arg(long, default_value_t = 2)]
    trx_per_cell: u32,
    /// Grid emission factor id for tCO2.
    #[arg(long, default_value = "elec.nbs_average.CN.2022")]
    grid_factor: String,
    #[arg(long)]
    factors: Option<PathBuf>,
    /// Write the saving of every station as CSV to this file.
    #[arg(long)]
    by_station: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
}

#[derive(Args)]
pub struct BenchSiteArgs {
    /// Base site file; each simulated site is a deterministic variation of it.
    #[arg(long)]
    site: PathBuf,
    #[arg(long)]
    weather: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    sites: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn library(dir: Option<&Path>) -> Result<factors::Library> {
    match dir {
        None => Ok(factors::Library::shipped()),
        Some(d) => factors::Library::with_user_dir(d).map_err(|errs| {
            for e in &errs {
                eprintln!("{e}");
            }
            anyhow::anyhow!("{} problems in factor files under {}", errs.len(), d.display())
        }),
    }
}

/// Reads the site file and its weather, printing every problem.
fn load_site(site: &Path, weather: &Path) -> Result<std::result::Result<(SiteConfig, Weather), ExitCode>> {
    let text = std::fs::read_to_string(site).with_context(|| format!("reading {}", site.display()))?;
    let config = match SiteConfig::from_toml(&text) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", site.display());
            }
            eprintln!("{} problems in {}", errors.len(), site.display());
            return Ok(Err(ExitCode::from(1)));
        }
    };
    let place = config.location.map(|l| l.place());
    let year = config.simulation.weather_year;
    let read = match weather.to_str().and_then(|w| w.strip_prefix("shipped:")) {
        Some(id) => match site::shipped_weather::find(id) {
            Some(shipped) => shipped.weather(year),
            None => {
                let known: Vec<&str> = site::shipped_weather::SHIPPED.iter().map(|w| w.id).collect();
                eprintln!("no shipped weather year {id:?} (shipped: {})", known.join(", "));
                return Ok(Err(ExitCode::from(1)));
            }
        },
        None => read_weather(weather, place, year),
    };
    match read {
        Ok(w) => Ok(Ok((config, w))),
        Err(errors) => {
            for e in errors.iter().take(50) {
                eprintln!("{e}");
            }
            eprintln!("{} problems in {}", errors.len(), weather.display());
            Ok(Err(ExitCode::from(1)))
        }
    }
}

pub fn run(command: SiteCommand) -> Result<ExitCode> {
    match command {
        SiteCommand::Simulate(a) => simulate(a),
        SiteCommand::Size(a) => size(a),
        SiteCommand::BsSaving(a) => bs_saving(a),
        SiteCommand::Meters(a) => meters(a),
        SiteCommand::Gateway(a) => gateway::run(a),
        SiteCommand::ItuCheck { data } => itu_check(&data),
    }
}

fn meters(a: MetersArgs) -> Result<ExitCode> {
    let mut problems = Vec::new();
    if a.report_minutes == 0 {
        problems.push("--report-minutes: must be at least 1".to_string());
    }
    for f in &a.facilities {
        if f.is_empty() || f.chars().any(|c| c == ',' || c == '"' || c.is_whitespace()) {
            problems.push(format!("{f:?}: a facility code is not empty and has no comma, quote or space"));
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        return Ok(ExitCode::from(1));
    }
    let mut out = String::new();
    if a.header {
        out.push_str(METERS_HEADER);
        out.push('\n');
    }
    for f in &a.facilities {
        out.push_str(&site::meters::registry_rows(f, a.report_minutes));
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn kwh(v: f64) -> String {
    thousands(v, 1)
}

fn simulate(a: SimulateArgs) -> Result<ExitCode> {
    let (site, weather) = match load_site(&a.site, &a.weather)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let lib = library(a.factors.as_deref())?;
    let mut hourly = match &a.hourly {
        Some(p) => {
            let mut f =
                std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?);
            writeln!(
                f,
                "step,unix_end,state,fuel_cell,pv_available_w,pv_to_load_w,pv_to_battery_w,pv_curtailed_w,fc_output_w,\
                 fc_to_load_w,fc_to_battery_w,fc_dumped_w,battery_discharge_w,load_w,unserved_w,methanol_l,soc"
            )?;
            Some(f)
        }
        None => None,
    };
    let mut telemetry = match &a.telemetry {
        Some(p) => {
            let mut f =
                std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?);
            writeln!(f, "meter,timestamp,value")?;
            Some(f)
        }
        None => None,
    };
    let code = a
        .site_code
        .clone()
        .unwrap_or_else(|| a.site.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    let mut write_error = None;
    let mut lines = String::new();
    let report = sim::simulate(&site, &weather, &lib, |i, o, mode, fc| {
        if let Some(f) = telemetry.as_mut() {
            lines.clear();
            o.meter_lines(&code, weather.records[i].unix_end as i64, &mut lines);
            if let Err(e) = f.write_all(lines.as_bytes()) {
                write_error.get_or_insert(e);
            }
        }
        if let Some(f) = hourly.as_mut() {
            let r = writeln!(
                f,
                "{i},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.6},{:.6}",
                weather.records[i].unix_end,
                mode.name(),
                fc.name(),
                o.pv_available_w,
                o.pv_to_load_w,
                o.pv_to_battery_w,
                o.pv_curtailed_w,
                o.fc_output_w,
                o.fc_to_load_w,
                o.fc_to_battery_w,
                o.fc_dumped_w,
                o.battery_discharge_w,
                o.load_w,
                o.unserved_w,
                o.methanol_l,
                o.soc_after
            );
            if let Err(e) = r {
                write_error.get_or_insert(e);
            }
        }
    });
    let report = match report {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            bail!("{} problems; nothing simulated", errors.len());
        }
    };
    if let Some(e) = write_error {
        return Err(e).context("writing the hourly CSV");
    }
    if let Some(mut f) = hourly {
        f.flush()?;
    }
    if let Some(mut f) = telemetry {
        f.flush()?;
    }
    if a.format == OutFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let e = &report.energy_kwh;
    println!(
        "{} — weather {} ({:.3}, {:.3}), {} steps of {} s",
        report.site, report.weather, report.latitude, report.longitude, report.steps, report.step_s
    );
    println!(
        "PV {} W, battery {} Wh, fuel cell {} W\n",
        thousands(report.pv_pdc0_w, 0),
        thousands(report.battery_wh, 0),
        thousands(report.fuel_cell_w, 0)
    );
    let rows = vec![
        vec!["load".into(), kwh(e.load)],
        vec!["  served".into(), kwh(e.served)],
        vec!["  unserved".into(), kwh(e.unserved)],
        vec!["PV available".into(), kwh(e.pv_available)],
        vec!["  PV → load".into(), kwh(e.pv_to_load)],
        vec!["  PV → battery".into(), kwh(e.pv_to_battery)],
        vec!["  PV curtailed".into(), kwh(e.pv_curtailed)],
        vec!["fuel cell output".into(), kwh(e.fc_output)],
        vec!["  fuel cell → load".into(), kwh(e.fc_to_load)],
        vec!["  fuel cell → battery".into(), kwh(e.fc_to_battery)],
        vec!["  fuel cell dumped".into(), kwh(e.fc_dumped)],
        vec!["battery discharge".into(), kwh(e.battery_discharge)],
        vec!["battery losses".into(), kwh(e.battery_losses)],
        vec!["battery Δstored".into(), kwh(e.battery_delta)],
    ];
    println!("{}", table(&["energy", "kWh"], &rows));
    let rows: Vec<Vec<String>> = report.hours_by_state.iter().map(|(k, v)| vec![k.clone(), thousands(*v, 1)]).collect();
    println!("{}", table(&["state", "hours"], &rows));
    println!(
        "methanol {} L, {} refills ({} L delivered), {} fuel-cell starts; unserved {} h; SoC {:.3}–{:.3}, end {:.3}",
        thousands(report.methanol_l, 1),
        report.methanol_refills,
        thousands(report.methanol_refilled_l, 1),
        report.fuel_cell_starts,
        thousands(report.unserved_hours, 1),
        report.soc_min,
        report.soc_max,
        report.soc_end
    );
    println!(
        "energy balance: bus residual {:.2e} kWh, storage residual {:.2e} kWh, worst step {:.2e} W\n",
        report.balance_residual_kwh, report.storage_residual_kwh, report.worst_step_imbalance_w
    );
    let em = &report.emissions;
    let rows = vec![
        vec!["methanol (own emissions)".into(), thousands(em.methanol_co2_kg, 1)],
        vec![
            format!(
                "diesel generator ({} W, {} L)",
                thousands(em.diesel_baseline_rated_w, 0),
                thousands(em.diesel_baseline_fuel_l, 0)
            ),
            thousands(em.diesel_baseline_co2_kg, 1),
        ],
        vec!["grid".into(), thousands(em.grid_baseline_co2_kg, 1)],
        vec!["avoided vs diesel".into(), thousands(em.avoided_vs_diesel_kg, 1)],
        vec!["avoided vs grid".into(), thousands(em.avoided_vs_grid_kg, 1)],
    ];
    println!("{}", table(&["CO2", "kg"], &rows));
    for f in &em.factors {
        println!("  factor {} = {} {} ({})", f.id, f.value, f.unit, f.source);
    }
    Ok(if e.unserved > 0.0 { ExitCode::from(3) } else { ExitCode::SUCCESS })
}

fn size(a: SizeArgs) -> Result<ExitCode> {
    let (site, weather) = match load_site(&a.site, &a.weather)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let Some(sizing) = site.sizing.clone() else {
        bail!("{} has no [sizing] section (candidate sizes and unit costs)", a.site.display());
    };
    let r = sim::size(&site, &sizing, &weather).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    if a.format == OutFormat::Json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} combinations simulated over {} steps, {} with zero unserved load",
        r.evaluated,
        weather.records.len(),
        r.feasible
    );
    let rows: Vec<Vec<String>> = r
        .cheapest_feasible
        .iter()
        .map(|c| {
            vec![
                thousands(c.pv_w as f64, 0),
                thousands(c.battery_wh as f64, 0),
                thousands(c.fuel_cell_w as f64, 0),
                thousands(c.capex_cny as f64, 0),
                thousands(c.cost_fen as f64 / 100.0, 2),
                thousands(c.methanol_l, 1),
                c.fuel_cell_starts.to_string(),
            ]
        })
        .collect();
    let cost = format!("capex + {} y fuel CNY", sizing.years);
    println!(
        "{}",
        table(&["PV W", "battery Wh", "fuel cell W", "capex CNY", &cost, "methanol L/y", "FC starts/y"], &rows)
    );
    match r.best {
        Some(b) => {
            println!(
                "smallest (cheapest) zero-unserved: PV {} W, battery {} Wh, fuel cell {} W",
                b.pv_w, b.battery_wh, b.fuel_cell_w
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            println!("no candidate serves every hour: add larger sizes to [sizing]");
            Ok(ExitCode::from(3))
        }
    }
}

fn bs_saving(a: BsSavingArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.cells).with_context(|| format!("reading {}", a.cells.display()))?;
    let mut errors = Vec::new();
    let cells = site::itu::parse_cells(&a.cells.display().to_string(), &text, &mut errors);
    if !errors.is_empty() {
        for e in errors.iter().take(50) {
            eprintln!("{e}");
        }
        eprintln!("{} problems in {}", errors.len(), a.cells.display());
        return Ok(ExitCode::from(1));
    }
    let data = site::itu::ItuData { cells, energy: Default::default() };
    let stations = site::itu::stations(&data);
    let policy = SchedulerPolicy {
        capacity_headroom: a.headroom,
        wake_latency_budget_s: a.latency_budget_s,
        category: if a.category == "cat1" { Tr38864Category::Cat1 } else { Tr38864Category::Cat2 },
        set: match a.set.as_str() {
            "set1" => Tr38864Set::Set1,
            "set2" => Tr38864Set::Set2,
            _ => Tr38864Set::Set3,
        },
        power_unit_w: a.power_unit_w,
        model: if a.model == "earth" {
            PowerModel::Earth {
                bs_type: match a.earth_type.as_str() {
                    "macro" => EarthType::Macro,
                    "rrh" => EarthType::Rrh,
                    "micro" => EarthType::Micro,
                    "pico" => EarthType::Pico,
                    _ => EarthType::Femto,
                },
                trx_per_cell: a.trx_per_cell,
            }
        } else {
            PowerModel::Tr38864
        },
        baseline: match a.baseline {
            Baseline::Active => CellMode::Active,
            Baseline::SymbolSleep => CellMode::SymbolSleep,
        },
        ..SchedulerPolicy::default()
    };
    let mut r = schedule(&stations, &policy);
    let lib = library(a.factors.as_deref())?;
    r.apply_grid_factor(&lib, &a.grid_factor).map_err(anyhow::Error::msg)?;
    if let Some(p) = &a.by_station {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?);
        writeln!(f, "station,hours,baseline_kwh,saved_kwh,saved_tco2")?;
        for s in &r.by_station {
            writeln!(f, "{},{},{:.6},{:.6},{:.9}", s.station, s.hours, s.baseline_kwh, s.saved_kwh, s.saved_tco2)?;
        }
        f.flush()?;
    }
    if a.format == OutFormat::Json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} stations, {} cells, {} cell-hours", r.stations, r.cells, r.cell_hours);
    let rows: Vec<Vec<String>> = r.hours_by_mode.iter().map(|(k, v)| vec![k.clone(), v.to_string()]).collect();
    println!("{}", table(&["mode", "cell-hours"], &rows));
    println!(
        "energy: baseline {} kWh, scheduled {} kWh, saved {} kWh ({:.1} %) = {} tCO2 at {} ({} kgCO2/kWh)",
        kwh(r.baseline_kwh),
        kwh(r.scheduled_kwh),
        kwh(r.saved_kwh),
        r.saved_percent,
        thousands(r.saved_tco2, 3),
        r.grid_factor_id,
        r.grid_factor_kg_per_kwh
    );
    println!("quality: {} violating cell-hours; hour-ahead forecast MAE {:.4}", r.quality_violations, r.forecast_mae);
    Ok(ExitCode::SUCCESS)
}

fn itu_check(dir: &Path) -> Result<ExitCode> {
    let data = site::itu::load(dir).map_err(|e| anyhow::anyhow!("{}", e.join("\n")))?;
    let s = site::itu::static_share(&data, 30);
    let es = site::itu::es_effect(&data, 30);
    let earth = site::bs::EarthType::Macro.params().static_share();
    let tr = site::bs::Tr38864::new(Tr38864Category::Cat1, Tr38864Set::Set1).static_share(site::bs::TR38864_A);
    println!(
        "ITU 2023: {} single-cell stations (≥ 30 h without saving modes): median static share {:.3}, median R² {:.3}",
        s.stations, s.median_static_share, s.median_r2
    );
    println!("models: EARTH macro static share {earth:.3}, TR 38.864 Cat1/Set1 (A = 0.4) {tr:.3}");
    println!(
        "energy-saving modes active ≥ half the hour: {} station-hours, energy {:+.1} % vs the no-saving fit",
        es.any.0,
        es.any.1 * 100.0
    );
    for (k, (n, rel)) in es.by_mode.iter().enumerate() {
        if *n > 0 {
            println!("  ESMode{}: {n} h, {:+.1} %", k + 1, rel * 100.0);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn bench(a: BenchSiteArgs) -> Result<ExitCode> {
    let (site, weather) = match load_site(&a.site, &a.weather)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let r = site::bench::run(&site, &weather, a.sites, threads).map_err(anyhow::Error::msg)?;
    println!(
        "site bench: {} sites × {} steps on {} threads: PV chain {:.3} s, simulation {:.3} s ({:.0} M steps/s)",
        r.sites,
        r.steps_per_site,
        r.threads,
        r.pv_chain_s,
        r.simulate_s,
        r.steps_per_second / 1e6
    );
    println!(
        "check: load {} MWh, unserved {} MWh at {} sites, methanol {} L, {} fuel-cell starts",
        thousands(r.total_load_mwh, 1),
        thousands(r.total_unserved_mwh, 3),
        r.sites_with_unserved,
        thousands(r.total_methanol_l, 0),
        r.fuel_cell_starts
    );
    Ok(ExitCode::SUCCESS)
}
