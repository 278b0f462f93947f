//! A snapshot keeps its figures by org × facility type × month when it is run; what the console,
//! trends and reports read from them must equal what recomputing the inventory reports (the
//! recompute-equals-stored check), on SQLite and PostgreSQL.

use accounting::GroupBy;
use platform::snapshot;
use serde_json::{json, Value};

#[test]
fn a_snapshot_keeps_its_cells_and_they_give_what_a_recomputation_reports() {
    let data = tempfile::tempdir().unwrap();
    demo::generate(&demo::DemoOptions::one_year(150, 2024, 7), data.path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in store::testing::stores("platform_snapshot_cells", &dir.path().join("db")) {
        let spool = tempfile::tempdir().unwrap();
        platform::demo::load_dir(&store, data.path(), 2024, "tester", spool.path(), 2).unwrap();
        let root = store.orgs().unwrap().into_iter().find(|o| o.depth == 0).unwrap().code;
        let snap = snapshot::run_blocking(&store, "tester", &root, 2024, json!({}), 2).unwrap();
        let figures = snapshot::kept_figures(&store, &snap).unwrap().expect("kept with the snapshot");
        let kept = serde_json::to_value(&figures).unwrap();

        // The recomputation's own report, org by org, by month and by facility type.
        let c = snapshot::compute(&store, &snapshot::recorded_inputs(&store, &snap).unwrap(), 2).unwrap();
        assert_eq!(c.result(), snap.result, "{backend}");
        let orgs = kept["orgs"].as_object().unwrap();
        assert_eq!(orgs.len(), c.ds.orgs.orgs.len(), "{backend}: every org of the subtree");
        let mut non_zero = 0;
        for (o, org) in c.ds.orgs.orgs.iter().enumerate() {
            for (by, field) in [(GroupBy::Month, "months"), (GroupBy::FacilityType, "facility_types")] {
                let rows: Vec<Value> = c
                    .inventory
                    .report(&c.ds, &c.lib, Some(o as u32), Some(by))
                    .rows
                    .iter()
                    .map(|r| json!({"key": r.key, "totals": r.figures.totals}))
                    .collect();
                non_zero += rows.iter().filter(|r| r["totals"]["total_market"].as_f64() != Some(0.0)).count();
                assert_eq!(orgs[&org.code][field], json!(rows), "{backend}: {} {field}", org.code);
            }
        }
        assert!(non_zero > 100, "{backend}: the demo has figures to compare ({non_zero})");
        let again = snapshot::rerun(&store, snap.id, 2).unwrap();
        assert_eq!((again["identical"].clone(), again["cells_identical"].clone()), (json!(true), json!(true)));

        // A snapshot stored before snapshots kept cells gets them once, from a checked recomputation.
        store
            .tx(|t| {
                t.exec("DELETE FROM snapshot_cells WHERE snapshot_id = $1", &[snap.id.into()])?;
                t.exec("DELETE FROM snapshot_cell_sets WHERE snapshot_id = $1", &[snap.id.into()])
            })
            .unwrap();
        assert_eq!(snapshot::kept_figures(&store, &snap).unwrap(), None, "{backend}");
        assert_eq!(snapshot::keep_cells_of(&store, snap.id, 2).unwrap(), figures, "{backend}");
        assert!(store.snapshot_cells(snap.id).unwrap().is_some(), "{backend}");

        // A kept cell that no longer matches the inputs is found by a re-run.
        store
            .tx(|t| {
                t.exec(
                    "UPDATE snapshot_cells SET metrics = $1 WHERE snapshot_id = $2 AND month = 1",
                    &[accounting::metrics::Metrics::default().encode().into(), snap.id.into()],
                )
            })
            .unwrap();
        let tampered = snapshot::rerun(&store, snap.id, 2).unwrap();
        assert_eq!(tampered["cells_identical"], json!(false), "{backend}");
        assert_eq!(tampered["identical"], json!(false), "{backend}");
    }
}
