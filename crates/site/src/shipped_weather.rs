//! Typical weather years shipped with the platform, so the demo's off-grid sites can be simulated
//! without an upload. Each file is compiled in from `crates/site/data/weather/` (SOURCE.md there says
//! where it came from) and carries its source as data: who produced it, the station, where this copy
//! was taken from, its SHA-256 and what is known of its licence. Proper names are given in zh and en;
//! the licence status is a code the console words.

use crate::weather::{parse_epw, Weather, WeatherError};
use serde::Serialize;

/// A shipped typical year and its source.
#[derive(Debug, Clone, Serialize)]
pub struct ShippedWeather {
    /// What a request names it by (`shipped_weather`).
    pub id: &'static str,
    /// The file's name as published.
    pub file: &'static str,
    pub format: &'static str,
    pub station_zh: &'static str,
    pub station_en: &'static str,
    /// WMO station number.
    pub wmo: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    pub elevation_m: f64,
    pub tz_hours: f64,
    pub data_set_zh: &'static str,
    pub data_set_en: &'static str,
    /// Short name of the data set.
    pub data_set_code: &'static str,
    pub producers_zh: &'static str,
    pub producers_en: &'static str,
    /// The printed publication of the data set.
    pub publication_zh: &'static str,
    pub publication_en: &'static str,
    /// Who turned it into this file's format and hands it out.
    pub converted_by_zh: &'static str,
    pub converted_by_en: &'static str,
    pub distributed_at: &'static str,
    /// Where this copy was taken from: repository, commit and path.
    pub copied_from: &'static str,
    /// SHA-256 of the shipped bytes (a test checks it).
    pub sha256: &'static str,
    /// `none_stated`: the data set names no licence; `licence_note` gives what is known (the console
    /// words the code in the user's language).
    pub licence: &'static str,
    pub licence_note: &'static str,
    /// The attribution to show wherever results from this year are shown.
    pub attribution: &'static str,
    /// Annual global horizontal irradiation, kWh/m² (the file's own hourly GHI summed; a test checks it).
    pub ghi_kwh_m2: f64,
    #[serde(skip)]
    pub text: &'static str,
}

/// The example off-grid site (`data/island-site.toml`, the demo's Hudieling island site at
/// Fangchenggang, Guangxi): what the shipped years' distances are measured to.
pub const EXAMPLE_SITE: (f64, f64) = (21.55, 108.25);

/// Every shipped typical year.
pub const SHIPPED: &[ShippedWeather] = &[ShippedWeather {
    id: "cswd-qinzhou-596320",
    file: "CHN_Guangxi.Zhuang.Qinzhou.596320_CSWD.epw",
    format: "epw",
    station_zh: "广西钦州",
    station_en: "Qinzhou, Guangxi",
    wmo: "59632",
    latitude: 21.95,
    longitude: 108.62,
    elevation_m: 4.5,
    tz_hours: 8.0,
    data_set_zh: "中国建筑热环境分析专用气象数据集（CSWD）",
    data_set_en: "China Standard Weather Data for Analyzing Building Thermal Conditions (CSWD)",
    data_set_code: "CSWD",
    producers_zh: "中国气象局气象信息中心气象资料室；清华大学建筑技术科学系",
    producers_en: "China Meteorological Bureau, Climate Information Center, Climate Data Office; Tsinghua University, Department of Building Science and Technology",
    publication_zh: "中国建筑工业出版社，2005 年，ISBN 7-112-07273-3",
    publication_en: "China Building Industry Press, 2005, ISBN 7-112-07273-3",
    converted_by_zh: "美国能源部（EnergyPlus 气象数据格式 EPW）",
    converted_by_en: "U.S. Department of Energy (EnergyPlus weather format, EPW)",
    distributed_at: "https://energyplus.net/weather (asia_wmo_region_2/CHN)",
    copied_from: "github.com/gwyxjtu/eppy_for_power_load_generation, commit f52597b20ff0192f119e01a8da1b80b379d52b0e, weathers/spyder/CHN_Guangxi.Zhuang.Qinzhou.596320_CSWD/CHN_Guangxi.Zhuang.Qinzhou.596320_CSWD.epw",
    sha256: "dec4721a3e0884d25e0a93841a0f838009e1a1b1293ff440576b20b56bd0a63e",
    licence: "none_stated",
    licence_note: "No explicit licence. U.S. DOE distributes the file free of charge on energyplus.net; NREL ships a CSWD EPW (Shaoguan) in the BSD-licensed OpenStudio. The source data is a copyrighted CMA/Tsinghua publication.",
    attribution: "China Standard Weather Data (CSWD), China Meteorological Bureau Climate Information Center & Tsinghua University, 2005; EnergyPlus weather format from U.S. DOE (energyplus.net)",
    ghi_kwh_m2: 1297.4,
    text: include_str!("../data/weather/CHN_Guangxi.Zhuang.Qinzhou.596320_CSWD.epw"),
}];

/// The shipped year named `id`.
pub fn find(id: &str) -> Option<&'static ShippedWeather> {
    SHIPPED.iter().find(|w| w.id == id)
}

impl ShippedWeather {
    /// The year's records placed in `year` (see [`crate::weather::parse_epw`]).
    pub fn weather(&self, year: i32) -> Result<Weather, Vec<WeatherError>> {
        parse_epw(self.file, self.text, year)
    }

    /// Great-circle distance from the station to the example site, km.
    pub fn example_site_distance_km(&self) -> f64 {
        distance_km(self.latitude, self.longitude, EXAMPLE_SITE.0, EXAMPLE_SITE.1)
    }
}

/// Great-circle (haversine) distance between two points on a sphere of the Earth's mean radius, km.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_year_matches_its_source_fields() {
        for s in SHIPPED {
            let w = s.weather(2023).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(w.records.len(), 8760);
            assert_eq!(
                (w.latitude, w.longitude, w.elevation_m, w.tz_hours),
                (s.latitude, s.longitude, s.elevation_m, s.tz_hours)
            );
            let ghi: f64 = w.records.iter().map(|r| r.ghi).sum::<f64>() / 1000.0;
            assert!(
                (ghi - s.ghi_kwh_m2).abs() <= 0.1,
                "{}: GHI {ghi} kWh/m2, source fields say {}",
                s.id,
                s.ghi_kwh_m2
            );
            assert_eq!(find(s.id).map(|f| f.file), Some(s.file));
        }
        assert!(find("nowhere").is_none());
    }

    #[test]
    fn the_shipped_bytes_are_the_ones_the_source_names() {
        use sha2::{Digest, Sha256};
        for s in SHIPPED {
            let hex: String = Sha256::digest(s.text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, s.sha256, "{}", s.file);
        }
    }

    #[test]
    fn qinzhou_is_58_6_km_from_the_example_site() {
        let d = find("cswd-qinzhou-596320").unwrap().example_site_distance_km();
        assert!((d - 58.6).abs() < 0.05, "{d} km");
        let example = crate::sim::SiteConfig::from_toml(include_str!("../data/island-site.toml")).unwrap();
        let l = example.location.unwrap();
        assert_eq!(
            (l.latitude, l.longitude),
            EXAMPLE_SITE,
            "the distance is measured to the example site file's place"
        );
        // A degree of latitude is 111.2 km on the mean sphere.
        assert!((distance_km(0.0, 0.0, 1.0, 0.0) - 111.19).abs() < 0.01);
    }
}
