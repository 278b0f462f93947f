//! Supply-chain persistence (issue 18): suppliers registered by a buyer org and the users who log in
//! for them (a user's supplier is fixed when the user is made), disclosures as received (company
//! figures, footprint forms, PACT payloads, equipment specifications), the footprint library
//! (versioned entries, each version a PACT footprint with its own id, linked to the disclosure it
//! came from), procurement and transport lines, Scope 3 runs, and the PACT host's partner
//! credentials, tokens and events. The rules are the `supply` crate's; every change is audited in
//! its transaction.

use crate::audit::{append, Change};
use crate::users::User;
use crate::{Result, Row, Store, StoreError, Value};
use serde::Serialize;
use serde_json::{json, Value as Json};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Supplier {
    pub id: i64,
    /// The buyer org that registered the supplier: its subtree sees what the supplier discloses.
    pub org_code: String,
    pub uscc: String,
    pub name: String,
    pub categories: Json,
    pub contacts: Json,
    pub created_by: String,
    pub created_at: String,
}

const SUPPLIER_COLS: &str = "s.id, s.org_code, s.uscc, s.name, s.categories, s.contacts, s.created_by, s.created_at";

fn supplier(r: &Row) -> Supplier {
    Supplier {
        id: r.int(0),
        org_code: r.text(1),
        uscc: r.text(2),
        name: r.text(3),
        categories: serde_json::from_str(&r.text(4)).unwrap_or(Json::Null),
        contacts: serde_json::from_str(&r.text(5)).unwrap_or(Json::Null),
        created_by: r.text(6),
        created_at: r.text(7),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Disclosure {
    pub id: i64,
    pub supplier_id: Option<i64>,
    pub org_code: String,
    /// `company`, `footprint`, `equipment`, `pact_pull` or `secondary`.
    pub kind: String,
    pub year: i64,
    pub body: Json,
    pub created_by: String,
    pub created_at: String,
}

const DISCLOSURE_COLS: &str = "d.id, d.supplier_id, d.org_code, d.kind, d.year, d.body, d.created_by, d.created_at";

fn disclosure(r: &Row) -> Disclosure {
    Disclosure {
        id: r.int(0),
        supplier_id: r.opt_int(1),
        org_code: r.text(2),
        kind: r.text(3),
        year: r.int(4),
        body: serde_json::from_str(&r.text(5)).unwrap_or(Json::Null),
        created_by: r.text(6),
        created_at: r.text(7),
    }
}

/// A version of a library entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Footprint {
    pub id: i64,
    /// The PACT ProductFootprint id of this version.
    pub pf_id: String,
    /// The entry (one product of one company) this is a version of.
    pub entry: String,
    pub version: i64,
    pub supplier_id: Option<i64>,
    pub org_code: String,
    pub company_uscc: String,
    pub product_id: String,
    pub class: String,
    pub unit: String,
    /// kg CO2e per declared unit (decimal text).
    pub kg_per_unit: String,
    pub dqr: Option<String>,
    /// `supplier`, `pact_pull` or `secondary`.
    pub source: String,
    /// The disclosure it came from (lineage).
    pub disclosure_id: Option<i64>,
    /// `Active` or `Deprecated` (a newer version replaced it).
    pub status: String,
    pub created: String,
    pub ref_end: String,
    /// The PACT ProductFootprint, with `status` as stored.
    pub body: Json,
}

const FP_COLS: &str =
    "f.id, f.pf_id, f.entry, f.version, f.supplier_id, f.org_code, f.company_uscc, f.product_id, f.class, \
    f.unit, f.kg_per_unit, f.dqr, f.source, f.disclosure_id, f.status, f.created, f.ref_end, f.body";

fn footprint(r: &Row) -> Footprint {
    let status = r.text(14);
    let mut body: Json = serde_json::from_str(&r.text(17)).unwrap_or(Json::Null);
    if let Some(o) = body.as_object_mut() {
        o.insert("status".into(), Json::String(status.clone()));
    }
    Footprint {
        id: r.int(0),
        pf_id: r.text(1),
        entry: r.text(2),
        version: r.int(3),
        supplier_id: r.opt_int(4),
        org_code: r.text(5),
        company_uscc: r.text(6),
        product_id: r.text(7),
        class: r.text(8),
        unit: r.text(9),
        kg_per_unit: r.text(10),
        dqr: r.opt_text(11),
        source: r.text(12),
        disclosure_id: r.opt_int(13),
        status,
        created: r.text(15),
        ref_end: r.text(16),
        body,
    }
}

/// A new footprint version to store (the PACT body is already checked).
#[derive(Debug, Clone)]
pub struct NewFootprint {
    pub pf_id: String,
    pub supplier_id: Option<i64>,
    pub org_code: String,
    pub company_uscc: String,
    pub product_id: String,
    pub class: String,
    pub unit: String,
    pub kg_per_unit: String,
    pub dqr: Option<String>,
    pub source: String,
    pub created: String,
    pub ref_end: String,
    pub body: Json,
    /// The disclosure as received: (kind, year, body).
    pub disclosure: (String, i64, Json),
}

/// What a library search asks.
#[derive(Debug, Clone, Default)]
pub struct FootprintQuery {
    /// Only entries visible to this org subtree (their org's path starts with it), when set.
    pub org_path: Option<String>,
    /// Or those of one supplier.
    pub supplier_id: Option<i64>,
    pub class: Option<String>,
    /// Text in the product id, company code or PACT body.
    pub text: Option<String>,
    /// Only the newest version of each entry.
    pub current: bool,
    /// Ids after this one (paging), at most `limit`.
    pub after: i64,
    pub limit: i64,
}

/// A stored procurement or transport line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub id: i64,
    pub org_code: String,
    pub line: String,
    /// `procurement` or `transport`.
    pub kind: String,
    pub body: Json,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Run {
    pub id: i64,
    pub org_code: String,
    pub year: i64,
    pub total_grams: i64,
    pub result: Json,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PactClient {
    pub client_id: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub org_code: String,
    pub name: String,
    /// Where request events of this partner are answered (its PACT `/3/events`), may be empty.
    pub callback: String,
    pub created_by: String,
    pub created_at: String,
    pub revoked: bool,
}

const CLIENT_COLS: &str = "client_id, secret_hash, org_code, name, callback, created_by, created_at, revoked_at";

fn pact_client(r: &Row) -> PactClient {
    PactClient {
        client_id: r.text(0),
        secret_hash: r.text(1),
        org_code: r.text(2),
        name: r.text(3),
        callback: r.text(4),
        created_by: r.text(5),
        created_at: r.text(6),
        revoked: r.opt_text(7).is_some(),
    }
}

fn like(path: &str) -> Value {
    crate::like_prefix(path).into()
}

impl Store {
    // ---- suppliers ----------------------------------------------------------------------------

    /// Registers a supplier for `org_code` (checked by the caller); a supplier code registered twice
    /// by one org is a conflict.
    pub fn supply_add_supplier(
        &self,
        actor: &str,
        org_code: &str,
        uscc: &str,
        name: &str,
        categories: &Json,
        contacts: &Json,
    ) -> Result<Supplier> {
        let kind = self.kind();
        let id = self.tx(|c| {
            if !c
                .query(
                    "SELECT id FROM supply_suppliers WHERE org_code = $1 AND uscc = $2",
                    &[org_code.into(), uscc.into()],
                )?
                .is_empty()
            {
                return Err(StoreError::Conflict(format!(
                    "supplier_exists: {uscc} is registered for {org_code} already"
                )));
            }
            let id = c.query(
                "INSERT INTO supply_suppliers (org_code, uscc, name, categories, contacts, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    org_code.into(),
                    uscc.into(),
                    name.into(),
                    categories.to_string().into(),
                    contacts.to_string().into(),
                    actor.into(),
                    crate::now().into(),
                ],
            )?[0]
                .int(0);
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "supply.supplier",
                    entity: format!("supplier/{id}"),
                    org_code,
                    before: Json::Null,
                    after: json!({"uscc": uscc, "name": name, "categories": categories}),
                },
            )?;
            Ok(id)
        })?;
        self.supply_supplier(id)?.ok_or_else(|| StoreError::NotFound(format!("supplier {id}")))
    }

    pub fn supply_supplier(&self, id: i64) -> Result<Option<Supplier>> {
        Ok(self
            .read(|c| {
                c.query(&format!("SELECT {SUPPLIER_COLS} FROM supply_suppliers s WHERE s.id = $1"), &[id.into()])
            })?
            .first()
            .map(supplier))
    }

    /// Suppliers registered by orgs of the subtree with root `path`.
    pub fn supply_suppliers_within(&self, path: &str) -> Result<Vec<Supplier>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {SUPPLIER_COLS} FROM supply_suppliers s JOIN orgs o ON o.code = s.org_code WHERE o.path LIKE $1 ESCAPE '\\' ORDER BY s.id"),
                    &[like(path)],
                )
            })?
            .iter()
            .map(supplier)
            .collect())
    }

    /// Makes a user with role `supplier` for supplier `supplier_id` (its org is the supplier's buyer
    /// org), linked to the supplier, in one transaction with its audit entry.
    pub fn supply_create_supplier_user(
        &self,
        actor: &str,
        supplier_id: i64,
        username: &str,
        password_hash: &str,
    ) -> Result<User> {
        crate::users::check_username(username).map_err(StoreError::Invalid)?;
        let kind = self.kind();
        let s = self
            .supply_supplier(supplier_id)?
            .ok_or_else(|| StoreError::NotFound(format!("supplier {supplier_id}")))?;
        let id = self.tx(|c| {
            if !c.query("SELECT id FROM users WHERE username = $1", &[username.into()])?.is_empty() {
                return Err(StoreError::Conflict(format!("user {username:?} exists already")));
            }
            let id = c.query(
                "INSERT INTO users (username, password_hash, role, org_code, created_at) VALUES ($1, $2, 'supplier', $3, $4) RETURNING id",
                &[username.into(), password_hash.into(), s.org_code.as_str().into(), crate::now().into()],
            )?[0]
                .int(0);
            c.exec("INSERT INTO supply_supplier_users (user_id, supplier_id) VALUES ($1, $2)", &[id.into(), supplier_id.into()])?;
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "user.create",
                    entity: format!("user/{id}"),
                    org_code: &s.org_code,
                    before: Json::Null,
                    after: json!({"username": username, "role": "supplier", "org_code": s.org_code, "supplier": supplier_id}),
                },
            )?;
            Ok(id)
        })?;
        self.user_by_id(id)?.ok_or_else(|| StoreError::NotFound(format!("user {id}")))
    }

    /// The supplier a user logs in for (none for the platform's own users).
    pub fn supply_supplier_of_user(&self, user_id: i64) -> Result<Option<Supplier>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {SUPPLIER_COLS} FROM supply_suppliers s JOIN supply_supplier_users u ON u.supplier_id = s.id WHERE u.user_id = $1"),
                    &[user_id.into()],
                )
            })?
            .first()
            .map(supplier))
    }

    /// The usernames of a supplier's users.
    pub fn supply_supplier_users(&self, supplier_id: i64) -> Result<Vec<String>> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT u.username FROM users u JOIN supply_supplier_users s ON s.user_id = u.id WHERE s.supplier_id = $1 ORDER BY u.id",
                    &[supplier_id.into()],
                )
            })?
            .iter()
            .map(|r| r.text(0))
            .collect())
    }

    // ---- disclosures --------------------------------------------------------------------------

    /// Stores a disclosure as received (company figures, equipment specification).
    pub fn supply_add_disclosure(
        &self,
        actor: &str,
        s: &Supplier,
        kind: &str,
        year: i64,
        body: &Json,
    ) -> Result<Disclosure> {
        let k = self.kind();
        let id = self.tx(|c| add_supplier_disclosure(c, k, actor, s, kind, year, body))?;
        self.supply_disclosure(id)?.ok_or_else(|| StoreError::NotFound(format!("disclosure {id}")))
    }

    /// A supplier's whole workbook in one transaction: each footprint as the next version of its
    /// entry (as `supply_add_footprint`), then each disclosure (as `supply_add_disclosure`,
    /// `(kind, year, body)`), all audited; all stored or, on any failure, none. The footprints and
    /// the disclosures' ids, in the order given.
    pub fn supply_add_workbook(
        &self,
        actor: &str,
        s: &Supplier,
        footprints: &[NewFootprint],
        disclosures: &[(String, i64, Json)],
    ) -> Result<(Vec<Footprint>, Vec<i64>)> {
        let k = self.kind();
        let (fp_ids, d_ids) = self.tx(|c| {
            let mut fp_ids = Vec::with_capacity(footprints.len());
            for f in footprints {
                fp_ids.push(add_footprint(c, k, actor, f)?);
            }
            let mut d_ids = Vec::with_capacity(disclosures.len());
            for (kind, year, body) in disclosures {
                d_ids.push(add_supplier_disclosure(c, k, actor, s, kind, *year, body)?);
            }
            Ok((fp_ids, d_ids))
        })?;
        let fps = fp_ids
            .into_iter()
            .map(|id| self.supply_footprint(id)?.ok_or_else(|| StoreError::NotFound(format!("footprint {id}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok((fps, d_ids))
    }

    /// Stores an org's own disclosure (no supplier: e.g. a secondary-data file), audited.
    pub fn supply_add_org_disclosure(
        &self,
        actor: &str,
        org_code: &str,
        kind: &str,
        body: &Json,
    ) -> Result<Disclosure> {
        let k = self.kind();
        let id = self.tx(|c| {
            let id = insert_disclosure(c, actor, None, org_code, kind, 0, body)?;
            append(
                c,
                k,
                Change {
                    actor,
                    action: "supply.disclosure",
                    entity: format!("disclosure/{id}"),
                    org_code,
                    before: Json::Null,
                    after: json!({"kind": kind}),
                },
            )?;
            Ok(id)
        })?;
        self.supply_disclosure(id)?.ok_or_else(|| StoreError::NotFound(format!("disclosure {id}")))
    }

    /// An org's own disclosures of a kind, newest first.
    pub fn supply_org_disclosures(&self, org_code: &str, kind: &str) -> Result<Vec<Disclosure>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {DISCLOSURE_COLS} FROM supply_disclosures d WHERE d.org_code = $1 AND d.kind = $2 AND d.supplier_id IS NULL ORDER BY d.id DESC"),
                    &[org_code.into(), kind.into()],
                )
            })?
            .iter()
            .map(disclosure)
            .collect())
    }

    pub fn supply_disclosure(&self, id: i64) -> Result<Option<Disclosure>> {
        Ok(self
            .read(|c| {
                c.query(&format!("SELECT {DISCLOSURE_COLS} FROM supply_disclosures d WHERE d.id = $1"), &[id.into()])
            })?
            .first()
            .map(disclosure))
    }

    /// A supplier's disclosures, newest first (`kind` empty: every kind).
    pub fn supply_disclosures(&self, supplier_id: i64, kind: &str) -> Result<Vec<Disclosure>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {DISCLOSURE_COLS} FROM supply_disclosures d WHERE d.supplier_id = $1 AND ($2 = '' OR d.kind = $2) ORDER BY d.id DESC"),
                    &[supplier_id.into(), kind.into()],
                )
            })?
            .iter()
            .map(disclosure)
            .collect())
    }

    /// Disclosures of a kind by suppliers registered within the subtree `path`.
    pub fn supply_disclosures_within(&self, path: &str, kind: &str) -> Result<Vec<Disclosure>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {DISCLOSURE_COLS} FROM supply_disclosures d JOIN orgs o ON o.code = d.org_code WHERE o.path LIKE $1 ESCAPE '\\' AND d.kind = $2 ORDER BY d.id"),
                    &[like(path), kind.into()],
                )
            })?
            .iter()
            .map(disclosure)
            .collect())
    }

    // ---- footprint library --------------------------------------------------------------------

    /// Stores a footprint as the next version of its entry (company code + product id + source
    /// org): the disclosure as received, then the footprint linked to it; the previous version
    /// becomes `Deprecated` (PACT: only the status of a footprint changes). One transaction.
    pub fn supply_add_footprint(&self, actor: &str, f: NewFootprint) -> Result<Footprint> {
        let k = self.kind();
        let id = self.tx(|c| add_footprint(c, k, actor, &f))?;
        self.supply_footprint(id)?.ok_or_else(|| StoreError::NotFound(format!("footprint {id}")))
    }

    pub fn supply_footprint(&self, id: i64) -> Result<Option<Footprint>> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {FP_COLS} FROM supply_footprints f WHERE f.id = $1"), &[id.into()]))?
            .first()
            .map(footprint))
    }

    pub fn supply_footprint_by_pf_id(&self, pf_id: &str) -> Result<Option<Footprint>> {
        Ok(self
            .read(|c| {
                c.query(&format!("SELECT {FP_COLS} FROM supply_footprints f WHERE f.pf_id = $1"), &[pf_id.into()])
            })?
            .first()
            .map(footprint))
    }

    /// Every version of an entry, newest first.
    pub fn supply_footprint_versions(&self, entry: &str) -> Result<Vec<Footprint>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {FP_COLS} FROM supply_footprints f WHERE f.entry = $1 ORDER BY f.version DESC"),
                    &[entry.into()],
                )
            })?
            .iter()
            .map(footprint)
            .collect())
    }

    /// A library search (see [`FootprintQuery`]), by id.
    pub fn supply_footprints(&self, q: &FootprintQuery) -> Result<Vec<Footprint>> {
        let mut sql =
            format!("SELECT {FP_COLS} FROM supply_footprints f JOIN orgs o ON o.code = f.org_code WHERE f.id > $1");
        let mut params: Vec<Value> = vec![q.after.into()];
        if let Some(p) = &q.org_path {
            params.push(like(p));
            sql.push_str(&format!(" AND o.path LIKE ${} ESCAPE '\\'", params.len()));
        }
        if let Some(s) = q.supplier_id {
            params.push(s.into());
            sql.push_str(&format!(" AND f.supplier_id = ${}", params.len()));
        }
        if let Some(cl) = &q.class {
            params.push(cl.as_str().into());
            sql.push_str(&format!(" AND f.class = ${}", params.len()));
        }
        if let Some(t) = &q.text {
            params.push(format!("%{}%", t.replace(['%', '_', '\\'], "")).into());
            let n = params.len();
            sql.push_str(&format!(" AND (f.product_id LIKE ${n} OR f.company_uscc LIKE ${n} OR f.body LIKE ${n})"));
        }
        if q.current {
            sql.push_str(" AND f.status = 'Active'");
        }
        params.push(q.limit.into());
        sql.push_str(&format!(" ORDER BY f.id LIMIT ${}", params.len()));
        Ok(self.read(|c| c.query(&sql, &params))?.iter().map(footprint).collect())
    }

    /// A page of footprints for the PACT host, by id after `after`, of orgs within `path`: (row id,
    /// status, PACT body as stored).
    pub fn supply_pact_page(&self, path: &str, after: i64, limit: i64) -> Result<Vec<(i64, String, String)>> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT f.id, f.status, f.body FROM supply_footprints f JOIN orgs o ON o.code = f.org_code \
                     WHERE f.id > $1 AND o.path LIKE $2 ESCAPE '\\' ORDER BY f.id LIMIT $3",
                    &[after.into(), like(path), limit.into()],
                )
            })?
            .iter()
            .map(|r| (r.int(0), r.text(1), r.text(2)))
            .collect())
    }

    // ---- procurement, transport, Scope 3 runs --------------------------------------------------

    /// Stores lines (`kind` procurement or transport; `(org, line, year, body)`), a line with an
    /// existing (org, line) reference replacing it; one transaction, one audit entry.
    pub fn supply_add_lines(
        &self,
        actor: &str,
        org_code: &str,
        kind: &str,
        lines: &[(String, String, i64, Json)],
    ) -> Result<usize> {
        let k = self.kind();
        self.tx(|c| {
            let now = crate::now();
            let mut replaced = 0;
            for (org, line, year, body) in lines {
                replaced += c.exec("DELETE FROM supply_procurement WHERE org_code = $1 AND line = $2", &[org.into(), line.into()])?;
                c.exec(
                    "INSERT INTO supply_procurement (org_code, line, kind, body, year, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[org.into(), line.into(), kind.into(), body.to_string().into(), (*year).into(), actor.into(), now.as_str().into()],
                )?;
            }
            append(
                c,
                k,
                Change {
                    actor,
                    action: "supply.lines",
                    entity: format!("procurement/{org_code}"),
                    org_code,
                    before: Json::Null,
                    after: json!({"kind": kind, "lines": lines.len(), "replaced": replaced}),
                },
            )?;
            Ok(lines.len())
        })
    }

    /// Lines of the subtree `path` in `year` (`kind` procurement or transport), by id.
    pub fn supply_lines(&self, path: &str, kind: &str, year: i64) -> Result<Vec<Line>> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT p.id, p.org_code, p.line, p.kind, p.body FROM supply_procurement p JOIN orgs o ON o.code = p.org_code \
                     WHERE o.path LIKE $1 ESCAPE '\\' AND p.kind = $2 AND p.year = $3 ORDER BY p.id",
                    &[like(path), kind.into(), year.into()],
                )
            })?
            .iter()
            .map(|r| Line {
                id: r.int(0),
                org_code: r.text(1),
                line: r.text(2),
                kind: r.text(3),
                body: serde_json::from_str(&r.text(4)).unwrap_or(Json::Null),
            })
            .collect())
    }

    pub fn supply_add_run(
        &self,
        actor: &str,
        org_code: &str,
        year: i64,
        total_grams: i64,
        result: &Json,
    ) -> Result<Run> {
        let k = self.kind();
        let id = self.tx(|c| {
            let id = c.query(
                "INSERT INTO supply_scope3_runs (org_code, year, total_grams, result, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[org_code.into(), year.into(), total_grams.into(), result.to_string().into(), actor.into(), crate::now().into()],
            )?[0]
                .int(0);
            append(
                c,
                k,
                Change {
                    actor,
                    action: "supply.scope3",
                    entity: format!("scope3/{id}"),
                    org_code,
                    before: Json::Null,
                    after: json!({"year": year, "total_grams": total_grams}),
                },
            )?;
            Ok(id)
        })?;
        self.supply_run(id)?.ok_or_else(|| StoreError::NotFound(format!("scope3 run {id}")))
    }

    pub fn supply_run(&self, id: i64) -> Result<Option<Run>> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {RUN_COLS} FROM supply_scope3_runs r WHERE r.id = $1"), &[id.into()]))?
            .first()
            .map(run))
    }

    /// The newest run of `org_code` for `year`.
    pub fn supply_latest_run(&self, org_code: &str, year: i64) -> Result<Option<Run>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {RUN_COLS} FROM supply_scope3_runs r WHERE r.org_code = $1 AND r.year = $2 ORDER BY r.id DESC LIMIT 1"),
                    &[org_code.into(), year.into()],
                )
            })?
            .first()
            .map(run))
    }

    // ---- PACT partners ------------------------------------------------------------------------

    pub fn supply_add_pact_client(&self, actor: &str, client: &PactClient) -> Result<()> {
        let k = self.kind();
        self.tx(|c| {
            c.exec(
                &format!("INSERT INTO supply_pact_clients ({CLIENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)"),
                &[
                    client.client_id.as_str().into(),
                    client.secret_hash.as_str().into(),
                    client.org_code.as_str().into(),
                    client.name.as_str().into(),
                    client.callback.as_str().into(),
                    actor.into(),
                    crate::now().into(),
                ],
            )?;
            append(
                c,
                k,
                Change {
                    actor,
                    action: "supply.pact_client",
                    entity: format!("pact_client/{}", client.client_id),
                    org_code: &client.org_code,
                    before: Json::Null,
                    after: json!({"name": client.name, "callback": client.callback}),
                },
            )?;
            Ok(())
        })
    }

    pub fn supply_pact_client(&self, client_id: &str) -> Result<Option<PactClient>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {CLIENT_COLS} FROM supply_pact_clients WHERE client_id = $1"),
                    &[client_id.into()],
                )
            })?
            .first()
            .map(pact_client))
    }

    pub fn supply_pact_clients_within(&self, path: &str) -> Result<Vec<PactClient>> {
        let cols = CLIENT_COLS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {cols} FROM supply_pact_clients p JOIN orgs o ON o.code = p.org_code WHERE o.path LIKE $1 ESCAPE '\\' ORDER BY p.created_at"),
                    &[like(path)],
                )
            })?
            .iter()
            .map(pact_client)
            .collect())
    }

    /// Stores a PACT access token's hash for a client until `expires_at`.
    pub fn supply_add_pact_token(&self, client_id: &str, token: &str, expires_at: &str) -> Result<()> {
        self.tx(|c| {
            c.exec("DELETE FROM supply_pact_tokens WHERE expires_at < $1", &[crate::now().into()])?;
            c.exec(
                "INSERT INTO supply_pact_tokens (token_hash, client_id, expires_at) VALUES ($1, $2, $3)",
                &[crate::sha256_hex(token.as_bytes()).into(), client_id.into(), expires_at.into()],
            )?;
            Ok(())
        })
    }

    /// The client of an unexpired token of a client not revoked.
    pub fn supply_pact_client_by_token(&self, token: &str) -> Result<Option<PactClient>> {
        let cols = CLIENT_COLS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {cols} FROM supply_pact_clients p JOIN supply_pact_tokens t ON t.client_id = p.client_id \
                     WHERE t.token_hash = $1 AND t.expires_at > $2 AND p.revoked_at IS NULL"),
                    &[crate::sha256_hex(token.as_bytes()).into(), crate::now().into()],
                )
            })?
            .first()
            .map(pact_client))
    }

    /// Records a PACT event received from (or answered to) a partner.
    pub fn supply_add_pact_event(
        &self,
        client_id: &str,
        event_id: &str,
        kind: &str,
        body: &Json,
        status: &str,
    ) -> Result<i64> {
        self.tx(|c| {
            Ok(c.query(
                "INSERT INTO supply_pact_events (client_id, event_id, type, body, status, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[client_id.into(), event_id.into(), kind.into(), body.to_string().into(), status.into(), crate::now().into()],
            )?[0]
                .int(0))
        })
    }

    /// A partner's events, newest first: (id, event id, type, status, body).
    pub fn supply_pact_events(&self, client_id: &str) -> Result<Vec<PactEvent>> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT id, event_id, type, status, body FROM supply_pact_events WHERE client_id = $1 ORDER BY id DESC LIMIT 200",
                    &[client_id.into()],
                )
            })?
            .iter()
            .map(|r| (r.int(0), r.text(1), r.text(2), r.text(3), serde_json::from_str(&r.text(4)).unwrap_or(Json::Null)))
            .collect())
    }
}

/// A recorded PACT event: (row id, event id, type, status, body).
pub type PactEvent = (i64, String, String, String, Json);

const RUN_COLS: &str = "r.id, r.org_code, r.year, r.total_grams, r.result, r.created_by, r.created_at";

fn run(r: &Row) -> Run {
    Run {
        id: r.int(0),
        org_code: r.text(1),
        year: r.int(2),
        total_grams: r.int(3),
        result: serde_json::from_str(&r.text(4)).unwrap_or(Json::Null),
        created_by: r.text(5),
        created_at: r.text(6),
    }
}

/// `supply_add_footprint` inside a transaction: the new footprint's id.
fn add_footprint(c: &mut dyn crate::Conn, k: crate::Kind, actor: &str, f: &NewFootprint) -> Result<i64> {
    let entry = format!("{}/{}/{}", f.org_code, f.company_uscc, f.product_id);
    if !c.query("SELECT id FROM supply_footprints WHERE pf_id = $1", &[f.pf_id.as_str().into()])?.is_empty() {
        return Err(StoreError::Conflict(format!("footprint_exists: footprint {} is stored already", f.pf_id)));
    }
    let (dkind, year, dbody) = &f.disclosure;
    let disclosure = insert_disclosure(c, actor, f.supplier_id, &f.org_code, dkind, *year, dbody)?;
    let prev = c.query(
        "SELECT version, pf_id FROM supply_footprints WHERE entry = $1 ORDER BY version DESC LIMIT 1",
        &[entry.as_str().into()],
    )?;
    let version = prev.first().map_or(1, |r| r.int(0) + 1);
    let mut body = f.body.clone();
    if let Some(p) = prev.first() {
        c.exec("UPDATE supply_footprints SET status = 'Deprecated' WHERE entry = $1", &[entry.as_str().into()])?;
        if let Some(o) = body.as_object_mut() {
            let list = o.entry("precedingPfIds").or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                if !a.iter().any(|x| x == &Json::String(p.text(1))) {
                    a.push(Json::String(p.text(1)));
                }
            }
        }
    }
    let id = c.query(
            "INSERT INTO supply_footprints (pf_id, entry, version, supplier_id, org_code, company_uscc, product_id, class, unit, \
             kg_per_unit, dqr, source, disclosure_id, status, created, ref_end, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'Active', $14, $15, $16) RETURNING id",
            &[
                f.pf_id.as_str().into(),
                entry.as_str().into(),
                version.into(),
                f.supplier_id.into(),
                f.org_code.as_str().into(),
                f.company_uscc.as_str().into(),
                f.product_id.as_str().into(),
                f.class.as_str().into(),
                f.unit.as_str().into(),
                f.kg_per_unit.as_str().into(),
                f.dqr.clone().into(),
                f.source.as_str().into(),
                disclosure.into(),
                f.created.as_str().into(),
                f.ref_end.as_str().into(),
                body.to_string().into(),
            ],
        )?[0]
            .int(0);
    append(
        c,
        k,
        Change {
            actor,
            action: "supply.footprint",
            entity: format!("footprint/{id}"),
            org_code: &f.org_code,
            before: Json::Null,
            after: json!({"pf_id": f.pf_id, "entry": entry, "version": version, "source": f.source, "disclosure": disclosure, "kg_per_unit": f.kg_per_unit}),
        },
    )?;
    Ok(id)
}

/// `supply_add_disclosure` inside a transaction: the disclosure's id.
fn add_supplier_disclosure(
    c: &mut dyn crate::Conn,
    k: crate::Kind,
    actor: &str,
    s: &Supplier,
    kind: &str,
    year: i64,
    body: &Json,
) -> Result<i64> {
    let id = insert_disclosure(c, actor, Some(s.id), &s.org_code, kind, year, body)?;
    append(
        c,
        k,
        Change {
            actor,
            action: "supply.disclosure",
            entity: format!("disclosure/{id}"),
            org_code: &s.org_code,
            before: Json::Null,
            after: json!({"supplier": s.id, "kind": kind, "year": year}),
        },
    )?;
    Ok(id)
}

fn insert_disclosure(
    c: &mut dyn crate::Conn,
    actor: &str,
    supplier_id: Option<i64>,
    org_code: &str,
    kind: &str,
    year: i64,
    body: &Json,
) -> Result<i64> {
    Ok(c.query(
        "INSERT INTO supply_disclosures (supplier_id, org_code, kind, year, body, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[supplier_id.into(), org_code.into(), kind.into(), year.into(), body.to_string().into(), actor.into(), crate::now().into()],
    )?[0]
        .int(0))
}

/// The run recorded into the group inventory for an (org, year).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recorded {
    pub org_code: String,
    pub year: i64,
    pub run_id: i64,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// A stored EEIO or transport factor set version (TOML as uploaded).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FactorSet {
    pub id: i64,
    /// `eeio` or `transport`.
    pub kind: String,
    pub name: String,
    pub version: i64,
    pub body: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

const FACTOR_SET_COLS: &str = "id, kind, name, version, body, reason, created_by, created_at";

fn factor_set(r: &Row) -> FactorSet {
    FactorSet {
        id: r.int(0),
        kind: r.text(1),
        name: r.text(2),
        version: r.int(3),
        body: r.text(4),
        reason: r.text(5),
        created_by: r.text(6),
        created_at: r.text(7),
    }
}

impl Store {
    // ---- Scope 3 runs recorded into the group inventory ---------------------------------------

    /// Records run `run_id` as its (org, year)'s Scope 3 in the group inventory, replacing
    /// `replacing` (the run recorded before, checked by the caller; `None`: none may be). One
    /// transaction, one audit entry (`supply.scope3_record`).
    pub fn supply_record_run(&self, actor: &str, run: &Run, replacing: Option<i64>) -> Result<Recorded> {
        let k = self.kind();
        self.tx(|c| {
            let now = crate::now();
            // Recordings of one year are serialised (SQLite: BEGIN IMMEDIATE already is): two
            // concurrent recordings for an org and its parent cannot both pass the check below.
            if k == crate::Kind::Postgres {
                c.batch("LOCK TABLE supply_scope3_recorded IN SHARE ROW EXCLUSIVE MODE")?;
            }
            // A run of an org above or within this one recorded for the year: their lines would
            // be counted twice (the platform checks first and words it; this is the check that holds
            // under concurrency).
            let overlapping = c.query(
                "SELECT r.org_code, r.run_id FROM supply_scope3_recorded r JOIN orgs o ON o.code = r.org_code \
                 JOIN orgs me ON me.code = $1 \
                 WHERE r.year = $2 AND r.org_code <> $1 \
                 AND (substr(o.path, 1, length(me.path)) = me.path OR substr(me.path, 1, length(o.path)) = o.path)",
                &[run.org_code.as_str().into(), run.year.into()],
            )?;
            if let Some(r) = overlapping.first() {
                return Err(StoreError::Conflict(format!(
                    "scope3 run {} of {} is recorded for {}; its lines and those of run {} of {} would be counted twice",
                    r.int(1),
                    r.text(0),
                    run.year,
                    run.id,
                    run.org_code
                )));
            }
            let before = c.query(
                "SELECT run_id FROM supply_scope3_recorded WHERE org_code = $1 AND year = $2",
                &[run.org_code.as_str().into(), run.year.into()],
            )?;
            let before = before.first().map(|r| r.int(0));
            if before != replacing {
                return Err(StoreError::Conflict(format!(
                    "the Scope 3 of {} in {} recorded in the inventory changed meanwhile",
                    run.org_code, run.year
                )));
            }
            c.exec(
                "DELETE FROM supply_scope3_recorded WHERE org_code = $1 AND year = $2",
                &[run.org_code.as_str().into(), run.year.into()],
            )?;
            c.exec(
                "INSERT INTO supply_scope3_recorded (org_code, year, run_id, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5)",
                &[run.org_code.as_str().into(), run.year.into(), run.id.into(), actor.into(), now.as_str().into()],
            )?;
            append(
                c,
                k,
                Change {
                    actor,
                    action: "supply.scope3_record",
                    entity: format!("scope3/{}", run.id),
                    org_code: &run.org_code,
                    before: before.map_or(Json::Null, |id| json!({"run": id})),
                    after: json!({"run": run.id, "year": run.year, "total_grams": run.total_grams}),
                },
            )?;
            Ok(Recorded {
                org_code: run.org_code.clone(),
                year: run.year,
                run_id: run.id,
                recorded_by: actor.to_string(),
                recorded_at: now,
            })
        })
    }

    /// Every run recorded into the inventory of `year`, by org code.
    pub fn supply_recorded(&self, year: i64) -> Result<Vec<Recorded>> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT org_code, year, run_id, recorded_by, recorded_at FROM supply_scope3_recorded WHERE year = $1 ORDER BY org_code",
                    &[year.into()],
                )
            })?
            .iter()
            .map(|r| Recorded {
                org_code: r.text(0),
                year: r.int(1),
                run_id: r.int(2),
                recorded_by: r.text(3),
                recorded_at: r.text(4),
            })
            .collect())
    }

    // ---- EEIO and transport factor set versions -----------------------------------------------

    /// Stores a factor set version (checked by the caller); the same (kind, name, version) twice
    /// is a conflict. One transaction, one audit entry (`supply.factor_set`).
    /// `set` is (kind, name, version).
    pub fn supply_add_factor_set(
        &self,
        actor: &str,
        root: &str,
        set: (&str, &str, i64),
        body: &str,
        reason: &str,
    ) -> Result<FactorSet> {
        let (kind, name, version) = set;
        let k = self.kind();
        let id = self.tx(|c| {
            let exists = c.query(
                "SELECT id FROM supply_factor_sets WHERE kind = $1 AND name = $2 AND version = $3",
                &[kind.into(), name.into(), version.into()],
            )?;
            if !exists.is_empty() {
                return Err(StoreError::Conflict(format!("{kind} set {name} version {version} is stored already")));
            }
            let id = c.query(
                "INSERT INTO supply_factor_sets (kind, name, version, body, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[kind.into(), name.into(), version.into(), body.into(), reason.into(), actor.into(), crate::now().into()],
            )?[0]
                .int(0);
            append(
                c,
                k,
                Change {
                    actor,
                    action: "supply.factor_set",
                    entity: format!("{kind}/{name}@{version}"),
                    org_code: root,
                    before: Json::Null,
                    after: json!({"id": id, "kind": kind, "name": name, "version": version, "reason": reason}),
                },
            )?;
            Ok(id)
        })?;
        self.supply_factor_set(id)?.ok_or_else(|| StoreError::NotFound(format!("factor set {id}")))
    }

    pub fn supply_factor_set(&self, id: i64) -> Result<Option<FactorSet>> {
        Ok(self
            .read(|c| {
                c.query(&format!("SELECT {FACTOR_SET_COLS} FROM supply_factor_sets WHERE id = $1"), &[id.into()])
            })?
            .first()
            .map(factor_set))
    }

    /// Stored sets of a kind, newest upload first.
    pub fn supply_factor_sets(&self, kind: &str) -> Result<Vec<FactorSet>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {FACTOR_SET_COLS} FROM supply_factor_sets WHERE kind = $1 ORDER BY id DESC"),
                    &[kind.into()],
                )
            })?
            .iter()
            .map(factor_set)
            .collect())
    }
}

impl Store {
    /// Every stored line of a kind (`packaging`, `delivery`, ...) of every org: (org, year, body).
    pub fn supply_lines_of_kind(&self, kind: &str) -> Result<Vec<(String, i64, Json)>> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT org_code, year, body FROM supply_procurement WHERE kind = $1 ORDER BY id",
                    &[kind.into()],
                )
            })?
            .iter()
            .map(|r| (r.text(0), r.int(1), serde_json::from_str(&r.text(2)).unwrap_or(Json::Null)))
            .collect())
    }

    /// Changes whenever a packaging or delivery line is stored (the indicator feeds' cache key).
    pub fn supply_logistics_fingerprint(&self) -> Result<String> {
        let r = self.read(|c| {
            c.query(
                "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM supply_procurement WHERE kind IN ('packaging', 'delivery')",
                &[],
            )
        })?;
        Ok(format!("{}:{}", r[0].int(0), r[0].int(1)))
    }
}
