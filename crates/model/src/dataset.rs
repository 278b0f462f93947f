//! The organisation tree, facilities and activity records of one reporting year, held in memory
//! in a compact columnar form so that a national operator (millions of sites, tens of millions of
//! monthly records) fits comfortably on one machine.

use crate::carrier::Carrier;
use crate::province::ProvinceId;
use crate::units::{Unit, UNITS};
use serde::Serialize;
use std::collections::HashMap;

pub type OrgId = u32;
pub type FacilityId = u32;
pub type CarrierId = u16;

#[derive(Debug, Clone, Serialize)]
pub struct Org {
    pub code: String,
    pub name: String,
    pub parent: Option<OrgId>,
    /// Distance from the root: the group is 0, provinces 1, cities 2.
    pub depth: u16,
    /// Share of this node owned by its parent (equity-share boundary); 1.0 when not given.
    pub equity_share: f64,
    /// Whether the group has operational control of this node; true when not given.
    pub operational_control: bool,
}

/// An org tree of any depth with exactly one root, parents before children in `orgs`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OrgTree {
    pub orgs: Vec<Org>,
    #[serde(skip)]
    pub by_code: rustc_hash::FxHashMap<String, OrgId>,
    #[serde(skip)]
    pub children: Vec<Vec<OrgId>>,
}

impl OrgTree {
    pub fn root(&self) -> OrgId {
        0
    }
    pub fn get(&self, code: &str) -> Option<OrgId> {
        self.by_code.get(code).copied()
    }
    pub fn org(&self, id: OrgId) -> &Org {
        &self.orgs[id as usize]
    }
    /// `id` and its ancestors up to the root, nearest first.
    pub fn path_to_root(&self, id: OrgId) -> impl Iterator<Item = OrgId> + '_ {
        std::iter::successors(Some(id), move |&o| self.orgs[o as usize].parent)
    }
    /// Whether `node` is `ancestor` or lies below it.
    pub fn is_within(&self, node: OrgId, ancestor: OrgId) -> bool {
        self.path_to_root(node).any(|o| o == ancestor)
    }
    /// The ancestor of `id` at `depth` (itself if it is at that depth); `None` if `id` is shallower.
    pub fn ancestor_at_depth(&self, id: OrgId, depth: u16) -> Option<OrgId> {
        self.path_to_root(id).find(|&o| self.orgs[o as usize].depth == depth)
    }
    /// Product of equity shares from `id` up to (not including) the root.
    pub fn equity_factor(&self, id: OrgId) -> f64 {
        self.path_to_root(id).filter(|&o| o != self.root()).map(|o| self.orgs[o as usize].equity_share).product()
    }
    /// Whether the group controls `id` operationally: every node on the path must be controlled.
    pub fn under_operational_control(&self, id: OrgId) -> bool {
        self.path_to_root(id).all(|o| self.orgs[o as usize].operational_control)
    }
    /// Builds the tree from rows in any order. Errors name the row (0-based index in `rows`).
    pub fn build(rows: Vec<OrgRow>) -> Result<OrgTree, Vec<(usize, OrgTreeError)>> {
        let mut errors = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            if let Some(&first) = index.get(r.code.as_str()) {
                errors.push((i, OrgTreeError::DuplicateCode { code: r.code.clone(), first_row: first }));
            } else {
                index.insert(&r.code, i);
            }
        }
        let roots: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].parent_code.is_none()).collect();
        match roots.len() {
            1 => {}
            0 if !rows.is_empty() => errors.push((0, OrgTreeError::NoRoot)),
            0 => errors.push((0, OrgTreeError::Empty)),
            _ => {
                for &r in &roots[1..] {
                    errors.push((
                        r,
                        OrgTreeError::SecondRoot { code: rows[r].code.clone(), root: rows[roots[0]].code.clone() },
                    ));
                }
            }
        }
        for (i, r) in rows.iter().enumerate() {
            if let Some(p) = &r.parent_code {
                if !index.contains_key(p.as_str()) {
                    errors.push((i, OrgTreeError::UnknownParent(p.clone())));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Breadth-first from the root gives parents before children and finds nodes that a cycle
        // cuts off from the root.
        let mut kids: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
        for (i, r) in rows.iter().enumerate() {
            if let Some(p) = &r.parent_code {
                kids[index[p.as_str()]].push(i);
            }
        }
        let mut order = vec![roots[0]];
        let mut depth = vec![0u16; rows.len()];
        let mut head = 0;
        while head < order.len() {
            let n = order[head];
            head += 1;
            for &k in &kids[n] {
                depth[k] = depth[n] + 1;
                order.push(k);
            }
        }
        if order.len() != rows.len() {
            let reached: std::collections::HashSet<usize> = order.iter().copied().collect();
            let errs = (0..rows.len())
                .filter(|i| !reached.contains(i))
                .map(|i| (i, OrgTreeError::Cycle(rows[i].code.clone())))
                .collect();
            return Err(errs);
        }
        let mut new_id = vec![0u32; rows.len()];
        for (new, &old) in order.iter().enumerate() {
            new_id[old] = new as u32;
        }
        let mut tree = OrgTree::default();
        for &old in &order {
            let r = &rows[old];
            tree.orgs.push(Org {
                code: r.code.clone(),
                name: r.name.clone(),
                parent: r.parent_code.as_ref().map(|p| new_id[index[p.as_str()]]),
                depth: depth[old],
                equity_share: r.equity_share.unwrap_or(1.0),
                operational_control: r.operational_control.unwrap_or(true),
            });
        }
        tree.children = vec![Vec::new(); tree.orgs.len()];
        for (id, o) in tree.orgs.iter().enumerate() {
            tree.by_code.insert(o.code.clone(), id as OrgId);
            if let Some(p) = o.parent {
                tree.children[p as usize].push(id as OrgId);
            }
        }
        Ok(tree)
    }
}

/// One row of `orgs.csv` before the tree is built.
#[derive(Debug, Clone)]
pub struct OrgRow {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub equity_share: Option<f64>,
    pub operational_control: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrgTreeError {
    Empty,
    NoRoot,
    DuplicateCode { code: String, first_row: usize },
    SecondRoot { code: String, root: String },
    UnknownParent(String),
    Cycle(String),
}

impl std::fmt::Display for OrgTreeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrgTreeError::Empty => {
                write!(f, "no organisations: the tree needs one root (a row with an empty parent_code)")
            }
            OrgTreeError::NoRoot => write!(f, "no root: exactly one org must have an empty parent_code"),
            OrgTreeError::DuplicateCode { code, first_row } => {
                write!(f, "org code {code:?} is already defined on data row {}", first_row + 1)
            }
            OrgTreeError::SecondRoot { code, root } => {
                write!(f, "org {code:?} has no parent but {root:?} is already the root; give it a parent_code")
            }
            OrgTreeError::UnknownParent(p) => write!(f, "parent_code {p:?} is not an org code in orgs.csv"),
            OrgTreeError::Cycle(c) => write!(f, "org {c:?} is part of a parent cycle and never reaches the root"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FacilityType {
    BaseStation5g,
    BaseStation4g,
    DataCenter,
    MachineRoom,
    Office,
    Retail,
    Warehouse,
    Fleet,
}

impl FacilityType {
    pub const ALL: [FacilityType; 8] = [
        FacilityType::BaseStation5g,
        FacilityType::BaseStation4g,
        FacilityType::DataCenter,
        FacilityType::MachineRoom,
        FacilityType::Office,
        FacilityType::Retail,
        FacilityType::Warehouse,
        FacilityType::Fleet,
    ];
    pub fn code(self) -> &'static str {
        match self {
            FacilityType::BaseStation5g => "base_station_5g",
            FacilityType::BaseStation4g => "base_station_4g",
            FacilityType::DataCenter => "data_center",
            FacilityType::MachineRoom => "machine_room",
            FacilityType::Office => "office",
            FacilityType::Retail => "retail",
            FacilityType::Warehouse => "warehouse",
            FacilityType::Fleet => "fleet",
        }
    }
    pub fn parse(text: &str) -> Option<FacilityType> {
        let t = text.trim();
        FacilityType::ALL.iter().copied().find(|f| f.code() == t)
    }
    /// Fuel burnt by a fleet is mobile combustion; anywhere else it is stationary.
    pub fn is_mobile(self) -> bool {
        self == FacilityType::Fleet
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Facility {
    pub code: String,
    pub name: String,
    pub kind: FacilityType,
    pub org: OrgId,
    pub province: ProvinceId,
    /// The operator's share of a shared site's energy (共建共享); 1.0 for a site it alone uses.
    pub allocation_share: f64,
    /// Who the site is shared with (another operator, a tower company); empty when not shared.
    pub shared_with: String,
}

/// Interned strings (source documents, evidence references): most records share a few values.
#[derive(Debug, Clone, Default)]
pub struct StringPool {
    pub strings: Vec<String>,
    // Fx: interning runs once per activity row, and SipHash dominated the parse.
    index: rustc_hash::FxHashMap<String, u32>,
}

impl StringPool {
    pub fn new() -> Self {
        let mut p = StringPool::default();
        p.intern("");
        p
    }
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
    pub fn get(&self, i: u32) -> &str {
        &self.strings[i as usize]
    }
}

/// Activity records, one column per field. Row `i` of every column is record `i`.
#[derive(Debug, Clone, Default)]
pub struct ActivityTable {
    pub facility: Vec<FacilityId>,
    /// 1..=12
    pub month: Vec<u8>,
    pub carrier: Vec<CarrierId>,
    /// Quantity in the base unit of its dimension (see [`crate::units`]).
    pub quantity: Vec<f64>,
    /// The unit the record was written in: index into [`UNITS`]; gives its dimension.
    pub unit: Vec<u8>,
    /// Source file (index into [`Dataset::files`]) and 1-based line, for lineage.
    pub file: Vec<u16>,
    pub line: Vec<u32>,
    /// Interned source document and evidence reference (0 = none).
    pub source_document: Vec<u32>,
    pub evidence: Vec<u32>,
}

impl ActivityTable {
    pub fn len(&self) -> usize {
        self.facility.len()
    }
    pub fn is_empty(&self) -> bool {
        self.facility.is_empty()
    }
    pub fn unit_of(&self, row: usize) -> &'static Unit {
        &UNITS[self.unit[row] as usize]
    }
    /// The quantity as the user wrote it, in its original unit.
    pub fn original_value(&self, row: usize) -> f64 {
        self.quantity[row] / self.unit_of(row).in_base
    }
    pub fn reserve(&mut self, n: usize) {
        self.facility.reserve(n);
        self.month.reserve(n);
        self.carrier.reserve(n);
        self.quantity.reserve(n);
        self.unit.reserve(n);
        self.file.reserve(n);
        self.line.reserve(n);
        self.source_document.reserve(n);
        self.evidence.reserve(n);
    }
    pub fn append(&mut self, mut other: ActivityTable) {
        self.facility.append(&mut other.facility);
        self.month.append(&mut other.month);
        self.carrier.append(&mut other.carrier);
        self.quantity.append(&mut other.quantity);
        self.unit.append(&mut other.unit);
        self.file.append(&mut other.file);
        self.line.append(&mut other.line);
        self.source_document.append(&mut other.source_document);
        self.evidence.append(&mut other.evidence);
    }
}

/// Where a record came from: file and line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordRef {
    pub file: String,
    pub line: u32,
}

/// Everything one inventory run reads: org tree, facilities, carriers, activity of one year.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub year: i32,
    pub orgs: OrgTree,
    pub facilities: Vec<Facility>,
    pub facility_index: rustc_hash::FxHashMap<String, FacilityId>,
    pub carriers: Vec<Carrier>,
    pub activity: ActivityTable,
    pub files: Vec<String>,
    pub strings: StringPool,
}

impl Dataset {
    pub fn carrier_id(&mut self, carrier: Carrier) -> CarrierId {
        if let Some(i) = self.carriers.iter().position(|c| *c == carrier) {
            return i as CarrierId;
        }
        self.carriers.push(carrier);
        (self.carriers.len() - 1) as CarrierId
    }
    pub fn record_ref(&self, row: usize) -> RecordRef {
        RecordRef { file: self.files[self.activity.file[row] as usize].clone(), line: self.activity.line[row] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: &str, parent: Option<&str>) -> OrgRow {
        OrgRow {
            code: code.into(),
            name: code.into(),
            parent_code: parent.map(Into::into),
            equity_share: None,
            operational_control: None,
        }
    }

    #[test]
    fn builds_any_depth_in_any_order() {
        let t = OrgTree::build(vec![
            row("city", Some("prov")),
            row("group", None),
            row("district", Some("city")),
            row("prov", Some("group")),
        ])
        .unwrap();
        assert_eq!(t.org(t.root()).code, "group");
        let d = t.get("district").unwrap();
        assert_eq!(t.org(d).depth, 3);
        assert!(t.is_within(d, t.get("prov").unwrap()));
        assert_eq!(t.ancestor_at_depth(d, 1), t.get("prov"));
        // Parents precede children.
        for (i, o) in t.orgs.iter().enumerate() {
            if let Some(p) = o.parent {
                assert!((p as usize) < i);
            }
        }
    }

    #[test]
    fn reports_every_tree_error() {
        let errs =
            OrgTree::build(vec![row("g", None), row("g2", None), row("a", Some("nowhere")), row("a", Some("g"))])
                .unwrap_err();
        assert!(errs.iter().any(|(_, e)| matches!(e, OrgTreeError::SecondRoot { .. })));
        assert!(errs.iter().any(|(_, e)| matches!(e, OrgTreeError::UnknownParent(_))));
        assert!(errs.iter().any(|(i, e)| *i == 3 && matches!(e, OrgTreeError::DuplicateCode { .. })));
        let cyc = OrgTree::build(vec![row("g", None), row("x", Some("y")), row("y", Some("x"))]).unwrap_err();
        assert_eq!(cyc.len(), 2);
        assert!(cyc.iter().all(|(_, e)| matches!(e, OrgTreeError::Cycle(_))));
    }

    #[test]
    fn equity_multiplies_down_the_path() {
        let mut rows = vec![row("g", None), row("p", Some("g")), row("c", Some("p"))];
        rows[1].equity_share = Some(0.5);
        rows[2].equity_share = Some(0.6);
        let t = OrgTree::build(rows).unwrap();
        assert!((t.equity_factor(t.get("c").unwrap()) - 0.3).abs() < 1e-12);
        assert_eq!(t.equity_factor(t.root()), 1.0);
    }
}
