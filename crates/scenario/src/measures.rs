//! The catalogue of measures (levers) with their effects, ramp-up and costs. Shipped defaults are
//! in `data/measures.toml`; an org can replace the catalogue with its own file.

use crate::drivers::Class;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    Intensity,
    Pue,
    Pv,
    GreenPurchase,
    Ev,
    Offset,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    pub kind: EffectKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    Sites,
    ItKw,
    Mwh,
    MwhGenerated,
    Tco2Fleet,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub id: String,
    pub zh: String,
    pub en: String,
    pub effects: Vec<Effect>,
    pub ramp_years: u32,
    pub cost_basis: CostBasis,
    /// The class whose size `cost_basis` counts (sites, MWh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    /// Whole yuan per unit of the cost basis.
    pub capex_per_unit: i64,
    pub opex_per_unit_year: i64,
    /// Whole yuan per MWh of green power bought or per tonne offset.
    pub price_per_volume: i64,
    pub status: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    #[serde(rename = "measure")]
    pub measures: Vec<Measure>,
}

impl Catalogue {
    pub fn shipped() -> Catalogue {
        Catalogue::parse(include_str!("../data/measures.toml")).expect("shipped measures.toml is valid")
    }

    pub fn parse(text: &str) -> Result<Catalogue, String> {
        let c: Catalogue = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    /// Every problem of the catalogue, one per line.
    pub fn validate(&self) -> Result<(), String> {
        let c = self;
        let mut errs = Vec::new();
        for (i, m) in c.measures.iter().enumerate() {
            if c.measures[..i].iter().any(|o| o.id == m.id) {
                errs.push(format!("measure {}: defined twice", m.id));
            }
            if m.ramp_years == 0 {
                errs.push(format!("measure {}: ramp_years must be at least 1", m.id));
            }
            if m.capex_per_unit < 0 || m.opex_per_unit_year < 0 || m.price_per_volume < 0 {
                errs.push(format!("measure {}: costs are non-negative (savings are computed)", m.id));
            }
            if m.cost_basis != CostBasis::None && m.cost_basis != CostBasis::MwhGenerated && m.class.is_none() {
                errs.push(format!("measure {}: cost_basis {:?} needs a class", m.id, m.cost_basis));
            }
            for e in &m.effects {
                let needs_class = matches!(e.kind, EffectKind::Intensity | EffectKind::Pue | EffectKind::Pv);
                if needs_class && e.class.is_none() {
                    errs.push(format!("measure {}: effect {:?} needs a class", m.id, e.kind));
                }
                let ok = match e.kind {
                    EffectKind::Pue => e.value >= 1.0 && e.value.is_finite(),
                    _ => (0.0..=1.0).contains(&e.value),
                };
                if !ok {
                    errs.push(format!("measure {}: effect {:?} value {} out of range", m.id, e.kind, e.value));
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("\n"))
        }
    }

    pub fn get(&self, id: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalogue_covers_the_levers_of_the_issue() {
        let c = Catalogue::shipped();
        for id in [
            "ai_bs_energy_saving",
            "network_sharing",
            "retire_old_equipment",
            "dc_pue_upgrade",
            "dc_liquid_cooling",
            "rooftop_pv",
            "green_power_purchase",
            "fleet_electrification",
            "offsets",
        ] {
            let m = c.get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(!m.zh.is_empty() && !m.en.is_empty() && !m.source.is_empty());
        }
    }

    #[test]
    fn invalid_catalogue_lists_every_problem() {
        let text = r#"
[[measure]]
id = "x"
zh = "x"
en = "x"
effects = [{ kind = "pue", class = "data_center", value = 0.8 }, { kind = "intensity", value = 0.1 }]
ramp_years = 0
cost_basis = "sites"
capex_per_unit = -1
opex_per_unit_year = 0
price_per_volume = 0
status = "A"
source = "test"
"#;
        let e = Catalogue::parse(text).unwrap_err();
        assert_eq!(e.lines().count(), 5, "{e}");
    }
}
