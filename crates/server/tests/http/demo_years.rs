//! The demo operator over several years through the platform (what `dualcarbon demo` does on first
//! start): every year's activity file is filed with `load::load_dir`, a group snapshot is stored per
//! year, and the trend route then has 36 consecutive months (forecast and backtest) and LMDI two
//! years to compare. SQLite and, when configured, PostgreSQL.

use crate::harness::{load_dir, run_inventory, runtime, App, Harness};
use axum::http::StatusCode;

#[test]
fn a_multi_year_demo_files_every_year_and_feeds_trend_and_lmdi() {
    let data = tempfile::tempdir().unwrap();
    let opts = demo::DemoOptions { sites: 200, first_year: 2022, year: 2024, seed: 3 };
    let summary = demo::generate(&opts, data.path()).unwrap();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in store::testing::stores("demo_years", &dir.path().join("db")) {
        let spool = tempfile::tempdir().unwrap();
        let mut snapshots = Vec::new();
        for (year, rows) in &summary.rows_by_year {
            let s = load_dir(&store, data.path(), *year, "loader", spool.path(), 2)
                .unwrap_or_else(|e| panic!("{backend} {year}: {}", e.message));
            assert_eq!(s.rows, *rows as i64, "{backend} {year}: every row of activity-{year}.csv filed");
            assert_eq!(s.facilities, summary.facilities);
        }
        for (year, _) in &summary.rows_by_year {
            let snap = run_inventory(&store, "loader", demo::GROUP_CODE, *year, serde_json::json!({}), 2)
                .unwrap_or_else(|e| panic!("{backend} {year}: {}", e.message));
            snapshots.push(snap.id);
        }
        let user = store.create_user("test", "years", &server::auth::hash_password("pw").unwrap(), "group_admin", "CT");
        store.add_token(user.unwrap().id, "years-token", "2999-01-01T00:00:00.000Z").unwrap();
        let app = App::new(store, spool.path().to_path_buf());
        rt.block_on(async {
            let h = Harness::on(app.clone(), &backend);
            let (status, t, _) = h.get("/api/v1/orgs/CT/scenario/trend?horizon=12", "years-token").await.parts();
            assert_eq!(status, StatusCode::OK, "{backend}: {t}");
            assert_eq!(t["snapshots"].as_array().unwrap().len(), 3, "{backend}: {}", t["snapshots"]);
            let e = &t["series"][0];
            assert_eq!(e["values"].as_array().unwrap().len(), 36);
            assert_eq!(e["periods"][0], "2022-01");
            assert_eq!(e["forecast_periods"].as_array().unwrap().len(), 12);
            assert_eq!(e["forecast"]["mean"].as_array().unwrap().len(), 12);
            assert!(
                e["backtest"]["mape"].as_f64().is_some(),
                "{backend}: 36 months give a backtest: {}",
                e["backtest"]
            );
            let (status, l, _) = h
                .get(&format!("/api/v1/snapshots/{}/scenario/lmdi?to={}", snapshots[0], snapshots[2]), "years-token")
                .await
                .parts();
            assert_eq!(status, StatusCode::OK, "{backend}: {l}");
            let d = &l["decomposition"];
            assert_eq!((d["from_year"].as_i64(), d["to_year"].as_i64()), (Some(2022), Some(2024)), "{d}");
            // The same facilities: no activity effect; the documented trends move the rest.
            assert_eq!(d["total"]["activity"].as_f64(), Some(0.0), "{d}");
            assert!(d["total"]["green_power"].as_f64().unwrap() < 0.0, "more green power: {d}");
            assert!(d["total"]["scope1"].as_f64().unwrap() < 0.0, "less fleet fuel: {d}");
            assert!(l["residual_tco2e"].as_f64().unwrap().abs() < 1e-6 * d["to_tco2e"].as_f64().unwrap());
        });
        drop(app);
    }
}
