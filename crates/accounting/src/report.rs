//! Inventory reports: totals, scope breakdowns, by-gas figures and grouped rows, in tonnes.
//! Reporting rounds only when printing; the figures here keep full precision.

use crate::engine::{Inventory, N_TYPES};
use crate::metrics::*;
use factors::Library;
use model::{Dataset, FacilityType};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Orgs at depth 1 (provincial subsidiaries).
    Province,
    /// Orgs at depth 2 (city subsidiaries).
    City,
    FacilityType,
    Month,
    /// Every node of the org tree with its subtree total.
    Org,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "province" => GroupBy::Province,
            "city" => GroupBy::City,
            "facility-type" => GroupBy::FacilityType,
            "month" => GroupBy::Month,
            "org" => GroupBy::Org,
            _ => return None,
        })
    }
}

/// Headline figures (tCO2e, tce, MWh).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Totals {
    pub scope1: f64,
    pub scope2_location: f64,
    pub scope2_market: f64,
    pub scope3: f64,
    pub energy_tce: f64,
    pub total_location: f64,
    pub total_market: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scope1Detail {
    pub stationary_combustion: f64,
    pub mobile_combustion: f64,
    pub fugitive_refrigerants: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scope3Detail {
    pub cat1_purchased_goods: f64,
    pub cat4_upstream_transport: f64,
    pub cat6_business_travel: f64,
    pub cat7_commuting: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GasFigure {
    /// Mass of the gas in tonnes.
    pub tonnes: f64,
    pub tco2e: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Memo {
    /// HCFC emissions (Montreal Protocol gases), reported outside the scopes.
    pub montreal_gases_tco2e: f64,
    /// Scope 1 + location-based Scope 2 of shared sites booked by the other party (共建共享).
    pub allocated_away_tco2e: f64,
    pub allocated_away_mwh: f64,
    /// Scope 1 + location-based Scope 2 outside the organisational boundary.
    pub excluded_by_boundary_tco2e: f64,
    pub electricity_mwh: f64,
    pub green_certified_mwh: f64,
    pub green_uncertified_mwh: f64,
    pub pv_self_mwh: f64,
    /// Green certified + self-generated PV over all electricity.
    pub green_power_share: f64,
}

/// All figures of one group of cells.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figures {
    pub totals: Totals,
    pub scope1: Scope1Detail,
    pub scope3: Scope3Detail,
    /// Scope 1 and location-based Scope 2 by gas.
    pub by_gas: BTreeMap<&'static str, GasFigure>,
    pub memo: Memo,
}

impl Figures {
    pub fn from_metrics(m: &Metrics) -> Figures {
        let t = |i: usize| to_thousands(m.0[i]);
        let s1 = to_thousands(m.scope1());
        let s3 = to_thousands(m.scope3());
        let s2l = t(S2_LOCATION);
        let s2m = t(S2_MARKET);
        let elec = t(ELECTRICITY_KWH);
        let green = t(GREEN_CERTIFIED_KWH) + t(PV_SELF_KWH);
        let mut by_gas = BTreeMap::new();
        by_gas.insert("CO2", GasFigure { tonnes: t(GAS_CO2_KG), tco2e: t(CO2E_CO2) });
        by_gas.insert("CH4", GasFigure { tonnes: t(GAS_CH4_KG), tco2e: t(CO2E_CH4) });
        by_gas.insert("N2O", GasFigure { tonnes: t(GAS_N2O_KG), tco2e: t(CO2E_N2O) });
        by_gas.insert("HFCs", GasFigure { tonnes: t(GAS_FGAS_KG), tco2e: t(CO2E_FGAS) });
        Figures {
            totals: Totals {
                scope1: s1,
                scope2_location: s2l,
                scope2_market: s2m,
                scope3: s3,
                energy_tce: t(ENERGY_KGCE),
                total_location: to_thousands(m.scope1() + m.0[S2_LOCATION] + m.scope3()),
                total_market: to_thousands(m.scope1() + m.0[S2_MARKET] + m.scope3()),
            },
            scope1: Scope1Detail {
                stationary_combustion: t(S1_STATIONARY),
                mobile_combustion: t(S1_MOBILE),
                fugitive_refrigerants: t(S1_FUGITIVE),
            },
            scope3: Scope3Detail {
                cat1_purchased_goods: t(S3_CAT1),
                cat4_upstream_transport: t(S3_CAT4),
                cat6_business_travel: t(S3_CAT6),
                cat7_commuting: t(S3_CAT7),
            },
            by_gas,
            memo: Memo {
                montreal_gases_tco2e: t(MEMO_MONTREAL),
                allocated_away_tco2e: t(ALLOCATED_AWAY_CO2E),
                allocated_away_mwh: t(ALLOCATED_AWAY_KWH),
                excluded_by_boundary_tco2e: t(EXCLUDED_CO2E),
                electricity_mwh: elec,
                green_certified_mwh: t(GREEN_CERTIFIED_KWH),
                green_uncertified_mwh: t(GREEN_UNCERTIFIED_KWH),
                pv_self_mwh: t(PV_SELF_KWH),
                green_power_share: if elec > 0.0 { green / elec } else { 0.0 },
            },
        }
    }
}

/// The rows of a report grouped by facility type (the types with figures, in
/// [`FacilityType::ALL`] order) or by month (all twelve of `year`), from cells (facility type,
/// month, figures) summed exactly. Other groupings have no rows here.
pub fn cell_rows<'a>(
    year: i32,
    cells: impl IntoIterator<Item = (FacilityType, u8, &'a Metrics)>,
    by: GroupBy,
) -> Vec<GroupRow> {
    match by {
        GroupBy::FacilityType => {
            let mut per = vec![Metrics::default(); N_TYPES];
            for (t, _, c) in cells {
                per[t as usize].add(c);
            }
            FacilityType::ALL
                .iter()
                .filter(|t| per[**t as usize] != Metrics::default())
                .map(|t| GroupRow {
                    key: t.code().into(),
                    name: t.code().into(),
                    figures: Figures::from_metrics(&per[*t as usize]),
                })
                .collect()
        }
        GroupBy::Month => {
            let mut per = [Metrics::default(); 12];
            for (_, m, c) in cells {
                per[m as usize - 1].add(c);
            }
            (1..=12)
                .map(|m| GroupRow {
                    key: format!("{year}-{m:02}"),
                    name: format!("{year}-{m:02}"),
                    figures: Figures::from_metrics(&per[m - 1]),
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    pub key: String,
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// A factor used by the inventory, with its source, for the report's factor list.
#[derive(Debug, Clone, Serialize)]
pub struct FactorUse {
    pub id: String,
    pub parameter: String,
    pub carrier: String,
    pub region: String,
    pub year: Option<i32>,
    pub value: f64,
    pub unit: String,
    pub source: String,
    pub url: String,
    pub edition: String,
    pub set: String,
    pub set_version: String,
}

/// A factor whose data year is not the inventory year, and the figures it feeds
/// (docs/factor-selection.md, vintages).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FactorVintage {
    pub factor_id: String,
    pub factor_year: i32,
    pub inventory_year: i32,
    /// `factor_year_before_inventory` or `factor_year_after_inventory`.
    pub code: &'static str,
    /// Headline figures computed with it: `scope1`, `scope2_location`, `scope2_market`, `scope3`,
    /// `energy`.
    pub figures: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InventoryReport {
    pub year: i32,
    pub org: String,
    pub org_name: String,
    pub options: crate::options::InventoryOptions,
    pub library_version: String,
    pub library_fingerprint: String,
    pub records: usize,
    /// Unit of each figure, by field name ([`figure_units`]).
    pub units: BTreeMap<&'static str, &'static str>,
    pub totals: Totals,
    pub scope1: Scope1Detail,
    pub scope3: Scope3Detail,
    pub by_gas: BTreeMap<&'static str, GasFigure>,
    pub memo: Memo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<GroupRow>,
    pub factors_used: Vec<FactorUse>,
    /// Every factor of another year than the inventory's, with the figures it feeds.
    pub factor_vintages: Vec<FactorVintage>,
    pub warnings: Vec<String>,
}

/// The unit of every number of [`Figures`] (and of the report's totals), by field name; `tonnes`
/// and `tco2e` are those of `by_gas`. Sent with the figures (`units` of a report, of a snapshot
/// and of the console's overview), so a client formats them and never guesses or converts.
pub fn figure_units() -> BTreeMap<&'static str, &'static str> {
    let mut m = BTreeMap::new();
    for k in [
        "scope1",
        "scope2_location",
        "scope2_market",
        "scope3",
        "total_location",
        "total_market",
        "stationary_combustion",
        "mobile_combustion",
        "fugitive_refrigerants",
        "cat1_purchased_goods",
        "cat4_upstream_transport",
        "cat6_business_travel",
        "cat7_commuting",
        "tco2e",
        "montreal_gases_tco2e",
        "allocated_away_tco2e",
        "excluded_by_boundary_tco2e",
    ] {
        m.insert(k, "tCO2e");
    }
    m.insert("energy_tce", "tce");
    m.insert("tonnes", "t");
    for k in ["allocated_away_mwh", "electricity_mwh", "green_certified_mwh", "green_uncertified_mwh", "pv_self_mwh"] {
        m.insert(k, "MWh");
    }
    m.insert("green_power_share", "1");
    m
}

/// The headline figure a metric belongs to.
fn headline(metric: usize) -> Option<&'static str> {
    Some(match metric {
        S1_STATIONARY | S1_MOBILE | S1_FUGITIVE => "scope1",
        S2_LOCATION => "scope2_location",
        S2_MARKET => "scope2_market",
        S3_CAT1 | S3_CAT4 | S3_CAT6 | S3_CAT7 => "scope3",
        ENERGY_KGCE => "energy",
        _ => return None,
    })
}

impl Inventory {
    /// Factors of another year than the inventory's. A grid factor feeds location-based Scope 2
    /// (and market-based when that falls back to it); the residual factor feeds market-based.
    pub fn factor_vintages(&self, lib: &Library) -> Vec<FactorVintage> {
        let mut out: Vec<FactorVintage> = Vec::new();
        for p in &self.plans {
            let has_residual = p.steps.iter().any(|s| s.label == "market-based residual factor");
            for s in &p.steps {
                let (Some(fi), Some(code), Some(fy)) = (s.factor, s.vintage, s.factor_year) else { continue };
                let figures: Vec<&'static str> = match s.label.as_str() {
                    "location-based grid factor" if has_residual => vec!["scope2_location"],
                    "location-based grid factor" => ["scope2_location", "scope2_market"]
                        .into_iter()
                        .filter(|f| *f == "scope2_location" || p.coef_of(S2_MARKET) != 0.0)
                        .collect(),
                    "market-based residual factor" => vec!["scope2_market"],
                    _ => p.coef.iter().filter_map(|(m, _)| headline(*m)).collect(),
                };
                let id = &lib.factors[fi].row.id;
                match out.iter_mut().find(|v| &v.factor_id == id) {
                    Some(v) => v.figures.extend(figures),
                    None => out.push(FactorVintage {
                        factor_id: id.clone(),
                        factor_year: fy,
                        inventory_year: self.options.year,
                        code,
                        figures,
                    }),
                }
            }
        }
        let order = ["scope1", "scope2_location", "scope2_market", "scope3", "energy"];
        for v in &mut out {
            v.figures.sort_by_key(|f| order.iter().position(|o| o == f));
            v.figures.dedup();
        }
        out.sort_by(|a, b| a.factor_id.cmp(&b.factor_id));
        out
    }

    /// Per org: the figures of the org's own facilities (not its subtree).
    pub fn org_own(&self) -> Vec<Metrics> {
        let mut out = vec![Metrics::default(); self.n_orgs];
        for (o, slot) in out.iter_mut().enumerate() {
            for c in &self.cells[o * N_TYPES * 12..(o + 1) * N_TYPES * 12] {
                slot.add(c);
            }
        }
        out
    }

    /// Per org: the figures of its whole subtree. Orgs are stored parents first, so one backward
    /// pass adds every node into its parent.
    pub fn org_subtree(&self, ds: &Dataset) -> Vec<Metrics> {
        let mut out = self.org_own();
        for o in (1..self.n_orgs).rev() {
            if let Some(p) = ds.orgs.orgs[o].parent {
                let child = out[o];
                out[p as usize].add(&child);
            }
        }
        out
    }

    /// The non-empty cells of each org's own facilities (not its subtree): org, facility type,
    /// month, figures. What a snapshot keeps, from which every org's figures by facility type and
    /// month follow by [`cell_rows`] over the cells of its subtree.
    pub fn own_cells(&self) -> Vec<(usize, FacilityType, u8, Metrics)> {
        let mut out = Vec::new();
        for o in 0..self.n_orgs {
            for (ti, t) in FacilityType::ALL.iter().enumerate() {
                for m in 1..=12u8 {
                    let c = self.cells[(o * N_TYPES + ti) * 12 + m as usize - 1];
                    if c != Metrics::default() {
                        out.push((o, *t, m, c));
                    }
                }
            }
        }
        out
    }

    /// Figures of cells below `org` (its subtree), split by facility type and month when asked.
    pub fn subtree_cells(&self, ds: &Dataset, org: u32) -> Vec<(usize, FacilityType, u8, Metrics)> {
        self.own_cells().into_iter().filter(|(o, ..)| ds.orgs.is_within(*o as u32, org)).collect()
    }

    pub fn factors_used(&self, lib: &Library) -> Vec<FactorUse> {
        let mut ids: Vec<usize> = self.plans.iter().flat_map(|p| p.steps.iter().filter_map(|s| s.factor)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|i| {
                let f = &lib.factors[i];
                let set = lib.set_of(f);
                FactorUse {
                    id: f.row.id.clone(),
                    parameter: f.row.parameter.code().to_string(),
                    carrier: f.row.carrier.clone(),
                    region: f.row.region.clone(),
                    year: f.row.year,
                    value: f.row.value,
                    unit: f.row.unit.clone(),
                    source: f.row.source.clone(),
                    url: f.row.url.clone(),
                    edition: f.row.edition.clone(),
                    set: set.header.id.clone(),
                    set_version: set.header.version.clone(),
                }
            })
            .collect()
    }

    /// The report for `org` (the root when `None`), grouped as asked.
    pub fn report(&self, ds: &Dataset, lib: &Library, org: Option<u32>, by: Option<GroupBy>) -> InventoryReport {
        let org = org.unwrap_or(ds.orgs.root());
        let subtree = self.org_subtree(ds);
        let top = Figures::from_metrics(&subtree[org as usize]);
        let mut rows = Vec::new();
        let org_row = |o: usize| GroupRow {
            key: ds.orgs.orgs[o].code.clone(),
            name: ds.orgs.orgs[o].name.clone(),
            figures: Figures::from_metrics(&subtree[o]),
        };
        match by {
            Some(GroupBy::Org) => {
                rows = (0..self.n_orgs).filter(|&o| ds.orgs.is_within(o as u32, org)).map(org_row).collect();
            }
            Some(g @ (GroupBy::Province | GroupBy::City)) => {
                let depth = if g == GroupBy::Province { 1 } else { 2 };
                rows = (0..self.n_orgs)
                    .filter(|&o| ds.orgs.orgs[o].depth == depth && ds.orgs.is_within(o as u32, org))
                    .map(org_row)
                    .collect();
                // Facilities attached above that depth (e.g. a data centre of the province org when
                // grouping by city) are shown on their own row so that rows add up to the total.
                let mut rest = subtree[org as usize];
                for r in &rows {
                    let o = ds.orgs.get(&r.key).expect("row org") as usize;
                    for i in 0..N_METRICS {
                        rest.0[i] -= subtree[o].0[i];
                    }
                }
                if rest != Metrics::default() && ds.orgs.orgs[org as usize].depth < depth {
                    rows.push(GroupRow {
                        key: format!("(above {})", if depth == 1 { "province" } else { "city" }),
                        name: "facilities attached to higher levels".into(),
                        figures: Figures::from_metrics(&rest),
                    });
                }
            }
            Some(g @ (GroupBy::FacilityType | GroupBy::Month)) => {
                let cells = self.subtree_cells(ds, org);
                rows = cell_rows(ds.year, cells.iter().map(|(_, t, m, c)| (*t, *m, c)), g);
            }
            None => {}
        }
        InventoryReport {
            year: ds.year,
            org: ds.orgs.orgs[org as usize].code.clone(),
            org_name: ds.orgs.orgs[org as usize].name.clone(),
            options: self.options.clone(),
            library_version: self.library_version.clone(),
            library_fingerprint: self.library_fingerprint.clone(),
            records: self.records,
            units: figure_units(),
            totals: top.totals,
            scope1: top.scope1,
            scope3: top.scope3,
            by_gas: top.by_gas,
            memo: top.memo,
            by: by.map(|b| format!("{b:?}").to_lowercase()),
            rows,
            factors_used: self.factors_used(lib),
            factor_vintages: self.factor_vintages(lib),
            warnings: self.warnings.clone(),
        }
    }
}
