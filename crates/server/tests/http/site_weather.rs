//! HTTP tests of the shipped weather years (issue 14): the list with its source fields, and the
//! example site simulated and sized on the shipped year without an upload. The routes read nothing
//! from the store (the year is compiled in), so SQLite alone is enough.

use crate::harness::{fac, org, Platform, Seed};
use axum::http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

const SITE: &str = include_str!("../../../site/data/island-site.toml");
const QINZHOU: &str = "cswd-qinzhou-596320";
const EPW: &str = include_str!("../../../site/data/weather/CHN_Guangxi.Zhuang.Qinzhou.596320_CSWD.epw");

fn platform(name: &str) -> Platform {
    let orgs = vec![org("CT", None), org("CT-GX", Some("CT"))];
    let facilities = vec![fac("GX1", "base_station_5g", "CT-GX", "广西")];
    let users = vec![("employee", "employee", "CT"), ("gx-admin", "org_admin", "CT-GX")];
    Platform::new(name, Seed { orgs, facilities, users }).sqlite_only()
}

#[test]
fn shipped_weather_years_are_listed_with_their_source() {
    platform("site_weather_list").run(|h| async move {
        let anonymous = h.raw("GET", "/api/v1/site/weather", &[], Vec::new()).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{}", anonymous.text);

        // Guarded like simulate: roles that read platform data.
        let employee = h.login("employee").await;
        let r = h.get("/api/v1/site/weather", &employee).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let admin = h.login("gx-admin").await;
        let r = h.get("/api/v1/site/weather", &admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let years = r.json["weather_years"].as_array().unwrap();
        assert_eq!(years.len(), 1, "{}", r.text);
        let y = &years[0];
        assert_eq!(y["id"], QINZHOU);
        assert_eq!(y["wmo"], "59632");
        assert_eq!(y["format"], "epw");
        assert_eq!(y["licence"], "none_stated");
        assert_eq!(y["data_set_code"], "CSWD");
        assert!(y["producers_en"].as_str().unwrap().contains("Tsinghua University"), "{y}");
        assert!(y["producers_zh"].as_str().unwrap().contains("清华大学"), "{y}");
        assert!(y["copied_from"].as_str().unwrap().contains("f52597b20ff0192f119e01a8da1b80b379d52b0e"), "{y}");
        assert!(y.get("text").is_none(), "the file itself is not in the list");
        // The SHA-256 named is the one of the bytes shipped.
        let hex: String = Sha256::digest(EPW.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(y["sha256"], hex);
        let km = y["example_site_distance_km"].as_f64().unwrap();
        assert!((57.0..59.0).contains(&km), "{km} km");
        assert_eq!(r.json["example_site"], json!({"latitude": 21.55, "longitude": 108.25}));
    });
}

#[test]
fn the_example_site_simulates_on_the_shipped_year_without_an_upload() {
    platform("site_weather_simulate").run(|h| async move {
        let admin = h.login("gx-admin").await;
        let shipped = json!({"site_toml": SITE, "shipped_weather": QINZHOU});
        let r = h.post("/api/v1/site/simulate", &admin, shipped.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let rep = &r.json["report"];
        assert_eq!(rep["steps"], json!(8760));
        assert_eq!(rep["weather"], "Qinzhou (CSWD 596320)");
        assert_eq!((rep["latitude"].as_f64(), rep["longitude"].as_f64()), (Some(21.95), Some(108.62)));
        assert_eq!(r.json["daily"].as_array().unwrap().len(), 365);
        assert!(rep["energy_kwh"]["pv_available"].as_f64().unwrap() > 0.0, "{rep}");
        assert!(rep["balance_residual_kwh"].as_f64().unwrap().abs() < 1e-6, "{rep}");

        // The same file uploaded as an EPW gives the same year to the watt.
        let up = h
            .post("/api/v1/site/simulate", &admin, json!({"site_toml": SITE, "weather_csv": EPW, "weather_name": "q.epw"}))
            .await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.text);
        assert_eq!(up.json["report"]["energy_kwh"], rep["energy_kwh"]);
        assert_eq!(up.json["report"]["hours_by_state"], rep["hours_by_state"]);

        // Sizing on the shipped year.
        let s = h.post("/api/v1/site/size", &admin, shipped).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.text);
        assert!(s.json["sizing"]["evaluated"].as_u64().unwrap() > 0, "{}", s.text);

        // Both, neither or an unknown year: refused with the reason, nothing computed.
        for (body, says) in [
            (json!({"site_toml": SITE, "shipped_weather": QINZHOU, "weather_csv": EPW}), "not both"),
            (json!({"site_toml": SITE}), "is needed"),
            (json!({"site_toml": SITE, "shipped_weather": "nowhere"}), QINZHOU),
        ] {
            let bad = h.post("/api/v1/site/simulate", &admin, body).await;
            assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
            assert_eq!(bad.json["error"]["code"], "invalid_site", "{}", bad.text);
            let detail = bad.json["error"]["detail"].as_array().unwrap();
            assert_eq!(detail.len(), 1, "{}", bad.text);
            assert!(detail[0].as_str().unwrap().contains(says), "{}", bad.text);
        }
        // A broken site file and a broken EPW: every problem of both at once.
        let broken = EPW.replacen("LOCATION,Qinzhou,Guangxi Zhuang,CHN,CSWD,596320,21.95", "LOCATION,Qinzhou,Guangxi Zhuang,CHN,CSWD,596320,x", 1);
        let bad = h
            .post("/api/v1/site/simulate", &admin, json!({"site_toml": SITE.replace("pdc0_w = 6000", "pdc0_w = \"a\""), "weather_csv": broken, "weather_name": "q.epw"}))
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        let detail: Vec<&str> = bad.json["error"]["detail"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        assert!(detail.iter().any(|d| d.starts_with("site.toml:")), "{detail:?}");
        assert!(detail.iter().any(|d| d.starts_with("q.epw:1: LOCATION latitude (field 7)")), "{detail:?}");
    });
}
