//! Hand-checked worked examples, one per source type, and the invariants of the roll-up.

use accounting::metrics::*;
use accounting::{compute, Boundary, ExplainScope, GroupBy, InventoryOptions};
use factors::{Library, Parameter, Pin};
use model::*;

struct Rec<'a> {
    facility: &'a str,
    month: u8,
    carrier: &'a str,
    qty: f64,
    unit: &'a str,
}

fn rec<'a>(facility: &'a str, carrier: &'a str, qty: f64, unit: &'a str) -> Rec<'a> {
    Rec { facility, month: 1, carrier, qty, unit }
}

/// Group → two provinces → a city each; facilities: (code, type, province, org, share).
fn dataset(facilities: &[(&str, FacilityType, &str, &str, f64)], records: &[Rec]) -> Dataset {
    let org = |code: &str, parent: Option<&str>| OrgRow {
        code: code.into(),
        name: code.into(),
        parent_code: parent.map(Into::into),
        equity_share: None,
        operational_control: None,
    };
    let orgs = OrgTree::build(vec![
        org("G", None),
        org("BJ", Some("G")),
        org("GD", Some("G")),
        org("BJ-1", Some("BJ")),
        org("GD-1", Some("GD")),
    ])
    .unwrap();
    let mut ds = Dataset { year: 2024, orgs, strings: StringPool::new(), ..Default::default() };
    ds.files.push("activity.csv".into());
    for (code, kind, prov, org, share) in facilities {
        ds.facilities.push(Facility {
            code: code.to_string(),
            name: code.to_string(),
            kind: *kind,
            org: ds.orgs.get(org).unwrap(),
            province: parse_province(prov).unwrap(),
            allocation_share: *share,
            shared_with: String::new(),
        });
    }
    for (i, r) in records.iter().enumerate() {
        let f = ds.facilities.iter().position(|f| f.code == r.facility).unwrap() as u32;
        let c = ds.carrier_id(Carrier::parse(r.carrier).unwrap());
        let u = UNITS.iter().position(|u| u.code == r.unit).unwrap();
        let a = &mut ds.activity;
        a.facility.push(f);
        a.month.push(r.month);
        a.carrier.push(c);
        a.quantity.push(r.qty * UNITS[u].in_base);
        a.unit.push(u as u8);
        a.file.push(0);
        a.line.push(i as u32 + 2);
        a.source_document.push(0);
        a.evidence.push(0);
    }
    ds
}

fn opts() -> InventoryOptions {
    let mut o = InventoryOptions::new(2024);
    o.threads = 2;
    o
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} != {b} (tolerance {tol})");
}

#[test]
fn grid_electricity_at_the_mee_reporting_factor() {
    // 1,000,000 kWh at 0.5703 tCO2/MWh → 570.3 tCO2.
    let ds =
        dataset(&[("S1", FacilityType::Office, "北京", "BJ-1", 1.0)], &[rec("S1", "electricity", 1_000_000.0, "kWh")]);
    let lib = Library::shipped();
    let mut o = opts();
    o.grid_series = "mee_reporting".into();
    let inv = compute(&ds, &lib, &o).unwrap();
    let r = inv.report(&ds, &lib, None, None);
    close(r.totals.scope2_location, 570.3, 1e-6);
    // Energy at the calorific value 0.1229 kgce/kWh → 122.9 tce.
    close(r.totals.energy_tce, 122.9, 1e-6);
    close(r.memo.electricity_mwh, 1000.0, 1e-9);
    assert_eq!(r.totals.scope1, 0.0);
}

#[test]
fn diesel_from_ncv_carbon_content_and_oxidation() {
    // 1 t diesel: 42.652 GJ/t × 20.2 tC/TJ × 0.98 × 44/12 = 3.0959 tCO2 (reference §2.2).
    let ds = dataset(&[("GEN", FacilityType::MachineRoom, "Beijing", "BJ-1", 1.0)], &[rec("GEN", "diesel", 1.0, "t")]);
    let lib = Library::shipped();
    let inv = compute(&ds, &lib, &opts()).unwrap();
    let r = inv.report(&ds, &lib, None, None);
    let co2 = 42.652 * 0.0202 * 0.98 * 44.0 / 12.0;
    close(r.by_gas["CO2"].tonnes, co2, 1e-9);
    close(co2, 3.0959, 1e-4);
    // CH4 and N2O from IPCC 2006 stationary (commercial/institutional): 10 and 0.6 kg/TJ.
    let tj = 42.652e-3;
    close(r.by_gas["CH4"].tonnes, tj * 10.0 / 1000.0, 1e-9); // fixed point: 1 mg
    close(r.by_gas["N2O"].tonnes, tj * 0.6 / 1000.0, 1e-9);
    let gwp = |gas: &str| {
        lib.factors
            .iter()
            .find(|f| f.row.parameter == Parameter::Gwp && f.row.series == "AR6" && f.row.carrier == gas)
            .unwrap()
            .row
            .value
    };
    let expect = co2 + tj * 10.0 / 1000.0 * gwp("CH4") + tj * 0.6 / 1000.0 * gwp("N2O");
    close(r.scope1.stationary_combustion, expect, 1e-9);
    close(r.totals.scope1, expect, 1e-9);
    // 1 t diesel = 1.4571 tce (GB/T 2589).
    close(r.totals.energy_tce, 1.4571, 1e-9);
}

#[test]
fn diesel_in_litres_uses_the_density_and_fleet_is_mobile() {
    let ds = dataset(
        &[("CAR", FacilityType::Fleet, "北京", "BJ-1", 1.0), ("GEN", FacilityType::Office, "北京", "BJ-1", 1.0)],
        &[rec("CAR", "diesel", 1000.0, "L"), rec("GEN", "diesel", 0.84, "t")],
    );
    let lib = Library::shipped();
    let inv = compute(&ds, &lib, &opts()).unwrap();
    let r = inv.report(&ds, &lib, None, None);
    // 1000 L × 0.84 kg/L = 0.84 t: the same CO2 as 0.84 t, booked as mobile combustion.
    close(r.by_gas["CO2"].tonnes, 2.0 * 0.84 * 42.652 * 0.0202 * 0.98 * 44.0 / 12.0, 1e-9);
    assert!(r.scope1.mobile_combustion > 0.0 && r.scope1.stationary_combustion > 0.0);
    // Road-transport CH4 (3.9 kg/TJ) differs from stationary (10 kg/TJ).
    let tj = 0.84 * 42.652e-3;
    close(r.by_gas["CH4"].tonnes, tj * (3.9 + 10.0) / 1000.0, 1e-9);
}

#[test]
fn refrigerant_leak_at_its_gwp() {
    // 10 kg R-410A: AR5 1,923.5 → 19.235 tCO2e; AR6 2,255.5 → 22.555 tCO2e.
    let ds = dataset(
        &[("DC", FacilityType::DataCenter, "广东", "GD-1", 1.0)],
        &[rec("DC", "refrigerant:R-410A", 10.0, "kg")],
    );
    let lib = Library::shipped();
    let mut o = opts();
    o.gwp = "AR5".into();
    let r5 = compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    close(r5.scope1.fugitive_refrigerants, 19.235, 1e-9);
    o.gwp = "AR6".into();
    let r6 = compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    close(r6.scope1.fugitive_refrigerants, 22.555, 1e-9);
    close(r6.by_gas["HFCs"].tonnes, 0.01, 1e-12);
}

#[test]
fn hcfc22_is_a_memo_item_outside_scope1() {
    let ds =
        dataset(&[("DC", FacilityType::DataCenter, "广东", "GD-1", 1.0)], &[rec("DC", "refrigerant:R-22", 2.0, "kg")]);
    let lib = Library::shipped();
    let mut o = opts();
    o.gwp = "AR5".into();
    let r = compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    assert_eq!(r.totals.scope1, 0.0);
    close(r.memo.montreal_gases_tco2e, 2.0 * 1760.0 / 1000.0, 1e-9);
}

#[test]
fn market_based_with_certificates_and_residual_mix() {
    // Guangdong 2024: location uses the provincial 2022 factor 0.4403 on all 1.4 GWh;
    // market: certified 0.4 GWh at zero, the rest at the 2023 residual-mix proxy 0.6096.
    let ds = dataset(
        &[("DC", FacilityType::DataCenter, "Guangdong", "GD-1", 1.0)],
        &[rec("DC", "electricity", 1_000_000.0, "kWh"), rec("DC", "electricity_green_certified", 400.0, "MWh")],
    );
    let lib = Library::shipped();
    let inv = compute(&ds, &lib, &opts()).unwrap();
    let r = inv.report(&ds, &lib, None, None);
    close(r.totals.scope2_location, 1_400.0 * 0.4403, 1e-6);
    close(r.totals.scope2_market, 1_000.0 * 0.6096, 1e-6);
    close(r.memo.green_certified_mwh, 400.0, 1e-9);
    close(r.memo.green_power_share, 400.0 / 1400.0, 1e-12);
}

/// Factor vintages (issue 13): a 2024 inventory in Guangdong uses the 2022 provincial grid factor
/// for location-based and the 2023 residual for market-based. Both are flagged with their year
/// against the inventory year, on the figures they feed; the explanation splits market − location
/// into the certified green power at zero, the residual mix against the 2022 average (0.5856 −
/// 0.4403) and the newer residual vintage (0.6096 − 0.5856), adding up to the difference.
#[test]
fn factor_vintages_are_flagged_and_the_market_gap_is_explained() {
    let ds = dataset(
        &[("DC", FacilityType::DataCenter, "Guangdong", "GD-1", 1.0)],
        &[rec("DC", "electricity", 1_000_000.0, "kWh"), rec("DC", "electricity_green_certified", 400.0, "MWh")],
    );
    let lib = Library::shipped();
    let inv = compute(&ds, &lib, &opts()).unwrap();
    let r = inv.report(&ds, &lib, None, None);
    let v = |id: &str| {
        r.factor_vintages.iter().find(|v| v.factor_id == id).unwrap_or_else(|| panic!("{id}: {:?}", r.factor_vintages))
    };
    let loc = v("elec.nbs_average.CN-GD.2022");
    assert_eq!((loc.factor_year, loc.inventory_year, loc.code), (2022, 2024, "factor_year_before_inventory"));
    assert_eq!(loc.figures, vec!["scope2_location"]);
    let res = v("elec.nbs_residual.CN.2023");
    assert_eq!(
        (res.factor_year, res.code, res.figures.clone()),
        (2023, "factor_year_before_inventory", vec!["scope2_market"])
    );
    // Undated factors (standard coal, GWPs) are never flagged.
    assert!(r.factor_vintages.iter().all(|v| v.factor_id.starts_with("elec.")), "{:?}", r.factor_vintages);

    let ex = inv.explain(&ds, &lib, ds.orgs.root(), ExplainScope::Scope2, 100);
    assert_eq!((ex.totals_unit, ex.values_unit), ("tCO2e", "kgCO2e"));
    assert_eq!(ex.columns, vec!["scope2_location", "scope2_market"]);
    let loc_step = ex.plans.iter().flat_map(|p| &p.steps).find(|s| s.label == "location-based grid factor").unwrap();
    assert_eq!((loc_step.factor_year, loc_step.vintage), (Some(2022), Some("factor_year_before_inventory")));
    let gap = ex.scope2_gap.as_ref().expect("scope 2 gap");
    close(gap.market_minus_location, r.totals.scope2_market - r.totals.scope2_location, 1e-9);
    let part =
        |code: &str| gap.parts.iter().find(|p| p.code == code).unwrap_or_else(|| panic!("{code}: {:?}", gap.parts));
    close(part("green_certified_zero").value, -400.0 * 0.4403, 1e-6);
    close(part("residual_vs_average").value, 1_000.0 * (0.5856 - 0.4403), 1e-6);
    let vintage = part("residual_newer_vintage");
    close(vintage.value, 1_000.0 * (0.6096 - 0.5856), 1e-6);
    assert_eq!((vintage.location_year, vintage.market_year), (Some(2022), Some(2023)));
    close(vintage.mwh, 1_000.0, 1e-9);
    let sum: f64 = gap.parts.iter().map(|p| p.value).sum();
    close(sum, gap.market_minus_location, 1e-6);
    // The lines are in values_unit (kg), the totals in totals_unit (t).
    let lines: f64 = ex.lines.iter().map(|l| l.values[0]).sum();
    close(lines / 1000.0, ex.totals[0], 1e-9);
}

#[test]
fn uncertified_green_power_and_pv() {
    let ds = dataset(
        &[("DC", FacilityType::DataCenter, "Guangdong", "GD-1", 1.0)],
        &[rec("DC", "electricity_green_uncertified", 100.0, "MWh"), rec("DC", "electricity_pv_self", 50.0, "MWh")],
    );
    let lib = Library::shipped();
    let r = compute(&ds, &lib, &opts()).unwrap().report(&ds, &lib, None, None);
    // Uncertified green power: grid factor for location, residual for market. PV: zero in both.
    close(r.totals.scope2_location, 100.0 * 0.4403, 1e-6);
    close(r.totals.scope2_market, 100.0 * 0.6096, 1e-6);
    close(r.memo.pv_self_mwh, 50.0, 1e-9);
    close(r.totals.energy_tce, 150_000.0 * 0.1229 / 1000.0, 1e-9);
}

#[test]
fn purchased_heat() {
    let ds = dataset(&[("OF", FacilityType::Office, "北京", "BJ-1", 1.0)], &[rec("OF", "heat", 100.0, "GJ")]);
    let lib = Library::shipped();
    let r = compute(&ds, &lib, &opts()).unwrap().report(&ds, &lib, None, None);
    close(r.totals.scope2_location, 11.0, 1e-9);
    close(r.totals.scope2_market, 11.0, 1e-9);
    close(r.totals.energy_tce, 100.0 * 34.12 / 1000.0, 1e-9);
}

#[test]
fn shared_site_books_its_share_and_reports_the_rest() {
    let ds = dataset(
        &[("BS", FacilityType::BaseStation5g, "北京", "BJ-1", 0.5)],
        &[rec("BS", "electricity", 10_000.0, "kWh")],
    );
    let lib = Library::shipped();
    let mut o = opts();
    o.grid_series = "mee_reporting".into();
    let r = compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    close(r.totals.scope2_location, 5.0 * 0.5703, 1e-9);
    close(r.memo.allocated_away_tco2e, 5.0 * 0.5703, 1e-9);
    close(r.memo.allocated_away_mwh, 5.0, 1e-9);
    close(r.memo.electricity_mwh, 5.0, 1e-9);
}

#[test]
fn equity_share_and_operational_control_boundaries() {
    let mut ds = dataset(
        &[("BS", FacilityType::BaseStation4g, "北京", "BJ-1", 1.0)],
        &[rec("BS", "electricity", 10_000.0, "kWh")],
    );
    let bj1 = ds.orgs.get("BJ-1").unwrap() as usize;
    ds.orgs.orgs[bj1].equity_share = 0.51;
    let lib = Library::shipped();
    let mut o = opts();
    o.grid_series = "mee_reporting".into();
    let full = compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    close(full.totals.scope2_location, 10.0 * 0.5703, 1e-9);
    o.boundary = Boundary::EquityShare;
    let eq = compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    close(eq.totals.scope2_location, 0.51 * 10.0 * 0.5703, 1e-9);
    close(eq.memo.excluded_by_boundary_tco2e, 0.49 * 10.0 * 0.5703, 1e-9);
    ds.orgs.orgs[bj1].operational_control = false;
    o.boundary = Boundary::OperationalControl;
    let oc = compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    assert_eq!(oc.totals.scope2_location, 0.0);
    close(oc.memo.excluded_by_boundary_tco2e, 10.0 * 0.5703, 1e-9);
}

#[test]
fn pinned_factor_overrides_selection() {
    let ds = dataset(&[("S", FacilityType::Office, "广东", "GD-1", 1.0)], &[rec("S", "electricity", 1000.0, "MWh")]);
    let lib = Library::shipped();
    let mut o = opts();
    o.pins.push(Pin {
        carrier: "electricity".into(),
        parameter: Parameter::EmissionFactor,
        factor_id: "elec.mee_reporting.CN.2022".into(),
    });
    let r = compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    close(r.totals.scope2_location, 570.3, 1e-6);
}

#[test]
fn missing_scope3_factor_fails_with_count_and_location() {
    let ds = dataset(
        &[("OF", FacilityType::Office, "北京", "BJ-1", 1.0)],
        &[rec("OF", "freight:hyperloop", 10.0, "tkm"), rec("OF", "freight:hyperloop", 5.0, "tkm")],
    );
    let errs = compute(&ds, &Library::shipped(), &opts()).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].records, 2);
    assert_eq!(errs[0].first_record.line, 2);
    assert!(errs[0].message.contains("freight:hyperloop"));
}

#[test]
fn scope3_from_a_user_factor_set() {
    let ds = dataset(
        &[("OF", FacilityType::Office, "北京", "BJ-1", 1.0)],
        &[rec("OF", "business_travel:air", 1000.0, "pkm")],
    );
    let mut lib = Library::shipped();
    let mut errors = Vec::new();
    lib.add_file(
        "mine.toml",
        "[set]\nid=\"mine\"\nversion=\"1\"\ntitle=\"t\"\n[[factor]]\nid=\"bt.air\"\nparameter=\"emission_factor\"\ncarrier=\"business_travel:air\"\nregion=\"*\"\ngas=\"CO2e\"\nvalue=0.15\nunit=\"kgCO2e/pkm\"\nsource=\"test\"\n",
        true,
        &mut errors,
    );
    assert!(errors.is_empty());
    let r = compute(&ds, &lib, &opts()).unwrap().report(&ds, &lib, None, None);
    close(r.scope3.cat6_business_travel, 0.15, 1e-12);
    close(r.totals.scope3, 0.15, 1e-12);
}

fn mixed() -> Dataset {
    let fac = [
        ("B1", FacilityType::BaseStation5g, "北京", "BJ-1", 0.5),
        ("B2", FacilityType::BaseStation4g, "北京", "BJ-1", 1.0),
        ("D1", FacilityType::DataCenter, "广东", "GD", 1.0),
        ("F1", FacilityType::Fleet, "广东", "GD-1", 1.0),
        ("O1", FacilityType::Office, "北京", "BJ", 1.0),
    ];
    let mut recs = Vec::new();
    for m in 1..=12u8 {
        recs.push(Rec {
            facility: "B1",
            month: m,
            carrier: "electricity",
            qty: 2_500.0 + m as f64 * 17.3,
            unit: "kWh",
        });
        recs.push(Rec { facility: "B2", month: m, carrier: "electricity", qty: 1_300.0 + m as f64 * 3.1, unit: "kWh" });
        recs.push(Rec { facility: "D1", month: m, carrier: "electricity", qty: 3_000.0 + m as f64, unit: "MWh" });
        recs.push(Rec { facility: "D1", month: m, carrier: "electricity_green_certified", qty: 500.0, unit: "MWh" });
        recs.push(Rec { facility: "F1", month: m, carrier: "gasoline", qty: 1_200.5, unit: "L" });
        recs.push(Rec { facility: "O1", month: m, carrier: "natural_gas", qty: 310.0, unit: "m3" });
    }
    recs.push(Rec { facility: "D1", month: 7, carrier: "refrigerant:R-134a", qty: 35.0, unit: "kg" });
    dataset(&fac, &recs)
}

#[test]
fn parent_equals_the_sum_of_its_children_exactly() {
    let ds = mixed();
    let lib = Library::shipped();
    let inv = compute(&ds, &lib, &opts()).unwrap();
    let sub = inv.org_subtree(&ds);
    let own = inv.org_own();
    for (o, org) in ds.orgs.orgs.iter().enumerate() {
        let mut sum = own[o];
        for &c in &ds.orgs.children[o] {
            sum.add(&sub[c as usize]);
        }
        assert_eq!(sum, sub[o], "org {}", org.code);
    }
    // Months, facility types and provinces each add up to the group total, exactly.
    let total = sub[0];
    for by in [GroupBy::Month, GroupBy::FacilityType] {
        let r = inv.report(&ds, &lib, None, Some(by));
        let s: f64 = r.rows.iter().map(|x| x.figures.totals.scope2_location).sum();
        close(s, total.tonnes(S2_LOCATION), 1e-6);
    }
    let prov = inv.report(&ds, &lib, None, Some(GroupBy::Province));
    assert_eq!(prov.rows.len(), 2);
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let ds = mixed();
    let lib = Library::shipped();
    let mut o = opts();
    o.threads = 1;
    let a = compute(&ds, &lib, &o).unwrap();
    o.threads = 7;
    let b = compute(&ds, &lib, &o).unwrap();
    assert_eq!(a.cells, b.cells);
}

#[test]
fn explanation_adds_up_to_the_reported_figure() {
    let ds = mixed();
    let lib = Library::shipped();
    let inv = compute(&ds, &lib, &opts()).unwrap();
    let r = inv.report(&ds, &lib, None, None);
    let bj = ds.orgs.get("BJ").unwrap();
    let ex2 = inv.explain(&ds, &lib, ds.orgs.root(), ExplainScope::Scope2, 10);
    assert_eq!(ex2.totals[0], r.totals.scope2_location);
    assert_eq!(ex2.totals[1], r.totals.scope2_market);
    assert_eq!(ex2.lines.len(), 10);
    assert!(ex2.lines_truncated);
    assert_eq!(ex2.record_count, 12 * 4);
    let ex1 = inv.explain(&ds, &lib, ds.orgs.root(), ExplainScope::Scope1, 1000);
    assert_eq!(ex1.totals[0], r.totals.scope1);
    let line_sum: f64 = ex1.lines.iter().map(|l| l.values[0]).sum::<f64>() / 1000.0;
    close(line_sum, r.totals.scope1, 1e-9);
    // Every plan names the factors it used, with sources.
    assert!(ex1.plans.iter().all(|p| p.steps.iter().any(|s| s.factor_id.is_some() && s.source.is_some())));
    let rbj = inv.report(&ds, &lib, Some(bj), None);
    let exbj = inv.explain(&ds, &lib, bj, ExplainScope::Scope2, 5);
    assert_eq!(exbj.totals[0], rbj.totals.scope2_location);
    assert!(exbj.lines.iter().all(|l| l.org.starts_with("BJ")));
}

#[test]
fn report_lists_factors_with_library_version() {
    let ds = mixed();
    let lib = Library::shipped();
    let r = compute(&ds, &lib, &opts()).unwrap().report(&ds, &lib, None, None);
    assert_eq!(r.library_version, lib.version());
    assert!(r.factors_used.iter().any(|f| f.id.starts_with("elec.nbs_average.CN-GD")));
    assert!(r.factors_used.iter().all(|f| !f.source.is_empty()));
}
