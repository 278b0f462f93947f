//! `dualcarbon site ...` end to end, as a user runs it (issue 5).

use std::fmt::Write as _;
use std::fs;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon")).args(args).output().expect("run dualcarbon")
}

const SITE: &str = include_str!("../../site/data/island-site.toml");

/// Three days of plain hourly weather: sunny, overcast, sunny (local standard time, end of hour).
fn weather_csv() -> String {
    let mut s = String::from("time,ghi,dni,dhi,temp_air,wind_speed\n");
    for day in 1..=3 {
        for hour in 1..=24 {
            let sun = ((hour as f64 - 12.5) / 12.0 * std::f64::consts::PI).cos().max(0.0);
            let (ghi, dni, dhi) =
                if day == 2 { (150.0 * sun, 0.0, 150.0 * sun) } else { (900.0 * sun, 700.0 * sun, 150.0 * sun) };
            let time = if hour == 24 {
                format!("2023-06-{:02}T00:00", day + 1)
            } else {
                format!("2023-06-{day:02}T{hour:02}:00")
            };
            writeln!(s, "{time},{ghi:.1},{dni:.1},{dhi:.1},28,2").unwrap();
        }
    }
    s
}

#[test]
fn simulate_prints_report_json_and_hourly_csv() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    let weather = dir.path().join("weather.csv");
    let hourly = dir.path().join("hourly.csv");
    let telemetry = dir.path().join("telemetry.csv");
    fs::write(&site, SITE).unwrap();
    fs::write(&weather, weather_csv()).unwrap();

    let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", weather.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("PV → load") && out.contains("avoided vs diesel"), "{out}");
    assert!(out.contains("factor elec.nbs_average.CN-GRID-SOUTH.2022"), "{out}");

    let o = run(&[
        "site",
        "simulate",
        site.to_str().unwrap(),
        "--weather",
        weather.to_str().unwrap(),
        "--format",
        "json",
        "--hourly",
        hourly.to_str().unwrap(),
        "--telemetry",
        telemetry.to_str().unwrap(),
        "--site-code",
        "GX-HDL-01",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["steps"], 72);
    assert_eq!(v["energy_kwh"]["unserved"], 0.0);
    let load = v["energy_kwh"]["load"].as_f64().unwrap();
    assert!(load > 50.0 && load < 100.0, "{load}");
    assert!(v["balance_residual_kwh"].as_f64().unwrap().abs() < 1e-9);
    assert_eq!(v["emissions"]["factors"][0]["id"], "elec.nbs_average.CN-GRID-SOUTH.2022");
    let hours: f64 = v["hours_by_state"].as_object().unwrap().values().map(|h| h.as_f64().unwrap()).sum();
    assert!((hours - 72.0).abs() < 1e-9);
    let csv = fs::read_to_string(&hourly).unwrap();
    assert_eq!(csv.lines().count(), 73);
    assert!(csv.lines().nth(13).unwrap().contains(",solar,"), "{}", csv.lines().nth(13).unwrap());
    // Telemetry: six power meters a step, kW, epoch ms; the load meter sums to the report's load.
    let t = fs::read_to_string(&telemetry).unwrap();
    assert_eq!(t.lines().next(), Some("meter,timestamp,value"));
    assert_eq!(t.lines().count(), 1 + 6 * 72);
    let load_kwh: f64 = t
        .lines()
        .filter(|l| l.starts_with("GX-HDL-01.load,"))
        .map(|l| l.rsplit(',').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((load_kwh - load).abs() < 1e-3, "{load_kwh} vs {load}");
}

/// An EPW file is read like the other formats, and `shipped:ID` names the typical year the binary
/// ships (the same file): both give the same year on the example site.
#[test]
fn simulate_reads_an_epw_file_and_the_shipped_year() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    let epw = dir.path().join("qinzhou.epw");
    fs::write(&site, SITE).unwrap();
    fs::write(&epw, include_str!("../../site/data/weather/CHN_Guangxi.Zhuang.Qinzhou.596320_CSWD.epw")).unwrap();
    let json = |weather: &str| {
        let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", weather, "--format", "json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let file = json(epw.to_str().unwrap());
    let shipped = json("shipped:cswd-qinzhou-596320");
    assert_eq!(file["steps"], 8760);
    assert_eq!(file["weather"], "Qinzhou (CSWD 596320)");
    assert_eq!(file["latitude"], 21.95);
    assert!(file["energy_kwh"]["pv_available"].as_f64().unwrap() > 1000.0, "{}", file["energy_kwh"]);
    assert_eq!(file["energy_kwh"], shipped["energy_kwh"]);

    let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", "shipped:nowhere"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cswd-qinzhou-596320"));
    // Every bad field of the EPW, by line and field.
    let text = fs::read_to_string(&epw).unwrap();
    let broken = text.replacen(",21.95,108.62,8.0,4.5", ",21.95,108.62,x,4.5", 1);
    fs::write(&epw, broken).unwrap();
    let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", epw.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("qinzhou.epw:1: LOCATION time zone (field 9): 'x' is not a number"), "{err}");
}

#[test]
fn bad_site_and_weather_files_list_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    let weather = dir.path().join("weather.csv");
    fs::write(&site, SITE.replace("pdc0_w = 6000", "pdc0_w = 0").replace("soc_fc_stop = 0.80", "soc_fc_stop = 0.35"))
        .unwrap();
    fs::write(&weather, weather_csv()).unwrap();
    let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", weather.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pv.pdc0_w") && err.contains("setpoints.soc_fc_stop") && err.contains("2 problems"), "{err}");

    fs::write(&site, SITE).unwrap();
    fs::write(
        &weather,
        weather_csv()
            .replace("2023-06-01T05:00,0.0", "2023-06-01T05:00,abc")
            .replace(",28,2\n2023-06-02T01", ",99,2\n2023-06-02T01"),
    )
    .unwrap();
    let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", weather.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(":6: ghi") && err.contains("temp_air") && err.contains("2 problems"), "{err}");
}

#[test]
fn bs_saving_reports_kwh_and_tco2_per_station() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells.csv");
    let by_station = dir.path().join("by_station.csv");
    let mut s = String::from("Time,BS,CellName,load\n");
    for day in 1..=14 {
        for hour in 0..24 {
            let busy = (8..22).contains(&hour);
            for (bs, cell, l) in [
                ("B_1", "Cell0", if busy { 0.6 } else { 0.2 }),
                ("B_1", "Cell1", if busy { 0.4 } else { 0.05 }),
                ("B_2", "Cell0", 0.3),
            ] {
                writeln!(s, "1/{day}/2023 {hour}:00,{bs},{cell},{l}").unwrap();
            }
        }
    }
    fs::write(&cells, s).unwrap();
    let o = run(&[
        "site",
        "bs-saving",
        "--cells",
        cells.to_str().unwrap(),
        "--baseline",
        "symbol-sleep",
        "--format",
        "json",
        "--by-station",
        by_station.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stations"], 2);
    assert_eq!(v["grid_factor_id"], "elec.nbs_average.CN.2022");
    let saved = v["saved_kwh"].as_f64().unwrap();
    assert!(saved > 0.0);
    assert!((v["saved_tco2"].as_f64().unwrap() - saved * 0.5366 / 1000.0).abs() < 1e-12);
    // Against a symbol-sleep baseline only B_1's capacity cell can save (B_2 has one cell).
    let rows = fs::read_to_string(&by_station).unwrap();
    let b2 = rows.lines().find(|l| l.starts_with("B_2,")).unwrap();
    assert_eq!(b2.split(',').nth(3).unwrap().parse::<f64>().unwrap(), 0.0, "{rows}");

    // The same schedule in EARTH watts: 14 days × 24 h × 3 cells of a 2-chain macro sector.
    let o = run(&["site", "bs-saving", "--cells", cells.to_str().unwrap(), "--model", "earth", "--format", "json"]);
    assert!(o.status.success());
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let base = e["baseline_kwh"].as_f64().unwrap();
    assert!(base > 14.0 * 24.0 * 3.0 * 0.260 && base < 14.0 * 24.0 * 3.0 * 0.448, "{base}");
    assert!(e["saved_kwh"].as_f64().unwrap() > 0.0);

    fs::write(&cells, "Time,BS,CellName,load\n1/1/2023 0:00,B_1,Cell0,1.7\nx,B_1,Cell0,0.1\n").unwrap();
    let o = run(&["site", "bs-saving", "--cells", cells.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 problems"));
}

// ---------------------------------------------------------------------------------------------
// `dualcarbon site meters` and `dualcarbon site gateway` against a real platform: the server crate
// in process on 127.0.0.1 (SQLite, and PostgreSQL when DUALCARBON_TEST_POSTGRES_URL is set), with
// meters.csv written from `dualcarbon site meters`, real users and logins.

mod common;
use common::call;
use serde_json::{json, Value};
use site::controller::Setpoints;
use site::sim::{Runner, SiteConfig};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

/// The platform is on 127.0.0.1: no proxy from the environment in between.
const NO_PROXY: [(&str, &str); 2] = [("NO_PROXY", "*"), ("no_proxy", "*")];

/// Three days without sun (long bad weather): PV is exactly zero, so the run depends on the load
/// profile, the battery and the set points alone.
fn dark_weather_csv() -> String {
    weather_csv()
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { format!("{l}\n") } else { format!("{},0,0,0,28,2\n", l.split(',').next().unwrap()) })
        .collect()
}

fn rfc3339(t: i64) -> String {
    let (y, m, d) = site::weather::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn login(base: &str, user: &str) -> String {
    common::login(base, user, PASSWORD)
}

/// The platform served in process on one 127.0.0.1 port, which can be stopped and started again
/// (the same store, reading log and sessions: a platform restart).
struct Served {
    rt: tokio::runtime::Runtime,
    app: std::sync::Arc<server::App>,
    addr: std::net::SocketAddr,
    running: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>)>,
}

impl Served {
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn start(&mut self) {
        let listener = self.rt.block_on(tokio::net::TcpListener::bind(self.addr)).unwrap();
        self.addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = self.app.clone();
        let handle = self.rt.spawn(async move {
            axum::serve(listener, server::router(app))
                .with_graceful_shutdown(async {
                    stopped.await.ok();
                })
                .await
        });
        self.running = Some((stop, handle));
    }
    fn stop(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            stop.send(()).unwrap();
            self.rt.block_on(handle).unwrap().unwrap();
        }
    }
}

/// A platform with org CT-GX and its sites GX1 (meters registered) and GX2 (not registered), run
/// on each backend in turn; `test` gets the running platform and the backend's name.
fn platforms(name: &str, test: impl Fn(&mut Served, &str)) {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in store::testing::stores(name, &dir.path().join("db")) {
        let org = |code: &str, parent: Option<&str>| store::reference::OrgRecord {
            code: code.into(),
            name: code.into(),
            parent_code: parent.map(Into::into),
            equity_share: String::new(),
            operational_control: String::new(),
        };
        let fac = |code: &str| store::reference::FacilityRecord {
            code: code.into(),
            name: format!("{code} 海岛基站"),
            kind: "base_station_5g".into(),
            org_code: "CT-GX".into(),
            province: "广西".into(),
            allocation_share: String::new(),
            shared_with: String::new(),
        };
        store
            .upsert_reference(
                "test",
                &[org("CT", None), org("CT-GX", Some("CT"))],
                &[fac("GX1"), fac("GX2"), fac("GX3")],
            )
            .unwrap();
        let hash = server::auth::hash_password(PASSWORD).unwrap();
        store.create_user("test", "gx-admin", &hash, "org_admin", "CT-GX").unwrap();
        store.create_user("test", "gx-gateway", &hash, "data_filer", "CT-GX").unwrap();
        // The site's meters, registered as the docs say: rows from `dualcarbon site meters`.
        let data = tempfile::tempdir().unwrap();
        let o = run(&["site", "meters", "GX1", "GX3", "--header", "--report-minutes", "60"]);
        assert!(o.status.success());
        fs::write(data.path().join("meters.csv"), &o.stdout).unwrap();
        let spool = tempfile::tempdir().unwrap();
        let app = server::App::new(store, spool.path().to_path_buf());
        assert!(platform::monitoring::attach(&app.platform, data.path()).unwrap().is_some());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut served = Served { rt, app, addr: "127.0.0.1:0".parse().unwrap(), running: None };
        served.start();
        test(&mut served, &backend);
        served.stop();
        // The test holds the last handle of the app, so the store (a blocking PostgreSQL client) is
        // dropped outside the runtime.
        let Served { rt, app, .. } = served;
        drop(rt);
        drop(app);
    }
}

fn gateway_command(args: &[&str], token: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dualcarbon"));
    c.args(["site", "gateway"]).args(args).env("DUALCARBON_TOKEN", token).envs(NO_PROXY);
    c
}

fn gateway(args: &[&str], token: &str) -> (Option<i32>, String, String) {
    let o = gateway_command(args, token).output().expect("run dualcarbon site gateway");
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The gateway running in the background, its output piped to the test.
fn spawn_gateway(args: &[&str], token: &str) -> std::process::Child {
    gateway_command(args, token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run dualcarbon site gateway")
}

/// The island site run by the controller itself over the dark days, step by step from the step
/// ending `first_end`: the platform's set points (when given) apply from the second step, as the
/// gateway takes them from the first answer. Returns (SoC, fuel cell off?) after each step.
fn controller_run(first_end: i64, steps: usize, platform: Option<&Setpoints>) -> Vec<(f64, bool)> {
    controller_run_of(SITE, first_end, steps, platform)
}

fn controller_run_of(site_text: &str, first_end: i64, steps: usize, platform: Option<&Setpoints>) -> Vec<(f64, bool)> {
    let site = SiteConfig::from_toml(site_text).unwrap();
    let profile = site.load.hourly_w().unwrap();
    let mut c = site.controller().unwrap();
    let mut runner = Runner::new(&c, 3600.0, site.refill_below_l());
    let mut out = Vec::new();
    for k in 0..steps {
        let end = first_end + 3600 * k as i64;
        // The load of the local hour (UTC+8) the step lies in.
        let hour = ((end - 1800 + 8 * 3600).div_euclid(3600)).rem_euclid(24) as usize;
        let (o, _) = runner.step(&mut c, 0.0, profile[hour]);
        out.push((o.soc_after, c.state.fuel_cell == site::controller::FuelCellState::Off));
        if let (0, Some(sp)) = (k, platform) {
            c.apply_setpoints(sp.clone(), "platform", end, "remote set points").unwrap();
            runner = Runner::new(&c, 3600.0, site.refill_below_l());
        }
    }
    out
}

fn first_start(run: &[(f64, bool)]) -> Option<usize> {
    run.iter().position(|(_, off)| !off)
}

#[test]
fn site_meters_prints_registry_rows() {
    let o = run(&["site", "meters", "S1", "S2", "--header", "--report-minutes", "15"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "meter_code,facility_code,role,kind,counter_max_kwh,max_power_kw,max_gap_minutes");
    assert_eq!(lines.len(), 1 + 2 * site::meters::SITE_METERS.len());
    assert!(lines.contains(&"S2.soc,S2,soc,gauge,,,30") && lines.contains(&"S1.load,S1,site_load,power,,,30"), "{out}");
    let o = run(&["site", "meters", "S 1", "S,2", "--report-minutes", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 3, "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn gateway_reports_steps_takes_setpoints_resumes_and_stops_on_unregistered_meters() {
    let dir = tempfile::tempdir().unwrap();
    let site_file = dir.path().join("site.toml");
    let weather = dir.path().join("dark.csv");
    fs::write(&site_file, SITE).unwrap();
    fs::write(&weather, dark_weather_csv()).unwrap();
    let (site_file, weather) = (site_file.to_str().unwrap().to_string(), weather.to_str().unwrap().to_string());
    platforms("site_gateway", |served, backend| {
        let base = &served.base();
        let admin = login(base, "gx-admin");
        let token = login(base, "gx-gateway");
        let state_file = dir.path().join(format!("gx1-{backend}.json"));
        let state_file = state_file.to_str().unwrap();
        // (a) The platform raises the battery-low alarm before the gateway first reports.
        let raised = Setpoints { soc_alarm: 0.5, soc_alarm_clear: 0.6, ..Setpoints::default() };
        let (s, v) = call(
            base,
            "PUT",
            "/api/v1/orgs/CT-GX/sites/GX1/setpoints",
            Some(&admin),
            Some(json!({"setpoints": raised, "reason": "typhoon season: start the fuel cell earlier"})),
        );
        assert_eq!(s, 200, "{backend}: {v}");
        // Sixteen hourly steps from two days ago (all in the past).
        let start = (now_unix() / 3600 - 48) * 3600;
        let first_end = start + 3600;
        const N: usize = 16;
        let common = ["--weather", &weather, "--platform", base, "--org", "CT-GX"];
        let (code, out, err) = gateway(
            &[
                &[site_file.as_str()][..],
                &common,
                &["--facility", "GX1", "--start", &rfc3339(start), "--steps", "16", "--state-file", state_file],
            ]
            .concat(),
            &token,
        );
        assert_eq!(code, Some(0), "{backend}: {out}{err}");
        assert!(
            out.contains("set points from the platform applied")
                && out.contains("soc_alarm 0.3 → 0.5")
                && out.contains("soc_alarm_clear 0.4 → 0.6"),
            "{out}"
        );
        assert_eq!(out.matches("set points from the platform applied").count(), 1, "{out}");
        assert!(
            out.contains(&format!(
                "summary: {N} steps, {N} reports acknowledged ({} readings stored, 0 duplicate",
                N * 11
            )),
            "{out}"
        );
        assert!(out.contains("1 set-point changes applied"), "{out}");
        // The platform's view, rebuilt from the stored readings, is the controller's run with the
        // raised alarm from the second step; the fuel cell starts earlier than without the change.
        let (s, st) = call(base, "GET", "/api/v1/orgs/CT-GX/sites/GX1/state?hours=48", Some(&admin), None);
        assert_eq!(s, 200, "{st}");
        let expected = controller_run(first_end, N + 4, Some(&raised));
        let plain = controller_run(first_end, 48, None);
        let soc: Vec<f64> =
            st["history"]["soc"]["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
        let fc: Vec<f64> =
            st["history"]["fc_state"]["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
        // (b) N points of history, the newest state is the gateway's last step.
        assert_eq!((soc.len(), fc.len()), (N, N), "{st}");
        assert_eq!(st["state"]["unix"], json!(first_end + 3600 * (N as i64 - 1)), "{st}");
        assert!((st["state"]["soc"].as_f64().unwrap() - expected[N - 1].0).abs() < 1e-9, "{st}");
        for k in 0..N {
            assert!(
                (soc[k] - expected[k].0).abs() < 1e-9,
                "step {k}: platform {} vs controller {}",
                soc[k],
                expected[k].0
            );
        }
        let started = fc.iter().position(|c| *c != 0.0).expect("the fuel cell starts within the run");
        assert_eq!(Some(started), first_start(&expected[..N]));
        let plain_start = first_start(&plain).expect("the plain run starts it too, later");
        assert!(started < plain_start, "raised alarm: start at step {started}, plain run at {plain_start}");
        assert!(out.contains("fuel cell running"), "{out}");

        // (c) A restart with the same state file resumes after the last acknowledged step: four new
        // steps, nothing sent twice, and the controller carries on as if it had never stopped.
        let (code, out, err) = gateway(
            &[&[site_file.as_str()][..], &common, &["--facility", "GX1", "--steps", "4", "--state-file", state_file]]
                .concat(),
            &token,
        );
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(
            out.contains(&format!("resuming GX1 after the step ending {}", rfc3339(first_end + 3600 * (N as i64 - 1)))),
            "{out}"
        );
        assert!(out.contains("summary: 4 steps, 4 reports acknowledged (44 readings stored, 0 duplicate"), "{out}");
        assert!(out.contains("0 set-point changes applied"), "the state file kept the platform's set points: {out}");
        let (_, st) = call(base, "GET", "/api/v1/orgs/CT-GX/sites/GX1/state?hours=48", Some(&admin), None);
        let soc: Vec<f64> =
            st["history"]["soc"]["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
        assert_eq!(soc.len(), N + 4);
        for k in N..N + 4 {
            assert!(
                (soc[k] - expected[k].0).abs() < 1e-9,
                "step {k}: platform {} vs controller {}",
                soc[k],
                expected[k].0
            );
        }
        let saved: Value = serde_json::from_str(&fs::read_to_string(state_file).unwrap()).unwrap();
        assert_eq!(saved["last_unix"], json!(first_end + 3600 * (N as i64 + 3)));
        assert_eq!(saved["setpoints"]["soc_alarm"], json!(0.5));

        // A site the platform has never set points for keeps its own site file's (here a raised
        // alarm), rather than take the platform's defaults.
        let own = SITE
            .replace("soc_alarm = 0.30", "soc_alarm = 0.45")
            .replace("soc_alarm_clear = 0.40", "soc_alarm_clear = 0.55");
        assert_ne!(own, SITE);
        let own_file = dir.path().join(format!("own-{backend}.toml"));
        fs::write(&own_file, &own).unwrap();
        let (code, out, err) = gateway(
            &[
                &[own_file.to_str().unwrap()][..],
                &common,
                &["--facility", "GX3", "--start", &rfc3339(start), "--steps", "12"],
            ]
            .concat(),
            &token,
        );
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("0 set-point changes applied") && !out.contains("applied after"), "{out}");
        let (_, st) = call(base, "GET", "/api/v1/orgs/CT-GX/sites/GX3/state?hours=48", Some(&admin), None);
        let soc: Vec<f64> =
            st["history"]["soc"]["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
        let own_run = controller_run_of(&own, first_end, 12, None);
        assert_eq!(soc.len(), 12, "{st}");
        for (k, (platform, (controller, _))) in soc.iter().zip(&own_run).enumerate() {
            assert!((platform - controller).abs() < 1e-9, "step {k}: platform {platform} vs site file's {controller}");
        }
        assert_ne!(first_start(&own_run), first_start(&plain[..12]), "the site file's alarm makes a difference here");

        // Without the state file, the same steps again are duplicates on the platform, never stored twice.
        let (code, out, err) = gateway(
            &[&[site_file.as_str()][..], &common, &["--facility", "GX1", "--start", &rfc3339(start), "--steps", "3"]]
                .concat(),
            &token,
        );
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(
            out.contains("3 reports acknowledged (0 readings stored, 33 duplicate readings in 3 duplicate reports)"),
            "{out}"
        );

        // --follow: the gateway catches up from its state file to the latest whole step, then waits in
        // real time for the next one; Ctrl-C (SIGINT) ends it with its summary, nothing in the future sent.
        let latest = now_unix() / 3600 * 3600;
        let mut child = spawn_gateway(
            &[&[site_file.as_str()][..], &common, &["--facility", "GX1", "--follow", "--state-file", state_file]]
                .concat(),
            &token,
        );
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push(line.clone());
            if line.starts_with(&rfc3339(latest)) && line.ends_with("stored (11 readings)") {
                break;
            }
            assert!(!line.starts_with("summary"), "{seen:#?}");
        }
        assert!(seen.iter().any(|l| l.contains("following in real time until Ctrl-C")), "{seen:#?}");
        assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
        seen.extend(lines.map(|l| l.unwrap()));
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?} {seen:#?}");
        assert!(seen.iter().any(|l| l == "interrupted"), "{seen:#?}");
        let summary = seen.iter().find(|l| l.starts_with("summary:")).unwrap();
        let saved: Value = serde_json::from_str(&fs::read_to_string(state_file).unwrap()).unwrap();
        // (Unless an hour began while the test ran: then one more step was due.)
        if now_unix() / 3600 * 3600 == latest {
            let caught_up = (latest - (first_end + 3600 * (N as i64 + 3))) / 3600;
            let head = format!("summary: {caught_up} steps, {caught_up} reports acknowledged");
            assert!(summary.starts_with(&head), "{seen:#?}");
            assert_eq!(saved["last_unix"], json!(latest));
        }
        assert!(saved["last_unix"].as_i64().unwrap() <= now_unix(), "nothing in the future");

        // A state file is for one site and one step length.
        let (code, _, err) = gateway(
            &[&[site_file.as_str()][..], &common, &["--facility", "GX2", "--state-file", state_file]].concat(),
            &token,
        );
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("facility: the file is for \"GX1\", --facility is \"GX2\""), "{err}");

        // (d) A site whose meters are not registered: the gateway stops, naming the rows to add.
        let (code, out, err) =
            gateway(&[&[site_file.as_str()][..], &common, &["--facility", "GX2", "--steps", "2"]].concat(), &token);
        assert_eq!(code, Some(3), "{out}{err}");
        assert!(err.contains("GX2.soc,GX2,soc,gauge") && err.contains("dualcarbon site meters GX2"), "{err}");
        assert!(out.contains("summary: 1 steps, 0 reports acknowledged"), "{out}");
    });
}

#[test]
fn gateway_retries_while_the_platform_is_down_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let site_file = dir.path().join("site.toml");
    let weather = dir.path().join("dark.csv");
    fs::write(&site_file, SITE).unwrap();
    fs::write(&weather, dark_weather_csv()).unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t0 = Instant::now();
    let (code, out, err) = gateway(
        &[
            site_file.to_str().unwrap(),
            "--weather",
            weather.to_str().unwrap(),
            "--platform",
            &format!("http://127.0.0.1:{port}"),
            "--org",
            "CT-GX",
            "--facility",
            "GX1",
            "--steps",
            "2",
            "--max-retries",
            "2",
        ],
        "some-token",
    );
    assert_eq!(code, Some(4), "{out}{err}");
    assert!(
        err.contains("platform unreachable") && err.contains("retry 1 of 2") && err.contains("retry 2 of 2"),
        "{err}"
    );
    assert!(err.contains("gave up after 3 attempts (2 reports not sent)"), "{err}");
    assert!(
        out.contains("summary: 2 steps, 0 reports acknowledged") && out.contains("2 reports not acknowledged"),
        "{out}"
    );
    // The backoff waited (0.5 s, then 1 s) between the attempts.
    assert!(t0.elapsed() >= Duration::from_millis(1500), "{:?}", t0.elapsed());
}

#[test]
fn gateway_queues_reports_while_the_platform_is_down_and_delivers_them_in_order_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let site_file = dir.path().join("site.toml");
    let weather = dir.path().join("dark.csv");
    fs::write(&site_file, SITE).unwrap();
    fs::write(&weather, dark_weather_csv()).unwrap();
    platforms("site_gateway_down", |served, backend| {
        let base = served.base();
        let token = login(&base, "gx-gateway");
        let admin = login(&base, "gx-admin");
        // The platform stops (a restart, a network cut); the gateway starts meanwhile.
        served.stop();
        let start = (now_unix() / 3600 - 10) * 3600;
        let start_text = rfc3339(start);
        let mut child = spawn_gateway(
            &[
                site_file.to_str().unwrap(),
                "--weather",
                weather.to_str().unwrap(),
                "--platform",
                &base,
                "--org",
                "CT-GX",
                "--facility",
                "GX1",
                "--start",
                &start_text,
                "--steps",
                "6",
            ],
            &token,
        );
        let mut errors = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
        let mut seen = Vec::new();
        for line in errors.by_ref() {
            let line = line.unwrap();
            seen.push(line.clone());
            if line.contains("retry 2 in") {
                break;
            }
        }
        assert!(seen.iter().all(|l| l.starts_with("platform unreachable:")), "{backend}: {seen:#?}");
        // Back on the same address: the queued reports go first, in order, and none is lost.
        served.start();
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{out}{seen:#?}");
        let stored: Vec<&str> = out.lines().filter(|l| l.ends_with("stored (11 readings)")).collect();
        let times: Vec<String> = (1..=6).map(|k| rfc3339(start + 3600 * k)).collect();
        assert_eq!(stored.len(), 6, "{out}");
        for (line, t) in stored.iter().zip(&times) {
            assert!(line.starts_with(t.as_str()), "{line} should be the step ending {t}\n{out}");
        }
        assert!(out.contains("summary: 6 steps, 6 reports acknowledged (66 readings stored, 0 duplicate"), "{out}");
        let (_, st) = call(&base, "GET", "/api/v1/orgs/CT-GX/sites/GX1/state", Some(&admin), None);
        let points = st["history"]["soc"]["points"].as_array().unwrap();
        assert_eq!(points.len(), 6, "{st}");
        assert_eq!(st["state"]["unix"], json!(start + 6 * 3600));
    });
}
