//! The PACT 3.0 data model (WBCSD, Technical Specifications for PCF Data Exchange; OpenAPI 3.0.3):
//! a `ProductFootprint` with its `CarbonFootprint` (`pcf`). Decimals are strings, date-times RFC
//! 3339, ids URNs or UUIDs. Properties this model does not name are kept as they came (`extra`), so
//! a footprint pulled from a supplier is served on unchanged.
//!
//! [`parse`] checks a JSON payload against the published schema ([`crate::schema`]) and then the
//! spec's rules that a schema cannot say (reference period order, validity within three years of
//! the reference period's end, percentages ≤ 100, data-quality ratings 1–5): every problem names its
//! field, and nothing is returned unless there is none.

use crate::{parse_datetime, parse_decimal, Problem};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const SPEC_VERSION: &str = "3.0.3";

/// The declared units of v3 (`declaredUnitOfMeasurement`).
pub const DECLARED_UNITS: &[&str] = &[
    "liter",
    "kilogram",
    "cubic meter",
    "kilowatt hour",
    "megajoule",
    "ton kilometer",
    "square meter",
    "piece",
    "hour",
    "megabit second",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductFootprint {
    pub id: String,
    pub spec_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preceding_pf_ids: Vec<String>,
    pub created: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_period_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_period_end: Option<String>,
    pub company_name: String,
    pub company_ids: Vec<String>,
    pub product_description: String,
    pub product_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_classifications: Vec<String>,
    pub product_name_company: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub pcf: CarbonFootprint,
    /// Properties not named here (e.g. `extensions`), kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarbonFootprint {
    pub declared_unit_of_measurement: String,
    pub declared_unit_amount: String,
    pub product_mass_per_declared_unit: String,
    pub reference_period_start: String,
    pub reference_period_end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geography_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geography_region_or_subregion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary_processes_description: Option<String>,
    pub pcf_excluding_biogenic_uptake: String,
    pub pcf_including_biogenic_uptake: String,
    pub fossil_ghg_emissions: String,
    pub fossil_carbon_content: String,
    pub ipcc_characterization_factors: Vec<String>,
    pub cross_sectoral_standards: Vec<String>,
    pub exempted_emissions_percent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_data_share: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dqi: Option<Dqi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dqi {
    #[serde(rename = "technologicalDQR")]
    pub technological_dqr: String,
    #[serde(rename = "geographicalDQR")]
    pub geographical_dqr: String,
    #[serde(rename = "temporalDQR")]
    pub temporal_dqr: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub verified: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Three years, the longest validity after the reference period's end (PACT v3).
const THREE_YEARS: i64 = 3 * 365 * 86_400 + 86_400;

impl ProductFootprint {
    /// kg CO2e (excluding biogenic uptake) per one declared unit: `pcfExcludingBiogenicUptake /
    /// declaredUnitAmount` (the PCF is given for `declaredUnitAmount` units).
    pub fn kg_per_unit(&self) -> f64 {
        let pcf = parse_decimal(&self.pcf.pcf_excluding_biogenic_uptake).unwrap_or(0.0);
        let amount = parse_decimal(&self.pcf.declared_unit_amount).unwrap_or(1.0);
        if amount > 0.0 {
            pcf / amount
        } else {
            0.0
        }
    }
    /// The mean of the three data-quality ratings, when given.
    pub fn mean_dqr(&self) -> Option<f64> {
        let d = self.pcf.dqi.as_ref()?;
        let v: Vec<f64> = [&d.technological_dqr, &d.geographical_dqr, &d.temporal_dqr]
            .iter()
            .filter_map(|x| parse_decimal(x))
            .collect();
        (v.len() == 3).then(|| v.iter().sum::<f64>() / 3.0)
    }
    /// The validity period: the given one, else three years from the reference period's end (secs).
    pub fn validity(&self) -> (i64, i64) {
        let end_ref = parse_datetime(&self.pcf.reference_period_end).unwrap_or(0);
        let start = self.validity_period_start.as_deref().and_then(parse_datetime).unwrap_or(end_ref);
        let end = self.validity_period_end.as_deref().and_then(parse_datetime).unwrap_or(end_ref + THREE_YEARS);
        (start, end)
    }

    /// The spec's rules beyond the schema (the payload already passed the schema).
    pub fn rule_problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let c = &self.pcf;
        let start = parse_datetime(&c.reference_period_start);
        let end = parse_datetime(&c.reference_period_end);
        if let (Some(s), Some(e)) = (start, end) {
            if s >= e {
                p.push(Problem::new("pcf.referencePeriodEnd", "must be after referencePeriodStart"));
            }
        }
        if let Some(e) = end {
            if let Some(vs) = self.validity_period_start.as_deref().and_then(parse_datetime) {
                if vs < e {
                    p.push(Problem::new("validityPeriodStart", "must not be before pcf.referencePeriodEnd"));
                }
            }
            if let Some(ve) = self.validity_period_end.as_deref().and_then(parse_datetime) {
                if ve > e + THREE_YEARS {
                    p.push(Problem::new("validityPeriodEnd", "must be within 3 years of pcf.referencePeriodEnd"));
                }
                let vs = self.validity_period_start.as_deref().and_then(parse_datetime).unwrap_or(e);
                if ve <= vs {
                    p.push(Problem::new("validityPeriodEnd", "must be after the validity period's start"));
                }
            }
        }
        for (field, v) in [
            ("pcf.exemptedEmissionsPercent", Some(&c.exempted_emissions_percent)),
            ("pcf.primaryDataShare", c.primary_data_share.as_ref()),
        ] {
            if let Some(x) = v.and_then(|v| parse_decimal(v)) {
                if x > 100.0 {
                    p.push(Problem::new(field, format!("{x} is more than 100 %")));
                }
            }
        }
        if let Some(d) = &c.dqi {
            for (field, v) in [
                ("pcf.dqi.technologicalDQR", &d.technological_dqr),
                ("pcf.dqi.geographicalDQR", &d.geographical_dqr),
                ("pcf.dqi.temporalDQR", &d.temporal_dqr),
            ] {
                if let Some(x) = parse_decimal(v) {
                    if !(1.0..=5.0).contains(&x) {
                        p.push(Problem::new(field, format!("{x} is not a rating from 1 to 5")));
                    }
                }
            }
        }
        if let Some(x) = parse_decimal(&c.pcf_excluding_biogenic_uptake) {
            if let Some(f) = parse_decimal(&c.fossil_ghg_emissions) {
                if f > x + 1e-9 {
                    p.push(Problem::new("pcf.fossilGhgEmissions", "is more than pcfExcludingBiogenicUptake"));
                }
            }
        }
        p
    }
}

/// A PACT ProductFootprint from JSON: the schema's problems and the spec's rules, all at once.
pub fn parse(v: &Value) -> Result<ProductFootprint, Vec<Problem>> {
    let problems = crate::schema::Schema::pact_v3().validate(v);
    if !problems.is_empty() {
        return Err(problems);
    }
    let pf: ProductFootprint =
        serde_json::from_value(v.clone()).map_err(|e| vec![Problem::new("(document)", e.to_string())])?;
    let rules = pf.rule_problems();
    if rules.is_empty() {
        Ok(pf)
    } else {
        Err(rules)
    }
}

/// What a supplier enters in the portal (form, CSV row or API) for one product's cradle-to-gate
/// footprint; [`FootprintForm::to_pact`] makes the PACT record of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FootprintForm {
    /// The supplier's product id (becomes `urn:dualcarbon:product:<uscc>:<product_id>`).
    pub product_id: String,
    pub product_name: String,
    #[serde(default)]
    pub description: String,
    /// A product class of the library ([`crate::library::CLASSES`]).
    pub class: String,
    /// A PACT declared unit ([`DECLARED_UNITS`]), e.g. `piece`.
    pub declared_unit: String,
    /// kg CO2e per one declared unit, cradle to gate, excluding biogenic uptake (decimal text).
    pub pcf_kg: String,
    #[serde(default)]
    pub fossil_kg: String,
    /// kg of product per declared unit (0 for energy, services).
    #[serde(default)]
    pub mass_kg: String,
    /// Reference period, first and last day (`YYYY-MM-DD`).
    pub period_start: String,
    pub period_end: String,
    /// ISO 3166 country code, e.g. `CN`.
    #[serde(default)]
    pub geography: String,
    /// `ISO14067`, `GB/T 24067-2024` or `PACT-3.0` (others are accepted by PACT as later values).
    pub standard: String,
    #[serde(default)]
    pub primary_data_share: String,
    /// Data-quality ratings 1–5 (technological, geographical, temporal).
    #[serde(default)]
    pub dqr: Option<[String; 3]>,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub verifier: String,
}

pub const STANDARDS: &[&str] = &["ISO14067", "GB/T 24067-2024", "PACT-3.0", "GHGP-Product", "PAS2050"];

impl FootprintForm {
    /// Every problem of the form, each naming its field.
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let id_ok = |s: &str| {
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !id_ok(&self.product_id) {
            p.push(Problem::new("product_id", "1 to 64 letters, digits and . _ -"));
        }
        if self.product_name.trim().is_empty() || self.product_name.chars().count() > 200 {
            p.push(Problem::new("product_name", "a name has 1 to 200 characters"));
        }
        if !crate::library::CLASSES.contains(&self.class.as_str()) {
            p.push(Problem::new(
                "class",
                format!("{:?} is not one of {}", self.class, crate::library::CLASSES.join(", ")),
            ));
        }
        if self.declared_unit.is_empty() {
            p.push(Problem::new("declared_unit", "is required (a PACT declared unit, e.g. piece)"));
        } else if !DECLARED_UNITS.contains(&self.declared_unit.as_str()) {
            p.push(Problem::new(
                "declared_unit",
                format!("{:?} is not a PACT declared unit ({})", self.declared_unit, DECLARED_UNITS.join(", ")),
            ));
        }
        let mut dec = |field: &str, v: &str, required: bool| match parse_decimal(v.trim()) {
            None if v.trim().is_empty() && !required => {}
            None if v.trim().is_empty() => p.push(Problem::new(field, "is required")),
            None => p.push(Problem::new(field, format!("{v:?} is not a decimal number"))),
            Some(x) if x < 0.0 => p.push(Problem::new(field, format!("{v} is negative"))),
            Some(_) => {}
        };
        dec("pcf_kg", &self.pcf_kg, true);
        dec("fossil_kg", &self.fossil_kg, false);
        dec("mass_kg", &self.mass_kg, false);
        dec("primary_data_share", &self.primary_data_share, false);
        if parse_decimal(self.primary_data_share.trim()).is_some_and(|x| x > 100.0) {
            p.push(Problem::new("primary_data_share", "is a percentage, at most 100"));
        }
        let s = crate::parse_date(&self.period_start);
        let e = crate::parse_date(&self.period_end);
        if self.period_start.is_empty() {
            p.push(Problem::new("period_start", "is required (YYYY-MM-DD)"));
        } else if s.is_none() {
            p.push(Problem::new("period_start", format!("{:?} is not a date YYYY-MM-DD", self.period_start)));
        }
        if self.period_end.is_empty() {
            p.push(Problem::new("period_end", "is required (YYYY-MM-DD)"));
        } else if e.is_none() {
            p.push(Problem::new("period_end", format!("{:?} is not a date YYYY-MM-DD", self.period_end)));
        }
        if let (Some(s), Some(e)) = (s, e) {
            if s > e {
                p.push(Problem::new("period_end", "is before period_start"));
            }
        }
        let geo_ok = self.geography.len() == 2 && self.geography.bytes().all(|b| b.is_ascii_uppercase());
        if !self.geography.is_empty() && !geo_ok {
            p.push(Problem::new(
                "geography",
                format!("{:?} is not an ISO 3166 country code such as CN", self.geography),
            ));
        }
        if !STANDARDS.contains(&self.standard.as_str()) {
            p.push(Problem::new("standard", format!("{:?} is not one of {}", self.standard, STANDARDS.join(", "))));
        }
        if let Some(d) = &self.dqr {
            for (i, name) in ["dqr.technological", "dqr.geographical", "dqr.temporal"].iter().enumerate() {
                match parse_decimal(&d[i]) {
                    Some(x) if (1.0..=5.0).contains(&x) => {}
                    _ => p.push(Problem::new(*name, format!("{:?} is not a rating from 1 to 5", d[i]))),
                }
            }
        }
        if self.verified && self.verifier.trim().is_empty() {
            p.push(Problem::new("verifier", "a verified footprint names its verifier"));
        }
        p
    }

    /// The PACT record of the form (checked first with [`FootprintForm::problems`]).
    pub fn to_pact(&self, id: &str, created: &str, company_name: &str, uscc: &str) -> ProductFootprint {
        let std = match self.standard.as_str() {
            "GB/T 24067-2024" => vec!["GB/T 24067-2024".to_string(), "ISO14067".to_string()],
            s => vec![s.to_string()],
        };
        let mut extra = Map::new();
        if self.verified {
            extra.insert("verifierName".into(), Value::String(self.verifier.clone()));
        }
        let pcf = self.pcf_kg.trim().to_string();
        ProductFootprint {
            id: id.to_string(),
            spec_version: SPEC_VERSION.into(),
            preceding_pf_ids: vec![],
            created: created.to_string(),
            status: "Active".into(),
            validity_period_start: None,
            validity_period_end: None,
            company_name: company_name.to_string(),
            company_ids: vec![format!("urn:dualcarbon:uscc:{uscc}")],
            product_description: if self.description.is_empty() {
                self.product_name.clone()
            } else {
                self.description.clone()
            },
            product_ids: vec![format!("urn:dualcarbon:product:{uscc}:{}", self.product_id)],
            product_classifications: vec![crate::library::class_urn(&self.class)],
            product_name_company: self.product_name.clone(),
            comment: None,
            pcf: CarbonFootprint {
                declared_unit_of_measurement: self.declared_unit.clone(),
                declared_unit_amount: "1".into(),
                product_mass_per_declared_unit: if self.mass_kg.trim().is_empty() {
                    "0".into()
                } else {
                    self.mass_kg.trim().into()
                },
                reference_period_start: format!("{}T00:00:00Z", self.period_start),
                reference_period_end: format!("{}T00:00:00Z", next_day(&self.period_end)),
                geography_country: (!self.geography.is_empty()).then(|| self.geography.clone()),
                geography_region_or_subregion: None,
                boundary_processes_description: Some("cradle-to-gate".into()),
                pcf_excluding_biogenic_uptake: pcf.clone(),
                pcf_including_biogenic_uptake: pcf.clone(),
                fossil_ghg_emissions: if self.fossil_kg.trim().is_empty() { pcf } else { self.fossil_kg.trim().into() },
                fossil_carbon_content: "0".into(),
                ipcc_characterization_factors: vec!["AR6".into()],
                cross_sectoral_standards: std,
                exempted_emissions_percent: "0".into(),
                primary_data_share: (!self.primary_data_share.trim().is_empty())
                    .then(|| self.primary_data_share.trim().into()),
                dqi: self.dqr.as_ref().map(|d| Dqi {
                    technological_dqr: d[0].clone(),
                    geographical_dqr: d[1].clone(),
                    temporal_dqr: d[2].clone(),
                }),
                verification: Some(Verification { verified: self.verified, extra: extra.clone() }),
                extra: Map::new(),
            },
            extra: Map::new(),
        }
    }
}

/// The day after a `YYYY-MM-DD` date (the reference period ends at the start of the next day).
fn next_day(d: &str) -> String {
    let Some((y, m, day)) = crate::parse_date(d) else { return d.to_string() };
    let n = crate::days_from_civil(y, m, day) + 1;
    let (y, m, d) = civil_from_days(n);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The civil date of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// An RFC 3339 UTC text of seconds since the epoch.
pub fn format_datetime(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn form() -> FootprintForm {
        FootprintForm {
            product_id: "AAU5613".into(),
            product_name: "AAU 64T64R 3.5 GHz".into(),
            class: "aau".into(),
            declared_unit: "piece".into(),
            pcf_kg: "812.5".into(),
            mass_kg: "40".into(),
            period_start: "2024-01-01".into(),
            period_end: "2024-12-31".into(),
            geography: "CN".into(),
            standard: "GB/T 24067-2024".into(),
            primary_data_share: "62".into(),
            dqr: Some(["2".into(), "1.5".into(), "2".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn a_form_becomes_a_pact_record_that_passes_the_schema_and_rules() {
        let f = form();
        assert!(f.problems().is_empty(), "{:?}", f.problems());
        let pf = f.to_pact(
            "urn:uuid:0b4f7a2e-1c1d-4f5e-9a3b-2d6c8e9f0a1b",
            "2025-02-01T08:00:00Z",
            "华为技术有限公司",
            "914403001922038216",
        );
        let v = serde_json::to_value(&pf).unwrap();
        assert_eq!(v["pcf"]["referencePeriodEnd"], json!("2025-01-01T00:00:00Z"));
        assert_eq!(v["pcf"]["crossSectoralStandards"], json!(["GB/T 24067-2024", "ISO14067"]));
        assert_eq!(parse(&v).unwrap(), pf);
        assert_eq!(pf.kg_per_unit(), 812.5);
        assert_eq!(pf.mean_dqr(), Some(5.5 / 3.0));
    }

    #[test]
    fn the_spec_example_parses_and_breaking_it_names_the_fields() {
        // spec/v3/examples/example-1.json of wbcsd/data-exchange-protocol (cut to its required part).
        let mut v = json!({"id": "12345678-9abc-def0-1234-567812345678", "specVersion": "3.0.0",
            "created": "2025-04-30T00:00:00Z", "status": "Active", "validityPeriodStart": "2024-12-31T00:00:00Z",
            "validityPeriodEnd": "2027-12-31T00:00:00Z", "companyName": "Company 1",
            "companyIds": ["urn:company:example:company1"], "productDescription": "Bioethanol 98%",
            "productIds": ["urn:gtin:5695872369587"], "productNameCompany": "Product 1",
            "pcf": {"declaredUnitOfMeasurement": "kilogram", "declaredUnitAmount": "1", "productMassPerDeclaredUnit": "1",
              "referencePeriodStart": "2024-01-01T00:00:00Z", "referencePeriodEnd": "2024-12-31T00:00:00Z",
              "pcfExcludingBiogenicUptake": "0.384", "pcfIncludingBiogenicUptake": "-1.23", "fossilGhgEmissions": "0.35",
              "fossilCarbonContent": "0", "ipccCharacterizationFactors": ["AR6"], "crossSectoralStandards": ["GHGP-Product", "PACT-3.0"],
              "exemptedEmissionsPercent": "0", "primaryDataShare": "12.9",
              "dqi": {"technologicalDQR": "1.5", "geographicalDQR": "3.2", "temporalDQR": "2.4"}}});
        let pf = parse(&v).unwrap();
        assert_eq!(pf.kg_per_unit(), 0.384);
        // Unit and period missing, a negative value, a rating out of range: each named.
        let pcf = v["pcf"].as_object_mut().unwrap();
        pcf.remove("declaredUnitOfMeasurement");
        pcf.remove("referencePeriodStart");
        pcf.insert("fossilGhgEmissions".into(), json!("-0.35"));
        let fields: Vec<String> = parse(&v).unwrap_err().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["pcf.declaredUnitOfMeasurement", "pcf.referencePeriodStart", "pcf.fossilGhgEmissions"]);
        let mut v2 = serde_json::to_value(&pf).unwrap();
        v2["pcf"]["dqi"]["temporalDQR"] = json!("7");
        v2["validityPeriodEnd"] = json!("2029-01-01T00:00:00Z");
        let fields: Vec<String> = parse(&v2).unwrap_err().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["validityPeriodEnd", "pcf.dqi.temporalDQR"]);
    }

    #[test]
    fn form_problems_name_fields() {
        let mut f = form();
        f.declared_unit = String::new();
        f.period_end = String::new();
        f.pcf_kg = "-3".into();
        let fields: Vec<String> = f.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["declared_unit", "pcf_kg", "period_end"]);
        assert_eq!(format_datetime(86_400 + 3661), "1970-01-02T01:01:01Z");
    }
}

/// The columns of a footprint template (CSV), one product per row: [`FootprintForm`]'s fields.
pub const FORM_COLUMNS: &[&str] = &[
    "product_id",
    "product_name",
    "description",
    "class",
    "declared_unit",
    "pcf_kg",
    "fossil_kg",
    "mass_kg",
    "period_start",
    "period_end",
    "geography",
    "standard",
    "primary_data_share",
    "dqr_technological",
    "dqr_geographical",
    "dqr_temporal",
];

/// Footprint forms from a template (CSV with [`FORM_COLUMNS`]): every problem of every row, named
/// `line N: field` (file lines), and no form unless there is none.
pub fn read_forms(data: &[u8]) -> Result<Vec<FootprintForm>, Vec<Problem>> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(data);
    let headers = r.headers().map_err(|e| vec![Problem::new("line 1", e.to_string())])?.clone();
    let mut ix = Vec::new();
    let mut p = Vec::new();
    for c in FORM_COLUMNS {
        match headers.iter().position(|h| h.trim_start_matches('\u{feff}').trim() == *c) {
            Some(i) => ix.push(i),
            None => p.push(Problem::new(format!("line 1: {c}"), "missing column")),
        }
    }
    if !p.is_empty() {
        return Err(p);
    }
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                p.push(Problem::new(format!("line {}", e.position().map_or(0, |x| x.line())), e.to_string()));
                break;
            }
        };
        let line = rec.position().map_or(0, |x| x.line());
        let g = |i: usize| rec.get(ix[i]).unwrap_or("").trim().to_string();
        let dqr = [g(13), g(14), g(15)];
        let f = FootprintForm {
            product_id: g(0),
            product_name: g(1),
            description: g(2),
            class: g(3),
            declared_unit: g(4),
            pcf_kg: g(5),
            fossil_kg: g(6),
            mass_kg: g(7),
            period_start: g(8),
            period_end: g(9),
            geography: g(10),
            standard: g(11),
            primary_data_share: g(12),
            dqr: if dqr.iter().all(String::is_empty) { None } else { Some(dqr) },
            verified: false,
            verifier: String::new(),
        };
        p.extend(f.problems().into_iter().map(|x| Problem::new(format!("line {line}: {}", x.field), x.reason)));
        out.push(f);
    }
    if out.is_empty() && p.is_empty() {
        p.push(Problem::new("line 2", "no footprint rows"));
    }
    if p.is_empty() {
        Ok(out)
    } else {
        Err(p)
    }
}

#[cfg(test)]
mod template_tests {
    #[test]
    fn template_rows_with_every_problem_named_by_line_and_field() {
        let head = super::FORM_COLUMNS.join(",");
        let good = "AAU-1,AAU,,aau,piece,812.5,,40,2024-01-01,2024-12-31,CN,ISO14067,60,2,2,2";
        let bad = "AAU-2,AAU,,aau,,-1,,,2024-01-01,,CN,ISO14067,,,,";
        let ok = super::read_forms(format!("{head}\n{good}\n").as_bytes()).unwrap();
        assert_eq!(ok[0].pcf_kg, "812.5");
        let e = super::read_forms(format!("{head}\n{good}\n{bad}\n").as_bytes()).unwrap_err();
        let fields: Vec<String> = e.into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["line 3: declared_unit", "line 3: pcf_kg", "line 3: period_end"]);
    }
}
