//! Energy carriers and other activity types: what an activity record measures.

use crate::units::Dimension;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ElectricitySource {
    /// Grid electricity with no contractual instrument.
    Grid,
    /// Green power bought with green-electricity certificates (绿证, GEC) retired for the reporter.
    GreenCertified,
    /// Green power traded (绿电交易) without certificates: no claimable attribute under the
    /// GHG Protocol Scope 2 quality criteria, so market-based uses the residual factor.
    GreenUncertified,
    /// Renewable electricity generated on site (rooftop PV, 叠光) and consumed there.
    PvSelf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fuel {
    Diesel,
    Gasoline,
    NaturalGas,
    Lpg,
    Lng,
    Coal,
    Kerosene,
    FuelOil,
}

impl Fuel {
    pub const ALL: [Fuel; 8] = [
        Fuel::Diesel,
        Fuel::Gasoline,
        Fuel::NaturalGas,
        Fuel::Lpg,
        Fuel::Lng,
        Fuel::Coal,
        Fuel::Kerosene,
        Fuel::FuelOil,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Fuel::Diesel => "diesel",
            Fuel::Gasoline => "gasoline",
            Fuel::NaturalGas => "natural_gas",
            Fuel::Lpg => "lpg",
            Fuel::Lng => "lng",
            Fuel::Coal => "coal",
            Fuel::Kerosene => "kerosene",
            Fuel::FuelOil => "fuel_oil",
        }
    }
}

/// Scope 3 categories of the GHG Protocol Corporate Value Chain Standard that the engine computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope3Category {
    /// Category 1: purchased goods and services (by product footprint or by spend; water, paper).
    PurchasedGoods,
    /// Category 4: upstream transportation and distribution.
    UpstreamTransport,
    /// Category 6: business travel.
    BusinessTravel,
    /// Category 7: employee commuting.
    Commuting,
}

impl Scope3Category {
    pub fn number(self) -> u8 {
        match self {
            Scope3Category::PurchasedGoods => 1,
            Scope3Category::UpstreamTransport => 4,
            Scope3Category::BusinessTravel => 6,
            Scope3Category::Commuting => 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum CarrierKind {
    Electricity(ElectricitySource),
    Fuel(Fuel),
    /// Purchased heat (steam, hot water).
    Heat,
    /// Refrigerant top-up (mass charged to replace leaks), by gas name such as `R-410A`.
    Refrigerant(String),
    Water,
    Paper,
    /// Purchased goods by product code, with a per-unit footprint factor.
    PurchasedGoods(String),
    /// Purchased goods and services by spend category, with a spend-based factor.
    Spend(String),
    /// Freight by mode (road, rail, waterway, air), in tonne-km.
    Freight(String),
    /// Business travel by mode (air, rail, car...), in passenger-km.
    BusinessTravel(String),
    /// Employee commuting by mode, in passenger-km.
    Commuting(String),
}

/// An activity carrier: a parsed carrier code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Carrier {
    pub code: String,
    pub kind: CarrierKind,
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// Refrigerants the shipped library knows. Others are accepted when a user factor set gives
/// their GWP.
pub const KNOWN_REFRIGERANTS: &[&str] = &["HCFC-22", "R-410A", "R-134a", "R-32", "R-407C"];

/// Refrigerant names as users write them, mapped to the library's gas names.
fn canonical_refrigerant(name: &str) -> String {
    let n = name.trim();
    let upper = n.to_ascii_uppercase().replace(' ', "");
    let mapped = match upper.as_str() {
        "R22" | "R-22" | "HCFC22" | "HCFC-22" => "HCFC-22",
        "R410A" | "R-410A" => "R-410A",
        "R134A" | "R-134A" | "HFC134A" | "HFC-134A" => "R-134a",
        "R32" | "R-32" | "HFC32" | "HFC-32" => "R-32",
        "R407C" | "R-407C" => "R-407C",
        _ => return n.to_string(),
    };
    mapped.to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarrierError {
    Unknown(String),
    MissingDetail(String),
}

impl fmt::Display for CarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CarrierError::Unknown(c) => write!(
                f,
                "unknown carrier {c:?} (expected electricity, electricity_green_certified, \
                 electricity_green_uncertified, electricity_pv_self, diesel, gasoline, natural_gas, \
                 lpg, lng, coal, kerosene, fuel_oil, heat, water, paper, refrigerant:<gas>, \
                 purchased_goods:<product>, spend:<category>, freight:<mode>, \
                 business_travel:<mode>, commuting:<mode>, or a Chinese name such as 柴油: docs/formats.md)"
            ),
            CarrierError::MissingDetail(c) => {
                write!(f, "carrier {c:?} needs a detail after the colon, e.g. refrigerant:R-410A")
            }
        }
    }
}

impl std::error::Error for CarrierError {}

/// The carriers' Chinese names as filers write them, each with its code: a filed `柴油` is
/// `diesel` (the stored row keeps what was filed; every reader parses it the same way). Sources:
/// the names of GB/T 2589-2020 (综合能耗计算通则) and the national statistics' energy catalogue.
pub const CARRIER_NAMES_ZH: &[(&str, &str)] = &[
    ("电", "electricity"),
    ("电力", "electricity"),
    ("外购电力", "electricity"),
    ("市电", "electricity"),
    ("绿证电力", "electricity_green_certified"),
    ("光伏自发自用电", "electricity_pv_self"),
    ("柴油", "diesel"),
    ("汽油", "gasoline"),
    ("天然气", "natural_gas"),
    ("液化石油气", "lpg"),
    ("液化天然气", "lng"),
    ("原煤", "coal"),
    ("煤炭", "coal"),
    ("煤油", "kerosene"),
    ("燃料油", "fuel_oil"),
    ("热力", "heat"),
    ("外购热力", "heat"),
    ("水", "water"),
    ("自来水", "water"),
    ("纸张", "paper"),
    ("纸", "paper"),
];

/// Chinese names of the prefixes of carriers with a detail (`制冷剂:R-410A` is `refrigerant:R-410A`).
const CARRIER_PREFIXES_ZH: &[(&str, &str)] = &[("制冷剂", "refrigerant")];

impl Carrier {
    pub fn parse(text: &str) -> Result<Carrier, CarrierError> {
        let t = text.trim();
        let t = CARRIER_NAMES_ZH.iter().find(|(zh, _)| *zh == t).map_or(t, |(_, code)| *code);
        // A full-width colon is what a Chinese input method types.
        let with_prefix;
        let t = match t.split_once([':', '：']) {
            Some((prefix, detail)) => match CARRIER_PREFIXES_ZH.iter().find(|(zh, _)| *zh == prefix.trim()) {
                Some((_, code)) => {
                    with_prefix = format!("{code}:{detail}");
                    with_prefix.as_str()
                }
                None if t.contains('：') => {
                    with_prefix = format!("{}:{detail}", prefix.trim());
                    with_prefix.as_str()
                }
                None => t,
            },
            None => t,
        };
        let simple = |kind: CarrierKind| Carrier { code: t.to_string(), kind };
        let kind = match t {
            "electricity" => CarrierKind::Electricity(ElectricitySource::Grid),
            "electricity_green_certified" => CarrierKind::Electricity(ElectricitySource::GreenCertified),
            "electricity_green_uncertified" => CarrierKind::Electricity(ElectricitySource::GreenUncertified),
            "electricity_pv_self" => CarrierKind::Electricity(ElectricitySource::PvSelf),
            "heat" => CarrierKind::Heat,
            "water" => CarrierKind::Water,
            "paper" => CarrierKind::Paper,
            _ => {
                if let Some(f) = Fuel::ALL.iter().find(|f| f.code() == t) {
                    CarrierKind::Fuel(*f)
                } else if let Some((prefix, detail)) = t.split_once(':') {
                    let detail = detail.trim();
                    if detail.is_empty() {
                        return Err(CarrierError::MissingDetail(t.to_string()));
                    }
                    let kind = match prefix.trim() {
                        "refrigerant" => {
                            let gas = canonical_refrigerant(detail);
                            return Ok(Carrier {
                                code: format!("refrigerant:{gas}"),
                                kind: CarrierKind::Refrigerant(gas),
                            });
                        }
                        "purchased_goods" => CarrierKind::PurchasedGoods(detail.to_string()),
                        "spend" => CarrierKind::Spend(detail.to_string()),
                        "freight" => CarrierKind::Freight(detail.to_string()),
                        "business_travel" => CarrierKind::BusinessTravel(detail.to_string()),
                        "commuting" => CarrierKind::Commuting(detail.to_string()),
                        _ => return Err(CarrierError::Unknown(t.to_string())),
                    };
                    return Ok(Carrier { code: format!("{}:{detail}", prefix.trim()), kind });
                } else {
                    return Err(CarrierError::Unknown(t.to_string()));
                }
            }
        };
        Ok(simple(kind))
    }

    /// Dimensions a quantity of this carrier may be given in.
    pub fn accepted_dimensions(&self) -> &'static [Dimension] {
        use Dimension::*;
        match &self.kind {
            CarrierKind::Electricity(_) => &[Energy],
            // Fuels by mass, by volume (converted with a sourced density), or directly by heat
            // content (then the net calorific value is not needed).
            CarrierKind::Fuel(_) => &[Mass, Volume, Energy],
            CarrierKind::Heat => &[Energy],
            CarrierKind::Refrigerant(_) => &[Mass],
            CarrierKind::Water => &[Volume],
            CarrierKind::Paper => &[Mass],
            CarrierKind::PurchasedGoods(_) => &[Count, Mass],
            CarrierKind::Spend(_) => &[Money],
            CarrierKind::Freight(_) => &[Freight],
            // Passenger-km for shared modes; vehicle-km (km) where the factor is per vehicle, as
            // for cars.
            CarrierKind::BusinessTravel(_) | CarrierKind::Commuting(_) => &[PassengerDistance, Distance],
        }
    }

    pub fn scope3_category(&self) -> Option<Scope3Category> {
        match &self.kind {
            CarrierKind::Water | CarrierKind::Paper | CarrierKind::PurchasedGoods(_) | CarrierKind::Spend(_) => {
                Some(Scope3Category::PurchasedGoods)
            }
            CarrierKind::Freight(_) => Some(Scope3Category::UpstreamTransport),
            CarrierKind::BusinessTravel(_) => Some(Scope3Category::BusinessTravel),
            CarrierKind::Commuting(_) => Some(Scope3Category::Commuting),
            _ => None,
        }
    }

    pub fn is_electricity(&self) -> bool {
        matches!(self.kind, CarrierKind::Electricity(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_documented_codes() {
        for code in [
            "electricity",
            "electricity_green_certified",
            "electricity_green_uncertified",
            "electricity_pv_self",
            "diesel",
            "gasoline",
            "natural_gas",
            "lpg",
            "coal",
            "heat",
            "water",
            "paper",
            "refrigerant:R-410A",
            "purchased_goods:server",
            "spend:consulting",
            "freight:road",
            "business_travel:air",
            "commuting:car",
        ] {
            let c = Carrier::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(c.code, code);
        }
    }

    #[test]
    fn refrigerant_names_are_normalised() {
        assert_eq!(Carrier::parse("refrigerant:R22").unwrap().code, "refrigerant:HCFC-22");
        assert_eq!(Carrier::parse("refrigerant:r410a").unwrap().code, "refrigerant:R-410A");
    }

    #[test]
    fn rejects_unknown_and_empty_detail() {
        assert!(matches!(Carrier::parse("plutonium"), Err(CarrierError::Unknown(_))));
        assert!(matches!(Carrier::parse("refrigerant:"), Err(CarrierError::MissingDetail(_))));
        assert!(matches!(Carrier::parse("teleport:x"), Err(CarrierError::Unknown(_))));
    }
}

#[cfg(test)]
mod chinese_names {
    use super::*;

    #[test]
    fn chinese_carrier_names_are_the_carriers_of_their_codes() {
        for (zh, code) in CARRIER_NAMES_ZH {
            let by_name = Carrier::parse(zh).unwrap_or_else(|e| panic!("{zh}: {e}"));
            let by_code = Carrier::parse(code).unwrap();
            assert_eq!(by_name, by_code, "{zh}");
            assert_eq!(by_name.code, *code, "{zh}: the canonical code");
        }
        assert_eq!(Carrier::parse(" 柴油 ").unwrap().kind, CarrierKind::Fuel(Fuel::Diesel));
        assert_eq!(Carrier::parse("制冷剂:R-410A").unwrap(), Carrier::parse("refrigerant:R-410A").unwrap());
        assert_eq!(Carrier::parse("制冷剂：R410A").unwrap(), Carrier::parse("refrigerant:R-410A").unwrap());
        assert_eq!(Carrier::parse("freight：road").unwrap(), Carrier::parse("freight:road").unwrap());
        assert!(Carrier::parse("柴").is_err());
        assert!(Carrier::parse("制冷剂:").is_err());
    }
}
