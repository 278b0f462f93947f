//! Mainland China's 31 provincial-level divisions and the regional power grid each belongs to.
//!
//! The grid-region mapping follows the regional split used by the MEE/NBS electricity CO2 factor
//! announcements (华北, 东北, 华东, 华中, 西北, 南方, 西南). Inner Mongolia is placed in North China:
//! its western grid (蒙西) is part of the North China grid and carries most of its load; the eastern
//! part (蒙东) belongs to the Northeast grid. Users who need 蒙东 separately can give the facility the
//! region code of the Northeast grid through a factor override.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum GridRegion {
    NorthChina,
    Northeast,
    EastChina,
    CentralChina,
    Northwest,
    South,
    Southwest,
}

impl GridRegion {
    pub const ALL: [GridRegion; 7] = [
        GridRegion::NorthChina,
        GridRegion::Northeast,
        GridRegion::EastChina,
        GridRegion::CentralChina,
        GridRegion::Northwest,
        GridRegion::South,
        GridRegion::Southwest,
    ];

    /// Region code used in factor files: `CN-GRID-<code>`.
    pub fn code(self) -> &'static str {
        match self {
            GridRegion::NorthChina => "CN-GRID-NORTH",
            GridRegion::Northeast => "CN-GRID-NORTHEAST",
            GridRegion::EastChina => "CN-GRID-EAST",
            GridRegion::CentralChina => "CN-GRID-CENTRAL",
            GridRegion::Northwest => "CN-GRID-NORTHWEST",
            GridRegion::South => "CN-GRID-SOUTH",
            GridRegion::Southwest => "CN-GRID-SOUTHWEST",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            GridRegion::NorthChina => "华北",
            GridRegion::Northeast => "东北",
            GridRegion::EastChina => "华东",
            GridRegion::CentralChina => "华中",
            GridRegion::Northwest => "西北",
            GridRegion::South => "南方",
            GridRegion::Southwest => "西南",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Province {
    /// Two-letter code used in factor region codes as `CN-<code>` (GB/T 2260 letter abbreviations).
    pub code: &'static str,
    pub name_zh: &'static str,
    pub pinyin: &'static str,
    pub grid: GridRegion,
}

impl Province {
    /// Region code used in factor files, e.g. `CN-GD`.
    pub fn region_code(&self) -> String {
        format!("CN-{}", self.code)
    }
}

use GridRegion::*;

macro_rules! provinces {
    ($($code:literal, $zh:literal, $py:literal, $grid:ident;)*) => {
        /// All 31 provincial-level divisions of mainland China, in GB/T 2260 order.
        pub const PROVINCES: &[Province] = &[
            $(Province { code: $code, name_zh: $zh, pinyin: $py, grid: $grid },)*
        ];
    };
}

provinces! {
    "BJ", "北京", "Beijing", NorthChina;
    "TJ", "天津", "Tianjin", NorthChina;
    "HE", "河北", "Hebei", NorthChina;
    "SX", "山西", "Shanxi", NorthChina;
    "NM", "内蒙古", "Inner Mongolia", NorthChina;
    "LN", "辽宁", "Liaoning", Northeast;
    "JL", "吉林", "Jilin", Northeast;
    "HL", "黑龙江", "Heilongjiang", Northeast;
    "SH", "上海", "Shanghai", EastChina;
    "JS", "江苏", "Jiangsu", EastChina;
    "ZJ", "浙江", "Zhejiang", EastChina;
    "AH", "安徽", "Anhui", EastChina;
    "FJ", "福建", "Fujian", EastChina;
    "JX", "江西", "Jiangxi", CentralChina;
    "SD", "山东", "Shandong", NorthChina;
    "HA", "河南", "Henan", CentralChina;
    "HB", "湖北", "Hubei", CentralChina;
    "HN", "湖南", "Hunan", CentralChina;
    "GD", "广东", "Guangdong", South;
    "GX", "广西", "Guangxi", South;
    "HI", "海南", "Hainan", South;
    "CQ", "重庆", "Chongqing", Southwest;
    "SC", "四川", "Sichuan", Southwest;
    "GZ", "贵州", "Guizhou", South;
    "YN", "云南", "Yunnan", South;
    "XZ", "西藏", "Tibet", Southwest;
    "SN", "陕西", "Shaanxi", Northwest;
    "GS", "甘肃", "Gansu", Northwest;
    "QH", "青海", "Qinghai", Northwest;
    "NX", "宁夏", "Ningxia", Northwest;
    "XJ", "新疆", "Xinjiang", Northwest;
}

/// Index into [`PROVINCES`].
pub type ProvinceId = u8;

/// Parses a province as written by users: Chinese short name (北京), Chinese full name with its
/// suffix (北京市, 广东省, 广西壮族自治区), pinyin in any case and spacing (Beijing, inner mongolia,
/// InnerMongolia, Neimenggu), or the two-letter code (BJ, CN-BJ).
pub fn parse_province(text: &str) -> Option<ProvinceId> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let folded: String =
        t.chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != '_').flat_map(char::to_lowercase).collect();
    let code = folded.strip_prefix("cn").filter(|s| s.len() == 2).unwrap_or(&folded);
    for (i, p) in PROVINCES.iter().enumerate() {
        // Compared as iterators: this runs for every facility row, so it must not allocate.
        let pinyin = p.pinyin.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase);
        if t.starts_with(p.name_zh)
            || pinyin.eq(folded.chars())
            || code.eq_ignore_ascii_case(p.code)
            || pinyin_alias(&folded) == Some(p.code)
        {
            return Some(i as ProvinceId);
        }
    }
    None
}

fn pinyin_alias(folded: &str) -> Option<&'static str> {
    Some(match folded {
        "neimenggu" | "neimongol" | "nei mongol" => "NM",
        "xizang" => "XZ",
        "shaanxi" => "SN",
        "shanxi" => "SX",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_one_provinces_with_unique_codes() {
        assert_eq!(PROVINCES.len(), 31);
        let mut codes: Vec<_> = PROVINCES.iter().map(|p| p.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 31);
    }

    #[test]
    fn parses_chinese_pinyin_and_codes() {
        let bj = parse_province("北京").unwrap();
        assert_eq!(PROVINCES[bj as usize].code, "BJ");
        assert_eq!(parse_province("Beijing"), Some(bj));
        assert_eq!(parse_province("北京市"), Some(bj));
        assert_eq!(parse_province("beijing"), Some(bj));
        assert_eq!(parse_province("CN-BJ"), Some(bj));
        let nm = parse_province("Inner Mongolia").unwrap();
        assert_eq!(parse_province("内蒙古自治区"), Some(nm));
        assert_eq!(parse_province("Neimenggu"), Some(nm));
        let gx = parse_province("广西壮族自治区").unwrap();
        assert_eq!(PROVINCES[gx as usize].grid, GridRegion::South);
        // Shanxi and Shaanxi are distinct provinces.
        assert_ne!(parse_province("Shanxi"), parse_province("Shaanxi"));
        assert_eq!(parse_province("Atlantis"), None);
        assert_eq!(parse_province(""), None);
    }
}
