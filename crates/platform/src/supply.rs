//! Supply-chain carbon on the platform (issue 18): the supplier registry and supplier users, the
//! supplier portal (company disclosures, product footprints by form or PACT payload, equipment
//! specifications with the white paper's checks), the footprint library (versions, lineage, a
//! model against its class), procurement and transport lines, Scope 3 runs (categories 1, 2 and 4
//! through the `supply` crate's hierarchy), the tender scoring model, and the PACT host's partner
//! credentials and footprints. Blocking functions: the server calls them on a worker thread.
//!
//! Scope: buyers act within their org subtree (a supplier is registered by an org; the subtree of
//! that org sees what it discloses); a supplier user acts on its own company only, found from the
//! user (never from the request).

use crate::error::{Error, Kind, Result};
use crate::{Actor, Platform};
use serde::Deserialize;
use serde_json::{json, Value};
use store::supply::{Footprint, FootprintQuery, NewFootprint, Supplier};
use store::StoreError;
use supply::pact::{self, FootprintForm, ProductFootprint};
use supply::scope3::{self, Factors, ProcurementLine, SupplierFootprint, TransportLeg};
use supply::supplier::{CompanyDisclosure, SupplierIn};
use supply::Problem;

fn problems(code: &'static str, what: &str, p: Vec<Problem>) -> Error {
    Error::problems(code, what, p.iter().map(ToString::to_string).collect())
        .with_detail(serde_json::to_value(&p).unwrap_or(Value::Null))
}

fn err(e: StoreError) -> Error {
    if let StoreError::Conflict(m) = &e {
        for code in ["supplier_exists", "footprint_exists"] {
            if let Some(msg) = m.strip_prefix(code).and_then(|r| r.strip_prefix(": ")) {
                return Error::new(Kind::Conflict, code, msg.to_string());
            }
        }
    }
    e.into()
}

fn org_within(p: &Platform, actor: &Actor, code: &str) -> Result<store::reference::Org> {
    let org = p.store.org(code)?.ok_or_else(|| Error::not_found(format!("no org {code:?}")))?;
    if !actor.within(&org.path) {
        return Err(Error::out_of_scope(&format!("org {code}")));
    }
    Ok(org)
}

/// A supplier registered within the actor's subtree (an unknown one and one outside look alike).
fn supplier_within(p: &Platform, actor: &Actor, id: i64) -> Result<Supplier> {
    let s = p.store.supply_supplier(id)?;
    if let Some(s) = s {
        let org = p.store.org(&s.org_code)?.ok_or_else(|| Error::internal("supplier's org is missing"))?;
        if actor.within(&org.path) {
            return Ok(s);
        }
    }
    Err(Error::new(Kind::NotFound, "not_found", format!("no supplier {id} within your organisation's subtree")))
}

fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore;
    let mut b = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A random (version 4) UUID, the id of a footprint this platform makes.
pub fn uuid_v4() -> String {
    let h = random_hex(16);
    let mut b: Vec<char> = h.chars().collect();
    b[12] = '4';
    b[16] = ['8', '9', 'a', 'b'][(b[16].to_digit(16).unwrap_or(0) % 4) as usize];
    let s: String = b.into_iter().collect();
    format!("{}-{}-{}-{}-{}", &s[0..8], &s[8..12], &s[12..16], &s[16..20], &s[20..32])
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    pact::format_datetime(secs)
}

// ---- suppliers ----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSupplier {
    pub org_code: String,
    #[serde(flatten)]
    pub supplier: SupplierIn,
}

pub fn register_supplier(p: &Platform, actor: &Actor, req: NewSupplier) -> Result<Value> {
    let org = org_within(p, actor, &req.org_code)?;
    let s = req.supplier;
    let pr = s.problems();
    if !pr.is_empty() {
        return Err(problems("invalid_supplier", "the supplier", pr));
    }
    let created = p
        .store
        .supply_add_supplier(
            &actor.username,
            &org.code,
            &s.uscc,
            s.name.trim(),
            &json!(s.categories),
            &json!(s.contacts),
        )
        .map_err(err)?;
    Ok(json!({"supplier": created}))
}

pub fn suppliers(p: &Platform, actor: &Actor) -> Result<Value> {
    let list = p.store.supply_suppliers_within(&actor.org_path)?;
    Ok(json!({"suppliers": list}))
}

/// A supplier with its disclosures, footprints (every version) and users.
pub fn supplier(p: &Platform, actor: &Actor, id: i64) -> Result<Value> {
    let s = supplier_within(p, actor, id)?;
    supplier_view(p, &s)
}

fn supplier_view(p: &Platform, s: &Supplier) -> Result<Value> {
    let disclosures = p.store.supply_disclosures(s.id, "")?;
    let footprints =
        p.store.supply_footprints(&FootprintQuery { supplier_id: Some(s.id), limit: 10_000, ..Default::default() })?;
    let users = p.store.supply_supplier_users(s.id)?;
    let equipment: Vec<Value> = disclosures
        .iter()
        .filter(|d| d.kind == "equipment")
        .map(|d| {
            let checks = serde_json::from_value::<supply::equipment::EquipmentSpec>(d.body.clone())
                .map(|e| e.checks())
                .unwrap_or_default();
            json!({"disclosure": d.id, "spec": d.body, "checks": checks})
        })
        .collect();
    Ok(
        json!({"supplier": s, "disclosures": disclosures, "footprints": footprints.iter().map(entry_json).collect::<Vec<_>>(), "equipment": equipment, "users": users}),
    )
}

/// Creates a supplier user (the password already hashed by the caller).
pub fn create_supplier_user(p: &Platform, actor: &Actor, id: i64, username: &str, hash: &str) -> Result<Value> {
    let s = supplier_within(p, actor, id)?;
    let u = p.store.supply_create_supplier_user(&actor.username, s.id, username, hash)?;
    Ok(json!({"user": u, "supplier": s.id}))
}

/// The supplier a user logs in for; `forbidden` for the platform's own users.
pub fn supplier_of_user(p: &Platform, user_id: i64) -> Result<Supplier> {
    p.store
        .supply_supplier_of_user(user_id)?
        .ok_or_else(|| Error::new(Kind::Forbidden, "not_a_supplier", "only a supplier's users use the supplier portal"))
}

// ---- supplier portal ----------------------------------------------------------------------------

pub fn portal(p: &Platform, user_id: i64) -> Result<Value> {
    let s = supplier_of_user(p, user_id)?;
    supplier_view(p, &s)
}

pub fn disclose_company(p: &Platform, actor: &Actor, user_id: i64, d: CompanyDisclosure) -> Result<Value> {
    let s = supplier_of_user(p, user_id)?;
    let pr = d.problems();
    if !pr.is_empty() {
        return Err(problems("invalid_disclosure", "the disclosure", pr));
    }
    let body = serde_json::to_value(&d).map_err(|e| Error::internal(e.to_string()))?;
    let stored = p.store.supply_add_disclosure(&actor.username, &s, "company", i64::from(d.year), &body)?;
    Ok(json!({"disclosure": stored}))
}

pub fn disclose_equipment(
    p: &Platform,
    actor: &Actor,
    user_id: i64,
    e: supply::equipment::EquipmentSpec,
) -> Result<Value> {
    let s = supplier_of_user(p, user_id)?;
    let pr = e.problems();
    if !pr.is_empty() {
        return Err(problems("invalid_equipment", "the equipment specification", pr));
    }
    let body = serde_json::to_value(&e).map_err(|x| Error::internal(x.to_string()))?;
    let year = i64::from(
        pact::civil_from_days(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
                / 86_400,
        )
        .0,
    );
    let stored = p.store.supply_add_disclosure(&actor.username, &s, "equipment", year, &body)?;
    Ok(json!({"disclosure": stored, "checks": e.checks()}))
}

/// A footprint from the portal: a form (`{"form": {...}}`) or a PACT ProductFootprint
/// (`{"pact": {...}}`); checked whole (every problem named by its field), stored as the next
/// version of its library entry with its disclosure.
pub fn disclose_footprint(p: &Platform, actor: &Actor, user_id: i64, body: Value) -> Result<Value> {
    let s = supplier_of_user(p, user_id)?;
    let (pf, class, product_id, received) = if let Some(form) = body.get("form") {
        let f: FootprintForm = serde_json::from_value(form.clone())
            .map_err(|e| Error::new(Kind::Invalid, "invalid_footprint", format!("form: {e}")))?;
        let pr = f.problems();
        if !pr.is_empty() {
            return Err(problems("invalid_footprint", "the footprint", pr));
        }
        let pf = f.to_pact(&uuid_v4(), &now_rfc3339(), &s.name, &s.uscc);
        (pf, f.class.clone(), f.product_id.clone(), form.clone())
    } else if let Some(v) = body.get("pact") {
        let pf = pact::parse(v).map_err(|pr| problems("invalid_pact", "the PACT footprint", pr))?;
        let class = pf.product_classifications.iter().find_map(|u| supply::library::class_of_urn(u)).unwrap_or("other");
        let product = pf.product_ids.first().cloned().unwrap_or_default();
        (pf.clone(), class.to_string(), product, v.clone())
    } else {
        return Err(Error::bad_request("send {\"form\": {...}} or {\"pact\": ProductFootprint}"));
    };
    let stored = store_footprint(
        p,
        actor,
        Some(&s),
        &s.org_code,
        &s.uscc,
        &pf,
        &class,
        &product_id,
        "supplier",
        ("footprint", received),
    )?;
    Ok(json!({"footprint": entry_json(&stored)}))
}

#[allow(clippy::too_many_arguments)]
fn store_footprint(
    p: &Platform,
    actor: &Actor,
    s: Option<&Supplier>,
    org_code: &str,
    uscc: &str,
    pf: &ProductFootprint,
    class: &str,
    product_id: &str,
    source: &str,
    (kind, received): (&str, Value),
) -> Result<Footprint> {
    let body = serde_json::to_value(pf).map_err(|e| Error::internal(e.to_string()))?;
    let year = supply::parse_datetime(&pf.pcf.reference_period_end)
        .map_or(0, |t| i64::from(pact::civil_from_days((t - 1).div_euclid(86_400)).0));
    let new = NewFootprint {
        pf_id: pf.id.clone(),
        supplier_id: s.map(|s| s.id),
        org_code: org_code.to_string(),
        company_uscc: uscc.to_string(),
        product_id: product_id.to_string(),
        class: class.to_string(),
        unit: pf.pcf.declared_unit_of_measurement.clone(),
        kg_per_unit: format!("{}", pf.kg_per_unit()),
        dqr: pf.mean_dqr().map(|d| format!("{d:.2}")),
        source: source.to_string(),
        created: pf.created.clone(),
        ref_end: pf.pcf.reference_period_end.clone(),
        body,
        disclosure: (kind.to_string(), year, received),
    };
    p.store.supply_add_footprint(&actor.username, new).map_err(err)
}

fn entry_json(f: &Footprint) -> Value {
    json!({
        "id": f.id, "pf_id": f.pf_id, "entry": f.entry, "version": f.version, "supplier_id": f.supplier_id,
        "org_code": f.org_code, "company_uscc": f.company_uscc, "product_id": f.product_id, "class": f.class,
        "unit": f.unit, "kg_per_unit": f.kg_per_unit, "dqr": f.dqr, "source": f.source,
        "disclosure_id": f.disclosure_id, "status": f.status, "created": f.created,
        "product_name": f.body["productNameCompany"], "company_name": f.body["companyName"],
    })
}

/// One of the supplier's own footprints (as the library shows it).
pub fn portal_footprint(p: &Platform, user_id: i64, id: i64) -> Result<Value> {
    let s = supplier_of_user(p, user_id)?;
    let f = p.store.supply_footprint(id)?.filter(|f| f.supplier_id == Some(s.id));
    let f = f.ok_or_else(|| Error::not_found(format!("no footprint {id} of yours")))?;
    Ok(json!({"footprint": entry_json(&f), "pact": f.body}))
}

// ---- footprint library --------------------------------------------------------------------------

pub fn library(p: &Platform, actor: &Actor, class: Option<String>, text: Option<String>) -> Result<Value> {
    if let Some(c) = &class {
        if !supply::library::CLASSES.contains(&c.as_str()) {
            return Err(Error::bad_request(format!(
                "class {c:?} is not one of {}",
                supply::library::CLASSES.join(", ")
            )));
        }
    }
    let list = p.store.supply_footprints(&FootprintQuery {
        org_path: Some(actor.org_path.clone()),
        class: class.clone(),
        text,
        current: true,
        limit: 5_000,
        ..Default::default()
    })?;
    // The class distributions of what is listed (per class and unit).
    let mut groups: std::collections::BTreeMap<(String, String), Vec<f64>> = Default::default();
    for f in &list {
        if let Ok(v) = f.kg_per_unit.parse::<f64>() {
            groups.entry((f.class.clone(), f.unit.clone())).or_default().push(v);
        }
    }
    let classes: Vec<Value> = groups
        .iter()
        .map(|((c, u), v)| json!({"class": c, "unit": u, "distribution": supply::library::distribution(v)}))
        .collect();
    Ok(
        json!({"footprints": list.iter().map(entry_json).collect::<Vec<_>>(), "classes": classes, "class_list": supply::library::CLASSES}),
    )
}

/// A library entry version: the PACT record, every version of its entry, its lineage (the
/// disclosure it came from) and its place in its class (distribution and percentile rank).
pub fn footprint(p: &Platform, actor: &Actor, id: i64) -> Result<Value> {
    let f = p.store.supply_footprint(id)?;
    let f = match f {
        Some(f) if p.store.org(&f.org_code)?.is_some_and(|o| actor.within(&o.path)) => f,
        _ => return Err(Error::not_found(format!("no footprint {id} within your organisation's subtree"))),
    };
    let versions = p.store.supply_footprint_versions(&f.entry)?;
    let disclosure = match f.disclosure_id {
        Some(d) => p.store.supply_disclosure(d)?,
        None => None,
    };
    let peers = p.store.supply_footprints(&FootprintQuery {
        org_path: Some(actor.org_path.clone()),
        class: Some(f.class.clone()),
        current: true,
        limit: 100_000,
        ..Default::default()
    })?;
    let values: Vec<f64> =
        peers.iter().filter(|x| x.unit == f.unit).filter_map(|x| x.kg_per_unit.parse().ok()).collect();
    let me: f64 = f.kg_per_unit.parse().unwrap_or(0.0);
    Ok(json!({
        "footprint": entry_json(&f),
        "pact": f.body,
        "versions": versions.iter().map(entry_json).collect::<Vec<_>>(),
        "lineage": {"disclosure": disclosure},
        "comparison": {"class": f.class, "unit": f.unit, "distribution": supply::library::distribution(&values), "percentile": supply::library::percentile_rank(&values, me)},
    }))
}

// ---- procurement and Scope 3 --------------------------------------------------------------------

fn check_orgs(p: &Platform, actor: &Actor, orgs: impl Iterator<Item = (String, String)>) -> Result<()> {
    let mut bad = Vec::new();
    let mut known: std::collections::HashMap<String, bool> = Default::default();
    for (line, org) in orgs {
        let ok = match known.get(&org) {
            Some(k) => *k,
            None => {
                let k = p.store.org(&org)?.is_some_and(|o| actor.within(&o.path));
                known.insert(org.clone(), k);
                k
            }
        };
        if !ok {
            bad.push(format!("line {line}: org: {org:?} is not an org within your organisation's subtree"));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::problems("invalid_lines", "the lines", bad))
    }
}

fn line_problems(p: Vec<scope3::LineProblem>) -> Error {
    let detail = serde_json::to_value(&p).unwrap_or(Value::Null);
    Error::problems("invalid_lines", "the lines", p.iter().map(ToString::to_string).collect()).with_detail(detail)
}

/// Procurement lines from procurement.csv (every problem at once; nothing stored unless none).
pub fn add_procurement(p: &Platform, actor: &Actor, csv: &[u8]) -> Result<Value> {
    let lines = scope3::read_procurement(csv, "procurement.csv").map_err(line_problems)?;
    let mut pr = Vec::new();
    for l in &lines {
        if supply::parse_date(&l.date).is_none() {
            pr.push(scope3::LineProblem {
                line: l.line.clone(),
                field: "date".into(),
                reason: format!("{:?} is not a date YYYY-MM-DD", l.date),
            });
        }
    }
    if !pr.is_empty() {
        return Err(line_problems(pr));
    }
    check_orgs(p, actor, lines.iter().map(|l| (l.line.clone(), l.org.clone())))?;
    let rows: Vec<(String, String, i64, Value)> = lines
        .iter()
        .map(|l| {
            let y = supply::parse_date(&l.date).map_or(0, |d| i64::from(d.0));
            (l.org.clone(), l.line.clone(), y, serde_json::to_value(l).unwrap_or(Value::Null))
        })
        .collect();
    let n = p.store.supply_add_lines(&actor.username, &actor.org_code, "procurement", &rows)?;
    Ok(json!({"stored": n}))
}

/// Transport legs from transport.csv (category 4).
pub fn add_transport(p: &Platform, actor: &Actor, csv: &[u8]) -> Result<Value> {
    let legs = scope3::read_transport(csv, "transport.csv").map_err(line_problems)?;
    let mut pr = Vec::new();
    for l in &legs {
        if supply::parse_date(&l.date).is_none() {
            pr.push(scope3::LineProblem {
                line: l.line.clone(),
                field: "date".into(),
                reason: format!("{:?} is not a date YYYY-MM-DD", l.date),
            });
        }
        if !scope3::MODES.contains(&l.mode.as_str()) {
            pr.push(scope3::LineProblem {
                line: l.line.clone(),
                field: "mode".into(),
                reason: format!("{:?} is not one of {}", l.mode, scope3::MODES.join(", ")),
            });
        }
    }
    if !pr.is_empty() {
        return Err(line_problems(pr));
    }
    check_orgs(p, actor, legs.iter().map(|l| (l.line.clone(), l.org.clone())))?;
    let rows: Vec<(String, String, i64, Value)> = legs
        .iter()
        .map(|l| {
            let y = supply::parse_date(&l.date).map_or(0, |d| i64::from(d.0));
            (l.org.clone(), l.line.clone(), y, serde_json::to_value(l).unwrap_or(Value::Null))
        })
        .collect();
    let n = p.store.supply_add_lines(&actor.username, &actor.org_code, "transport", &rows)?;
    Ok(json!({"stored": n}))
}

/// A secondary-data file (average product data and transport mode factors, TOML with sources) for
/// an org: checked whole, stored as a disclosure of kind `secondary`; the newest one visible to an
/// org (its own or an ancestor's) is what its Scope 3 runs use.
pub fn add_secondary(p: &Platform, actor: &Actor, org_code: &str, toml: &str) -> Result<Value> {
    let org = org_within(p, actor, org_code)?;
    let (avg, modes) =
        scope3::parse_secondary(toml).map_err(|pr| problems("invalid_secondary", "the secondary data", pr))?;
    let d = p.store.supply_add_org_disclosure(&actor.username, &org.code, "secondary", &json!({"toml": toml}))?;
    Ok(json!({"disclosure": d.id, "products": avg.len(), "modes": modes.len()}))
}

/// The factors an org's Scope 3 uses: supplier footprints disclosed to the org or an org above it
/// (newest version of each entry), the newest secondary data of the org or above, the shipped EEIO set.
fn factors_for(p: &Platform, org: &store::reference::Org) -> Result<(Factors, Value)> {
    let mut f = Factors::new(Some(supply::eeio::EeioSet::shipped()));
    let ancestors: Vec<String> =
        p.store.orgs()?.into_iter().filter(|o| org.path.starts_with(&o.path)).map(|o| o.code).collect();
    let all = p.store.supply_footprints(&FootprintQuery { current: true, limit: i64::MAX, ..Default::default() })?;
    let mut used_fp = 0;
    for x in all.iter().filter(|x| ancestors.contains(&x.org_code) || x.org_code == org.code) {
        let item = x.product_id.rsplit(':').next().unwrap_or(&x.product_id).to_string();
        f.add_supplier(SupplierFootprint {
            supplier: x.company_uscc.clone(),
            item,
            unit: x.unit.clone(),
            kg_per_unit: x.kg_per_unit.parse().unwrap_or(0.0),
            dqr: x.dqr.as_deref().and_then(|d| d.parse().ok()),
            reference: format!("footprint {} v{} ({})", x.pf_id, x.version, x.id),
        });
        used_fp += 1;
    }
    let mut secondary = Value::Null;
    for code in ancestors.iter().rev() {
        if let Some(d) = p.store.supply_org_disclosures(code, "secondary")?.into_iter().next() {
            let text = d.body["toml"].as_str().unwrap_or_default().to_string();
            if let Ok((avg, modes)) = scope3::parse_secondary(&text) {
                for a in avg {
                    f.add_average(a);
                }
                for m in modes {
                    f.add_mode(m);
                }
                secondary = json!({"disclosure": d.id, "org_code": d.org_code});
                break;
            }
        }
    }
    Ok((
        f,
        json!({"supplier_footprints": used_fp, "secondary": secondary, "eeio": supply::eeio::EeioSet::shipped().key()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub org_code: String,
    pub year: i32,
}

/// Computes an org subtree's Scope 3 (categories 1, 2, 4) of a year from the stored lines and
/// stores the run with every line's result (method, data quality, reference, explanation).
pub fn run_scope3(p: &Platform, actor: &Actor, req: RunRequest) -> Result<Value> {
    let org = org_within(p, actor, &req.org_code)?;
    if !supply::YEARS.contains(&req.year) {
        return Err(Error::new(Kind::BadRequest, "out_of_range", "year is 1990–2100"));
    }
    let year = i64::from(req.year);
    let lines: Vec<ProcurementLine> = p
        .store
        .supply_lines(&org.path, "procurement", year)?
        .into_iter()
        .filter_map(|l| serde_json::from_value(l.body).ok())
        .collect();
    let legs: Vec<TransportLeg> = p
        .store
        .supply_lines(&org.path, "transport", year)?
        .into_iter()
        .filter_map(|l| serde_json::from_value(l.body).ok())
        .collect();
    let (factors, inputs) = factors_for(p, &org)?;
    let s = scope3::compute(&factors, &lines, &legs, true).map_err(line_problems)?;
    let result = scope3_json(&s, inputs);
    let run = p.store.supply_add_run(&actor.username, &org.code, year, s.total_grams, &result)?;
    Ok(json!({"run": run}))
}

/// The JSON of a Scope 3 result: totals (kg), by category and method, by org, coverage, lines.
pub fn scope3_json(s: &scope3::Scope3, inputs: Value) -> Value {
    let cats: Vec<Value> = s
        .by_category
        .iter()
        .map(|(cat, m)| {
            json!({
                "category": cat,
                "kg": supply::kg(s.category_grams(*cat)),
                "dqr": s.category_dqr(*cat).map(|d| (d * 100.0).round() / 100.0),
                "methods": m.iter().map(|(method, c)| json!({"method": method.code(), "lines": c.lines, "kg": supply::kg(c.grams)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let by_org: Vec<Value> = s
        .by_org
        .iter()
        .map(|(o, c)| json!({"org_code": o, "categories": c.iter().map(|(k, g)| json!({"category": k, "kg": supply::kg(*g)})).collect::<Vec<_>>()}))
        .collect();
    let by_method: Vec<Value> =
        [scope3::Method::SupplierSpecific, scope3::Method::Average, scope3::Method::Spend, scope3::Method::Distance]
            .iter()
            .map(|m| json!({"method": m.code(), "kg": supply::kg(s.method_grams(*m))}))
            .collect();
    json!({
        "unit": "kgCO2e",
        "total_kg": supply::kg(s.total_grams),
        "supplier_specific_share": s.supplier_specific_share(),
        "categories": cats,
        "methods": by_method,
        "orgs": by_org,
        "lines": s.lines.iter().map(|l| json!({"line": l.line, "org_code": l.org, "category": l.category, "method": l.method.code(), "kg": supply::kg(l.grams), "dqr": l.dqr, "reference": l.reference, "explain": l.explain})).collect::<Vec<_>>(),
        "inputs": inputs,
    })
}

pub fn scope3_latest(p: &Platform, actor: &Actor, org_code: &str, year: i32) -> Result<Value> {
    let org = org_within(p, actor, org_code)?;
    let run = p.store.supply_latest_run(&org.code, i64::from(year))?;
    Ok(json!({"run": run}))
}

// ---- green procurement ----------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenderRequest {
    #[serde(default)]
    pub model: Option<supply::tender::Model>,
    pub bids: Vec<supply::tender::Bid>,
}

/// Ranks bids with a tender model (the default model when none is given).
pub fn tender(req: TenderRequest) -> Result<Value> {
    if req.bids.len() > 1000 {
        return Err(Error::new(Kind::TooLarge, "too_many_bids", "at most 1,000 bids"));
    }
    let model = req.model.unwrap_or_else(supply::tender::default_model);
    let ranked = supply::tender::rank(&model, &req.bids).map_err(|pr| problems("invalid_tender", "the tender", pr))?;
    Ok(json!({"model": model, "ranking": ranked}))
}
