//! The filing cockpit (`GET /api/v1/orgs/{code}/filing-status`) on SQLite and PostgreSQL: an org's
//! subtree × the months of a year with each filing's status, the orgs expected to file (facilities
//! of their own), what is missing, the counts per month, and the caller's scope.

use crate::harness::{electricity_csv, fac, group_orgs, Platform, Seed};
use axum::http::StatusCode;
use serde_json::json;

fn platform(name: &str) -> Platform {
    // CT-GD files for GD2 (its own) and CT-GD-GZ for GD1; CT and CT-BJ have no facility of their own
    // but BJ1 belongs to CT-BJ.
    let facilities = vec![
        fac("GD1", "base_station_5g", "CT-GD-GZ", "广东"),
        fac("GD2", "base_station_5g", "CT-GD", "广东"),
        fac("BJ1", "base_station_5g", "CT-BJ", "北京"),
    ];
    let users =
        vec![("admin", "group_admin", "CT"), ("gd-admin", "org_admin", "CT-GD"), ("gd-filer", "data_filer", "CT-GD")];
    Platform::new(name, Seed { orgs: group_orgs("CT-BJ"), facilities, users })
}

#[test]
fn the_grid_shows_each_org_months_status_and_what_is_missing() {
    platform("cockpit_grid").run(|h| async move {
        let backend = h.backend.clone();
        let (filer, gd_admin, admin) = (h.login("gd-filer").await, h.login("gd-admin").await, h.login("admin").await);
        h.file_approved(&filer, &gd_admin, "CT-GD", "2024-01", &electricity_csv(&[("GD2", "2024-01", "10")])).await;
        let draft = h.open_filing(&filer, "CT-GD-GZ", "2024-02").await;
        let submitted = h.open_filing(&filer, "CT-GD", "2024-03").await;
        h.upload(submitted, &filer, electricity_csv(&[("GD2", "2024-03", "5")])).await;
        let s = h.post(&format!("/api/v1/filings/{submitted}/submit"), &filer, json!({})).await;
        assert_eq!(s.status, StatusCode::OK, "{backend}: {}", s.text);
        // Another year does not show.
        h.open_filing(&filer, "CT-GD", "2023-12").await;

        let g = h.get("/api/v1/orgs/CT/filing-status?year=2024", &admin).await;
        assert_eq!(g.status, StatusCode::OK, "{backend}: {}", g.text);
        let orgs: Vec<&str> = g.json["rows"].as_array().unwrap().iter().map(|r| r["org"].as_str().unwrap()).collect();
        assert_eq!(orgs.len(), 4, "{backend}: {orgs:?}");
        assert_eq!(orgs[0], "CT", "{backend}: tree order, the org first");
        let row =
            |code: &str| g.json["rows"].as_array().unwrap().iter().find(|r| r["org"] == json!(code)).unwrap().clone();
        assert_eq!(g.json["periods"][0], json!("2024-01"), "{backend}");
        assert_eq!(g.json["periods"].as_array().unwrap().len(), 12, "{backend}");
        // CT has no facility of its own: not expected, nothing missing.
        assert_eq!(
            (row("CT")["expected"].clone(), row("CT")["missing"].clone()),
            (json!(false), json!(0)),
            "{backend}"
        );
        assert_eq!(row("CT-GD")["name"], json!("CT-GD 分公司"), "{backend}: {}", row("CT-GD"));
        let gd = row("CT-GD");
        assert_eq!((gd["own_facilities"].clone(), gd["depth"].clone()), (json!(1), json!(1)), "{backend}");
        assert_eq!(gd["cells"][0]["status"], json!("approved"), "{backend}");
        assert_eq!(gd["cells"][0]["missing"], json!(false), "{backend}");
        assert_eq!(gd["cells"][2]["status"], json!("submitted"), "{backend}");
        assert_eq!(gd["cells"][2]["filing"], json!(submitted), "{backend}");
        assert_eq!(gd["cells"][2]["missing"], json!(true), "{backend}: submitted is not yet approved");
        assert_eq!(gd["cells"][5]["status"], json!("none"), "{backend}");
        assert_eq!(gd["missing"], json!(11), "{backend}");
        let gz = row("CT-GD-GZ");
        assert_eq!(
            (gz["cells"][1]["status"].clone(), gz["cells"][1]["filing"].clone()),
            (json!("draft"), json!(draft)),
            "{backend}"
        );
        // Three orgs expected × 12 months, one approved.
        assert_eq!(g.json["missing"], json!(35), "{backend}");
        let jan = &g.json["months"][0];
        assert_eq!(
            (jan["approved"].clone(), jan["expected"].clone(), jan["missing"].clone(), jan["none"].clone()),
            (json!(1), json!(3), json!(2), json!(3)),
            "{backend}: {jan}"
        );
        assert_eq!(g.json["months"][2]["submitted"], json!(1), "{backend}");

        // A province sees its own subtree only; years are bounded.
        let gd_grid = h.get("/api/v1/orgs/CT-GD/filing-status?year=2024", &filer).await;
        assert_eq!(gd_grid.status, StatusCode::OK, "{backend}");
        assert_eq!(gd_grid.json["rows"].as_array().unwrap().len(), 2, "{backend}");
        assert_eq!(gd_grid.json["rows"][0]["depth"], json!(0), "{backend}");
        let other = h.get("/api/v1/orgs/CT-BJ/filing-status?year=2024", &filer).await;
        assert_eq!(other.status, StatusCode::FORBIDDEN, "{backend}: {}", other.text);
        let far = h.get("/api/v1/orgs/CT/filing-status?year=3000", &admin).await;
        assert_eq!(far.status, StatusCode::BAD_REQUEST, "{backend}: {}", far.text);
    });
}

#[test]
fn a_filing_reminder_lists_what_is_missing_and_goes_to_the_webhook_targets() {
    platform("cockpit_remind").run(|h| async move {
        let backend = h.backend.clone();
        let (filer, gd_admin) = (h.login("gd-filer").await, h.login("gd-admin").await);
        h.file_approved(&filer, &gd_admin, "CT-GD", "2024-01", &electricity_csv(&[("GD2", "2024-01", "10")])).await;
        // Through the route (no webhook target configured in the tests): the notice of the
        // year's ended months (all of 2024 by now).
        let r = h.post("/api/v1/orgs/CT-GD/filing-reminders?year=2024", &gd_admin, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
        let notice = &r.json["notice"];
        assert_eq!(
            (notice["kind"].clone(), notice["org"].clone(), notice["count"].clone()),
            (json!("filing_reminder"), json!("CT-GD"), json!(23)),
            "{backend}: {notice}"
        );
        assert_eq!(
            notice["missing"][0],
            json!({"org": "CT-GD", "name": "CT-GD 分公司", "period": "2024-02", "status": "none", "filing": null}),
            "{backend}"
        );
        assert_eq!(r.json["deliveries"], json!([]), "{backend}");
        // A filer may not send reminders; another province's subtree is out of scope.
        assert_eq!(
            h.post("/api/v1/orgs/CT-GD/filing-reminders?year=2024", &filer, json!({})).await.status,
            StatusCode::FORBIDDEN
        );

        // To a webhook target: the same notice as JSON, once (a 2xx ends the retries).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url =
            monitor::webhook::WebhookUrl::parse(&format!("http://{}/hook", listener.local_addr().unwrap())).unwrap();
        let got = std::thread::spawn(move || {
            use std::io::{BufRead, BufReader, Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        });
        let store = h.app.store.clone();
        let out =
            tokio::task::spawn_blocking(move || platform::cockpit::remind(&store, "CT-GD", 2024, 3, &[url]).unwrap())
                .await
                .unwrap();
        let body = got.join().unwrap();
        assert_eq!(body["kind"], json!("filing_reminder"), "{backend}");
        assert_eq!(body["count"], json!(5), "{backend}: Feb and Mar of CT-GD, Jan–Mar of CT-GD-GZ");
        assert_eq!(out["deliveries"][0]["status"], json!(204), "{backend}: {out}");
        assert_eq!(out["deliveries"][0]["attempts"], json!(1), "{backend}");
    });
}
