//! A realistic synthetic operator, written as the CSV files of a data directory (docs/formats.md).
//!
//! The operator is fictional ("示例电信集团"); its shape and magnitudes follow public facts about
//! Chinese operators so that every page, report and benchmark has believable numbers:
//! - 31 provincial subsidiaries with the real number of prefecture-level cities (~340 city
//!   subsidiaries), sites spread in proportion to provincial population;
//! - 5G base stations drawing 3.0–4.2 kW and 4G stations 1.1–2.0 kW (issue "accounting core":
//!   "a 5G site draws about 3-4 kW"), read on 2–3 sub-meters per site (分路计量: main equipment,
//!   cooling, 5G AAU retrofit), with a summer cooling peak; about a third co-built with another
//!   operator (共建共享, share 0.5) and some hosted by the tower company;
//! - proportions and magnitudes of a real operator: at [`FULL_SCALE_SITES`] the booked totals are
//!   China Telecom's published 2019 ones within 10 % ([`profile`], docs/demo.md), and fewer sites
//!   are that operator scaled down;
//! - data centres of 0.3–2.5 MW IT load at PUE 1.25–1.6 (a large one uses tens of GWh a year),
//!   green power with and without certificates in the provinces that trade it, rooftop PV,
//!   diesel for generator tests, refrigerant top-ups, cooling water;
//! - machine rooms, offices (gas, district heat in the north, paper, water, business travel,
//!   commuting), retail halls, warehouses (electric forklifts, road freight), and a vehicle fleet per city.
//!   No LPG: the shipped standard-coal table has no sourced LPG coefficient yet.
//!
//! Several years (`first_year..=year`) share one orgs.csv and facilities.csv: the last year is the
//! base, generated exactly as a single year, and earlier years run back from it along the documented
//! trends of [`year_factors`] (5G traffic growth, PUE and other efficiency gains, green power, fleet
//! electrification), with their own month-to-month noise and events (docs/formats.md).
//!
//! Output depends only on (sites, years, seed): each facility draws from its own random streams, so
//! the files are identical whatever the number of threads.

pub mod inputs;

use model::calendar::days_in_month;
use model::PROVINCES;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Physical sites (base stations, machine rooms, data centres, offices, halls, warehouses).
    /// Vehicle fleets come on top: one per city and one per province.
    pub sites: usize,
    /// First year of the span; equal to `year` for one year.
    pub first_year: i32,
    /// Last year of the span: the base year, generated as a single year would be; the years before
    /// it follow the trends of [`year_factors`] backwards.
    pub year: i32,
    pub seed: u64,
}

impl DemoOptions {
    /// One year (`first_year` = `year`).
    pub fn one_year(sites: usize, year: i32, seed: u64) -> DemoOptions {
        DemoOptions { sites, first_year: year, year, seed }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub orgs: usize,
    pub facilities: usize,
    /// Rows over all years.
    pub activity_rows: u64,
    /// Per year: the year and its activity rows, oldest first.
    pub rows_by_year: Vec<(i32, u64)>,
}

/// The activity file of `year` in a demo directory spanning `first_year..=last_year`:
/// `activity.csv` for a single year (the layout of every data directory), `activity-YYYY.csv` per
/// year for several (what `ingest::activity_path` reads for `--year YYYY`).
pub fn activity_file(out: &Path, first_year: i32, last_year: i32, year: i32) -> std::path::PathBuf {
    if first_year == last_year {
        out.join("activity.csv")
    } else {
        out.join(format!("activity-{year}.csv"))
    }
}

/// Parses a span of years, `2022-2024` or a single `2024`, into (first, last).
pub fn parse_years(s: &str) -> Result<(i32, i32), String> {
    let bad = || format!("--years {s}: expected FIRST-LAST (e.g. 2022-2024) or one year");
    let (a, b) = match s.trim().split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let (a, b) = (a.parse::<i32>().map_err(|_| bad())?, b.parse::<i32>().map_err(|_| bad())?);
    if a > b {
        return Err(format!("--years {s}: the first year is after the last"));
    }
    Ok((a, b))
}

/// Mobile internet traffic growth into `year` (fraction): MIIT statistics as collected in
/// shared/reference/carbon-market-inclusive-forecast.md §D3 (2021 +33.9 %, 2022 +18.1 %, 2023
/// +15.2 % verified; 2021, 2022 and 2024 marked "to check" there, 2024 +11.6 % against a verified
/// Jan–Nov +12 %); other years +10 %, an illustrative assumption (growth keeps slowing).
pub fn traffic_growth(year: i32) -> f64 {
    match year {
        2021 => 0.339,
        2022 => 0.181,
        2023 => 0.152,
        2024 => 0.116,
        _ => 0.10,
    }
}

/// Share of a base station's energy that follows its traffic (the load-dependent part of the EARTH
/// power model, P = P0 + Δp·Pout: macro P0 130 W, Δp·Pmax 94 W, shared/reference/
/// base-station-and-site-power.md, about a quarter at half load). Illustrative.
pub const BS_LOAD_SHARE: f64 = 0.25;

/// Year-on-year rates of the demo operator (growth into a year from the year before); see
/// docs/formats.md for their basis. Rates without a source there are illustrative assumptions.
pub mod rates {
    /// 4G site electricity a year: traffic moves to 5G, carriers sleep at night (illustrative).
    pub const BS4G_ELECTRICITY: f64 = -0.02;
    /// Machine-room electricity a year: old equipment retired, rooms renovated (white paper
    /// 老旧设施清理 / 老旧机房改造, no rate given: illustrative).
    pub const MACHINE_ROOM_ELECTRICITY: f64 = -0.03;
    /// Data-centre IT load a year (东数西算, cloud growth; illustrative).
    pub const DC_IT_LOAD: f64 = 0.10;
    /// Data-centre PUE change a year: the Uptime Institute global average fell 1.59 → 1.57 → 1.55
    /// (2020–2022, shared/reference/emission-factors.md §6); white paper and MIIT: new large DCs
    /// below 1.3 by 2025.
    pub const DC_PUE: f64 = -0.02;
    /// Certified green power (绿证) share of a data centre's grid electricity, percentage points a
    /// year (white paper: "逐步提升绿电使用比例", no rate: illustrative).
    pub const GREEN_CERTIFIED_SHARE: f64 = 0.05;
    /// Uncertified green power share, percentage points a year (illustrative).
    pub const GREEN_UNCERTIFIED_SHARE: f64 = 0.02;
    /// Office electricity a year (white paper 绿色办公 / 建筑节能; illustrative).
    pub const OFFICE_ELECTRICITY: f64 = -0.02;
    /// Office paper a year (white paper 无纸化办公; illustrative).
    pub const PAPER: f64 = -0.10;
    /// Fleet gasoline a year: cars replaced by electric ones (white paper 逐步采购电动汽车, no rate:
    /// illustrative).
    pub const FLEET_GASOLINE: f64 = -0.08;
    /// Fleet diesel a year: vans and trucks electrify more slowly (illustrative).
    pub const FLEET_DIESEL: f64 = -0.05;
}

/// How one year of the demo differs from the base (last) year: multipliers of the base year's
/// per-facility quantities, and offsets of its PUE and green shares. All 1 (or 0) in the base year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YearFactors {
    /// Electricity of a 5G site: grows with traffic, `BS_LOAD_SHARE × traffic_growth`.
    pub bs5g_electricity: f64,
    pub bs4g_electricity: f64,
    pub machine_room_electricity: f64,
    pub dc_it_load: f64,
    /// Added to a data centre's base-year PUE.
    pub dc_pue_offset: f64,
    /// Added to a data centre's base-year certified green share (negative before; floored at 0).
    pub green_certified_offset: f64,
    pub green_uncertified_offset: f64,
    pub office_electricity: f64,
    pub paper: f64,
    pub fleet_gasoline: f64,
    pub fleet_diesel: f64,
}

/// The factors of `year` relative to `base_year` (≥ `year`): each rate compounded back over the
/// years after `year` up to the base year.
pub fn year_factors(year: i32, base_year: i32) -> YearFactors {
    let back = |rate: &dyn Fn(i32) -> f64| ((year + 1)..=base_year).map(|z| 1.0 / (1.0 + rate(z))).product::<f64>();
    let steps = (base_year - year).max(0) as f64;
    YearFactors {
        bs5g_electricity: back(&|z| BS_LOAD_SHARE * traffic_growth(z)),
        bs4g_electricity: back(&|_| rates::BS4G_ELECTRICITY),
        machine_room_electricity: back(&|_| rates::MACHINE_ROOM_ELECTRICITY),
        dc_it_load: back(&|_| rates::DC_IT_LOAD),
        dc_pue_offset: -rates::DC_PUE * steps,
        green_certified_offset: -rates::GREEN_CERTIFIED_SHARE * steps,
        green_uncertified_offset: -rates::GREEN_UNCERTIFIED_SHARE * steps,
        office_electricity: back(&|_| rates::OFFICE_ELECTRICITY),
        paper: back(&|_| rates::PAPER),
        fleet_gasoline: back(&|_| rates::FLEET_GASOLINE),
        fleet_diesel: back(&|_| rates::FLEET_DIESEL),
    }
}

/// Group code of the demo operator; provinces are `CT-<code>` (e.g. `CT-GD`), cities `CT-GD-01`.
pub const GROUP_CODE: &str = "CT";

/// The operator at its published scale (docs/demo.md): physical sites by kind, calibrated so that
/// the booked totals of one base year land on China Telecom's published 2019 totals (electricity
/// 19.50 TWh, energy 2,544,048.55 tce, Scope 1 about 0.21 Mt). `--sites N` is this operator scaled
/// by N / [`FULL_SCALE_SITES`]: every kind in these proportions, and the facilities that every
/// province keeps whatever the scale (a data centre, a head office, the fleets) shrunk in size so
/// that their share of the totals stays the operator's.
pub mod profile {
    /// 5G base-station sites: 33.6 % of the base stations, the national 2024 share (4.251 M of
    /// 12.65 M, MIIT, shared/reference/carbon-market-inclusive-forecast.md §D3).
    pub const BS_5G: f64 = 197_000.0;
    /// 4G base-station sites: the other 66.4 %. Base stations together (586,000) use about half of
    /// the operator's electricity (booked, after the shares of co-built and tower-hosted sites).
    pub const BS_4G: f64 = 389_000.0;
    /// Machine rooms (core, transmission and access rooms, 8–40 kW): about 30 % of the electricity.
    pub const MACHINE_ROOMS: f64 = 27_900.0;
    /// Data centres (IDC), "a few hundred": 0.3–2.5 MW of IT load at PUE 1.25–1.6, about 15 %.
    pub const DATA_CENTRES: f64 = 220.0;
    /// Office buildings, including the 31 provincial head offices.
    pub const OFFICES: f64 = 400.0;
    /// Retail halls (营业厅).
    pub const RETAIL: f64 = 12_000.0;
    /// Warehouses.
    pub const WAREHOUSES: f64 = 300.0;
    /// Vehicles of the fleets (one fleet per city and per province): with the generator diesel,
    /// office gas and refrigerants, Scope 1 of about 0.21 Mt.
    pub const VEHICLES: f64 = 38_350.0;
    /// Published totals the full-scale profile is calibrated on (China Telecom 2019, ESG indicator
    /// table of the annual report).
    pub const PUBLISHED_ELECTRICITY_MWH: f64 = 19_501_000.0;
    pub const PUBLISHED_ENERGY_TCE: f64 = 2_544_048.55;
    pub const PUBLISHED_SCOPE1_TCO2E: f64 = 210_000.0;
}

/// Physical sites of the full-scale profile: `--sites` at this value is the operator at its
/// published scale.
pub const FULL_SCALE_SITES: usize = (profile::BS_5G
    + profile::BS_4G
    + profile::MACHINE_ROOMS
    + profile::DATA_CENTRES
    + profile::OFFICES
    + profile::RETAIL
    + profile::WAREHOUSES) as usize;

/// Prefecture-level cities per province (GB/T 2260 order, as `model::PROVINCES`); municipalities
/// count as one. Source: the administrative division list of the Ministry of Civil Affairs.
const CITIES: [u8; 31] =
    [1, 1, 11, 11, 12, 14, 9, 13, 1, 13, 11, 16, 9, 11, 16, 17, 13, 14, 21, 14, 4, 1, 21, 9, 16, 7, 10, 14, 8, 5, 14];

/// Resident population in millions (National Bureau of Statistics, 2020 census, rounded): sites
/// are spread in proportion to it.
const POPULATION: [u16; 31] = [
    22, 14, 75, 35, 24, 43, 24, 32, 25, 85, 65, 61, 42, 45, 102, 99, 58, 66, 126, 50, 10, 32, 84, 39, 47, 4, 40, 25, 6,
    7, 26,
];

/// Provinces with district heating in the office heating season (north of the Qinling–Huaihe line).
const HEATED: [&str; 15] = ["BJ", "TJ", "HE", "SX", "NM", "LN", "JL", "HL", "SD", "SN", "GS", "QH", "NX", "XJ", "XZ"];

/// Provinces where the demo operator buys traded green power (绿电) for its data centres: the ones
/// with active green-power trading and large renewable capacity.
const GREEN_TRADING: [&str; 12] = ["BJ", "SH", "JS", "ZJ", "GD", "NM", "GS", "QH", "NX", "YN", "SC", "GZ"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Bs5g,
    Bs4g,
    MachineRoom,
    DataCenter,
    Office,
    Retail,
    Warehouse,
    Fleet,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Bs5g => "base_station_5g",
            Kind::Bs4g => "base_station_4g",
            Kind::MachineRoom => "machine_room",
            Kind::DataCenter => "data_center",
            Kind::Office => "office",
            Kind::Retail => "retail",
            Kind::Warehouse => "warehouse",
            Kind::Fleet => "fleet",
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            Kind::Bs5g => "BS5",
            Kind::Bs4g => "BS4",
            Kind::MachineRoom => "MR",
            Kind::DataCenter => "DC",
            Kind::Office => "OF",
            Kind::Retail => "RT",
            Kind::Warehouse => "WH",
            Kind::Fleet => "FL",
        }
    }
    fn name_zh(self) -> &'static str {
        match self {
            Kind::Bs5g => "5G基站",
            Kind::Bs4g => "4G基站",
            Kind::MachineRoom => "通信机房",
            Kind::DataCenter => "数据中心",
            Kind::Office => "办公楼",
            Kind::Retail => "营业厅",
            Kind::Warehouse => "仓库",
            Kind::Fleet => "车队",
        }
    }
}

struct Facility {
    kind: Kind,
    province: u8,
    /// Index into the org list (a city, or a province for province-level facilities).
    org: u32,
    /// Sharing arrangement: 0 none, 1 co-built with another operator, 2 tower-hosted.
    shared: u8,
}

/// Size multipliers that keep a scaled-down operator in the profile's proportions: the facilities
/// every province keeps (data centres, offices, fleets) are more than the scale's share of them,
/// so each is smaller by the ratio (1 at full scale and above).
#[derive(Clone, Copy, Debug)]
struct Sizes {
    data_centre: f64,
    office: f64,
    fleet: f64,
}

struct Org {
    code: String,
    name: String,
    parent: String,
    equity_share: &'static str,
    operational_control: &'static str,
}

/// SplitMix64: tiny, fast, and good enough for synthetic data (not for cryptography).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Generates the operator into `out` (created if needed): orgs.csv, facilities.csv and the activity
/// of each year ([`activity_file`]).
pub fn generate(opts: &DemoOptions, out: &Path) -> io::Result<DemoSummary> {
    if opts.sites < 31 * 4 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--sites {}: the demo operator needs at least {} sites (4 per province)", opts.sites, 31 * 4),
        ));
    }
    if !(2000..=2100).contains(&opts.year) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("--year {}: expected 2000..2100", opts.year)));
    }
    if !(2000..=opts.year).contains(&opts.first_year) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--years {}-{}: expected a first year from 2000 to the last year", opts.first_year, opts.year),
        ));
    }
    std::fs::create_dir_all(out)?;
    // The base (last) year seeds the facilities and their parameters, so a span ending in Y has the
    // facilities of a single year Y, and Y's activity is the single year's, byte for byte.
    let seed = opts.seed ^ (opts.year as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let (orgs, city_range) = build_orgs();
    let facilities = build_facilities(opts.sites, seed, &city_range);
    let sizes = sizes(opts.sites, &facilities, &city_range);
    write_orgs(&out.join("orgs.csv"), &orgs)?;
    write_facilities(&out.join("facilities.csv"), &facilities, &orgs)?;
    let mut summary =
        DemoSummary { orgs: orgs.len(), facilities: facilities.len(), activity_rows: 0, rows_by_year: Vec::new() };
    for year in opts.first_year..=opts.year {
        let y = YearGen {
            year,
            factors: year_factors(year, opts.year),
            // Earlier years draw their noise and events from a stream of their own.
            noise_seed: (year != opts.year).then(|| seed ^ (year as u64).wrapping_mul(0xA24B_AED4_963E_E407)),
        };
        let path = activity_file(out, opts.first_year, opts.year, year);
        let rows = write_activity(&path, &facilities, &orgs, &y, seed, sizes)?;
        summary.activity_rows += rows;
        summary.rows_by_year.push((year, rows));
    }
    Ok(summary)
}

/// One year to generate.
struct YearGen {
    year: i32,
    factors: YearFactors,
    /// `None` in the base year: noise comes from the facility's parameter stream, as for one year.
    noise_seed: Option<u64>,
}

/// A facility's draws: parameters (the same every year) from its own stream; yearly noise and
/// events from the year's stream where there is one. The parameter stream is consumed the same way
/// in every year (a yearly draw takes its value from it too and discards it), so every parameter
/// comes out the same whatever the year.
struct Draws {
    main: Rng,
    year: Option<Rng>,
}

impl Draws {
    /// A yearly draw: noise, or an event of the year.
    fn yearly<T>(&mut self, f: impl Fn(&mut Rng) -> T) -> T {
        let v = f(&mut self.main);
        match &mut self.year {
            Some(r) => f(r),
            None => v,
        }
    }
    fn noise(&mut self, lo: f64, hi: f64) -> f64 {
        self.yearly(|r| r.range(lo, hi))
    }
}

/// The org tree: group, 31 provinces, their cities, and one minority-held joint venture outside
/// operational control (so the boundary options have something to show). Returns the orgs and,
/// per province, the index range of its cities in the list.
fn build_orgs() -> (Vec<Org>, Vec<std::ops::Range<u32>>) {
    let mut orgs = vec![Org {
        code: GROUP_CODE.into(),
        name: "示例电信集团".into(),
        parent: String::new(),
        equity_share: "",
        operational_control: "",
    }];
    for p in PROVINCES {
        orgs.push(Org {
            code: format!("{GROUP_CODE}-{}", p.code),
            name: format!("{}分公司", p.name_zh),
            parent: GROUP_CODE.into(),
            equity_share: "",
            operational_control: "",
        });
    }
    let mut ranges = Vec::with_capacity(31);
    for (i, p) in PROVINCES.iter().enumerate() {
        let start = orgs.len() as u32;
        for c in 1..=CITIES[i] {
            // One city per large province is a joint venture at 51 %: shows equity-share roll-ups.
            let jv = c == 2 && CITIES[i] >= 12;
            orgs.push(Org {
                code: format!("{GROUP_CODE}-{}-{c:02}", p.code),
                name: format!("{}第{c}地市分公司", p.name_zh),
                parent: format!("{GROUP_CODE}-{}", p.code),
                equity_share: if jv { "51%" } else { "" },
                operational_control: "",
            });
        }
        ranges.push(start..orgs.len() as u32);
    }
    orgs.push(Org {
        code: format!("{GROUP_CODE}-SH-JV"),
        name: "上海云数据合资公司（参股40%）".into(),
        parent: format!("{GROUP_CODE}-SH"),
        equity_share: "0.4",
        operational_control: "no",
    });
    (orgs, ranges)
}

fn province_org(p: usize) -> u32 {
    1 + p as u32
}

fn build_facilities(sites: usize, seed: u64, cities: &[std::ops::Range<u32>]) -> Vec<Facility> {
    let total_pop: u64 = POPULATION.iter().map(|&x| x as u64).sum();
    // Every province gets a provincial data centre, a head office and a provincial fleet; the
    // joint venture gets one data centre. The rest is spread by population.
    let fixed = 31 * 2 + 1;
    let spread = sites - fixed;
    let mut counts: Vec<usize> = POPULATION.iter().map(|&w| spread * w as usize / total_pop as usize).collect();
    let mut left = spread - counts.iter().sum::<usize>();
    for c in counts.iter_mut() {
        if left == 0 {
            break;
        }
        *c += 1;
        left -= 1;
    }
    let mut out = Vec::with_capacity(sites + 400);
    let mut rng = Rng::new(seed, 0xFAC);
    for p in 0..31 {
        let porg = province_org(p);
        out.push(Facility { kind: Kind::DataCenter, province: p as u8, org: porg, shared: 0 });
        out.push(Facility { kind: Kind::Office, province: p as u8, org: porg, shared: 0 });
        out.push(Facility { kind: Kind::Fleet, province: p as u8, org: porg, shared: 0 });
        let cr = &cities[p];
        for c in cr.clone() {
            out.push(Facility { kind: Kind::Fleet, province: p as u8, org: c, shared: 0 });
        }
        for _ in 0..counts[p] {
            let org = cr.start + rng.below((cr.end - cr.start) as u64) as u32;
            let kind = draw_kind(rng.unit());
            let shared = match kind {
                Kind::Bs5g if rng.chance(0.35) => 1,
                Kind::Bs4g if rng.chance(0.25) => 2,
                _ => 0,
            };
            out.push(Facility { kind, province: p as u8, org, shared });
        }
    }
    let sh = PROVINCES.iter().position(|p| p.code == "SH").expect("Shanghai") as u8;
    let jv = 1 + 31 + CITIES.iter().map(|&c| c as u32).sum::<u32>();
    out.push(Facility { kind: Kind::DataCenter, province: sh, org: jv, shared: 0 });
    out
}

/// The data centres and offices every province has, whatever the scale (and the joint venture's
/// data centre); the rest of the profile's are drawn like any site.
const FIXED_DATA_CENTRES: f64 = 32.0;
const FIXED_OFFICES: f64 = 31.0;

/// The kind of a site drawn uniformly (`x` in [0, 1)): the profile's proportions of the sites
/// that are not fixed per province.
fn draw_kind(x: f64) -> Kind {
    use profile::*;
    let kinds = [
        (Kind::Bs5g, BS_5G),
        (Kind::Bs4g, BS_4G),
        (Kind::MachineRoom, MACHINE_ROOMS),
        (Kind::Retail, RETAIL),
        (Kind::Office, OFFICES - FIXED_OFFICES),
        (Kind::Warehouse, WAREHOUSES),
        (Kind::DataCenter, DATA_CENTRES - FIXED_DATA_CENTRES),
    ];
    let total: f64 = kinds.iter().map(|k| k.1).sum();
    let mut at = x * total;
    for (kind, n) in kinds {
        if at < n {
            return kind;
        }
        at -= n;
    }
    Kind::DataCenter
}

/// The size multipliers of a demo of `sites` (see [`Sizes`]).
fn sizes(sites: usize, facilities: &[Facility], cities: &[std::ops::Range<u32>]) -> Sizes {
    let scale = sites as f64 / FULL_SCALE_SITES as f64;
    let count = |k: Kind| facilities.iter().filter(|f| f.kind == k).count() as f64;
    let ratio = |want: f64, have: f64| if have > want { want / have } else { 1.0 };
    // Full-scale fleets: 40–140 vehicles a city, 150–350 a province (means 90 and 250).
    let city_fleets: f64 = cities.iter().map(|c| (c.end - c.start) as f64).sum();
    let vehicles = city_fleets * 90.0 + 31.0 * 250.0;
    Sizes {
        data_centre: ratio(profile::DATA_CENTRES * scale, count(Kind::DataCenter)),
        office: ratio(profile::OFFICES * scale, count(Kind::Office)),
        // Fleets are one per city and province at any scale: their size follows the operator's.
        fleet: scale * profile::VEHICLES / vehicles,
    }
}

fn facility_code(i: usize, f: &Facility) -> String {
    format!("{}-{}-{:07}", f.kind.prefix(), PROVINCES[f.province as usize].code, i)
}

fn write_orgs(path: &Path, orgs: &[Org]) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(w, "org_code,name,parent_code,equity_share,operational_control")?;
    for o in orgs {
        writeln!(w, "{},{},{},{},{}", o.code, o.name, o.parent, o.equity_share, o.operational_control)?;
    }
    w.flush()
}

fn write_facilities(path: &Path, facilities: &[Facility], orgs: &[Org]) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(w, "facility_code,name,type,org_code,province,allocation_share,shared_with")?;
    for (i, f) in facilities.iter().enumerate() {
        let p = &PROVINCES[f.province as usize];
        // Provinces are written the ways users write them: Chinese, pinyin, or the code.
        let province = match i % 10 {
            7 => p.pinyin.to_string(),
            9 => p.region_code(),
            _ => p.name_zh.to_string(),
        };
        let (share, with) = match f.shared {
            1 => (if i % 2 == 0 { "0.5" } else { "50%" }, "China Unicom"),
            2 => ("0.5", "China Tower"),
            _ => ("", ""),
        };
        writeln!(
            w,
            "{},{}{}{:07},{},{},{},{},{}",
            facility_code(i, f),
            p.name_zh,
            f.kind.name_zh(),
            i,
            f.kind.code(),
            orgs[f.org as usize].code,
            province,
            share,
            with
        )?;
    }
    w.flush()
}

/// Facilities per work unit: small enough to balance threads, large enough to amortise.
const CHUNK: usize = 8192;

fn write_activity(
    path: &Path,
    facilities: &[Facility],
    orgs: &[Org],
    y: &YearGen,
    seed: u64,
    sizes: Sizes,
) -> io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 22, File::create(path)?);
    w.write_all(b"facility_code,period,carrier,quantity,unit,source_document,evidence_ref\n")?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunks: Vec<std::ops::Range<usize>> =
        (0..facilities.len()).step_by(CHUNK).map(|s| s..(s + CHUNK).min(facilities.len())).collect();
    let mut rows = 0u64;
    // A batch of chunks is generated in parallel, then written in order.
    for batch in chunks.chunks(threads * 2) {
        let results: Vec<(Vec<u8>, u64)> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|r| {
                    let r = r.clone();
                    s.spawn(move || {
                        let mut g = Gen { buf: Vec::with_capacity(r.len() * 40 * 64), rows: 0, year: y.year, sizes };
                        for i in r {
                            let mut d = Draws {
                                main: Rng::new(seed, i as u64 + 1),
                                year: y.noise_seed.map(|s| Rng::new(s, i as u64 + 1)),
                            };
                            g.facility(i, &facilities[i], orgs, &mut d, &y.factors);
                        }
                        (g.buf, g.rows)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("generator thread")).collect()
        });
        for (buf, n) in results {
            w.write_all(&buf)?;
            rows += n;
        }
    }
    w.flush()?;
    Ok(rows)
}

/// Cooling load over the year: peak in July–August, trough in January (a few per cent more in the
/// south, where summers are long).
fn cooling_season(month: u32, south: bool) -> f64 {
    let amp = if south { 0.12 } else { 0.08 };
    1.0 + amp * (std::f64::consts::PI * (month as f64 - 7.5) / 6.0).cos()
}

struct Gen {
    buf: Vec<u8>,
    rows: u64,
    year: i32,
    sizes: Sizes,
}

impl Gen {
    /// One activity row. `decimals` is the precision the bill is written with.
    #[allow(clippy::too_many_arguments)]
    fn row(&mut self, code: &str, month: u32, carrier: &str, qty: f64, decimals: u32, unit: &str, doc: &str, ev: &str) {
        let b = &mut self.buf;
        b.extend_from_slice(code.as_bytes());
        b.push(b',');
        push_uint(b, self.year as u64);
        b.push(b'-');
        if month < 10 {
            b.push(b'0');
        }
        push_uint(b, month as u64);
        b.push(b',');
        b.extend_from_slice(carrier.as_bytes());
        b.push(b',');
        push_fixed(b, qty, decimals);
        b.push(b',');
        b.extend_from_slice(unit.as_bytes());
        b.push(b',');
        b.extend_from_slice(doc.as_bytes());
        b.push(b',');
        b.extend_from_slice(ev.as_bytes());
        b.push(b'\n');
        self.rows += 1;
    }

    /// One facility's year. `r.main` draws what stays the same every year (size, PUE, shares,
    /// sharing); `r.noise` and `r.yearly` draw what changes (monthly noise, outages, top-ups);
    /// `t` scales the base year's quantities to this year.
    fn facility(&mut self, i: usize, f: &Facility, orgs: &[Org], r: &mut Draws, t: &YearFactors) {
        let code = facility_code(i, f);
        let p = &PROVINCES[f.province as usize];
        let south = matches!(p.grid, model::GridRegion::South | model::GridRegion::Southwest)
            || matches!(p.code, "SH" | "ZJ" | "FJ" | "JX" | "HN" | "HB");
        let year = self.year;
        let hours = |m: u32| 24.0 * days_in_month(year, m) as f64;
        let ym = |m: u32| format!("{year}{m:02}");
        match f.kind {
            Kind::Bs5g | Kind::Bs4g => {
                let kw = if f.kind == Kind::Bs5g {
                    r.main.range(3.0, 4.2) * t.bs5g_electricity
                } else {
                    r.main.range(1.1, 2.0) * t.bs4g_electricity
                };
                // 分路计量: main equipment and cooling meters; 5G sites also an AAU retrofit meter.
                let split: &[(f64, &str)] = if f.kind == Kind::Bs5g {
                    &[(0.52, "M1"), (0.26, "AC"), (0.22, "AAU")]
                } else {
                    &[(0.72, "M1"), (0.28, "AC")]
                };
                let pv = r.main.chance(0.08).then(|| r.main.range(0.08, 0.2)); // 叠光: share of load from rooftop PV
                let diesel_month = r.yearly(|g| g.chance(0.05).then(|| 1 + g.below(12) as u32));
                for m in 1..=12 {
                    let total = kw * hours(m) * cooling_season(m, south) * r.noise(0.96, 1.04);
                    let grid = total * (1.0 - pv.unwrap_or(0.0));
                    for &(share, meter) in split {
                        let s = if meter == "AC" { share * cooling_season(m, south) } else { share };
                        self.row(&code, m, "electricity", grid * s, 0, "kWh", &format!("EB{}-{meter}", ym(m)), "");
                    }
                    if let Some(pv) = pv {
                        self.row(&code, m, "electricity_pv_self", total * pv, 0, "kWh", &format!("PV{}", ym(m)), "");
                    }
                    if diesel_month == Some(m) {
                        // Backup generator run during a grid outage.
                        self.row(&code, m, "diesel", r.noise(20.0, 120.0), 0, "L", &format!("FUEL{}", ym(m)), "");
                    }
                }
            }
            Kind::MachineRoom => {
                let kw = r.main.range(8.0, 40.0) * t.machine_room_electricity;
                for m in 1..=12 {
                    let total = kw * hours(m) * cooling_season(m, south) * r.noise(0.97, 1.03);
                    self.row(&code, m, "electricity", total * 0.7, 0, "kWh", &format!("EB{}-M1", ym(m)), "");
                    self.row(&code, m, "electricity", total * 0.3, 0, "kWh", &format!("EB{}-AC", ym(m)), "");
                }
                let topup = r.yearly(|g| {
                    g.chance(0.12).then(|| {
                        let gas = if g.chance(0.4) { "refrigerant:HCFC-22" } else { "refrigerant:R-410A" };
                        let m = 5 + g.below(4) as u32;
                        (gas, m, g.range(2.0, 10.0))
                    })
                });
                if let Some((gas, m, kg)) = topup {
                    self.row(&code, m, gas, kg, 1, "kg", &format!("RF{}", ym(m)), "");
                }
                let run = r.yearly(|g| g.chance(0.1).then(|| (1 + g.below(12) as u32, g.range(50.0, 200.0))));
                if let Some((m, litres)) = run {
                    self.row(&code, m, "diesel", litres, 0, "L", &format!("FUEL{}", ym(m)), "");
                }
            }
            Kind::DataCenter => {
                // Log-uniform IT load: many small, a few large (tens of GWh a year).
                let it_mw = (r.main.range(0.3f64.ln(), 2.5f64.ln())).exp() * t.dc_it_load * self.sizes.data_centre;
                let pue = r.main.range(1.25, 1.6) + t.dc_pue_offset;
                let green = GREEN_TRADING.contains(&p.code);
                let (cert, uncert) =
                    if green { (r.main.range(0.15, 0.4), r.main.range(0.0, 0.12)) } else { (0.0, 0.0) };
                let cert = (cert + t.green_certified_offset).max(0.0);
                let uncert = (uncert + t.green_uncertified_offset).max(0.0);
                let pv_kw = r.main.range(50.0, 400.0) * self.sizes.data_centre;
                for m in 1..=12 {
                    let mwh = it_mw * pue * hours(m) * cooling_season(m, south).sqrt() * r.noise(0.98, 1.02);
                    let pv_kwh = pv_kw * hours(m) * 0.15;
                    let grid = mwh - pv_kwh / 1000.0;
                    let doc = ym(m);
                    self.row(&code, m, "electricity", grid * (1.0 - cert - uncert), 3, "MWh", &format!("EB{doc}"), "");
                    if cert > 0.0 {
                        let ev = format!("GEC-{code}-{doc}");
                        self.row(
                            &code,
                            m,
                            "electricity_green_certified",
                            grid * cert,
                            3,
                            "MWh",
                            &format!("GP{doc}"),
                            &ev,
                        );
                    }
                    if uncert > 0.0 {
                        self.row(
                            &code,
                            m,
                            "electricity_green_uncertified",
                            grid * uncert,
                            3,
                            "MWh",
                            &format!("GT{doc}"),
                            "",
                        );
                    }
                    self.row(&code, m, "electricity_pv_self", pv_kwh, 0, "kWh", &format!("PV{doc}"), "");
                    // Monthly generator load tests.
                    self.row(&code, m, "diesel", it_mw * r.noise(80.0, 300.0), 0, "L", &format!("FUEL{doc}"), "");
                    // Evaporative cooling water, WUE about 1.2–1.8 L/kWh of IT energy.
                    let water_m3 = it_mw * hours(m) * r.noise(1.2, 1.8);
                    self.row(&code, m, "water", water_m3, 0, "m3", &format!("WB{doc}"), "");
                }
                for (k, gas) in ["refrigerant:R-134a", "refrigerant:R-410A"].iter().enumerate() {
                    let m = 4 + 4 * k as u32 + r.yearly(|g| g.below(3)) as u32;
                    let kg = it_mw * r.noise(3.0, 12.0);
                    self.row(&code, m, gas, kg, 1, "kg", &format!("RF{}", ym(m)), &format!("MAINT-{code}-{m}"));
                }
            }
            Kind::Office => {
                let area_k = r.main.range(2.0, 15.0) * self.sizes.office; // thousand m²
                let staff = area_k * r.main.range(30.0, 60.0);
                let heated = HEATED.contains(&p.code);
                for m in 1..=12 {
                    let doc = ym(m);
                    let kwh = area_k * 1000.0 * r.noise(7.0, 11.0) * cooling_season(m, south) * t.office_electricity;
                    self.row(&code, m, "electricity", kwh, 0, "kWh", &format!("EB{doc}"), "");
                    self.row(&code, m, "natural_gas", staff * r.noise(1.5, 3.0), 0, "m3", &format!("GAS{doc}"), "");
                    if heated && matches!(m, 1..=3 | 11 | 12) {
                        self.row(&code, m, "heat", area_k * r.noise(30.0, 45.0), 1, "GJ", &format!("HT{doc}"), "");
                    }
                    self.row(&code, m, "water", staff * r.noise(1.5, 2.5), 0, "m3", &format!("WB{doc}"), "");
                    let paper = staff * r.noise(0.3, 0.6) * t.paper;
                    self.row(&code, m, "paper", paper, 1, "kg", &format!("PP{doc}"), "");
                    let trips = staff * r.noise(0.05, 0.12);
                    self.row(&code, m, "business_travel:air", trips * 1400.0, 0, "pkm", &format!("TA{doc}"), "");
                    self.row(&code, m, "business_travel:rail", trips * 900.0, 0, "pkm", &format!("TR{doc}"), "");
                    let commute = staff * 21.0 * 2.0 * r.noise(8.0, 14.0);
                    self.row(&code, m, "commuting:metro", commute * 0.55, 0, "pkm", &format!("CM{doc}"), "");
                    self.row(&code, m, "commuting:bus", commute * 0.25, 0, "pkm", &format!("CB{doc}"), "");
                }
            }
            Kind::Retail => {
                let kw = r.main.range(3.0, 9.0);
                for m in 1..=12 {
                    let kwh = kw * hours(m) * cooling_season(m, south) * r.noise(0.97, 1.03);
                    self.row(&code, m, "electricity", kwh, 0, "kWh", &format!("EB{}", ym(m)), "");
                }
                if let Some(kg) = r.yearly(|g| g.chance(0.15).then(|| g.range(0.5, 3.0))) {
                    self.row(&code, 6, "refrigerant:R-32", kg, 1, "kg", &format!("RF{}", ym(6)), "");
                }
            }
            Kind::Warehouse => {
                let kw = r.main.range(8.0, 25.0);
                for m in 1..=12 {
                    let doc = ym(m);
                    let kwh = kw * hours(m) * r.noise(0.95, 1.05);
                    self.row(&code, m, "electricity", kwh, 0, "kWh", &format!("EB{doc}"), "");
                    let tkm = r.noise(20_000.0, 150_000.0);
                    self.row(&code, m, "freight:road", tkm, 0, "tkm", &format!("FR{doc}"), "");
                }
            }
            Kind::Fleet => {
                // A city fleet of 40–140 vehicles; the provincial fleet is larger (full scale).
                let provincial = orgs[f.org as usize].parent == GROUP_CODE;
                let vehicles = if provincial { r.main.range(150.0, 350.0) } else { r.main.range(40.0, 140.0) };
                let vehicles = vehicles * self.sizes.fleet;
                for m in 1..=12 {
                    let doc = ym(m);
                    let ev = format!("FUELCARD-{code}-{doc}");
                    let gasoline = vehicles * r.noise(100.0, 150.0) * t.fleet_gasoline;
                    self.row(&code, m, "gasoline", gasoline, 0, "L", &format!("G{doc}"), &ev);
                    let diesel = vehicles * 0.15 * r.noise(180.0, 260.0) * t.fleet_diesel;
                    self.row(&code, m, "diesel", diesel, 0, "L", &format!("D{doc}"), &ev);
                }
                self.row(&code, 7, "refrigerant:R-134a", vehicles * 0.1 * 0.4, 1, "kg", &format!("RF{}", ym(7)), "");
            }
        }
    }
}

fn push_uint(b: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

/// Writes a non-negative quantity with `decimals` places (no exponent, `.` decimal point).
fn push_fixed(b: &mut Vec<u8>, v: f64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    let n = (v.max(0.0) * scale as f64).round() as u64;
    push_uint(b, n / scale);
    if decimals > 0 {
        b.push(b'.');
        let frac = n % scale;
        let mut digits = [b'0'; 6];
        let mut f = frac;
        for d in (0..decimals as usize).rev() {
            digits[d] = b'0' + (f % 10) as u8;
            f /= 10;
        }
        b.extend_from_slice(&digits[..decimals as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_formatting() {
        let mut b = Vec::new();
        push_fixed(&mut b, 1234.5678, 3);
        b.push(b' ');
        push_fixed(&mut b, 0.05, 1);
        b.push(b' ');
        push_fixed(&mut b, 7.0, 0);
        b.push(b' ');
        push_fixed(&mut b, 2.999_96, 3);
        assert_eq!(String::from_utf8(b).unwrap(), "1234.568 0.1 7 3.000");
    }

    #[test]
    fn output_is_deterministic_and_complete() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let o = DemoOptions::one_year(600, 2024, 7);
        let sa = generate(&o, a.path()).unwrap();
        let sb = generate(&o, b.path()).unwrap();
        assert_eq!(sa, sb);
        for f in ["orgs.csv", "facilities.csv", "activity.csv"] {
            assert_eq!(std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap(), "{f}");
        }
        let act = std::fs::read_to_string(a.path().join("activity.csv")).unwrap();
        assert_eq!(act.lines().count() as u64, sa.activity_rows + 1);
        let fac = std::fs::read_to_string(a.path().join("facilities.csv")).unwrap();
        assert_eq!(fac.lines().count(), sa.facilities + 1);
        // A different year gives different numbers.
        let c = tempfile::tempdir().unwrap();
        generate(&DemoOptions::one_year(600, 2023, 7), c.path()).unwrap();
        assert_ne!(std::fs::read(c.path().join("activity.csv")).unwrap(), act.as_bytes());
    }

    #[test]
    fn base_station_magnitudes_are_realistic() {
        let d = tempfile::tempdir().unwrap();
        generate(&DemoOptions::one_year(2000, 2024, 1), d.path()).unwrap();
        let act = std::fs::read_to_string(d.path().join("activity.csv")).unwrap();
        let mut per_site: std::collections::HashMap<&str, f64> = Default::default();
        for l in act.lines().skip(1) {
            let c: Vec<&str> = l.split(',').collect();
            if c[0].starts_with("BS5-") && c[2].starts_with("electricity") {
                *per_site.entry(c[0]).or_default() += c[3].parse::<f64>().unwrap();
            }
        }
        assert!(per_site.len() > 500);
        for (site, kwh) in per_site {
            let kw = kwh / 8784.0;
            assert!((2.7..4.8).contains(&kw), "{site}: {kw} kW average");
        }
    }

    #[test]
    fn too_few_sites_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let e = generate(&DemoOptions::one_year(10, 2024, 1), d.path()).unwrap_err();
        assert!(e.to_string().contains("at least 124"), "{e}");
    }
}
