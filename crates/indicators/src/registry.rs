//! The indicator registry: every indicator defined once, as a ratio of summed components (or a
//! plain sum), with its unit, aggregation rule and names in Chinese and English.
//!
//! Roll-ups are ratios of sums: a province's PUE is Σ total facility energy / Σ IT energy of its data
//! centres, never an average of PUEs (which would weigh a 10-rack room like a hyperscale campus).

use serde::Serialize;

/// An additive base quantity. Facilities and orgs report components; indicators combine them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// Data-centre total facility energy, kWh (utility meter: IT, cooling, power losses, lighting).
    DcTotalKwh,
    /// Data-centre IT equipment energy, kWh.
    DcItKwh,
    /// CO2 from data-centre energy, kg.
    DcCo2Kg,
    /// Data-centre site water use, litres.
    DcWaterL,
    /// New large and hyperscale data centres only (for the 2025 PUE target on new builds).
    NewLargeDcTotalKwh,
    NewLargeDcItKwh,
    /// Data centres counted, and those that are large or hyperscale (GB/T classes by rack count).
    DcCount,
    LargeDcCount,
    /// 5G base-station traffic carried, GB, and electricity, kWh.
    Bs5gTrafficGb,
    Bs5gKwh,
    /// New 5G stations: electricity saved against the reference design, and the reference, kWh.
    NewBs5gSavedKwh,
    NewBs5gReferenceKwh,
    /// Comprehensive energy consumption (综合能耗), tce.
    EnergyTce,
    /// Scope 1 + 2 (location-based) emissions, tCO2e.
    EmissionsTco2e,
    /// Telecom business volume (电信业务总量), 10^4 yuan at the constant prices of the plan period.
    BusinessVolume10kYuan,
    /// Operating revenue, 10^4 yuan.
    Revenue10kYuan,
    /// Electricity consumed, kWh, and the part that is green (certified green power and own PV).
    ElectricityKwh,
    GreenElectricityKwh,
    /// Electricity saved by 4G/5G co-building and sharing (共建共享), kWh.
    SharingSavedKwh,
    /// Newly admitted 5G radio equipment: energy per unit under the test profile, kWh, and units.
    NewRadio5gKwh,
    NewRadio5gUnits,
    /// Newly admitted servers: energy, kWh, and compute delivered (in the operator's compute unit).
    NewServerKwh,
    NewServerCompute,
    /// Electricity saved at base stations by AI energy saving (carrier shutdown, symbol and deep
    /// sleep scheduled on forecast traffic), measured on their traffic, kWh.
    BsAiSavedKwh,
    /// The same stations' electricity without AI energy saving over the same traffic, kWh.
    BsAiReferenceKwh,
    /// Scope 1 emissions, tCO2e (from an inventory snapshot).
    Scope1Tco2e,
    /// Scope 2 emissions, location-based and market-based, tCO2e (from an inventory snapshot).
    Scope2LocationTco2e,
    Scope2MarketTco2e,
    /// Own photovoltaic electricity consumed, kWh (part of `GreenElectricityKwh`).
    PvSelfKwh,
    /// Information traffic carried (all networks), TB (business data filing).
    TrafficTb,
    /// Server compute capacity, TFLOPS (FP32), and the same servers' rated power, kW.
    ServerComputeTflops,
    ServerPowerKw,
    /// Base stations in service, and those with AI energy saving enabled (facility attributes).
    BsCount,
    BsAiCount,
    /// Vehicles of the own fleet, and those that are electric (facility attributes of fleets).
    VehicleCount,
    EvCount,
    /// Reductions credited by the 碳普惠 programme to the personal accounts of an org's people, kg
    /// CO2e (claimable, claimed as points or as an offset, or expired unclaimed).
    InclusiveReductionKg,
    /// Water withdrawn (all sources), m³; hazardous and non-hazardous waste produced, t (HKEX ESG
    /// Reporting Code KPIs A2.2, A1.3, A1.4), entered as indicator data.
    WaterM3,
    WasteHazardousT,
    WasteNonHazardousT,
    /// Packages shipped, and those in green packaging (supply: packaging records).
    Packages,
    GreenPackages,
    /// Cities with new-energy delivery vehicles in the year (supply: delivery records; each city
    /// counted once, at one org: see `platform::feeds`).
    NevDeliveryCities,
}

impl Component {
    pub const ALL: [Component; 43] = [
        Component::DcTotalKwh,
        Component::DcItKwh,
        Component::DcCo2Kg,
        Component::DcWaterL,
        Component::NewLargeDcTotalKwh,
        Component::NewLargeDcItKwh,
        Component::DcCount,
        Component::LargeDcCount,
        Component::Bs5gTrafficGb,
        Component::Bs5gKwh,
        Component::NewBs5gSavedKwh,
        Component::NewBs5gReferenceKwh,
        Component::EnergyTce,
        Component::EmissionsTco2e,
        Component::BusinessVolume10kYuan,
        Component::Revenue10kYuan,
        Component::ElectricityKwh,
        Component::GreenElectricityKwh,
        Component::SharingSavedKwh,
        Component::NewRadio5gKwh,
        Component::NewRadio5gUnits,
        Component::NewServerKwh,
        Component::NewServerCompute,
        Component::BsAiSavedKwh,
        Component::BsAiReferenceKwh,
        Component::Scope1Tco2e,
        Component::Scope2LocationTco2e,
        Component::Scope2MarketTco2e,
        Component::PvSelfKwh,
        Component::TrafficTb,
        Component::ServerComputeTflops,
        Component::ServerPowerKw,
        Component::BsCount,
        Component::BsAiCount,
        Component::VehicleCount,
        Component::EvCount,
        Component::InclusiveReductionKg,
        Component::WaterM3,
        Component::WasteHazardousT,
        Component::WasteNonHazardousT,
        Component::Packages,
        Component::GreenPackages,
        Component::NevDeliveryCities,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Component::DcTotalKwh => "dc_total_kwh",
            Component::DcItKwh => "dc_it_kwh",
            Component::DcCo2Kg => "dc_co2_kg",
            Component::DcWaterL => "dc_water_l",
            Component::NewLargeDcTotalKwh => "new_large_dc_total_kwh",
            Component::NewLargeDcItKwh => "new_large_dc_it_kwh",
            Component::DcCount => "dc_count",
            Component::LargeDcCount => "large_dc_count",
            Component::Bs5gTrafficGb => "bs5g_traffic_gb",
            Component::Bs5gKwh => "bs5g_kwh",
            Component::NewBs5gSavedKwh => "new_bs5g_saved_kwh",
            Component::NewBs5gReferenceKwh => "new_bs5g_reference_kwh",
            Component::EnergyTce => "energy_tce",
            Component::EmissionsTco2e => "emissions_tco2e",
            Component::BusinessVolume10kYuan => "business_volume_10k_yuan",
            Component::Revenue10kYuan => "revenue_10k_yuan",
            Component::ElectricityKwh => "electricity_kwh",
            Component::GreenElectricityKwh => "green_electricity_kwh",
            Component::SharingSavedKwh => "sharing_saved_kwh",
            Component::NewRadio5gKwh => "new_radio5g_kwh",
            Component::NewRadio5gUnits => "new_radio5g_units",
            Component::NewServerKwh => "new_server_kwh",
            Component::NewServerCompute => "new_server_compute",
            Component::BsAiSavedKwh => "bs_ai_saved_kwh",
            Component::BsAiReferenceKwh => "bs_ai_reference_kwh",
            Component::Scope1Tco2e => "scope1_tco2e",
            Component::Scope2LocationTco2e => "scope2_location_tco2e",
            Component::Scope2MarketTco2e => "scope2_market_tco2e",
            Component::PvSelfKwh => "pv_self_kwh",
            Component::TrafficTb => "traffic_tb",
            Component::ServerComputeTflops => "server_compute_tflops",
            Component::ServerPowerKw => "server_power_kw",
            Component::BsCount => "bs_count",
            Component::BsAiCount => "bs_ai_count",
            Component::VehicleCount => "vehicle_count",
            Component::EvCount => "ev_count",
            Component::InclusiveReductionKg => "inclusive_reduction_kg",
            Component::WaterM3 => "water_m3",
            Component::WasteHazardousT => "waste_hazardous_t",
            Component::WasteNonHazardousT => "waste_non_hazardous_t",
            Component::Packages => "packages",
            Component::GreenPackages => "green_packages",
            Component::NevDeliveryCities => "nev_delivery_cities",
        }
    }
    pub fn parse(text: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.code() == text.trim())
    }
}

/// Where the platform takes a component from. A component fed by the platform is never typed in a
/// second time: a hand entry of it for an org and year the feed covers is set aside as overridden
/// (`Observations::feed`), so it is never summed twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    /// An inventory snapshot's kept cells (the newest snapshot of the year covering the org).
    Snapshot,
    /// Approved business-data filings.
    BusinessData,
    /// Facility attributes (counts of data centres, base stations, vehicles).
    Attributes,
    /// Meters of data centres (with attributes for "new large" ones).
    Meters,
    /// Recorded base-station saving runs (with attributes for "new 5G" stations).
    SavingRuns,
    /// The 碳普惠 programme's credited reductions (personal carbon accounts).
    Inclusive,
    /// Supply-chain green logistics: packaging and delivery records (`/api/v1/supply/packaging`,
    /// `/api/v1/supply/deliveries`).
    Supply,
    /// Entered by hand (`POST /api/v1/indicator-data`): nothing on the platform knows it.
    Manual,
}

impl Component {
    /// The unit of the component's values.
    pub fn unit(self) -> &'static str {
        use Component::*;
        match self {
            DcTotalKwh | DcItKwh | NewLargeDcTotalKwh | NewLargeDcItKwh | Bs5gKwh | NewBs5gSavedKwh
            | NewBs5gReferenceKwh | ElectricityKwh | GreenElectricityKwh | SharingSavedKwh | NewRadio5gKwh
            | NewServerKwh | BsAiSavedKwh | BsAiReferenceKwh | PvSelfKwh => "kWh",
            DcCo2Kg | InclusiveReductionKg => "kg",
            DcWaterL => "L",
            DcCount | LargeDcCount | BsCount | BsAiCount | VehicleCount | EvCount | NewRadio5gUnits | Packages
            | GreenPackages | NevDeliveryCities => "count",
            Bs5gTrafficGb => "GB",
            TrafficTb => "TB",
            WaterM3 => "m3",
            WasteHazardousT | WasteNonHazardousT => "t",
            EnergyTce => "tce",
            EmissionsTco2e | Scope1Tco2e | Scope2LocationTco2e | Scope2MarketTco2e => "tCO2e",
            BusinessVolume10kYuan | Revenue10kYuan => "10^4 yuan",
            NewServerCompute => "compute unit",
            ServerComputeTflops => "TFLOPS",
            ServerPowerKw => "kW",
        }
    }

    pub fn feed(self) -> Feed {
        use Component::*;
        match self {
            EnergyTce | EmissionsTco2e | Scope1Tco2e | Scope2LocationTco2e | Scope2MarketTco2e | ElectricityKwh
            | GreenElectricityKwh | PvSelfKwh | Bs5gKwh => Feed::Snapshot,
            BusinessVolume10kYuan
            | Revenue10kYuan
            | TrafficTb
            | Bs5gTrafficGb
            | ServerComputeTflops
            | ServerPowerKw => Feed::BusinessData,
            DcCount | LargeDcCount | BsCount | BsAiCount | VehicleCount | EvCount => Feed::Attributes,
            DcTotalKwh | DcItKwh | NewLargeDcTotalKwh | NewLargeDcItKwh => Feed::Meters,
            BsAiSavedKwh | BsAiReferenceKwh | NewBs5gSavedKwh | NewBs5gReferenceKwh => Feed::SavingRuns,
            InclusiveReductionKg => Feed::Inclusive,
            Packages | GreenPackages | NevDeliveryCities => Feed::Supply,
            DcCo2Kg | DcWaterL | SharingSavedKwh | NewRadio5gKwh | NewRadio5gUnits | NewServerKwh
            | NewServerCompute | WaterM3 | WasteHazardousT | WasteNonHazardousT => Feed::Manual,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Σ numerator / Σ denominator over everything below a node.
    RatioOfSums,
    /// Σ numerator.
    Sum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

#[derive(Debug, Clone, Serialize)]
pub struct Indicator {
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub numerator: Component,
    pub denominator: Option<Component>,
    /// Multiplies the ratio into `unit` (e.g. 100 for a percentage; 1 otherwise).
    pub scale: f64,
    pub unit: &'static str,
    pub aggregation: Aggregation,
    pub better: Better,
    /// The definition with its source.
    pub formula: &'static str,
}

use Component as C;

/// Every indicator, once.
pub static INDICATORS: &[Indicator] = &[
    Indicator {
        code: "pue",
        name_zh: "电能利用效率",
        name_en: "Power usage effectiveness",
        numerator: C::DcTotalKwh,
        denominator: Some(C::DcItKwh),
        scale: 1.0,
        unit: "ratio",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "total facility energy / IT equipment energy (The Green Grid WP#49; GB 40879-2021 RM2 = E/EIT)",
    },
    Indicator {
        code: "pue_new_large_dc",
        name_zh: "新建大型、超大型数据中心PUE",
        name_en: "PUE of new large and hyperscale data centres",
        numerator: C::NewLargeDcTotalKwh,
        denominator: Some(C::NewLargeDcItKwh),
        scale: 1.0,
        unit: "ratio",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "Σ total facility energy / Σ IT energy of new large and hyperscale data centres",
    },
    Indicator {
        code: "cue",
        name_zh: "碳利用效率",
        name_en: "Carbon usage effectiveness",
        numerator: C::DcCo2Kg,
        denominator: Some(C::DcItKwh),
        scale: 1.0,
        unit: "kgCO2/kWh",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "CO2 from data-centre energy (kg) / IT equipment energy (kWh) (The Green Grid CUE)",
    },
    Indicator {
        code: "wue",
        name_zh: "水资源利用效率",
        name_en: "Water usage effectiveness",
        numerator: C::DcWaterL,
        denominator: Some(C::DcItKwh),
        scale: 1.0,
        unit: "L/kWh",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "site water use (L) / IT equipment energy (kWh) (The Green Grid WUE)",
    },
    Indicator {
        code: "bs5g_energy_efficiency",
        name_zh: "5G基站能效",
        name_en: "5G base-station energy efficiency",
        numerator: C::Bs5gTrafficGb,
        denominator: Some(C::Bs5gKwh),
        scale: 1.0,
        unit: "GB/kWh",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "traffic carried (GB) / base-station electricity (kWh) (white paper: 5G基站能效 = 流量/电耗)",
    },
    Indicator {
        code: "new_bs5g_saving_share",
        name_zh: "新建5G基站节电比例",
        name_en: "Electricity saving of new 5G stations",
        numerator: C::NewBs5gSavedKwh,
        denominator: Some(C::NewBs5gReferenceKwh),
        scale: 100.0,
        unit: "%",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "electricity saved by new 5G stations / electricity of the reference design × 100",
    },
    Indicator {
        code: "energy_per_business",
        name_zh: "单位电信业务总量综合能耗",
        name_en: "Energy per unit of telecom business volume",
        numerator: C::EnergyTce,
        denominator: Some(C::BusinessVolume10kYuan),
        scale: 1.0,
        unit: "tce/10^4 yuan",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "comprehensive energy (tce, GB/T 2589) / telecom business volume (10^4 yuan, constant prices)",
    },
    Indicator {
        code: "carbon_per_business",
        name_zh: "单位电信业务总量碳排放",
        name_en: "Carbon per unit of telecom business volume",
        numerator: C::EmissionsTco2e,
        denominator: Some(C::BusinessVolume10kYuan),
        scale: 1.0,
        unit: "tCO2e/10^4 yuan",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "Scope 1 + 2 emissions (tCO2e) / telecom business volume (10^4 yuan, constant prices)",
    },
    Indicator {
        code: "carbon_per_revenue",
        name_zh: "单位营业收入碳排放",
        name_en: "Carbon intensity per revenue",
        numerator: C::EmissionsTco2e,
        denominator: Some(C::Revenue10kYuan),
        scale: 1.0,
        unit: "tCO2e/10^4 yuan",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "Scope 1 + 2 emissions (tCO2e) / operating revenue (10^4 yuan)",
    },
    Indicator {
        code: "green_power_share",
        name_zh: "绿电占比",
        name_en: "Green-power share",
        numerator: C::GreenElectricityKwh,
        denominator: Some(C::ElectricityKwh),
        scale: 100.0,
        unit: "%",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "certified green electricity and own PV (kWh) / electricity consumed (kWh) × 100",
    },
    Indicator {
        code: "sharing_savings",
        name_zh: "共建共享节电量",
        name_en: "Network-sharing electricity savings",
        numerator: C::SharingSavedKwh,
        denominator: None,
        scale: 1.0,
        unit: "kWh",
        aggregation: Aggregation::Sum,
        better: Better::Higher,
        formula: "Σ electricity saved by 4G/5G co-building and sharing (kWh)",
    },
    Indicator {
        code: "large_dc_share",
        name_zh: "大型、超大型数据中心数量占比",
        name_en: "Share of large and hyperscale data centres",
        numerator: C::LargeDcCount,
        denominator: Some(C::DcCount),
        scale: 100.0,
        unit: "%",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "large and hyperscale data centres / all data centres × 100 (by count)",
    },
    Indicator {
        code: "new_radio5g_energy",
        name_zh: "新入网5G无线设备能耗",
        name_en: "Energy of newly admitted 5G radio equipment",
        numerator: C::NewRadio5gKwh,
        denominator: Some(C::NewRadio5gUnits),
        scale: 1.0,
        unit: "kWh/unit",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "energy of newly admitted 5G radio units under the test profile (kWh) / units",
    },
    Indicator {
        code: "server_energy_per_compute",
        name_zh: "新入网服务器单位算力能耗",
        name_en: "Server energy per unit of compute",
        numerator: C::NewServerKwh,
        denominator: Some(C::NewServerCompute),
        scale: 1.0,
        unit: "kWh/compute unit",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "energy of newly admitted servers (kWh) / compute delivered (operator's compute unit)",
    },
    Indicator {
        code: "bs_ai_saving_share",
        name_zh: "基站AI节能节电比例",
        name_en: "Base-station AI energy-saving share",
        numerator: C::BsAiSavedKwh,
        denominator: Some(C::BsAiReferenceKwh),
        scale: 100.0,
        unit: "%",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "electricity saved by AI energy saving at base stations / the same stations' electricity without it × 100, \
                  both measured on their traffic (white paper: AI energy saving on base stations; 3GPP TR 38.864 power model)",
    },
    Indicator {
        code: "inclusive_reduction",
        name_zh: "碳普惠减排量",
        name_en: "Carbon-inclusive (碳普惠) reductions",
        numerator: C::InclusiveReductionKg,
        denominator: None,
        scale: 0.001,
        unit: "tCO2e",
        aggregation: Aggregation::Sum,
        better: Better::Higher,
        formula: "Σ reductions credited to the personal carbon accounts of the org's people by the 碳普惠 programme, \
                  ER = BE − PE per action under each credit's methodology version (structure of Beijing DB11/T 3043-2024), \
                  claimable, claimed or expired unclaimed; held and rejected events excluded (kg → t)",
    },
    Indicator {
        code: "bs_ai_saved_kwh",
        name_zh: "基站AI节能节电量",
        name_en: "Electricity saved by base-station AI energy saving",
        numerator: C::BsAiSavedKwh,
        denominator: None,
        scale: 1.0,
        unit: "kWh",
        aggregation: Aggregation::Sum,
        better: Better::Higher,
        formula: "Σ electricity saved by AI energy saving at base stations, measured on their traffic (kWh) \
                  (white paper: AI energy saving on base stations; 3GPP TR 38.864 power model)",
    },
    Indicator {
        code: "compute_efficiency",
        name_zh: "服务器算效",
        name_en: "Server compute efficiency",
        numerator: C::ServerComputeTflops,
        denominator: Some(C::ServerPowerKw),
        scale: 1.0,
        unit: "TFLOPS/kW",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "Σ server compute capacity (TFLOPS, FP32) / Σ the same servers' rated power (kW) \
                  (white paper, 绿色新云网: '应用混步算法提升算效水平，到2025年，服务器算效提升20%'; compute per unit of power)",
    },
    Indicator {
        code: "energy_per_traffic",
        name_zh: "单位信息流量综合能耗",
        name_en: "Energy per unit of information traffic",
        numerator: C::EnergyTce,
        denominator: Some(C::TrafficTb),
        scale: 1000.0,
        unit: "kgce/TB",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Lower,
        formula: "comprehensive energy (tce × 1000 = kgce, GB/T 2589) / information traffic carried (TB) \
                  (white paper: '“十三五”期间…期末单位信息流量综合能耗比期初下降60%')",
    },
    Indicator {
        code: "electricity_share",
        name_zh: "电能占终端能源消费比重",
        name_en: "Electricity share of final energy",
        numerator: C::ElectricityKwh,
        denominator: Some(C::EnergyTce),
        // kWh × 0.1229 kgce/kWh / (tce × 1000 kgce/t) × 100 %.
        scale: 0.01229,
        unit: "%",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "electricity (kWh) × 0.1229 kgce/kWh (GB/T 2589-2020, calorific equivalent) / comprehensive energy (kgce) × 100 \
                  (white paper: '持续提升电力能源在能源消费中的占比，加速对煤、汽油、柴油等非清洁能源的替代')",
    },
    Indicator {
        code: "ev_share",
        name_zh: "自有车辆电动化比例",
        name_en: "Electric vehicles in the own fleet",
        numerator: C::EvCount,
        denominator: Some(C::VehicleCount),
        scale: 100.0,
        unit: "%",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "electric vehicles / vehicles of the own fleets × 100 (facility attributes of fleets) \
                  (white paper: '逐步采购电动汽车，提高自有车辆的电动化替代比率'; no figure is given)",
    },
    Indicator {
        code: "bs_ai_coverage",
        name_zh: "基站AI节能覆盖率",
        name_en: "Base stations with AI energy saving",
        numerator: C::BsAiCount,
        denominator: Some(C::BsCount),
        scale: 100.0,
        unit: "%",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "base stations with AI energy saving enabled / base stations in service × 100 (facility attributes) \
                  (white paper: AI energy saving on base stations)",
    },
    Indicator {
        code: "green_packaging_share",
        name_zh: "绿色包装使用比例",
        name_en: "Green packaging share",
        numerator: C::GreenPackages,
        denominator: Some(C::Packages),
        scale: 100.0,
        unit: "%",
        aggregation: Aggregation::RatioOfSums,
        better: Better::Higher,
        formula: "packages in green packaging / packages shipped × 100 (packaging records; white paper, 产业链供应指标: \
                  '绿色包装使用比例 ≥ 90%' by 2025)",
    },
    Indicator {
        code: "nev_delivery_cities",
        name_zh: "新能源配送车辆覆盖城市数",
        name_en: "Cities with new-energy delivery vehicles",
        numerator: C::NevDeliveryCities,
        denominator: None,
        scale: 1.0,
        unit: "count",
        aggregation: Aggregation::Sum,
        better: Better::Higher,
        formula: "distinct cities with deliveries by new-energy vehicles in the year, each city counted once \
                  (delivery records; white paper, 产业链供应指标: new-energy delivery vehicles in more than 100 cities by 2025)",
    },
];

pub fn indicator(code: &str) -> Option<&'static Indicator> {
    INDICATORS.iter().find(|i| i.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_indicator_once_with_names_and_known_components() {
        let mut codes: Vec<&str> = INDICATORS.iter().map(|i| i.code).collect();
        codes.sort_unstable();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "an indicator is defined twice");
        for i in INDICATORS {
            assert!(!i.name_zh.is_empty() && !i.name_en.is_empty() && !i.formula.is_empty(), "{}", i.code);
            assert_eq!(i.denominator.is_some(), i.aggregation == Aggregation::RatioOfSums, "{}", i.code);
        }
        for (i, c) in Component::ALL.into_iter().enumerate() {
            assert_eq!(Component::parse(c.code()), Some(c));
            assert_eq!(c as usize, i, "ALL is in declaration order (Sums indexes by it)");
        }
        assert!(Component::ALL.len() <= 64, "Sums::present is a u64 bit set");
    }
}
