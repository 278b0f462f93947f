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
    let stored = store_company(p, actor, &s, &d)?;
    Ok(json!({"disclosure": stored}))
}

/// A checked company disclosure stored for its year.
fn store_company(
    p: &Platform,
    actor: &Actor,
    s: &Supplier,
    d: &CompanyDisclosure,
) -> Result<store::supply::Disclosure> {
    let body = serde_json::to_value(d).map_err(|e| Error::internal(e.to_string()))?;
    Ok(p.store.supply_add_disclosure(&actor.username, s, "company", i64::from(d.year), &body)?)
}

/// A checked equipment specification stored for the current year (a specification has no year
/// of its own).
fn store_equipment(
    p: &Platform,
    actor: &Actor,
    s: &Supplier,
    e: &supply::equipment::EquipmentSpec,
) -> Result<store::supply::Disclosure> {
    let body = serde_json::to_value(e).map_err(|x| Error::internal(x.to_string()))?;
    Ok(p.store.supply_add_disclosure(&actor.username, s, "equipment", equipment_year(), &body)?)
}

/// The year an equipment specification is filed under: the current one.
fn equipment_year() -> i64 {
    i64::from(
        pact::civil_from_days(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
                / 86_400,
        )
        .0,
    )
}

/// A checked footprint form stored as the next version of its library entry (its disclosure is
/// the form as received).
fn store_form(p: &Platform, actor: &Actor, s: &Supplier, f: &FootprintForm) -> Result<Value> {
    let x = p.store.supply_add_footprint(&actor.username, form_footprint(s, f)?).map_err(err)?;
    Ok(entry_json(&x))
}

/// A checked footprint form as the library stores it (its disclosure is the form as received).
fn form_footprint(s: &Supplier, f: &FootprintForm) -> Result<NewFootprint> {
    let pf = f.to_pact(&uuid_v4(), &now_rfc3339(), &s.name, &s.uscc);
    let received = serde_json::to_value(f).unwrap_or(Value::Null);
    new_footprint(Some(s), &s.org_code, &s.uscc, &pf, &f.class, &f.product_id, "supplier", ("footprint", received))
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
    let stored = store_equipment(p, actor, &s, &e)?;
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
    received: (&str, Value),
) -> Result<Footprint> {
    let new = new_footprint(s, org_code, uscc, pf, class, product_id, source, received)?;
    p.store.supply_add_footprint(&actor.username, new).map_err(err)
}

/// A footprint as the library stores it, with its disclosure `(kind, as received)`.
#[allow(clippy::too_many_arguments)]
fn new_footprint(
    s: Option<&Supplier>,
    org_code: &str,
    uscc: &str,
    pf: &ProductFootprint,
    class: &str,
    product_id: &str,
    source: &str,
    (kind, received): (&str, Value),
) -> Result<NewFootprint> {
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
    Ok(new)
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

/// Packaging records from packaging.csv (green logistics): every problem of every row at once;
/// nothing stored unless none. Stored as lines of kind `packaging` (reference `packaging:LINE`;
/// the same reference again replaces the line); indicators read them (`feeds::logistics_rows`).
pub fn add_packaging(p: &Platform, actor: &Actor, csv: &[u8]) -> Result<Value> {
    let recs = supply::logistics::read_packaging(csv, "packaging.csv").map_err(line_problems)?;
    store_logistics(p, actor, "packaging", &recs, |r| (&r.line, &r.org, &r.period))
}

/// Delivery records from deliveries.csv (green logistics), like [`add_packaging`].
pub fn add_deliveries(p: &Platform, actor: &Actor, csv: &[u8]) -> Result<Value> {
    let recs = supply::logistics::read_deliveries(csv, "deliveries.csv").map_err(line_problems)?;
    store_logistics(p, actor, "delivery", &recs, |r| (&r.line, &r.org, &r.period))
}

/// Checked green-logistics records stored as lines of `kind` (reference `KIND:LINE`, year of
/// their period), each record's `(line, org, period)` given by `key`, once their orgs are in the
/// actor's subtree.
fn store_logistics<R: serde::Serialize>(
    p: &Platform,
    actor: &Actor,
    kind: &str,
    recs: &[R],
    key: impl Fn(&R) -> (&String, &String, &String),
) -> Result<Value> {
    check_orgs(p, actor, recs.iter().map(|r| (key(r).0.clone(), key(r).1.clone())))?;
    let rows: Vec<(String, String, i64, Value)> = recs
        .iter()
        .map(|r| {
            let (line, org, period) = key(r);
            let y = supply::logistics::period_year(period).map_or(0, i64::from);
            (org.clone(), format!("{kind}:{line}"), y, serde_json::to_value(r).unwrap_or(Value::Null))
        })
        .collect();
    let n = p.store.supply_add_lines(&actor.username, &actor.org_code, kind, &rows)?;
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
    let eeio = current_eeio(p)?;
    let eeio_key = eeio.key();
    let mut f = Factors::new(Some(eeio));
    let transport = match p.store.supply_factor_sets("transport")?.into_iter().next() {
        Some(set) => {
            let (key, _, modes) = scope3::parse_transport(&set.body)
                .map_err(|pr| problems("invalid_factor_set", "a stored transport set", pr))?;
            for m in modes {
                f.add_mode(m);
            }
            json!(key)
        }
        None => Value::Null,
    };
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
    Ok((f, json!({"supplier_footprints": used_fp, "secondary": secondary, "eeio": eeio_key, "transport": transport})))
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

/// The EEIO set Scope 3 runs use: the newest uploaded version ([`add_factor_set`]), else the
/// shipped one.
fn current_eeio(p: &Platform) -> Result<supply::eeio::EeioSet> {
    match p.store.supply_factor_sets("eeio")?.into_iter().next() {
        Some(set) => supply::eeio::EeioSet::parse(&set.body)
            .map_err(|pr| problems("invalid_factor_set", "a stored EEIO set", pr)),
        None => Ok(supply::eeio::EeioSet::shipped()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {
    /// Replace the run recorded before for the same org and year.
    #[serde(default)]
    pub replace: bool,
}

/// Records Scope 3 run `id` into the group inventory for its org and year: inventories (snapshots)
/// run from then on for that org, an org above it or within it include its lines in their Scope 3
/// (categories 1, 2, 4) with their lineage (`snapshot::SUPPLY_RUNS`). Never twice: the same run
/// again is refused (`scope3_already_recorded`), another run of the same org and year is refused
/// (`scope3_recorded`) unless `replace`, and a run of an org above or within it recorded for the
/// same year is refused (`scope3_overlaps`: their lines would be counted twice).
pub fn record_scope3(p: &Platform, actor: &Actor, id: i64, req: RecordRequest) -> Result<Value> {
    let run = p.store.supply_run(id)?.ok_or_else(|| Error::not_found(format!("no scope3 run {id}")))?;
    let org = p.store.org(&run.org_code)?.ok_or_else(|| Error::internal("the run's org is missing"))?;
    if !actor.within(&org.path) {
        return Err(Error::new(Kind::NotFound, "not_found", format!("no scope3 run {id}")));
    }
    if !run.result["lines"].is_array() {
        return Err(Error::new(Kind::Invalid, "scope3_without_lines", format!("scope3 run {id} kept no lines")));
    }
    let recorded = p.store.supply_recorded(run.year)?;
    let mine = recorded.iter().find(|r| r.org_code == run.org_code);
    if let Some(m) = mine {
        if m.run_id == run.id {
            return Err(Error::new(
                Kind::Conflict,
                "scope3_already_recorded",
                format!("scope3 run {id} is already the Scope 3 of {} in {} in the inventory", run.org_code, run.year),
            )
            .with_detail(json!({"recorded_run": m.run_id})));
        }
        if !req.replace {
            return Err(Error::new(
                Kind::Conflict,
                "scope3_recorded",
                format!(
                    "scope3 run {} is recorded for {} in {}; send replace: true to replace it with run {id}",
                    m.run_id, run.org_code, run.year
                ),
            )
            .with_detail(json!({"recorded_run": m.run_id})));
        }
    }
    let paths: std::collections::HashMap<String, String> =
        p.store.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
    for r in recorded.iter().filter(|r| r.org_code != run.org_code) {
        let other = paths.get(&r.org_code).map(String::as_str).unwrap_or_default();
        if other.starts_with(&org.path) || org.path.starts_with(other) {
            return Err(Error::new(
                Kind::Conflict,
                "scope3_overlaps",
                format!(
                    "scope3 run {} of {} is recorded for {}; its lines and those of run {id} of {} would be counted twice",
                    r.run_id, r.org_code, run.year, run.org_code
                ),
            )
            .with_detail(json!({"recorded_run": r.run_id, "org_code": r.org_code})));
        }
    }
    let rec = p.store.supply_record_run(&actor.username, &run, mine.map(|m| m.run_id))?;
    Ok(json!({"recorded": rec, "replaced": mine.map(|m| m.run_id)}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFactorSet {
    /// `eeio` or `transport`.
    pub kind: String,
    pub toml: String,
    pub reason: String,
}

/// Adds a version of an EEIO set (`[set] id, version, currency, price_year, …` with deflators,
/// rates and factors, each sourced) or of a transport factor set (`[set] id, version` and
/// `[[mode]]`): checked whole, each problem naming its key (422 `invalid_factor_set`); a version
/// must be above the stored versions of the same set. Scope 3 runs from then on use the newest
/// uploaded set of each kind; a stored run keeps the version it names.
pub fn add_factor_set(p: &Platform, actor: &Actor, req: NewFactorSet) -> Result<Value> {
    if !actor.org_path.is_empty() && actor.org_path.matches('/').count() > 2 {
        return Err(Error::new(Kind::Forbidden, "group_only", "factor sets are the group's: upload from the root org"));
    }
    if req.reason.trim().is_empty() {
        return Err(Error::invalid(
            "invalid_factor_set",
            "say why the factors change (reason)",
            json!([{"field": "reason", "reason": "is empty"}]),
        ));
    }
    let (name, version) = match req.kind.as_str() {
        "eeio" => {
            let set = supply::eeio::EeioSet::parse(&req.toml)
                .map_err(|pr| problems("invalid_factor_set", "the EEIO set", pr))?;
            (set.id, set.version)
        }
        "transport" => {
            let (key, version, _) = scope3::parse_transport(&req.toml)
                .map_err(|pr| problems("invalid_factor_set", "the transport factor set", pr))?;
            (key.rsplit_once('@').map_or(key.clone(), |(n, _)| n.to_string()), version)
        }
        other => {
            return Err(Error::invalid(
                "invalid_factor_set",
                format!("kind {other:?}: eeio or transport"),
                json!([{"field": "kind", "reason": format!("{other:?} is not eeio or transport")}]),
            ))
        }
    };
    let newest = p.store.supply_factor_sets(&req.kind)?.into_iter().filter(|s| s.name == name).map(|s| s.version).max();
    if req.kind == "eeio" && name == supply::eeio::EeioSet::shipped().id && newest.is_none() {
        let shipped = supply::eeio::EeioSet::shipped().version;
        if version <= shipped {
            return Err(Error::new(
                Kind::Conflict,
                "factor_set_version",
                format!("{name} version {version}: the shipped set is version {shipped}; a new version is above it"),
            ));
        }
    }
    if let Some(n) = newest {
        if version <= n {
            return Err(Error::new(
                Kind::Conflict,
                "factor_set_version",
                format!("{} set {name} version {version}: version {n} is stored; a new version is above it", req.kind),
            ));
        }
    }
    let set = p.store.supply_add_factor_set(
        &actor.username,
        &actor.org_code,
        (&req.kind, &name, version),
        &req.toml,
        req.reason.trim(),
    )?;
    Ok(json!({"factor_set": {"id": set.id, "kind": set.kind, "name": set.name, "version": set.version,
                             "reason": set.reason, "created_by": set.created_by, "created_at": set.created_at}}))
}

/// The EEIO and transport factor sets: the shipped EEIO set and every uploaded version, newest
/// first, and which of each kind Scope 3 runs use now.
pub fn factor_sets(p: &Platform) -> Result<Value> {
    let list = |kind: &str| -> Result<Vec<Value>> {
        Ok(p.store
            .supply_factor_sets(kind)?
            .into_iter()
            .map(|s| {
                json!({"id": s.id, "name": s.name, "version": s.version, "key": format!("{}@{}", s.name, s.version),
                             "reason": s.reason, "created_by": s.created_by, "created_at": s.created_at})
            })
            .collect())
    };
    let eeio = list("eeio")?;
    let transport = list("transport")?;
    let shipped = supply::eeio::EeioSet::shipped().key();
    Ok(json!({
        "eeio": eeio, "transport": transport, "shipped_eeio": shipped,
        "current": {"eeio": eeio.first().map_or(json!(shipped), |s| s["key"].clone()),
                    "transport": transport.first().map_or(Value::Null, |s| s["key"].clone())},
    }))
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

// ---- PACT host: partners, tokens, footprints, events ----------------------------------------------

/// How long a PACT access token is valid (seconds).
pub const PACT_TOKEN_SECONDS: i64 = 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPactClient {
    pub name: String,
    pub org_code: String,
    /// The partner's PACT events endpoint for answers to its requests (may be empty).
    #[serde(default)]
    pub callback: String,
}

/// A partner's credentials for the PACT host: footprints disclosed to `org_code`'s subtree are
/// served to it. The secret is shown once.
pub fn create_pact_client(p: &Platform, actor: &Actor, req: NewPactClient) -> Result<Value> {
    let org = org_within(p, actor, &req.org_code)?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::bad_request("name: 1 to 200 bytes"));
    }
    let url_ok = req.callback.starts_with("https://") || req.callback.starts_with("http://");
    if !(req.callback.is_empty() || url_ok) {
        return Err(Error::bad_request("callback is an http(s) URL of the partner's /3/events"));
    }
    let secret = random_hex(32);
    let client = store::supply::PactClient {
        client_id: format!("pact_{}", random_hex(12)),
        secret_hash: store::sha256_hex(secret.as_bytes()),
        org_code: org.code.clone(),
        name: name.to_string(),
        callback: req.callback.clone(),
        created_by: actor.username.clone(),
        created_at: String::new(),
        revoked: false,
    };
    p.store.supply_add_pact_client(&actor.username, &client)?;
    Ok(json!({"client": client, "secret": secret}))
}

pub fn pact_clients(p: &Platform, actor: &Actor) -> Result<Value> {
    Ok(json!({"clients": p.store.supply_pact_clients_within(&actor.org_path)?}))
}

/// OAuth2 client credentials: a new access token for a partner, `None` for wrong credentials.
pub fn pact_token(p: &Platform, client_id: &str, secret: &str) -> Result<Option<String>> {
    let Some(c) = p.store.supply_pact_client(client_id)? else { return Ok(None) };
    if c.revoked || c.secret_hash != store::sha256_hex(secret.as_bytes()) {
        return Ok(None);
    }
    let token = random_hex(32);
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    p.store.supply_add_pact_token(&c.client_id, &token, &store::format_time(secs + PACT_TOKEN_SECONDS, 0))?;
    Ok(Some(token))
}

/// The partner (and its org's path) of a PACT access token.
pub fn pact_client(p: &Platform, token: &str) -> Result<Option<(store::supply::PactClient, String)>> {
    let Some(c) = p.store.supply_pact_client_by_token(token)? else { return Ok(None) };
    let path = p.store.org(&c.org_code)?.map(|o| o.path).unwrap_or_default();
    Ok(Some((c, path)))
}

/// The ListFootprints filters (repeated values of one filter are ORed, different filters ANDed).
#[derive(Debug, Default, Clone)]
pub struct PactFilter {
    pub product_id: Vec<String>,
    pub company_id: Vec<String>,
    pub geography: Vec<String>,
    pub classification: Vec<String>,
    pub valid_on: Vec<i64>,
    pub valid_after: Vec<i64>,
    pub valid_before: Vec<i64>,
    pub status: Vec<String>,
}

impl PactFilter {
    pub fn matches(&self, pf: &Value) -> bool {
        let strs = |k: &str| -> Vec<&str> {
            pf[k].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
        };
        let any = |want: &[String], have: &[&str]| want.is_empty() || want.iter().any(|w| have.contains(&w.as_str()));
        if !any(&self.product_id, &strs("productIds")) || !any(&self.company_id, &strs("companyIds")) {
            return false;
        }
        if !any(&self.classification, &strs("productClassifications")) {
            return false;
        }
        let geo: Vec<&str> = ["geographyCountry", "geographyRegionOrSubregion", "geographyCountrySubdivision"]
            .iter()
            .filter_map(|k| pf["pcf"][k].as_str())
            .collect();
        if !any(&self.geography, &geo) {
            return false;
        }
        if !self.status.is_empty() && !self.status.iter().any(|s| pf["status"].as_str() == Some(s)) {
            return false;
        }
        if !(self.valid_on.is_empty() && self.valid_after.is_empty() && self.valid_before.is_empty()) {
            let Ok(parsed) = serde_json::from_value::<ProductFootprint>(pf.clone()) else { return false };
            let (start, end) = parsed.validity();
            if !self.valid_on.is_empty() && !self.valid_on.iter().any(|t| start <= *t && *t <= end) {
                return false;
            }
            if !self.valid_after.is_empty() && !self.valid_after.iter().any(|t| start >= *t) {
                return false;
            }
            if !self.valid_before.is_empty() && !self.valid_before.iter().any(|t| end <= *t) {
                return false;
            }
        }
        true
    }
}

impl PactFilter {
    pub fn is_empty(&self) -> bool {
        self.product_id.is_empty()
            && self.company_id.is_empty()
            && self.geography.is_empty()
            && self.classification.is_empty()
            && self.valid_on.is_empty()
            && self.valid_after.is_empty()
            && self.valid_before.is_empty()
            && self.status.is_empty()
    }
}

/// A stored body with its current status (a deprecated footprint's body still says Active).
fn with_status(status: &str, body: String) -> String {
    if status == "Active" {
        return body;
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(mut v) => {
            v["status"] = Value::String(status.to_string());
            v.to_string()
        }
        Err(_) => body,
    }
}

/// One page of ListFootprints for a partner: footprints of its org's subtree after the cursor
/// `after` (a footprint's row id) that pass the filter, as JSON texts; the next cursor when more
/// may follow. Without filters a page is one indexed range read of `limit + 1` rows.
pub fn pact_list(
    p: &Platform,
    org_path: &str,
    f: &PactFilter,
    after: i64,
    limit: usize,
) -> Result<(Vec<String>, Option<i64>)> {
    if f.is_empty() {
        let rows = p.store.supply_pact_page(org_path, after, limit as i64 + 1)?;
        let more = rows.len() > limit;
        let mut out = Vec::with_capacity(limit);
        let mut last = after;
        for (id, status, body) in rows.into_iter().take(limit) {
            last = id;
            out.push(with_status(&status, body));
        }
        return Ok((out, more.then_some(last)));
    }
    let mut out = Vec::with_capacity(limit);
    let mut cursor = after;
    let chunk = (limit.max(1) * 2).min(1000) as i64;
    loop {
        let rows = p.store.supply_pact_page(org_path, cursor, chunk)?;
        let full = rows.len() as i64 == chunk;
        for (id, status, body) in rows {
            cursor = id;
            let text = with_status(&status, body);
            let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
            if f.matches(&v) {
                out.push(text);
                if out.len() == limit {
                    return Ok((out, Some(cursor)));
                }
            }
        }
        if !full {
            return Ok((out, None));
        }
    }
}

/// GetFootprint for a partner (footprints of its org's subtree only).
pub fn pact_get(p: &Platform, org_path: &str, pf_id: &str) -> Result<Option<Value>> {
    let Some(f) = p.store.supply_footprint_by_pf_id(pf_id)? else { return Ok(None) };
    let within = p.store.org(&f.org_code)?.is_some_and(|o| o.path.starts_with(org_path));
    Ok(within.then_some(f.body))
}

/// The v3 event types.
pub const EVENT_TYPES: &[&str] = &[
    "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
    "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3",
    "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3",
    "org.wbcsd.pact.ProductFootprint.PublishedEvent.3",
];

/// Checks a CloudEvent (structured mode): `type, specversion "1.0", id, source, time, data`, a
/// known type and its data; every problem at once.
pub fn check_event(e: &Value) -> Vec<String> {
    let mut p = Vec::new();
    for k in ["type", "specversion", "id", "source", "time"] {
        if e[k].as_str().is_none_or(str::is_empty) {
            p.push(format!("{k}: is required (a string)"));
        }
    }
    if e["specversion"].as_str().is_some_and(|v| v != "1.0") {
        p.push("specversion: must be \"1.0\"".into());
    }
    if e["time"].as_str().is_some_and(|t| supply::parse_datetime(t).is_none()) {
        p.push("time: is not an RFC 3339 date-time".into());
    }
    if !e["data"].is_object() {
        p.push("data: is required (an object)".into());
    }
    let data = &e["data"];
    let ids_ok = data["pfIds"].as_array().is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
    let pfs_ok = data["pfs"].as_array().is_some_and(|a| !a.is_empty());
    match e["type"].as_str() {
        Some(t) if !EVENT_TYPES.contains(&t) => p.push(format!("type: {t:?} is not a PACT v3 event type")),
        Some("org.wbcsd.pact.ProductFootprint.PublishedEvent.3") if !ids_ok => {
            p.push("data.pfIds: a non-empty list of footprint ids".into())
        }
        Some("org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3")
            if !data["requestEventId"].is_string() || !pfs_ok =>
        {
            p.push("data: requestEventId and a non-empty pfs are required".into())
        }
        Some("org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3")
            if !data["requestEventId"].is_string() || !data["error"].is_object() =>
        {
            p.push("data: requestEventId and error {code, message} are required".into())
        }
        _ => {}
    }
    p
}

/// Records a partner's event. A request (RequestCreatedEvent) is answered: the footprints of the
/// partner's subtree matching its criteria as a RequestFulfilledEvent, or a RequestRejectedEvent
/// when none match; the answer is recorded and returned for delivery to the partner's callback.
pub fn pact_event(
    p: &Platform,
    client: &store::supply::PactClient,
    org_path: &str,
    e: &Value,
    source: &str,
) -> Result<Option<Value>> {
    let kind = e["type"].as_str().unwrap_or_default();
    let id = e["id"].as_str().unwrap_or_default();
    p.store.supply_add_pact_event(&client.client_id, id, kind, e, "received")?;
    if kind != "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3" {
        return Ok(None);
    }
    let d = &e["data"];
    let list = |k: &str| -> Vec<String> {
        match &d[k] {
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            Value::String(s) => vec![s.clone()],
            _ => vec![],
        }
    };
    let f = PactFilter {
        product_id: list("productId"),
        company_id: list("companyId"),
        geography: list("geography"),
        classification: list("classification"),
        status: list("status"),
        ..Default::default()
    };
    let (texts, _) = pact_list(p, org_path, &f, 0, 100)?;
    let pfs: Vec<Value> = texts.iter().filter_map(|t| serde_json::from_str(t).ok()).collect();
    let now = now_rfc3339();
    let answer = if pfs.is_empty() {
        json!({"type": "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3", "specversion": "1.0", "id": uuid_v4(),
            "source": source, "time": now, "data": {"requestEventId": id, "error": {"code": "NotFound", "message": "no footprint matches the request"}}})
    } else {
        json!({"type": "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3", "specversion": "1.0", "id": uuid_v4(),
            "source": source, "time": now, "data": {"requestEventId": id, "pfs": pfs}})
    };
    p.store.supply_add_pact_event(
        &client.client_id,
        answer["id"].as_str().unwrap_or_default(),
        answer["type"].as_str().unwrap_or_default(),
        &answer,
        "answer",
    )?;
    Ok(Some(answer))
}

// ---- PACT client side ---------------------------------------------------------------------------

/// An HTTP agent for PACT calls: 20 s per call, answers of any status returned (not errors), and
/// `ca_pem` (a partner's own certificate authority, e.g. a self-signed test certificate) as the
/// only trusted roots when given, else the WebPKI roots.
fn agent(ca_pem: Option<&str>) -> std::result::Result<ureq::Agent, String> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(pem) = ca_pem {
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(pem.as_bytes())
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err("ca_pem holds no certificate".into());
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(20)))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into())
}

/// Delivers an event answer to a partner's events endpoint, three tries with back-off; the
/// outcome is recorded with the event (`delivered` / `undelivered`).
pub fn deliver(p: &Platform, url: &str, event: &Value) {
    let ca = p.pact_ca.read().ok().and_then(|c| c.clone());
    let Ok(a) = agent(ca.as_deref()) else { return };
    let mut wait = std::time::Duration::from_millis(200);
    let mut status = "undelivered";
    for _ in 0..3 {
        let r =
            a.post(url).header("content-type", "application/cloudevents+json; charset=UTF-8").send(event.to_string());
        if r.is_ok_and(|r| r.status().is_success()) {
            status = "delivered";
            break;
        }
        std::thread::sleep(wait);
        wait *= 4;
    }
    let _ = p.store.supply_add_pact_event("(delivery)", event["id"].as_str().unwrap_or_default(), url, event, status);
}

/// Where the answer to a request event goes (PACT 3.0: to the request's validated `source`, the
/// requester's events endpoint): the event's `source` when it is an `https` URL with a host and
/// no user information, else the partner's registered callback, else nowhere.
pub fn answer_destination(source: &str, callback: &str) -> Option<String> {
    if valid_https_url(source) {
        return Some(source.to_string());
    }
    (!callback.is_empty()).then(|| callback.to_string())
}

fn valid_https_url(u: &str) -> bool {
    let Some(rest) = u.strip_prefix("https://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() {
            h
        } else {
            ""
        }
    });
    u.len() <= 2048
        && !host.is_empty()
        && !authority.contains('@')
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
}

#[cfg(test)]
mod destination_tests {
    use super::answer_destination;

    #[test]
    fn answers_go_to_the_requests_https_source_else_the_callback() {
        let cb = "https://partner.example/3/events";
        assert_eq!(
            answer_destination("https://buyer.example:8443/3/events", cb).as_deref(),
            Some("https://buyer.example:8443/3/events")
        );
        assert_eq!(answer_destination("http://buyer.example/3/events", cb).as_deref(), Some(cb));
        assert_eq!(answer_destination("https://user@buyer.example/3/events", cb).as_deref(), Some(cb));
        assert_eq!(answer_destination("urn:buyer", cb).as_deref(), Some(cb));
        assert_eq!(answer_destination("https:///3/events", "").as_deref(), None);
        assert_eq!(answer_destination("https://a b/3/events", "").as_deref(), None);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// The supplier's PACT host, e.g. `https://pact.supplier.example`.
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// The org the footprints are disclosed to (within the caller's subtree).
    pub org_code: String,
    /// The supplier they come from (registered within the caller's subtree), when known.
    #[serde(default)]
    pub supplier_id: Option<i64>,
    /// The host's certificate authority (PEM), when it is not a public one.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// ListFootprints query (e.g. `productId=urn:...`), without `limit`.
    #[serde(default)]
    pub query: String,
}

/// Pulls footprints from a supplier's PACT host into the library: OpenID discovery (else
/// `/auth/token`), a token by client credentials, `GET /3/footprints` following `Link rel="next"`
/// (at most 10,000 footprints); each footprint is checked against the schema and the rules, and
/// stored as a library version (source `pact_pull`) with the pull as its disclosure. Footprints
/// stored already are skipped; a bad one is reported with its problems and not stored.
pub fn pull(p: &Platform, actor: &Actor, req: PullRequest) -> Result<Value> {
    let org = org_within(p, actor, &req.org_code)?;
    let supplier = match req.supplier_id {
        Some(id) => Some(supplier_within(p, actor, id)?),
        None => None,
    };
    let base = req.base_url.trim_end_matches('/').to_string();
    if !base.starts_with("https://") {
        return Err(Error::bad_request("base_url: a PACT host is reached over https"));
    }
    let fail = |m: String| Error::new(Kind::Unavailable, "pact_unavailable", m);
    let a = agent(req.ca_pem.as_deref()).map_err(Error::bad_request)?;
    let token_url = a
        .get(&format!("{base}/.well-known/openid-configuration"))
        .call()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["token_endpoint"].as_str().map(String::from))
        .unwrap_or_else(|| format!("{base}/auth/token"));
    let basic = base64(&format!("{}:{}", req.client_id, req.client_secret));
    let mut r = a
        .post(&token_url)
        .header("authorization", &format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send("grant_type=client_credentials")
        .map_err(|e| fail(format!("token request to {token_url}: {e}")))?;
    if !r.status().is_success() {
        return Err(Error::new(
            Kind::Invalid,
            "pact_auth_failed",
            format!("{token_url} answered {} to the client credentials", r.status()),
        ));
    }
    let tok: Value = serde_json::from_str(&r.body_mut().read_to_string().map_err(|e| fail(e.to_string()))?)
        .map_err(|e| fail(format!("token answer: {e}")))?;
    let token =
        tok["access_token"].as_str().ok_or_else(|| fail("token answer without access_token".into()))?.to_string();
    let mut url = format!("{base}/3/footprints?limit=100{}{}", if req.query.is_empty() { "" } else { "&" }, req.query);
    let (mut stored, mut skipped, mut rejected, mut pages) = (Vec::new(), 0usize, Vec::new(), 0);
    let host = |u: &str| u.split('/').nth(2).map(String::from);
    loop {
        pages += 1;
        let mut r = a
            .get(&url)
            .header("authorization", &format!("Bearer {token}"))
            .call()
            .map_err(|e| fail(format!("{url}: {e}")))?;
        if !(r.status().is_success()) {
            return Err(fail(format!("{url} answered {}", r.status())));
        }
        let next = r
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.split(',').find(|x| x.contains("rel=\"next\"")).map(String::from))
            .and_then(|l| l.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(u, _)| u.to_string()));
        let page: Value = serde_json::from_str(
            &r.body_mut().with_config().limit(64 << 20).read_to_string().map_err(|e| fail(e.to_string()))?,
        )
        .map_err(|e| fail(format!("{url}: {e}")))?;
        for v in page["data"].as_array().cloned().unwrap_or_default() {
            match pact::parse(&v) {
                Err(pr) => rejected.push(json!({"id": v["id"], "problems": pr})),
                Ok(pf) => {
                    if p.store.supply_footprint_by_pf_id(&pf.id)?.is_some() {
                        skipped += 1;
                        continue;
                    }
                    let class = pf
                        .product_classifications
                        .iter()
                        .find_map(|u| supply::library::class_of_urn(u))
                        .unwrap_or("other");
                    let product = pf.product_ids.first().cloned().unwrap_or_default();
                    let uscc = supplier.as_ref().map(|s| s.uscc.clone()).unwrap_or_else(|| {
                        pf.company_ids
                            .first()
                            .map(|c| c.rsplit(':').next().unwrap_or(c).to_string())
                            .unwrap_or_default()
                    });
                    let f = store_footprint(
                        p,
                        actor,
                        supplier.as_ref(),
                        &org.code,
                        &uscc,
                        &pf,
                        class,
                        &product,
                        "pact_pull",
                        ("pact_pull", json!({"url": url, "pf": v})),
                    )?;
                    stored.push(f.id);
                }
            }
        }
        match next {
            // The next page is on the same host (PACT: links are absolute, same host).
            Some(n) if host(&n) == host(&base) && pages < 100 && stored.len() + skipped < 10_000 => url = n,
            _ => break,
        }
    }
    Ok(json!({"stored": stored, "skipped": skipped, "rejected": rejected, "pages": pages}))
}

fn base64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The footprint template (CSV header and one example row).
pub fn footprint_template() -> String {
    format!(
        "\u{feff}{}\nAAU-0001,AAU 64T64R 3.5GHz,,aau,piece,812.5,,40,2024-01-01,2024-12-31,CN,GB/T 24067-2024,60,2,2,2\n",
        pact::FORM_COLUMNS.join(",")
    )
}

/// Footprints from a filled template: every problem of every row first (nothing stored unless
/// none), then each row stored as the next version of its entry.
pub fn disclose_footprints_csv(p: &Platform, actor: &Actor, user_id: i64, csv: &[u8]) -> Result<Value> {
    let s = supplier_of_user(p, user_id)?;
    let forms = pact::read_forms(csv).map_err(|pr| problems("invalid_footprint", "the template", pr))?;
    let stored = forms.iter().map(|f| store_form(p, actor, &s, f)).collect::<Result<Vec<_>>>()?;
    Ok(json!({"stored": stored}))
}

// ---- the disclosure workbook (XLSX template: footprints, company, equipment) ----------------------

/// The columns of the workbook's `company` sheet (annual company-level emissions).
pub const COMPANY_COLUMNS: &[&str] = &["year", "scope1_t", "scope2_t", "scope3_t", "verification", "verifier"];
/// The columns of the workbook's `equipment` sheet (energy specifications).
pub const EQUIPMENT_COLUMNS: &[&str] =
    &["class", "model", "typical_w", "compute", "grade", "reference", "power_0_w", "power_50_w", "power_100_w"];
/// The sheets an upload reads, in this order.
pub const WORKBOOK_SHEETS: [&str; 3] = ["footprints", "company", "equipment"];

/// The disclosure template as a workbook: a sheet each for product footprints
/// ([`pact::FORM_COLUMNS`]), the company's annual emissions ([`COMPANY_COLUMNS`]) and equipment
/// specifications ([`EQUIPMENT_COLUMNS`]), their fixed values offered as dropdowns, and an
/// instructions sheet in Chinese and English. Written with the filing templates' writer
/// (`xlsx::workbook_of`).
pub fn disclosure_template_xlsx() -> Result<Vec<u8>> {
    use crate::xlsx::{workbook_of, Offered, SheetSpec};
    let header = |cols: &[&str]| vec![cols.iter().map(|c| c.to_string()).collect::<Vec<_>>()];
    let footprints = header(pact::FORM_COLUMNS);
    let company = header(COMPANY_COLUMNS);
    let equipment = header(EQUIPMENT_COLUMNS);
    let row = |cells: [&str; 5]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let instructions = vec![
        row(["工作表 / sheet", "列 / column", "必填 / required", "说明", "description"]),
        row(["footprints", "product_id", "是 / yes", "产品编号（同一编号再次披露即为新版本）", "the product's id (the same id again is a new version)"]),
        row(["footprints", "product_name", "是 / yes", "产品名称", "the product's name"]),
        row(["footprints", "description", "否 / no", "说明", "a description"]),
        row(["footprints", "class", "是 / yes", "产品类别：从下拉列表选择（aau、bbu、server 等）", "the product class: from the list (aau, bbu, server ...)"]),
        row(["footprints", "declared_unit", "是 / yes", "声明单位（PACT）：从下拉列表选择，如 piece", "the PACT declared unit: from the list, e.g. piece"]),
        row(["footprints", "pcf_kg", "是 / yes", "每声明单位的碳足迹，kg CO2e，摇篮到大门，不可为负", "kg CO2e per declared unit, cradle to gate, not negative"]),
        row(["footprints", "fossil_kg", "否 / no", "其中化石来源，kg CO2e（缺省同 pcf_kg）", "of which fossil, kg CO2e (default: pcf_kg)"]),
        row(["footprints", "mass_kg", "否 / no", "每声明单位的产品质量，kg", "product mass per declared unit, kg"]),
        row(["footprints", "period_start / period_end", "是 / yes", "核算期起止，YYYY-MM-DD", "the reference period, YYYY-MM-DD"]),
        row(["footprints", "geography", "是 / yes", "国家代码（ISO 3166-1，如 CN）", "the country (ISO 3166-1, e.g. CN)"]),
        row(["footprints", "standard", "是 / yes", "核算标准：从下拉列表选择（ISO14067、GB/T 24067-2024、PACT-3.0 …）", "the standard: from the list (ISO14067, GB/T 24067-2024, PACT-3.0 ...)"]),
        row(["footprints", "primary_data_share", "否 / no", "初级数据占比，%", "primary data share, %"]),
        row(["footprints", "dqr_technological / dqr_geographical / dqr_temporal", "否 / no", "数据质量评级 1（最好）至 5", "data-quality ratings 1 (best) to 5"]),
        row(["company", "year", "是 / yes", "年份", "the year"]),
        row(["company", "scope1_t / scope2_t", "是 / yes", "范围一、范围二排放，吨 CO2e，不可为负", "Scope 1 and 2, t CO2e, not negative"]),
        row(["company", "scope3_t", "否 / no", "范围三排放，吨 CO2e", "Scope 3, t CO2e"]),
        row(["company", "verification", "是 / yes", "核查：none（无）、limited（有限保证）、reasonable（合理保证）", "verification: none, limited or reasonable assurance"]),
        row(["company", "verifier", "核查时必填 / if verified", "核查机构名称", "the verifier's name"]),
        row(["equipment", "class", "是 / yes", "设备类别：从下拉列表选择（aau、rru、server …）", "the class: from the list (aau, rru, server ...)"]),
        row(["equipment", "model", "是 / yes", "型号", "the model"]),
        row(["equipment", "typical_w", "是 / yes", "典型功耗，W", "typical power, W"]),
        row(["equipment", "compute", "服务器必填 / servers", "典型功耗下提供的算力", "compute delivered at typical_w"]),
        row(["equipment", "grade", "否 / no", "能效等级 1（一级，最好）至 5", "energy-efficiency grade 1 (best) to 5"]),
        row(["equipment", "reference", "否 / no", "参照型号的典型功耗（无线）或单位算力功耗（服务器）", "the reference model's typical power (radio) or power per unit of compute (server)"]),
        row(["equipment", "power_0_w / power_50_w / power_100_w", "否 / no", "0 %、50 %、100 % 负载下的功耗，W", "power at 0 %, 50 % and 100 % load, W"]),
        row(["", "", "", "上传时读取 footprints、company、equipment 三个工作表；任一行有误则全部不保存，错误逐行逐列列出。", "An upload reads the sheets footprints, company and equipment; any problem stores nothing, and every problem is listed by sheet, line and column."]),
    ];
    let grades = vec!["1", "2", "3", "4", "5"];
    workbook_of(&[
        SheetSpec {
            name: "footprints",
            rows: &footprints,
            lists: vec![
                (3, Offered::Values(supply::library::CLASSES.to_vec())),
                (4, Offered::Values(pact::DECLARED_UNITS.to_vec())),
                (11, Offered::Values(pact::STANDARDS.to_vec())),
                (13, Offered::Values(grades.clone())),
                (14, Offered::Values(grades.clone())),
                (15, Offered::Values(grades.clone())),
            ],
            hidden: false,
        },
        SheetSpec {
            name: "company",
            rows: &company,
            lists: vec![(4, Offered::Values(supply::supplier::VERIFICATION.to_vec()))],
            hidden: false,
        },
        SheetSpec {
            name: "equipment",
            rows: &equipment,
            lists: vec![(0, Offered::Values(supply::library::CLASSES.to_vec())), (4, Offered::Values(grades.clone()))],
            hidden: false,
        },
        SheetSpec { name: "说明 instructions", rows: &instructions, lists: Vec::new(), hidden: false },
    ])
    .map_err(|e| Error::internal(e.to_string()))
}

/// The rows of a sheet's CSV by the given columns: (line, cells in column order); a missing
/// column is a problem `<sheet>: line 1: <column>`.
fn sheet_records(sheet: &str, csv: &[u8], cols: &[&str], p: &mut Vec<Problem>) -> Vec<(u64, Vec<String>)> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(csv);
    let Ok(headers) = r.headers().cloned() else {
        p.push(Problem::new(format!("{sheet}: line 1"), "the header does not read"));
        return Vec::new();
    };
    let mut ix = Vec::new();
    for c in cols {
        match headers.iter().position(|h| h.trim_start_matches('\u{feff}').trim() == *c) {
            Some(i) => ix.push(i),
            None => p.push(Problem::new(format!("{sheet}: line 1: {c}"), "missing column")),
        }
    }
    if ix.len() != cols.len() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for rec in r.records() {
        match rec {
            Ok(rec) => {
                let line = rec.position().map_or(0, |x| x.line());
                let cells: Vec<String> = ix.iter().map(|&i| rec.get(i).unwrap_or("").trim().to_string()).collect();
                if cells.iter().any(|c| !c.is_empty()) {
                    out.push((line, cells));
                }
            }
            Err(e) => {
                p.push(Problem::new(format!("{sheet}: line {}", e.position().map_or(0, |x| x.line())), e.to_string()));
                break;
            }
        }
    }
    out
}

fn opt_number(p: &mut Vec<Problem>, at: &str, field: &str, v: &str) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    match supply::parse_decimal(v) {
        Some(x) => Some(x),
        None => {
            p.push(Problem::new(format!("{at}: {field}"), format!("{v:?} is not a number")));
            None
        }
    }
}

/// Disclosures from a filled workbook (the template of [`disclosure_template_xlsx`]): product
/// footprints, company emissions and equipment specifications of the caller's company. Every
/// problem of every row of every sheet is listed (`<sheet>: line N: <column>`) and nothing is
/// stored unless there is none; then each row is stored as its form would be.
pub fn disclose_xlsx(p: &Platform, actor: &Actor, user_id: i64, bytes: Vec<u8>) -> Result<Value> {
    let s = supplier_of_user(p, user_id)?;
    if !crate::xlsx::is_xlsx(&bytes) {
        return Err(Error::new(Kind::Invalid, "invalid_workbook", "not an XLSX workbook"));
    }
    let sheets = crate::xlsx::sheets_to_csv(bytes, &WORKBOOK_SHEETS)
        .map_err(|m| Error::new(Kind::Invalid, "invalid_workbook", m))?;
    if sheets.iter().all(Option::is_none) {
        return Err(Error::new(
            Kind::Invalid,
            "invalid_workbook",
            format!("the workbook has none of the sheets {}", WORKBOOK_SHEETS.join(", ")),
        ));
    }
    let mut pr: Vec<Problem> = Vec::new();
    // Footprints: the template's reader, its problems prefixed with the sheet.
    let mut forms = Vec::new();
    if let Some(csv) = &sheets[0] {
        let has_rows =
            csv.split(|b| *b == b'\n').skip(1).any(|l| l.iter().any(|b| !b.is_ascii_whitespace() && *b != b','));
        if has_rows {
            match pact::read_forms(csv) {
                Ok(f) => forms = f,
                Err(e) => pr.extend(e.into_iter().map(|x| Problem::new(format!("footprints: {}", x.field), x.reason))),
            }
        }
    }
    let mut company = Vec::new();
    if let Some(csv) = &sheets[1] {
        for (line, c) in sheet_records("company", csv, COMPANY_COLUMNS, &mut pr) {
            let at = format!("company: line {line}");
            let year = match c[0].parse::<i32>() {
                Ok(y) => y,
                Err(_) => {
                    pr.push(Problem::new(format!("{at}: year"), format!("{:?} is not a year", c[0])));
                    0
                }
            };
            let d = CompanyDisclosure {
                year,
                scope1_t: c[1].clone(),
                scope2_t: c[2].clone(),
                scope3_t: (!c[3].is_empty()).then(|| c[3].clone()),
                verification: c[4].clone(),
                verifier: c[5].clone(),
            };
            for x in d.problems() {
                if !(x.field == "year" && year == 0) {
                    pr.push(Problem::new(format!("{at}: {}", x.field), x.reason));
                }
            }
            company.push(d);
        }
    }
    let mut equipment = Vec::new();
    if let Some(csv) = &sheets[2] {
        for (line, c) in sheet_records("equipment", csv, EQUIPMENT_COLUMNS, &mut pr) {
            let at = format!("equipment: line {line}");
            let typical = opt_number(&mut pr, &at, "typical_w", &c[2]);
            let grade = match c[4].as_str() {
                "" => None,
                g => match g.parse::<u8>() {
                    Ok(g) => Some(g),
                    Err(_) => {
                        pr.push(Problem::new(format!("{at}: grade"), format!("{g:?} is not a grade 1 to 5")));
                        None
                    }
                },
            };
            let mut power_w = Vec::new();
            for (i, load) in [(6, 0u8), (7, 50), (8, 100)] {
                if let Some(w) = opt_number(&mut pr, &at, EQUIPMENT_COLUMNS[i], &c[i]) {
                    power_w.push(supply::equipment::LoadPower { load_percent: load, watts: w });
                }
            }
            let e = supply::equipment::EquipmentSpec {
                class: c[0].clone(),
                model: c[1].clone(),
                power_w,
                typical_w: typical.unwrap_or(0.0),
                compute: opt_number(&mut pr, &at, "compute", &c[3]),
                grade,
                reference: opt_number(&mut pr, &at, "reference", &c[5]),
            };
            for x in e.problems() {
                let field = match x.field.strip_prefix("power_w[") {
                    Some(_) => "power_w".to_string(),
                    None => x.field.clone(),
                };
                if !(field == "typical_w" && typical.is_none() && !c[2].is_empty()) {
                    pr.push(Problem::new(format!("{at}: {field}"), x.reason));
                }
            }
            equipment.push(e);
        }
    }
    if !pr.is_empty() {
        return Err(problems("invalid_workbook", "the workbook", pr));
    }
    if forms.is_empty() && company.is_empty() && equipment.is_empty() {
        return Err(Error::new(Kind::Invalid, "invalid_workbook", "the workbook holds no row to disclose"));
    }
    // The whole workbook in one transaction: stored whole or, should the database fail part-way,
    // not at all (the same file can be sent again).
    let footprints = forms.iter().map(|f| form_footprint(&s, f)).collect::<Result<Vec<_>>>()?;
    let mut disclosures = Vec::with_capacity(company.len() + equipment.len());
    for d in &company {
        disclosures.push((
            "company".to_string(),
            i64::from(d.year),
            serde_json::to_value(d).map_err(|e| Error::internal(e.to_string()))?,
        ));
    }
    for e in &equipment {
        disclosures.push((
            "equipment".to_string(),
            equipment_year(),
            serde_json::to_value(e).map_err(|x| Error::internal(x.to_string()))?,
        ));
    }
    let (fps, ids) = p.store.supply_add_workbook(&actor.username, &s, &footprints, &disclosures).map_err(err)?;
    let fps: Vec<Value> = fps.iter().map(entry_json).collect();
    let (cos, eq_ids) = ids.split_at(company.len());
    let eqs: Vec<Value> =
        eq_ids.iter().zip(&equipment).map(|(id, e)| json!({"disclosure": id, "checks": e.checks()})).collect();
    Ok(json!({"stored": {"footprints": fps, "company": cos, "equipment": eqs}}))
}
