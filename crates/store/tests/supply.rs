//! Supply-chain disclosures in the store, on SQLite and PostgreSQL alike: a supplier's workbook is
//! stored in one transaction, whole or not at all.

use serde_json::json;
use store::reference::OrgRecord;
use store::supply::NewFootprint;
use store::testing::stores;

fn footprint(pf_id: &str, product: &str, supplier: i64) -> NewFootprint {
    NewFootprint {
        pf_id: pf_id.into(),
        supplier_id: Some(supplier),
        org_code: "CT".into(),
        company_uscc: "91110000100000000A".into(),
        product_id: product.into(),
        class: "rru".into(),
        unit: "piece".into(),
        kg_per_unit: "120.5".into(),
        dqr: None,
        source: "supplier".into(),
        created: "2026-12-05T00:00:00Z".into(),
        ref_end: "2026-01-01T00:00:00Z".into(),
        body: json!({"id": pf_id}),
        disclosure: ("footprint".into(), 2025, json!({"product_id": product})),
    }
}

#[test]
fn a_workbook_is_stored_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("supply_workbook", dir.path()) {
        let ct = OrgRecord {
            code: "CT".into(),
            name: "集团".into(),
            parent_code: None,
            equity_share: String::new(),
            operational_control: String::new(),
        };
        s.upsert_reference("test", &[ct], &[]).unwrap();
        let supplier =
            s.supply_add_supplier("admin", "CT", "91110000100000000A", "供应商", &json!([]), &json!([])).unwrap();
        let audit_before = s.audit_entries(0, 1_000_000).unwrap().len();
        let company = ("company".to_string(), 2025, json!({"year": 2025, "scope1_t": 10}));
        // Two footprints of one product (versions 1 and 2) and a company disclosure: all stored.
        let (fps, ids) = s
            .supply_add_workbook(
                "supplier-user",
                &supplier,
                &[footprint("pf-1", "RRU-1", supplier.id), footprint("pf-2", "RRU-1", supplier.id)],
                std::slice::from_ref(&company),
            )
            .unwrap();
        assert_eq!(fps.iter().map(|f| (f.pf_id.as_str(), f.version)).collect::<Vec<_>>(), [("pf-1", 1), ("pf-2", 2)]);
        assert_eq!(fps[0].status, "Deprecated", "{name}: the first version is superseded in the same workbook");
        assert_eq!(ids.len(), 1, "{name}");
        assert_eq!(s.supply_disclosures(supplier.id, "company").unwrap().len(), 1, "{name}");
        // Footprints (2), their disclosures are not audited apart, the company disclosure (1).
        assert_eq!(s.audit_entries(0, 1_000_000).unwrap().len() - audit_before, 3, "{name}");
        // A workbook whose last row fails in the database (a footprint id stored already): none of
        // its rows stays, and no audit entry either.
        let audit_before = s.audit_entries(0, 1_000_000).unwrap().len();
        let failed = s.supply_add_workbook(
            "supplier-user",
            &supplier,
            &[footprint("pf-3", "RRU-2", supplier.id), footprint("pf-1", "RRU-3", supplier.id)],
            std::slice::from_ref(&company),
        );
        assert!(
            matches!(failed, Err(store::StoreError::Conflict(ref m)) if m.starts_with("footprint_exists")),
            "{name}: {failed:?}"
        );
        assert!(s.supply_footprint_by_pf_id("pf-3").unwrap().is_none(), "{name}: the first row was rolled back");
        assert_eq!(s.supply_disclosures(supplier.id, "company").unwrap().len(), 1, "{name}");
        assert_eq!(s.audit_entries(0, 1_000_000).unwrap().len(), audit_before, "{name}");
    }
}
