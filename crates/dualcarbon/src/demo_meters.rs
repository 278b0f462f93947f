//! The demo platform's meter registry: `dualcarbon demo` writes `DATA_DIR/meters.csv` on its first
//! start (never over an existing one, so a user's own registry stays), so the demo serves the
//! monitoring API and the console's live pages. `demo generate`'s files are unchanged.

use anyhow::Result;
use std::path::Path;

/// One utility-side (total facility) and one UPS-output (IT load) power meter per data centre, as a
/// 动环 / DCIM system reports them: the pair that PUE needs. Returns how many meters were written.
pub fn write_if_absent(store: &store::Store, data_dir: &Path) -> Result<Option<usize>> {
    let path = data_dir.join("meters.csv");
    if path.exists() {
        return Ok(None);
    }
    let text = meters_csv(&store.facilities_within("/")?);
    let count = text.lines().count() - 1;
    std::fs::write(&path, text)?;
    Ok(Some(count))
}

fn meters_csv(facilities: &[store::reference::FacilityRecord]) -> String {
    let mut out = String::from("meter_code,facility_code,role,kind,counter_max_kwh,max_power_kw,max_gap_minutes\n");
    for f in facilities.iter().filter(|f| f.kind == "data_center") {
        // Readings every 15 min are usual for 动环 power points; 30 min without one is a gap.
        out.push_str(&format!("{}-TOT,{},total_facility,power,,,30\n", f.code, f.code));
        out.push_str(&format!("{}-IT,{},it_load,power,,,30\n", f.code, f.code));
    }
    out
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
    fn two_meters_per_data_centre_and_none_elsewhere() {
        let csv = meters_csv(&[facility("DC-1", "data_center"), facility("BS-1", "base_station_5g")]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert_eq!(lines[1], "DC-1-TOT,DC-1,total_facility,power,,,30");
        assert_eq!(lines[2], "DC-1-IT,DC-1,it_load,power,,,30");
        // The registry the server loads accepts it.
        let dir = std::env::temp_dir().join(format!("dualcarbon-demo-meters-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("meters.csv"), &csv).unwrap();
        let reg = telemetry::MeterRegistry::load(&dir.join("meters.csv"), |f| f == "DC-1");
        std::fs::remove_dir_all(&dir).ok();
        assert!(reg.is_ok(), "{:?}", reg.err().map(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>()));
    }
}
