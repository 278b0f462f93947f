//! The demo platform's meter registry: `dualcarbon demo` writes `DATA_DIR/meters.csv` on its first
//! start (never over an existing one, nor when the database has a registry already, so a user's own
//! registry stays), which the platform imports into the database at start (docs/monitoring.md), so
//! the demo serves the monitoring API and the console's live pages. `demo generate`'s files are unchanged.

use anyhow::Result;
use std::path::Path;

/// One utility-side (total facility) and one UPS-output (IT load) power meter per data centre, as a
/// 动环 / DCIM system reports them: the pair that PUE needs; and the site meters of the demo's
/// off-grid sites (`demo_off_grid_sites`). Returns how many meters were written.
pub fn write_if_absent(store: &store::Store, data_dir: &Path) -> Result<Option<usize>> {
    let path = data_dir.join(store::documents::METERS);
    if path.exists() || store.document(store::documents::METERS)?.is_some() {
        return Ok(None);
    }
    let text = meters_csv(&store.facilities_within("/")?);
    let count = text.lines().count() - 1;
    std::fs::write(&path, text)?;
    Ok(Some(count))
}

/// How often the demo's off-grid site gateways are expected to report (minutes).
pub const DEMO_SITE_REPORT_MINUTES: u32 = 60;

fn meters_csv(facilities: &[store::reference::FacilityRecord]) -> String {
    let mut out = String::from("meter_code,facility_code,role,kind,counter_max_kwh,max_power_kw,max_gap_minutes\n");
    for f in facilities.iter().filter(|f| f.kind == "data_center") {
        // Readings every 15 min are usual for 动环 power points; 30 min without one is a gap.
        out.push_str(&format!("{}-TOT,{},total_facility,power,,,30\n", f.code, f.code));
        out.push_str(&format!("{}-IT,{},it_load,power,,,30\n", f.code, f.code));
    }
    for code in demo_off_grid_sites(facilities) {
        out.push_str(&site::meters::registry_rows(&code, DEMO_SITE_REPORT_MINUTES));
    }
    out
}

/// The demo's off-grid sites (光氢储): the first base station (by code) of each province, so every
/// provincial team has one site whose gateway can report state (`dualcarbon site gateway`). Their
/// filed electricity bills are the generator's and stay as they are: only the site meters are added.
pub fn demo_off_grid_sites(facilities: &[store::reference::FacilityRecord]) -> Vec<String> {
    let mut first: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    for f in facilities.iter().filter(|f| f.kind.starts_with("base_station")) {
        // The demo spells provinces several ways (广东, Guangdong, ...): group by the province itself.
        let province =
            model::province::parse_province(&f.province).map_or_else(|| f.province.clone(), |p| p.to_string());
        let e = first.entry(province).or_insert(f.code.as_str());
        if f.code.as_str() < *e {
            *e = f.code.as_str();
        }
    }
    first.into_values().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facility(code: &str, kind: &str) -> store::reference::FacilityRecord {
        store::reference::FacilityRecord {
            code: code.into(),
            name: code.into(),
            kind: kind.into(),
            org_code: "CT-GD-01".into(),
            province: "GD".into(),
            allocation_share: String::new(),
            shared_with: String::new(),
        }
    }

    #[test]
    fn two_meters_per_data_centre_and_site_meters_for_one_base_station_per_province() {
        let csv = meters_csv(&[
            facility("DC-1", "data_center"),
            facility("BS-2", "base_station_5g"),
            facility("BS-1", "base_station_4g"),
            store::reference::FacilityRecord { province: "Guangdong".into(), ..facility("BS-3", "base_station_4g") },
            facility("OF-1", "office"),
        ]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3 + site::meters::SITE_METERS.len(), "{csv}");
        assert_eq!(lines[1], "DC-1-TOT,DC-1,total_facility,power,,,30");
        assert_eq!(lines[2], "DC-1-IT,DC-1,it_load,power,,,30");
        assert!(lines[3..].iter().all(|l| l.split(',').nth(1) == Some("BS-1")), "the first base station: {csv}");
        // The registry the server loads accepts it.
        let dir = std::env::temp_dir().join(format!("dualcarbon-demo-meters-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("meters.csv"), &csv).unwrap();
        let reg = telemetry::MeterRegistry::load(&dir.join("meters.csv"), |f| f == "DC-1" || f == "BS-1");
        std::fs::remove_dir_all(&dir).ok();
        assert!(reg.is_ok(), "{:?}", reg.err().map(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>()));
    }
}
