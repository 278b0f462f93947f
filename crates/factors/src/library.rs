//! Factor sets and the library they form.

use crate::units::{parse_factor_unit, FactorUnit};
use model::Dimension;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// The shipped factor files, compiled into the binary so a fresh install has a full library.
pub const SHIPPED_FILES: &[(&str, &str)] = &[
    ("cn-grid.toml", include_str!("../data/cn-grid.toml")),
    ("fuels-cn.toml", include_str!("../data/fuels-cn.toml")),
    ("fuels-ipcc2006.toml", include_str!("../data/fuels-ipcc2006.toml")),
    ("gwp.toml", include_str!("../data/gwp.toml")),
    ("tce.toml", include_str!("../data/tce.toml")),
    ("scope3.toml", include_str!("../data/scope3.toml")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parameter {
    EmissionFactor,
    Ncv,
    CarbonContent,
    OxidationRate,
    Density,
    Ch4PerEnergy,
    N2oPerEnergy,
    Gwp,
    TceCoefficient,
}

impl Parameter {
    pub fn code(self) -> &'static str {
        match self {
            Parameter::EmissionFactor => "emission_factor",
            Parameter::Ncv => "ncv",
            Parameter::CarbonContent => "carbon_content",
            Parameter::OxidationRate => "oxidation_rate",
            Parameter::Density => "density",
            Parameter::Ch4PerEnergy => "ch4_per_energy",
            Parameter::N2oPerEnergy => "n2o_per_energy",
            Parameter::Gwp => "gwp",
            Parameter::TceCoefficient => "tce_coefficient",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetHeader {
    pub id: String,
    pub version: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// One factor as written in a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorRow {
    pub id: String,
    pub parameter: Parameter,
    pub carrier: String,
    #[serde(default)]
    pub series: String,
    #[serde(default)]
    pub context: String,
    pub region: String,
    #[serde(default)]
    pub year: Option<i32>,
    #[serde(default)]
    pub gas: String,
    pub value: f64,
    pub unit: String,
    pub source: String,
    /// The source in Chinese, for a Chinese document (optional; the console shows it to zh users).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_zh: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub edition: String,
    #[serde(default)]
    pub licence: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFile {
    set: SetHeader,
    #[serde(default)]
    factor: Vec<FactorRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FactorSet {
    #[serde(flatten)]
    pub header: SetHeader,
    /// `shipped:<file>` or the path of a user file.
    pub origin: String,
    pub user: bool,
}

/// A validated factor: the row plus its value converted to base units.
#[derive(Debug, Clone, Serialize)]
pub struct Factor {
    #[serde(flatten)]
    pub row: FactorRow,
    /// Index into [`Library::sets`].
    pub set: usize,
    /// `value` in base units: kg (of gas, C or ce) or MJ per base unit of the denominator.
    pub value_base: f64,
    #[serde(skip)]
    pub unit: FactorUnit,
    /// The shipped factor this one replaced (same id), if any.
    pub replaces: Option<String>,
}

impl Factor {
    pub fn id(&self) -> &str {
        &self.row.id
    }
    /// The dimension of activity this factor applies to (its unit's denominator).
    pub fn per_dimension(&self) -> Option<Dimension> {
        self.unit.denominator_dimension()
    }
}

/// A problem in a factor file: which file, which factor, which field, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorFileError {
    pub file: String,
    pub factor: String,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FactorFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.factor.is_empty() {
            write!(f, "{}: {}: {}", self.file, self.field, self.reason)
        } else {
            write!(f, "{}: factor {}: field {}: {}", self.file, self.factor, self.field, self.reason)
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Library {
    pub sets: Vec<FactorSet>,
    pub factors: Vec<Factor>,
    #[serde(skip)]
    by_id: HashMap<String, usize>,
}

impl Library {
    /// The library shipped with DualCarbon.
    pub fn shipped() -> Library {
        let mut lib = Library::default();
        let mut errors = Vec::new();
        for (name, text) in SHIPPED_FILES {
            lib.add_file(&format!("shipped:{name}"), text, false, &mut errors);
        }
        assert!(errors.is_empty(), "shipped factor library is invalid: {errors:#?}");
        lib
    }

    /// The shipped library with every `*.toml` file of `dir` added on top, in file-name order.
    /// All problems of all files are returned together.
    pub fn with_user_dir(dir: &Path) -> Result<Library, Vec<FactorFileError>> {
        let mut lib = Library::shipped();
        lib.add_user_dir(dir)?;
        Ok(lib)
    }

    pub fn add_user_dir(&mut self, dir: &Path) -> Result<(), Vec<FactorFileError>> {
        let mut errors = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                return Err(vec![FactorFileError {
                    file: dir.display().to_string(),
                    factor: String::new(),
                    field: "folder".into(),
                    reason: format!("cannot read factor folder: {e}"),
                }])
            }
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let file = p.display().to_string();
            match std::fs::read_to_string(&p) {
                Ok(text) => self.add_file(&file, &text, true, &mut errors),
                Err(e) => errors.push(FactorFileError {
                    file,
                    factor: String::new(),
                    field: "file".into(),
                    reason: format!("cannot read: {e}"),
                }),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Parses one set file; a user set may reuse a shipped id to replace that factor.
    pub fn add_file(&mut self, file: &str, text: &str, user: bool, errors: &mut Vec<FactorFileError>) {
        let err = |factor: &str, field: &str, reason: String| FactorFileError {
            file: file.to_string(),
            factor: factor.to_string(),
            field: field.to_string(),
            reason,
        };
        let parsed: SetFile = match toml::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                errors.push(err("", "toml", e.to_string()));
                return;
            }
        };
        if let Some(s) = self.sets.iter().find(|s| s.header.id == parsed.set.id) {
            errors.push(err("", "set.id", format!("set id {:?} is already used by {}", parsed.set.id, s.origin)));
            return;
        }
        let set_index = self.sets.len();
        self.sets.push(FactorSet { header: parsed.set, origin: file.to_string(), user });
        let mut seen_in_file: HashMap<String, ()> = HashMap::new();
        for row in parsed.factor {
            let before = errors.len();
            let unit = match parse_factor_unit(&row.unit) {
                Ok(u) => Some(u),
                Err(reason) => {
                    errors.push(err(&row.id, "unit", reason));
                    None
                }
            };
            if let Some(u) = &unit {
                if let Err(reason) = check_unit_fits(&row, u) {
                    errors.push(err(&row.id, "unit", reason));
                }
            }
            if !row.value.is_finite() || row.value < 0.0 {
                errors.push(err(&row.id, "value", format!("{} is not a finite non-negative number", row.value)));
            }
            if row.parameter == Parameter::OxidationRate && !(row.value > 0.0 && row.value <= 1.0) {
                errors.push(err(&row.id, "value", format!("oxidation rate {} must be in (0, 1]", row.value)));
            }
            if row.id.trim().is_empty() {
                errors.push(err(&row.id, "id", "empty id".into()));
            }
            if row.source.trim().is_empty() {
                errors.push(err(&row.id, "source", "every factor needs a source".into()));
            }
            if !matches!(row.context.as_str(), "" | "stationary" | "mobile") {
                errors.push(err(
                    &row.id,
                    "context",
                    format!("{:?} is not \"\", \"stationary\" or \"mobile\"", row.context),
                ));
            }
            if seen_in_file.insert(row.id.clone(), ()).is_some() {
                errors.push(err(&row.id, "id", "id appears twice in this file".into()));
            }
            let replaces = match self.by_id.get(&row.id) {
                Some(&i) if user && !self.sets[self.factors[i].set].user => Some(row.id.clone()),
                Some(&i) => {
                    errors.push(err(
                        &row.id,
                        "id",
                        format!("id already defined in {}", self.sets[self.factors[i].set].origin),
                    ));
                    None
                }
                None => None,
            };
            if errors.len() > before {
                continue;
            }
            let unit = unit.expect("checked above");
            let factor = Factor { value_base: row.value * unit.to_base(), row, set: set_index, unit, replaces };
            match self.by_id.get(factor.id()) {
                Some(&i) => self.factors[i] = factor,
                None => {
                    self.by_id.insert(factor.id().to_string(), self.factors.len());
                    self.factors.push(factor);
                }
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Factor> {
        self.by_id.get(id).map(|&i| &self.factors[i])
    }

    pub fn set_of(&self, f: &Factor) -> &FactorSet {
        &self.sets[f.set]
    }

    /// The primary document of a shipped factor (`data/documents.toml`); a user set's factor
    /// names its own source only.
    pub fn primary(&self, f: &Factor) -> Option<crate::Primary> {
        if self.sets[f.set].user {
            return None;
        }
        crate::Documents::shipped().primary(f.id())
    }

    /// The library version: every set as `id@version`, in load order.
    pub fn version(&self) -> String {
        self.sets.iter().map(|s| format!("{}@{}", s.header.id, s.header.version)).collect::<Vec<_>>().join("+")
    }

    /// A fingerprint of every factor's identity and value (FNV-1a 64), so that a snapshot can tell
    /// whether a library with the same version string was edited in place.
    pub fn fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= *b as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
        };
        let mut ids: Vec<&Factor> = self.factors.iter().collect();
        ids.sort_by(|a, b| a.id().cmp(b.id()));
        for f in ids {
            eat(f.id().as_bytes());
            eat(&f.row.value.to_bits().to_le_bytes());
            eat(f.row.unit.as_bytes());
            eat(f.row.region.as_bytes());
            eat(&f.row.year.unwrap_or(0).to_le_bytes());
        }
        format!("{h:016x}")
    }
}

fn check_unit_fits(row: &FactorRow, u: &FactorUnit) -> Result<(), String> {
    use Dimension::*;
    let num = u.numerator_dimension();
    let den = u.denominator_dimension();
    let ok = match row.parameter {
        Parameter::EmissionFactor => num == Some(Mass) && den.is_some() && u.label == row.gas,
        Parameter::Ncv => num == Some(Energy) && matches!(den, Some(Mass) | Some(Volume)) && u.label.is_empty(),
        Parameter::CarbonContent => num == Some(Mass) && u.label == "C" && den == Some(Energy),
        Parameter::OxidationRate | Parameter::Gwp => num.is_none(),
        Parameter::Density => num == Some(Mass) && den == Some(Volume) && u.label.is_empty(),
        Parameter::Ch4PerEnergy | Parameter::N2oPerEnergy => {
            num == Some(Mass) && den == Some(Energy) && (u.label.is_empty() || u.label == row.gas)
        }
        Parameter::TceCoefficient => num == Some(Mass) && u.label == "ce" && den.is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unit {:?} does not fit parameter {} (gas {:?}); see docs/factor-files.md",
            row.unit,
            row.parameter.code(),
            row.gas
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_library_loads_with_sources() {
        let lib = Library::shipped();
        assert!(lib.factors.len() > 100);
        for f in &lib.factors {
            assert!(!f.row.source.is_empty(), "{} has no source", f.id());
            assert!(matches!(f.row.status.as_str(), "V" | "S" | "M" | "D"), "{} status {:?}", f.id(), f.row.status);
        }
        assert!(lib.version().contains("cn-grid@"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut lib = Library::shipped();
        let mut errors = Vec::new();
        lib.add_file(
            "user.toml",
            r#"
[set]
id = "mine"
version = "1"
title = "t"
[[factor]]
id = "a"
parameter = "emission_factor"
carrier = "electricity"
region = "CN"
gas = "CO2"
value = -1.0
unit = "tCO2/furlong"
source = ""
[[factor]]
id = "b"
parameter = "oxidation_rate"
carrier = "diesel"
region = "*"
value = 1.5
unit = "fraction"
source = "s"
"#,
            true,
            &mut errors,
        );
        let fields: Vec<_> = errors.iter().map(|e| (e.factor.as_str(), e.field.as_str())).collect();
        assert!(fields.contains(&("a", "unit")));
        assert!(fields.contains(&("a", "value")));
        assert!(fields.contains(&("a", "source")));
        assert!(fields.contains(&("b", "value")));
        assert!(errors.iter().all(|e| e.file == "user.toml"));
    }

    #[test]
    fn user_set_replaces_shipped_factor_by_id() {
        let mut lib = Library::shipped();
        let id = lib.factors[0].id().to_string();
        let mut errors = Vec::new();
        let f = &lib.factors[0].row;
        let text = format!(
            "[set]\nid=\"corr\"\nversion=\"1\"\ntitle=\"correction\"\n[[factor]]\nid=\"{}\"\nparameter=\"{}\"\ncarrier=\"{}\"\nseries=\"{}\"\nregion=\"{}\"\ngas=\"{}\"\nvalue=0.123\nunit=\"{}\"\nsource=\"our meter study\"\n",
            id, f.parameter.code(), f.carrier, f.series, f.region, f.gas, f.unit
        );
        lib.add_file("corr.toml", &text, true, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let g = lib.get(&id).unwrap();
        assert_eq!(g.row.value, 0.123);
        assert_eq!(g.replaces.as_deref(), Some(id.as_str()));
        assert!(lib.set_of(g).user);
    }
}
