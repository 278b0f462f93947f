//! The monitoring service end to end: durable ingestion, real-time PUE per data centre and org as a
//! ratio of sums, live events, alerts opened by telemetry and delivered to a real HTTP receiver.

use monitor::{webhook, LiveEvent, Monitor};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use telemetry::{parse_csv_lines, MeterRegistry, Role};

fn setup(dir: &std::path::Path) -> Monitor {
    let tree = model::OrgTree::build(
        [("G", None), ("GD", Some("G")), ("BJ", Some("G"))]
            .iter()
            .map(|(c, p)| model::OrgRow {
                code: c.to_string(),
                name: c.to_string(),
                parent_code: p.map(|p| p.to_string()),
                equity_share: None,
                operational_control: None,
            })
            .collect(),
    )
    .unwrap();
    let registry = MeterRegistry::read(
        "meter_code,facility_code,role,kind\nA-TOT,DCA,total_facility,counter\nA-IT,DCA,it_load,counter\n\
         B-TOT,DCB,total_facility,counter\nB-IT,DCB,it_load,counter\n"
            .as_bytes(),
        |_| true,
    )
    .unwrap();
    let fo: HashMap<String, u32> =
        [("DCA".to_string(), tree.get("GD").unwrap()), ("DCB".to_string(), tree.get("GD").unwrap())].into();
    let (m, rec) = Monitor::open(registry, tree, fo, alerts::parse_rules(alerts::DEFAULT_RULES).unwrap(), dir).unwrap();
    assert_eq!(rec.readings, 0);
    m
}

const T0: i64 = 1_714_492_800_000; // 2024-05-01T00:00:00+08:00
const Q: i64 = 15 * 60_000;

/// DCA: PUE 2.0 (200 kWh total / 100 IT per quarter); DCB: PUE 1.2 on 10× the load.
fn quarter_lines(q: i64) -> String {
    let ts = T0 + q * Q;
    format!("A-TOT,{ts},{}\nA-IT,{ts},{}\nB-TOT,{ts},{}\nB-IT,{ts},{}\n", 200 * q, 100 * q, 1200 * q, 1000 * q)
}

#[test]
fn realtime_pue_alerts_and_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let m = setup(dir.path());
    let mut rx = m.subscribe();
    for q in 0..=5 {
        let (raw, errs) = parse_csv_lines(&quarter_lines(q));
        assert!(errs.is_empty());
        let rep = m.ingest(&raw, T0 + 10 * Q, "test").unwrap();
        assert_eq!(rep.stored(), 4);
    }
    let a = m.facility_live("DCA").unwrap();
    assert_eq!(a.pue_1h, Some(2.0));
    assert_eq!(a.energy_1h_kwh[&Role::ItLoad], 400.0);
    assert_eq!(a.power_kw[&Role::TotalFacility], 800.0);
    let gd = m.org_live("GD").unwrap();
    let expected = (800.0 + 4800.0) / (400.0 + 4000.0);
    assert!((gd.pue_1h.unwrap() - expected).abs() < 1e-12, "{:?}", gd.pue_1h);
    assert!((gd.pue_1h.unwrap() - (2.0 + 1.2) / 2.0).abs() > 0.1, "not an average of PUEs");
    assert_eq!(m.org_live("G").unwrap().pue_1h, gd.pue_1h);
    assert!(m.org_live("BJ").is_none());

    // Events: batches, facility and org updates, and the PUE alert for DCA (above 1.5 for an hour).
    let mut kinds: HashMap<&'static str, usize> = HashMap::new();
    let mut opened = Vec::new();
    while let Ok(e) = rx.try_recv() {
        let k = match &e {
            LiveEvent::Batch { .. } => "batch",
            LiveEvent::Facility { .. } => "facility",
            LiveEvent::Org { .. } => "org",
            LiveEvent::Alert { event } => {
                opened.push(event.alert.subject.clone());
                "alert"
            }
        };
        *kinds.entry(k).or_default() += 1;
    }
    assert_eq!(kinds["batch"], 6);
    assert_eq!(kinds["facility"], 12);
    // Org events go out at most once a second: the first batch's, for GD and the group.
    assert!(kinds["org"] >= 2);
    assert_eq!(opened, vec!["facility:DCA"]);
    let open = m.alerts(Some(alerts::State::Open));
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].rule, "pue_above_1_5_for_1h");

    // Restart: the log replays every acknowledged reading.
    drop(m);
    let m = setup_reopen(dir.path());
    assert_eq!(m.facility_live("DCA").unwrap().pue_1h, Some(2.0));
}

fn setup_reopen(dir: &std::path::Path) -> Monitor {
    let tree = model::OrgTree::build(vec![model::OrgRow {
        code: "G".into(),
        name: "G".into(),
        parent_code: None,
        equity_share: None,
        operational_control: None,
    }])
    .unwrap();
    let registry = MeterRegistry::read(
        "meter_code,facility_code,role,kind\nA-TOT,DCA,total_facility,counter\nA-IT,DCA,it_load,counter\n".as_bytes(),
        |_| true,
    )
    .unwrap();
    let (m, rec) = Monitor::open(registry, tree, HashMap::new(), vec![], dir).unwrap();
    assert_eq!(rec.readings, 24);
    assert_eq!(rec.unknown_meters.values().sum::<u64>(), 12, "{:?}", rec.unknown_meters);
    m
}

#[test]
fn webhook_delivers_alert_events_to_a_real_receiver() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        for _ in 0..2 {
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /hook HTTP/1.1"), "{line}");
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            (&s).write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").unwrap();
            bodies.push(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
        }
        bodies
    });
    let dir = tempfile::tempdir().unwrap();
    let m = setup(dir.path());
    let record = webhook::spawn(&m, vec![webhook::WebhookUrl::parse(&format!("http://{addr}/hook")).unwrap()]);
    m.watch_all_meters(T0);
    let opened = m.tick(T0 + 31 * 60_000);
    assert_eq!(opened.len(), 4, "four silent meters");
    let id = opened[0].alert.id;
    let bodies = received.join().unwrap();
    assert_eq!(bodies[0]["kind"], "opened");
    assert_eq!(bodies[0]["alert"]["rule"], "meter_silent_30min");
    assert!(bodies[0]["alert"]["message"].as_str().unwrap().starts_with("no data from meter:"));
    let r = record.lock().unwrap();
    assert!(r.iter().take(2).all(|d| d.status == Some(204) && d.attempts == 1), "{r:?}");
    drop(r);
    assert!(m.acknowledge(id, "noc", T0 + 32 * 60_000).is_ok());
    assert!(webhook::WebhookUrl::parse("https://x/y").is_err());
}

/// An off-grid site reports its state as telemetry: power roles become live power, gauges the live
/// state (never summed into the org), the site rules open alerts, and a restart recovers the state
/// from the reading log.
#[test]
fn off_grid_site_state_is_live_alerted_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = |dir: &std::path::Path| {
        let tree = model::OrgTree::build(vec![model::OrgRow {
            code: "G".into(),
            name: "G".into(),
            parent_code: None,
            equity_share: None,
            operational_control: None,
        }])
        .unwrap();
        let registry = MeterRegistry::read(
            "meter_code,facility_code,role,kind,max_gap_minutes\nS.load,S,site_load,power,120\n\
             S.unserved,S,unserved,power,120\nS.soc,S,soc,gauge,\nS.mode,S,supply_mode,gauge,\n"
                .as_bytes(),
            |_| true,
        )
        .unwrap();
        let fo: HashMap<String, u32> = [("S".to_string(), tree.get("G").unwrap())].into();
        Monitor::open(registry, tree, fo, alerts::parse_rules(alerts::DEFAULT_RULES).unwrap(), dir).unwrap()
    };
    let (m, _) = open(dir.path());
    const H: i64 = 3_600_000;
    // Hourly reports: the battery runs down below 20 % for two hours, then load goes unserved.
    let soc = [0.5, 0.3, 0.19, 0.15, 0.12, 0.1];
    for (i, s) in soc.iter().enumerate() {
        let ts = T0 + i as i64 * H;
        let unserved = if i == 5 { 0.4 } else { 0.0 };
        let lines = format!("S.load,{ts},1.2\nS.unserved,{ts},{unserved}\nS.soc,{ts},{s}\nS.mode,{ts},1\n");
        let (raw, errs) = parse_csv_lines(&lines);
        assert!(errs.is_empty());
        assert_eq!(m.ingest(&raw, T0 + 10 * H, "test").unwrap().stored(), 4);
    }
    let live = m.facility_live("S").unwrap();
    assert_eq!(live.gauges[&Role::Soc].value, 0.1);
    assert_eq!(live.gauges[&Role::SupplyMode].value, 1.0);
    assert_eq!(live.power_kw[&Role::SiteLoad], 1.2);
    assert!(!live.power_kw.contains_key(&Role::Soc) && !live.energy_1h_kwh.contains_key(&Role::Soc));
    assert!(m.org_live("G").unwrap().gauges.is_empty(), "states are not summed over an org");
    let open_rules: Vec<String> = m.alerts(None).iter().map(|a| a.rule.clone()).collect();
    assert!(open_rules.contains(&"site_soc_below_0_2_for_1h".to_string()), "{open_rules:?}");
    assert!(open_rules.contains(&"site_load_unserved".to_string()), "{open_rules:?}");
    drop(m);
    let (m, rec) = open(dir.path());
    assert_eq!(rec.readings, 24);
    assert_eq!(m.facility_live("S").unwrap().gauges[&Role::Soc].value, 0.1, "state recovered from the log");
}
