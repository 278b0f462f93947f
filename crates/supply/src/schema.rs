//! The published PACT 3.0 ProductFootprint schema (`schema/pact-v3-product-footprint.schema.json`,
//! written from the spec's OpenAPI 3.0.3; sources in the file) and a validator of the JSON Schema
//! keywords it uses: `type`, `required`, `properties`, `$ref` (to `#/$defs/…`), `enum`, `pattern`,
//! `minLength`, `minItems`, `items`, `format: date-time`. Every violation is a [`Problem`] naming its
//! JSON path (e.g. `pcf.declaredUnitOfMeasurement`). An unknown keyword in the schema is a bug (a
//! test walks the file).

use crate::Problem;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The schema's text, compiled in.
pub const PACT_V3_PRODUCT_FOOTPRINT: &str = include_str!("../schema/pact-v3-product-footprint.schema.json");

/// The keywords this validator understands (others are refused by [`Schema::new`]).
const KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "required",
    "properties",
    "$defs",
    "$ref",
    "enum",
    "pattern",
    "minLength",
    "minItems",
    "items",
    "format",
];

pub struct Schema {
    root: Value,
    patterns: HashMap<String, regex_lite::Regex>,
}

impl Schema {
    /// A schema from its JSON text; an error for a keyword, `$ref` or pattern this validator does
    /// not understand.
    pub fn new(text: &str) -> Result<Schema, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("schema is not JSON: {e}"))?;
        let mut patterns = HashMap::new();
        fn walk(v: &Value, root: &Value, pats: &mut HashMap<String, regex_lite::Regex>) -> Result<(), String> {
            let Some(o) = v.as_object() else { return Ok(()) };
            for (k, x) in o {
                if !KEYWORDS.contains(&k.as_str()) {
                    return Err(format!("unsupported keyword {k}"));
                }
                match k.as_str() {
                    "properties" | "$defs" => {
                        for s in x.as_object().ok_or("properties is an object")?.values() {
                            walk(s, root, pats)?;
                        }
                    }
                    "items" => walk(x, root, pats)?,
                    "pattern" => {
                        let p = x.as_str().ok_or("pattern is a string")?;
                        pats.insert(p.to_string(), regex_lite::Regex::new(p).map_err(|e| e.to_string())?);
                    }
                    "$ref" => {
                        resolve(root, x.as_str().unwrap_or_default())?;
                    }
                    "format" if x != "date-time" => return Err(format!("unsupported format {x}")),
                    _ => {}
                }
            }
            Ok(())
        }
        walk(&root, &root, &mut patterns)?;
        Ok(Schema { root, patterns })
    }

    /// The PACT 3.0 ProductFootprint schema (parsed once).
    pub fn pact_v3() -> &'static Schema {
        static S: OnceLock<Schema> = OnceLock::new();
        S.get_or_init(|| Schema::new(PACT_V3_PRODUCT_FOOTPRINT).expect("the shipped PACT schema loads"))
    }

    /// Every violation of `v`, each with its JSON path.
    pub fn validate(&self, v: &Value) -> Vec<Problem> {
        let mut out = Vec::new();
        self.check(&self.root, v, "", &mut out);
        out
    }

    fn check(&self, s: &Value, v: &Value, path: &str, out: &mut Vec<Problem>) {
        let at = |p: &str| if p.is_empty() { "(document)".to_string() } else { p.to_string() };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            if let Ok(t) = resolve(&self.root, r) {
                self.check(t, v, path, out);
            }
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            let ok = match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "number" => v.is_number(),
                _ => true,
            };
            if !ok {
                out.push(Problem::new(at(path), format!("must be of type {t}")));
                return;
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                let list: Vec<String> = e.iter().map(|x| x.to_string()).collect();
                out.push(Problem::new(at(path), format!("{v} is not one of {}", list.join(", "))));
            }
        }
        if let Some(text) = v.as_str() {
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                if !self.patterns.get(p).is_some_and(|re| re.is_match(text)) {
                    out.push(Problem::new(at(path), format!("{text:?} does not match {p}")));
                }
            }
            if let Some(n) = s.get("minLength").and_then(Value::as_u64) {
                if (text.chars().count() as u64) < n {
                    out.push(Problem::new(at(path), format!("must have at least {n} character(s)")));
                }
            }
            if s.get("format").and_then(Value::as_str) == Some("date-time") && crate::parse_datetime(text).is_none() {
                out.push(Problem::new(at(path), format!("{text:?} is not an RFC 3339 date-time")));
            }
        }
        if let Some(a) = v.as_array() {
            if let Some(n) = s.get("minItems").and_then(Value::as_u64) {
                if (a.len() as u64) < n {
                    out.push(Problem::new(at(path), format!("must have at least {n} item(s)")));
                }
            }
            if let Some(items) = s.get("items") {
                for (i, x) in a.iter().enumerate() {
                    self.check(items, x, &format!("{path}[{i}]"), out);
                }
            }
        }
        if let Some(o) = v.as_object() {
            for r in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !o.contains_key(r) {
                    out.push(Problem::new(join(path, r), "is required"));
                }
            }
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, ps) in props {
                    if let Some(x) = o.get(k) {
                        self.check(ps, x, &join(path, k), out);
                    }
                }
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn resolve<'a>(root: &'a Value, r: &str) -> Result<&'a Value, String> {
    let name = r.strip_prefix("#/$defs/").ok_or_else(|| format!("unsupported $ref {r}"))?;
    root.get("$defs").and_then(|d| d.get(name)).ok_or_else(|| format!("unknown $ref {r}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shipped_schema_loads_and_names_each_violation() {
        let s = Schema::pact_v3();
        let bad = json!({"id": "x", "specVersion": "3.0.0", "created": "yesterday", "status": "Live",
            "companyName": "", "companyIds": [], "productDescription": "", "productIds": ["urn:x:1"],
            "productNameCompany": "p", "pcf": {"declaredUnitOfMeasurement": "box", "declaredUnitAmount": "0"}});
        let fields: Vec<String> = s.validate(&bad).into_iter().map(|p| p.field).collect();
        for f in [
            "id",
            "created",
            "status",
            "companyName",
            "companyIds",
            "pcf.declaredUnitOfMeasurement",
            "pcf.declaredUnitAmount",
            "pcf.referencePeriodStart",
            "pcf.exemptedEmissionsPercent",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
        }
        assert!(Schema::new(r#"{"oneOf": []}"#).is_err());
    }
}
