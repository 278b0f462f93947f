//! A calculation plan: for one (carrier, province, mobile/stationary, activity dimension), the
//! factors chosen and the coefficients they multiply into, per base unit of activity. Every record
//! with that key is computed with the same plan, so a plan is the "how" of lineage and the record
//! list is the "what".

use crate::metrics::*;
use crate::options::{InventoryOptions, ResidualBasis};
use factors::{Library, NoFactor, Parameter, Query};
use model::{Carrier, CarrierKind, Dimension, ElectricitySource, Fuel, PROVINCES};
use serde::Serialize;

const CO2_PER_C: f64 = 44.0 / 12.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PlanKey {
    pub carrier: u16,
    pub province: u8,
    pub mobile: bool,
    pub dimension: Dimension,
}

/// One step of a calculation, for people: "× NCV 42.652 GJ/t [fuel.cn.diesel.ncv]".
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub label: String,
    pub factor: Option<usize>,
    pub value: f64,
    pub unit: String,
    pub reason: String,
    /// What the step is, as a code (see [`step_code`]): the console words it.
    pub code: &'static str,
    /// The gas of a GWP or CH4/N2O step, the GWP set (`AR6`), the combustion context.
    pub gas: Option<String>,
    pub gwp_set: Option<String>,
    pub context: Option<String>,
    /// Why the factor was chosen, as data (a factor step).
    pub why: Option<factors::Why>,
    /// Why a step without a factor is there, as a code (see [`Builder::note`]).
    pub note: Option<&'static str>,
    /// The data year of the factor (`None`: undated, or no factor).
    pub factor_year: Option<i32>,
    /// Set when the factor's year is not the inventory year (docs/factor-selection.md, vintages):
    /// [`VINTAGE_OLDER`] or [`VINTAGE_NEWER`].
    pub vintage: Option<&'static str>,
}

/// The code of a step's label (stable; the console words it): `emission_factor`,
/// `location_grid_factor`, `market_factor`, `market_residual_factor`, `standard_coal_coefficient`,
/// `density`, `ncv`, `carbon_content`, `oxidation_rate`, `ch4_per_heat`, `n2o_per_heat`, `gwp`,
/// `molar_ratio`, `memo_item`, `zero_emissions`, `no_claimable_attribute`.
pub fn step_code(label: &str) -> &'static str {
    match label {
        "emission factor" => "emission_factor",
        "location-based grid factor" => "location_grid_factor",
        "market-based factor" => "market_factor",
        "market-based residual factor" => "market_residual_factor",
        "standard coal coefficient" => "standard_coal_coefficient",
        "density" => "density",
        "net calorific value" => "ncv",
        "carbon content" => "carbon_content",
        "oxidation rate" => "oxidation_rate",
        "× 44/12" => "molar_ratio",
        "reported as memo item" => "memo_item",
        "zero emissions" => "zero_emissions",
        "no claimable attribute" => "no_claimable_attribute",
        l if l.starts_with("CH4 per heat") => "ch4_per_heat",
        l if l.starts_with("N2O per heat") => "n2o_per_heat",
        l if l.starts_with("GWP ") => "gwp",
        _ => "other",
    }
}

/// A factor of a year before the inventory year (the newest published at or before it).
pub const VINTAGE_OLDER: &str = "factor_year_before_inventory";
/// A factor of a year after the inventory year (nothing at or before it was published).
pub const VINTAGE_NEWER: &str = "factor_year_after_inventory";

/// The vintage code of a factor of `factor_year` used for an inventory of `year`.
pub fn vintage_code(factor_year: Option<i32>, year: i32) -> Option<&'static str> {
    match factor_year {
        Some(y) if y < year => Some(VINTAGE_OLDER),
        Some(y) if y > year => Some(VINTAGE_NEWER),
        _ => None,
    }
}

/// Why market-based Scope 2 differs from location-based for one kind of grid electricity: the
/// factors on each side and, when the library has one, the residual factor of the location
/// factor's year, which splits the factor gap into method (residual mix against the grid average
/// of the same year) and vintage (a newer residual). kg CO2 per kWh.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MarketGap {
    pub location_kg_per_kwh: f64,
    pub location_year: Option<i32>,
    /// 0 for certified green power.
    pub market_kg_per_kwh: f64,
    pub market_year: Option<i32>,
    /// The residual series' factor of `location_year`, when published.
    pub residual_same_year_kg_per_kwh: Option<f64>,
    pub green_certified: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub key: PlanKey,
    pub carrier_code: String,
    /// Figures per base unit of activity, in the metric's unit (kg, kWh, kgce).
    pub coef: Vec<(usize, f64)>,
    pub steps: Vec<Step>,
    pub warnings: Vec<String>,
    /// Grid electricity only: the two Scope 2 factors side by side (see [`MarketGap`]).
    pub market_gap: Option<MarketGap>,
}

impl Plan {
    pub fn coef_of(&self, metric: usize) -> f64 {
        self.coef.iter().filter(|(m, _)| *m == metric).map(|(_, c)| c).sum()
    }
}

pub(crate) struct Planner<'a> {
    pub lib: &'a Library,
    pub opts: &'a InventoryOptions,
    pub chains: Vec<Vec<String>>,
}

struct Builder<'p> {
    planner: &'p Planner<'p>,
    key: PlanKey,
    coef: Vec<(usize, f64)>,
    steps: Vec<Step>,
    warnings: Vec<String>,
    market_gap: Option<MarketGap>,
}

impl Builder<'_> {
    fn lookup(
        &mut self,
        label: &str,
        parameter: Parameter,
        carrier: &str,
        series: &str,
        gas: Option<&str>,
        context: &str,
    ) -> Result<(usize, f64), NoFactor> {
        let p = self.planner;
        let regions = &p.chains[self.key.province as usize];
        let q = Query { parameter, carrier, series, gas, context, regions, year: p.opts.year };
        let c = p.lib.select(&q, &p.opts.pins)?;
        let f = &p.lib.factors[c.factor];
        if c.later_year_fallback {
            self.warnings.push(format!("{label} for {carrier}: {}", c.reason));
        }
        let is_gwp = parameter == Parameter::Gwp;
        self.steps.push(Step {
            label: label.to_string(),
            factor: Some(c.factor),
            value: f.row.value,
            unit: f.row.unit.clone(),
            reason: c.reason,
            code: step_code(label),
            gas: if is_gwp { Some(carrier.to_string()) } else { gas.map(str::to_string) },
            gwp_set: is_gwp.then(|| series.to_string()),
            context: (!context.is_empty()).then(|| context.to_string()),
            why: Some(c.why),
            note: None,
            factor_year: f.row.year,
            vintage: vintage_code(f.row.year, p.opts.year),
        });
        Ok((c.factor, f.value_base))
    }

    /// A step without a factor; `note` is the code of its reason: `hcfc_memo`, `pv_self`,
    /// `green_certified_zero`, `green_uncertified`, `residual_basis_location`,
    /// `no_residual_factor`, `molar_ratio`.
    fn note(&mut self, label: &str, value: f64, unit: &str, reason: &str, note: &'static str) {
        self.steps.push(Step {
            label: label.into(),
            factor: None,
            value,
            unit: unit.into(),
            reason: reason.into(),
            code: step_code(label),
            gas: None,
            gwp_set: None,
            context: None,
            why: None,
            note: Some(note),
            factor_year: None,
            vintage: None,
        });
    }

    fn put(&mut self, metric: usize, c: f64) {
        if c != 0.0 {
            self.coef.push((metric, c));
        }
    }

    fn gwp(&mut self, gas: &str) -> Result<f64, NoFactor> {
        let set = self.planner.opts.gwp.clone();
        Ok(self.lookup(&format!("GWP {gas} ({set})"), Parameter::Gwp, gas, &set, None, "")?.1)
    }
}

impl Planner<'_> {
    pub fn plan(&self, key: PlanKey, carrier: &Carrier) -> Result<Plan, NoFactor> {
        let mut b =
            Builder { planner: self, key, coef: Vec::new(), steps: Vec::new(), warnings: Vec::new(), market_gap: None };
        match &carrier.kind {
            CarrierKind::Electricity(src) => self.electricity(&mut b, *src, carrier)?,
            CarrierKind::Fuel(fuel) => self.fuel(&mut b, *fuel, carrier)?,
            CarrierKind::Heat => {
                let (_, ef) = b.lookup("emission factor", Parameter::EmissionFactor, "heat", "", Some("CO2"), "")?;
                // per MJ of heat
                b.put(S2_LOCATION, ef);
                b.put(S2_MARKET, ef);
                b.put(GAS_CO2_KG, ef);
                b.put(CO2E_CO2, ef);
                let tce = self.tce_per_base(&mut b, "heat", "calorific", key.dimension, None)?;
                b.put(ENERGY_KGCE, tce);
            }
            CarrierKind::Refrigerant(gas) => {
                let gwp = b.gwp(gas)?;
                // HCFCs are Montreal Protocol gases: reported separately, outside the scopes
                // (GHG Protocol Corporate Standard ch. 4).
                if gas.starts_with("HCFC") {
                    b.note(
                        "reported as memo item",
                        0.0,
                        "",
                        "HCFCs are Montreal Protocol gases, kept outside Scope 1 totals",
                        "hcfc_memo",
                    );
                    b.put(MEMO_MONTREAL, gwp);
                } else {
                    b.put(S1_FUGITIVE, gwp);
                    b.put(GAS_FGAS_KG, 1.0);
                    b.put(CO2E_FGAS, gwp);
                }
            }
            CarrierKind::Water
            | CarrierKind::Paper
            | CarrierKind::PurchasedGoods(_)
            | CarrierKind::Spend(_)
            | CarrierKind::Freight(_)
            | CarrierKind::BusinessTravel(_)
            | CarrierKind::Commuting(_) => {
                let (fi, ef) =
                    b.lookup("emission factor", Parameter::EmissionFactor, &carrier.code, "", Some("CO2e"), "")?;
                let per = self.lib.factors[fi].per_dimension();
                if per != Some(key.dimension) {
                    return Err(self.dimension_mismatch(&carrier.code, key, fi));
                }
                let metric = match carrier.scope3_category().expect("scope 3 carrier") {
                    model::Scope3Category::PurchasedGoods => S3_CAT1,
                    model::Scope3Category::UpstreamTransport => S3_CAT4,
                    model::Scope3Category::BusinessTravel => S3_CAT6,
                    model::Scope3Category::Commuting => S3_CAT7,
                };
                b.put(metric, ef);
            }
        }
        Ok(Plan {
            key,
            carrier_code: carrier.code.clone(),
            coef: b.coef,
            steps: b.steps,
            warnings: b.warnings,
            market_gap: b.market_gap,
        })
    }

    fn dimension_mismatch(&self, carrier: &str, key: PlanKey, fi: usize) -> NoFactor {
        let f = &self.lib.factors[fi];
        NoFactor {
            parameter: Parameter::EmissionFactor,
            carrier: format!(
                "{carrier} (records are in {} but factor {} is per {})",
                key.dimension.name(),
                f.id(),
                f.per_dimension().map_or("nothing", |d| d.name())
            ),
            series: String::new(),
            gas: "CO2e".into(),
            regions: self.chains[key.province as usize].clone(),
            year: self.opts.year,
        }
    }

    fn electricity(&self, b: &mut Builder, src: ElectricitySource, carrier: &Carrier) -> Result<(), NoFactor> {
        // Base unit of energy is MJ; kWh metrics need per-MJ coefficients.
        let kwh_per_mj = 1.0 / 3.6;
        b.put(ELECTRICITY_KWH, kwh_per_mj);
        let tce = self.tce_per_base(b, "electricity", &self.opts.electricity_tce.clone(), Dimension::Energy, None)?;
        b.put(ENERGY_KGCE, tce);
        if src == ElectricitySource::PvSelf {
            b.note(
                "zero emissions",
                0.0,
                "",
                "self-generated renewable electricity consumed on site: no Scope 2 (location and market)",
                "pv_self",
            );
            b.put(PV_SELF_KWH, kwh_per_mj);
            return Ok(());
        }
        let series = self.opts.grid_series.clone();
        let (loc_i, loc) =
            b.lookup("location-based grid factor", Parameter::EmissionFactor, "electricity", &series, Some("CO2"), "")?;
        let loc_year = self.lib.factors[loc_i].row.year;
        // kg/MJ → kg/kWh
        let per_kwh = |kg_per_mj: f64| kg_per_mj * 3.6;
        b.put(S2_LOCATION, loc);
        b.put(GAS_CO2_KG, loc);
        b.put(CO2E_CO2, loc);
        match src {
            ElectricitySource::GreenCertified => {
                b.note(
                    "market-based factor",
                    0.0,
                    "kgCO2/kWh",
                    "green power with retired certificates (GEC) counts at zero (GHG Protocol Scope 2 Guidance)",
                    "green_certified_zero",
                );
                b.put(GREEN_CERTIFIED_KWH, kwh_per_mj);
                b.market_gap = Some(MarketGap {
                    location_kg_per_kwh: per_kwh(loc),
                    location_year: loc_year,
                    market_kg_per_kwh: 0.0,
                    market_year: None,
                    residual_same_year_kg_per_kwh: None,
                    green_certified: true,
                });
            }
            _ => {
                if src == ElectricitySource::GreenUncertified {
                    b.put(GREEN_UNCERTIFIED_KWH, kwh_per_mj);
                    b.note("no claimable attribute", 0.0, "", "green power traded without certificates fails the Scope 2 quality criteria; market-based uses the residual factor", "green_uncertified");
                }
                let mut market_year = loc_year;
                let mut residual_same_year = None;
                let market = match self.opts.residual {
                    ResidualBasis::Location => {
                        b.note(
                            "market-based factor",
                            loc,
                            "kg/MJ",
                            "residual basis set to the location-based factor",
                            "residual_basis_location",
                        );
                        loc
                    }
                    ResidualBasis::NbsResidual => {
                        let regions = &self.chains[b.key.province as usize];
                        let q = Query {
                            parameter: Parameter::EmissionFactor,
                            carrier: "electricity",
                            series: "nbs_residual",
                            gas: Some("CO2"),
                            context: "",
                            regions,
                            year: self.opts.year,
                        };
                        match self.lib.select(&q, &self.opts.pins) {
                            Ok(c) if !c.later_year_fallback => {
                                let f = &self.lib.factors[c.factor];
                                b.steps.push(Step {
                                    label: "market-based residual factor".into(),
                                    factor: Some(c.factor),
                                    value: f.row.value,
                                    unit: f.row.unit.clone(),
                                    reason: c.reason,
                                    code: "market_residual_factor",
                                    gas: Some("CO2".into()),
                                    gwp_set: None,
                                    context: None,
                                    why: Some(c.why),
                                    note: None,
                                    factor_year: f.row.year,
                                    vintage: vintage_code(f.row.year, self.opts.year),
                                });
                                market_year = f.row.year;
                                // The residual of the location factor's own year, when published,
                                // splits the gap into method and vintage.
                                if let Some(ly) = loc_year.filter(|&ly| Some(ly) != f.row.year) {
                                    let q0 = Query { year: ly, ..q.clone() };
                                    if let Ok(c0) = self.lib.select(&q0, &[]) {
                                        let f0 = &self.lib.factors[c0.factor];
                                        if f0.row.year == Some(ly) {
                                            residual_same_year = Some(per_kwh(f0.value_base));
                                        }
                                    }
                                } else if loc_year.is_some() {
                                    residual_same_year = Some(per_kwh(f.value_base));
                                }
                                f.value_base
                            }
                            _ => {
                                let w = format!(
                                    "no residual-mix factor (series nbs_residual) at or before {}; market-based {} uses the location-based factor (disclosed)",
                                    self.opts.year, carrier.code
                                );
                                b.note("market-based factor", loc, "kg/MJ", &w, "no_residual_factor");
                                b.warnings.push(w);
                                loc
                            }
                        }
                    }
                };
                b.put(S2_MARKET, market);
                b.market_gap = Some(MarketGap {
                    location_kg_per_kwh: per_kwh(loc),
                    location_year: loc_year,
                    market_kg_per_kwh: per_kwh(market),
                    market_year,
                    residual_same_year_kg_per_kwh: residual_same_year,
                    green_certified: false,
                });
            }
        }
        Ok(())
    }

    /// Standard-coal coefficient per base unit of the record's dimension.
    fn tce_per_base(
        &self,
        b: &mut Builder,
        carrier: &str,
        series: &str,
        dim: Dimension,
        fuel: Option<&FuelConv>,
    ) -> Result<f64, NoFactor> {
        let (fi, k) = b.lookup("standard coal coefficient", Parameter::TceCoefficient, carrier, series, None, "")?;
        let per = self.lib.factors[fi].per_dimension();
        if per == Some(dim) {
            return Ok(k);
        }
        match (fuel, per) {
            (Some(conv), Some(target)) => match conv.per_base(target) {
                Some(x) => Ok(k * x),
                None => Err(NoFactor {
                    parameter: Parameter::Density,
                    carrier: format!(
                        "{carrier} (to convert {} to the {} basis of its tce coefficient)",
                        dim.name(),
                        target.name()
                    ),
                    series: String::new(),
                    gas: String::new(),
                    regions: self.chains[b.key.province as usize].clone(),
                    year: self.opts.year,
                }),
            },
            _ => Err(self.dimension_mismatch(carrier, b.key, fi)),
        }
    }

    fn fuel(&self, b: &mut Builder, fuel: Fuel, carrier: &Carrier) -> Result<(), NoFactor> {
        let code = fuel.code();
        let series = self.opts.fuel_defaults.clone();
        let dim = b.key.dimension;
        let context = if b.key.mobile { "mobile" } else { "stationary" };
        // Conversions from the record's unit to mass, volume and heat content, each only as far as
        // the factors allow.
        let mut conv = FuelConv { dim, density: None, ncv: None };
        let density = self.optional(b, "density", Parameter::Density, code, "", None, "");
        conv.density = density;
        if dim != Dimension::Energy {
            let (fi, ncv) = b.lookup("net calorific value", Parameter::Ncv, code, &series, None, "")?;
            conv.ncv = Some((ncv, self.lib.factors[fi].per_dimension().expect("ncv per mass or volume")));
        }
        let energy_per_base = conv.per_base(Dimension::Energy).ok_or_else(|| NoFactor {
            parameter: Parameter::Density,
            carrier: format!("{code} (records in {} need a density to reach the NCV basis)", dim.name()),
            series: String::new(),
            gas: String::new(),
            regions: self.chains[b.key.province as usize].clone(),
            year: self.opts.year,
        })?;
        let (_, cc) = b.lookup("carbon content", Parameter::CarbonContent, code, &series, None, "")?;
        let (_, of) = b.lookup("oxidation rate", Parameter::OxidationRate, code, &series, None, "")?;
        b.note("× 44/12", CO2_PER_C, "", "molar mass ratio CO2/C", "molar_ratio");
        let co2 = energy_per_base * cc * of * CO2_PER_C;
        let bucket = if b.key.mobile { S1_MOBILE } else { S1_STATIONARY };
        let mut co2e = co2;
        b.put(GAS_CO2_KG, co2);
        b.put(CO2E_CO2, co2);
        // CH4 and N2O: IPCC 2006 per unit of heat, by stationary or mobile use.
        for (gas, parameter, mass_metric, co2e_metric) in [
            ("CH4", Parameter::Ch4PerEnergy, GAS_CH4_KG, CO2E_CH4),
            ("N2O", Parameter::N2oPerEnergy, GAS_N2O_KG, CO2E_N2O),
        ] {
            match self.optional(
                b,
                &format!("{gas} per heat ({context})"),
                parameter,
                code,
                "ipcc2006",
                Some(gas),
                context,
            ) {
                Some(per_mj) => {
                    let gwp = b.gwp(gas)?;
                    let mass = energy_per_base * per_mj;
                    b.put(mass_metric, mass);
                    b.put(co2e_metric, mass * gwp);
                    co2e += mass * gwp;
                }
                None => b.warnings.push(format!(
                    "no {gas} factor for {code} ({context} combustion) in the library: {gas} not counted for {}",
                    carrier.code
                )),
            }
        }
        b.put(bucket, co2e);
        let tce = self.tce_per_base(b, code, "calorific", dim, Some(&conv))?;
        b.put(ENERGY_KGCE, tce);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn optional(
        &self,
        b: &mut Builder,
        label: &str,
        parameter: Parameter,
        carrier: &str,
        series: &str,
        gas: Option<&str>,
        context: &str,
    ) -> Option<f64> {
        b.lookup(label, parameter, carrier, series, gas, context).ok().map(|(_, v)| v)
    }
}

/// Physical conversions of a fuel quantity, as far as the library's density and NCV allow.
struct FuelConv {
    dim: Dimension,
    /// kg per m³
    density: Option<f64>,
    /// MJ per base unit of the given dimension
    ncv: Option<(f64, Dimension)>,
}

impl FuelConv {
    /// How many base units of `target` one base unit of the record's dimension is.
    fn per_base(&self, target: Dimension) -> Option<f64> {
        use Dimension::*;
        let to_mass = |d: Dimension| -> Option<f64> {
            match d {
                Mass => Some(1.0),
                Volume => self.density,
                Energy => match self.ncv? {
                    (n, Mass) => Some(1.0 / n),
                    (n, Volume) => Some(self.density? / n),
                    _ => None,
                },
                _ => None,
            }
        };
        let mass = to_mass(self.dim);
        match target {
            Mass => mass,
            Volume => match self.dim {
                Volume => Some(1.0),
                Energy => match self.ncv? {
                    (n, Volume) => Some(1.0 / n),
                    _ => Some(mass? / self.density?),
                },
                _ => Some(mass? / self.density?),
            },
            Energy => match self.dim {
                Energy => Some(1.0),
                _ => match self.ncv? {
                    (n, Mass) => Some(mass? * n),
                    (n, Volume) => {
                        let vol = if self.dim == Volume { 1.0 } else { mass? / self.density? };
                        Some(vol * n)
                    }
                    _ => None,
                },
            },
            _ => None,
        }
    }
}

pub(crate) fn province_chains() -> Vec<Vec<String>> {
    PROVINCES.iter().map(factors::region_chain).collect()
}
