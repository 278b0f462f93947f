//! A supplier's registry record and its company-level disclosures.

use crate::{Problem, YEARS};
use serde::{Deserialize, Serialize};

/// Supplier categories (what the group buys from them).
pub const CATEGORIES: &[&str] = &[
    "network_equipment",
    "it_equipment",
    "terminals",
    "power_equipment",
    "energy",
    "construction",
    "logistics",
    "packaging",
    "services",
    "other",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
}

/// A supplier as registered by a buyer org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplierIn {
    /// The unified social credit code (统一社会信用代码).
    pub uscc: String,
    pub name: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

impl SupplierIn {
    /// Every problem, each naming its field.
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if let Err(e) = crate::uscc::check(&self.uscc) {
            p.push(Problem::new("uscc", e));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            p.push(Problem::new("name", "a name has 1 to 200 characters"));
        }
        if self.categories.is_empty() {
            p.push(Problem::new("categories", format!("at least one of {}", CATEGORIES.join(", "))));
        }
        for (i, c) in self.categories.iter().enumerate() {
            if !CATEGORIES.contains(&c.as_str()) {
                p.push(Problem::new(
                    format!("categories[{i}]"),
                    format!("{c:?} is not one of {}", CATEGORIES.join(", ")),
                ));
            }
        }
        if self.contacts.len() > 20 {
            p.push(Problem::new("contacts", "at most 20 contacts"));
        }
        for (i, c) in self.contacts.iter().enumerate() {
            if c.name.trim().is_empty() || c.name.chars().count() > 100 {
                p.push(Problem::new(format!("contacts[{i}].name"), "a name has 1 to 100 characters"));
            }
            if !c.email.is_empty()
                && (!c.email.contains('@') || c.email.len() > 200 || c.email.contains(char::is_whitespace))
            {
                p.push(Problem::new(format!("contacts[{i}].email"), format!("{:?} is not an e-mail address", c.email)));
            }
            if !c.phone.is_empty()
                && (c.phone.len() > 30 || !c.phone.chars().all(|ch| ch.is_ascii_digit() || "+-() ".contains(ch)))
            {
                p.push(Problem::new(format!("contacts[{i}].phone"), format!("{:?} is not a phone number", c.phone)));
            }
        }
        p
    }
}

/// How far a disclosed figure was checked by a third party.
pub const VERIFICATION: &[&str] = &["none", "limited", "reasonable"];

/// A company-level annual disclosure (tonnes CO2e as decimal text, as filed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyDisclosure {
    pub year: i32,
    pub scope1_t: String,
    pub scope2_t: String,
    #[serde(default)]
    pub scope3_t: Option<String>,
    /// `none`, `limited` or `reasonable` assurance.
    pub verification: String,
    #[serde(default)]
    pub verifier: String,
}

fn tonnes(p: &mut Vec<Problem>, field: &str, v: &str) -> Option<f64> {
    match crate::parse_decimal(v.trim()) {
        Some(x) if x < 0.0 => {
            p.push(Problem::new(field, format!("{v} is negative")));
            None
        }
        Some(x) => Some(x),
        None => {
            p.push(Problem::new(field, format!("{v:?} is not a decimal number of tonnes")));
            None
        }
    }
}

impl CompanyDisclosure {
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if !YEARS.contains(&self.year) {
            p.push(Problem::new("year", format!("{} is not a year in 1990–2100", self.year)));
        }
        tonnes(&mut p, "scope1_t", &self.scope1_t);
        tonnes(&mut p, "scope2_t", &self.scope2_t);
        if let Some(s3) = &self.scope3_t {
            tonnes(&mut p, "scope3_t", s3);
        }
        if !VERIFICATION.contains(&self.verification.as_str()) {
            p.push(Problem::new(
                "verification",
                format!("{:?} is not one of none, limited, reasonable", self.verification),
            ));
        }
        if self.verification != "none" && self.verifier.trim().is_empty() {
            p.push(Problem::new("verifier", "a verified disclosure names its verifier"));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_names_its_field() {
        let s = SupplierIn {
            uscc: "914403001922038217".into(),
            name: " ".into(),
            categories: vec!["network_equipment".into(), "toys".into()],
            contacts: vec![Contact { name: "王工".into(), email: "nope".into(), phone: "138-0000-0000".into() }],
        };
        let fields: Vec<_> = s.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["uscc", "name", "categories[1]", "contacts[0].email"]);
        let d = CompanyDisclosure {
            year: 2024,
            scope1_t: "-1".into(),
            scope2_t: "12.5".into(),
            scope3_t: Some("x".into()),
            verification: "limited".into(),
            verifier: String::new(),
        };
        let fields: Vec<_> = d.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["scope1_t", "scope3_t", "verifier"]);
    }
}
