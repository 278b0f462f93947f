//! A report from a small demo operator: its figures equal the inventory's (what a snapshot
//! stores), read back from the XLSX and from the PDF's text; the PDF renders with its Chinese
//! text; the same input gives the same bytes; bad periods are refused.

use calamine::{Data, Reader, Xlsx};
use report::{Cell, Format, Lang, Template};
use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

struct Fixture {
    ds: model::Dataset,
    lib: factors::Library,
    inv: accounting::Inventory,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        demo::generate(&demo::DemoOptions::one_year(400, 2024, 20_211_229), d.path()).unwrap();
        let (ds, _) = ingest::load_dir(d.path(), 2024, 2).unwrap();
        let lib = factors::Library::shipped();
        let mut o = accounting::InventoryOptions::new(2024);
        o.threads = 2;
        let inv = accounting::compute(&ds, &lib, &o).unwrap();
        Fixture { ds, lib, inv }
    })
}

fn input(f: &Fixture, lang: Lang, template: Template) -> report::Input<'_> {
    report::Input {
        ds: &f.ds,
        lib: &f.lib,
        inventory: &f.inv,
        org: f.ds.orgs.root(),
        lang,
        template,
        source: report::Source {
            snapshot: Some(7),
            approved_by: Some("reviewer".into()),
            approved_at: Some("2025-03-01T00:00:00Z".into()),
            inputs: 12,
        },
        restatements: vec![report::Restatement {
            snapshot: 7,
            supersedes: 5,
            reason: "grid factor 2024 published".into(),
            at: "2025-02-01".into(),
        }],
        base_year: None,
        previous: None,
        quality_score: Some(97.5),
        projects: Vec::new(),
        plan: None,
        platform: None,
        transition: None,
        breakdown: None,
        procurement: None,
    }
}

pub fn font() -> (Vec<u8>, u32) {
    for (path, index) in report::FONT_PATHS {
        if let Ok(data) = std::fs::read(path) {
            return (data, *index);
        }
    }
    panic!("no CJK font installed (apt-get install fonts-noto-cjk): looked in {:?}", report::FONT_PATHS);
}

/// The headline figures of the report equal those the accounting core reports for the org
/// (what a snapshot stores as its result), to the last bit.
#[test]
fn figures_equal_the_inventory() {
    let f = fixture();
    let r = report::build(&input(f, Lang::En, Template::Inventory)).unwrap();
    let inv = f.inv.report(&f.ds, &f.lib, None, None);
    assert!(inv.totals.scope1 > 0.0 && inv.totals.scope2_location > 0.0);
    assert_eq!(r.figure("summary", "Scope 1", "value"), Some(inv.totals.scope1));
    assert_eq!(r.figure("summary", "Scope 2 (location-based)", "value"), Some(inv.totals.scope2_location));
    assert_eq!(r.figure("summary", "Scope 2 (market-based)", "value"), Some(inv.totals.scope2_market));
    assert_eq!(r.figure("summary", "Scope 3", "value"), Some(inv.totals.scope3));
    assert_eq!(r.figure("summary", "Total (location-based)", "value"), Some(inv.totals.total_location));
    assert_eq!(r.figure("summary", "Energy", "value"), Some(inv.totals.energy_tce));
    assert_eq!(r.figure("by_gas", "CO2", "tco2e"), Some(inv.by_gas["CO2"].tco2e));
    // The org tree's own row is the subtree's total.
    let tree = r.table("org_tree").unwrap();
    let own = tree.rows.iter().find(|row| row[1] == Cell::text("this org (total)")).unwrap();
    assert_eq!(own[4], Cell::num(inv.totals.scope1, 2, Some(1)));
    assert!(tree.rows.len() > 2, "the group and its provinces");
    // Breakdowns add up to the totals (sums of exact per-record figures).
    let sum = |id: &str, col: &str| -> f64 {
        let t = r.table(id).unwrap();
        let c = t.columns.iter().position(|c| c.key == col).unwrap();
        t.rows.iter().filter_map(|row| if let Cell::Num { v, .. } = row[c] { Some(v) } else { None }).sum()
    };
    for (id, col, total) in [
        ("by_province", "scope1", inv.totals.scope1),
        ("by_province", "scope2_location", inv.totals.scope2_location),
        ("by_facility_type", "energy_tce", inv.totals.energy_tce),
    ] {
        assert!((sum(id, col) - total).abs() < 1e-6 * total.max(1.0), "{id}.{col}: {} vs {total}", sum(id, col));
    }
    // Every figure names its reference, and every reference exists.
    let ids: Vec<u32> = r.references.iter().map(|x| x.id).collect();
    for t in r.tables() {
        for row in &t.rows {
            for c in row {
                if let Cell::Num { r: Some(id), .. } = c {
                    assert!(ids.contains(id), "table {} cites [{id}]", t.id);
                }
            }
        }
    }
    // The grid factors used are listed with their sources under Scope 2 (location).
    let s2 = r.references.iter().find(|x| x.id == 4).unwrap();
    assert!(!s2.factors.is_empty() && s2.factors.iter().all(|f| f.contains('@')), "{:?}", s2.factors);
}

#[test]
fn xlsx_reads_back_the_same_figures() {
    let f = fixture();
    let r = report::build(&input(f, Lang::Zh, Template::Inventory)).unwrap();
    let bytes = report::render(&r, Format::Xlsx, None).unwrap();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    let mut checked = 0;
    for t in r.tables() {
        let range = book.worksheet_range(&report::xlsx::sheet_name(&t.id)).unwrap();
        for (i, row) in t.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let got = range.get_value(((i + 2) as u32, c as u32));
                match cell {
                    Cell::Num { v, .. } => {
                        assert_eq!(got, Some(&Data::Float(*v)), "{} row {i} col {c}", t.id);
                        checked += 1;
                    }
                    Cell::Text(s) if !s.is_empty() => assert_eq!(got, Some(&Data::String(s.clone()))),
                    Cell::Text(_) => {}
                }
            }
        }
    }
    assert!(checked > 100, "{checked} figures checked");
    let meta = book.worksheet_range("report").unwrap();
    assert_eq!(meta.get_value((10, 1)), Some(&Data::String(r.hash.clone())));
    assert_eq!(meta.get_value((4, 1)), Some(&Data::String("7".into())));
}

fn tool(name: &str) -> String {
    let ok = Command::new(name).arg("-v").output().is_ok();
    assert!(ok, "{name} is missing (apt-get install poppler-utils)");
    name.to_string()
}

/// The PDF's text (pdftotext) holds every figure of the summary as printed, the Chinese titles
/// and the report's hash; pdftoppm renders its pages.
#[test]
fn pdf_text_holds_the_figures_and_renders() {
    let f = fixture();
    let (font, index) = font();
    let dir = tempfile::tempdir().unwrap();
    for lang in [Lang::Zh, Lang::En] {
        let r = report::build(&input(f, lang, Template::Inventory)).unwrap();
        let pdf = report::render(&r, Format::Pdf, Some((&font, index))).unwrap();
        assert!(pdf.len() < 2_000_000, "subset font: {} bytes", pdf.len());
        let path = dir.path().join(format!("r-{}.pdf", lang.code()));
        std::fs::write(&path, &pdf).unwrap();
        let out = Command::new(tool("pdftotext")).args(["-layout", path.to_str().unwrap(), "-"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for table in r.tables() {
            let t = &table.id;
            for row in &table.rows {
                for c in row {
                    if let Cell::Num { .. } = c {
                        assert!(
                            flat.contains(&c.printed()),
                            "{t}: {} not in the PDF's text ({})",
                            c.printed(),
                            lang.code()
                        );
                    }
                }
            }
        }
        assert!(flat.contains(&r.hash), "the hash is printed");
        if lang == Lang::Zh {
            for words in ["年度温室气体排放报告", "范围二（基于位置）", "能源消费结构", "不确定性"]
            {
                assert!(flat.contains(words), "{words} in the zh PDF");
            }
        }
        let png = dir.path().join(format!("page-{}", lang.code()));
        let st = Command::new(tool("pdftoppm"))
            .args(["-png", "-r", "80", "-f", "1", "-l", "2", path.to_str().unwrap(), png.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.success(), "pdftoppm: {}", String::from_utf8_lossy(&st.stderr));
        assert!(
            String::from_utf8_lossy(&st.stderr).trim().is_empty(),
            "pdftoppm warns: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        if let Ok(shots) = std::env::var("DUALCARBON_SCREENSHOTS") {
            // pdftoppm numbers pages with as many digits as the document's page count needs.
            let mut pages: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("page-{}-", lang.code())))
                .collect();
            pages.sort();
            for (i, from) in pages.iter().enumerate() {
                std::fs::copy(from, Path::new(&shots).join(format!("report-{}-page{}.png", lang.code(), i + 1)))
                    .unwrap();
            }
        }
    }
}

#[test]
fn same_input_same_bytes() {
    let f = fixture();
    let (font, index) = font();
    let a = report::build(&input(f, Lang::Zh, Template::Inventory)).unwrap();
    let b = report::build(&input(f, Lang::Zh, Template::Inventory)).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash.len(), 64);
    for format in [Format::Pdf, Format::Xlsx, Format::Csv] {
        let x = report::render(&a, format, Some((&font, index))).unwrap();
        let y = report::render(&b, format, Some((&font, index))).unwrap();
        assert!(x == y, "{format:?} differs between two runs");
    }
    // The pass over the records is split between threads: any number gives the same report.
    for threads in [1, 3, 7] {
        let mut inv = f.inv.clone();
        inv.options.threads = threads;
        let mut i = input(f, Lang::Zh, Template::Inventory);
        i.inventory = &inv;
        assert_eq!(report::build(&i).unwrap().hash, a.hash, "{threads} threads");
    }
    // Another language is another report.
    let en = report::build(&input(f, Lang::En, Template::Inventory)).unwrap();
    assert_ne!(en.hash, a.hash);
}

#[test]
fn csv_lists_every_figure_with_its_reference() {
    let f = fixture();
    let r = report::build(&input(f, Lang::En, Template::CapitalMarket)).unwrap();
    let text = String::from_utf8(report::render(&r, Format::Csv, None).unwrap()).unwrap();
    let inv = f.inv.report(&f.ds, &f.lib, None, None);
    let v = inv.totals.scope1;
    let printed = report::format_number(v, 2);
    let printed = if printed.contains(',') { format!("\"{printed}\"") } else { printed };
    let line = format!("ifrs_s2,1,29(a)(i),value,Value,{v},,{printed},1");
    assert!(text.contains(&line), "{line}");
    assert!(text.contains(&format!("report,,,hash,hash,{}", r.hash)));
    assert!(r.table("energy_structure").is_none(), "the capital-market template has no government tables");
}

#[test]
fn the_noto_collection_face_is_simplified_chinese() {
    let (font, index) = font();
    let family = report::pdf::family_name(&font, index).unwrap_or_default();
    assert!(family.contains("SC") || family.contains("WenQuanYi"), "{family}");
}

/// The climate tables carry the scenarios' baseline path calibrated on the inventory.
#[test]
fn transition_path_from_the_scenarios() {
    let f = fixture();
    let mut o = accounting::InventoryOptions::new(2024);
    o.residual = accounting::ResidualBasis::Location;
    o.threads = 2;
    let inv = accounting::compute(&f.ds, &f.lib, &o).unwrap();
    let b = scenario::calibrate(&f.ds, &inv, "test").unwrap();
    let catalogue = scenario::Catalogue::shipped();
    let run = scenario::Model::new(&b, &catalogue).unwrap().run(&scenario::Scenario::baseline("baseline")).unwrap();
    let mut i = input(f, Lang::En, Template::CapitalMarket);
    i.transition = Some(run.clone());
    let r = report::build(&i).unwrap();
    assert_eq!(r.figure("transition", "Peak year", "value"), Some(run.peak.year as f64));
    assert_eq!(r.figure("transition", "Peak emissions", "value"), Some(run.peak.tco2e));
    let y2030 = run.years.iter().find(|y| y.year == 2030).unwrap().gross_tco2e;
    assert_eq!(r.figure("transition", "2030 gross emissions", "value"), Some(y2030));
    assert_eq!(r.table("transition").unwrap().rows.len(), 5 + run.targets.len());
    // The transition plan: the least-cost measures, each with the plan run's figures.
    let model = scenario::Model::new(&b, &catalogue).unwrap();
    let opts = scenario::optimise::OptimiseOptions::default();
    let plan = scenario::optimise::least_cost_plan(&model, &scenario::Scenario::baseline("plan"), &opts).unwrap();
    i.plan = Some(plan.clone());
    let r = report::build(&i).unwrap();
    let t = r.table("transition_plan").expect("the plan's table");
    let measures = plan.run.as_ref().map(|r| r.measures.clone()).unwrap_or_default();
    assert_eq!(t.rows.len(), plan.chosen.len() + 1, "{:?} {}", plan.summary.outcome, plan.explanation);
    for sel in &plan.chosen {
        let m = measures.iter().find(|m| m.id == sel.id).unwrap();
        let row = format!("{} ({})", m.en, m.id);
        assert_eq!(r.figure("transition_plan", &row, "abatement"), Some(m.abatement_tco2e), "{row}");
        assert_eq!(r.figure("transition_plan", &row, "start"), Some(sel.start as f64), "{row}");
    }
    eprintln!("plan outcome {}: {} measures", plan.summary.outcome, plan.chosen.len());
}

/// The report from the cells the inventory kept in its own pass (`compute_with_breakdown`, no
/// second pass over the records) is the same report, byte for byte, as from the report's own
/// pass, for the group and for a subsidiary, with 1 and 3 threads; and the inventory computed
/// with the breakdown is the same inventory.
#[test]
fn breakdown_of_the_inventory_pass_gives_the_same_report() {
    let f = fixture();
    let root = f.ds.orgs.root();
    let sub =
        (0..f.ds.orgs.orgs.len() as u32).find(|o| *o != root && f.ds.orgs.orgs[*o as usize].parent.is_some()).unwrap();
    for org in [root, sub] {
        let (within, meter) = report::build::breakdown_masks(&f.ds, org);
        for threads in [1, 3] {
            let mut o = accounting::InventoryOptions::new(2024);
            o.threads = threads;
            let req = accounting::BreakdownRequest { within: &within, meter_documents: &meter };
            let (inv, b) = accounting::compute_with_breakdown(&f.ds, &f.lib, &o, Some(req)).unwrap();
            assert_eq!(inv.cells, f.inv.cells, "the inventory's cells are unchanged");
            let b = b.unwrap();
            assert!(b.records.iter().sum::<usize>() > 0);
            let mut own = input(f, Lang::Zh, Template::Inventory);
            own.org = org;
            let mut kept = input(f, Lang::Zh, Template::Inventory);
            kept.org = org;
            kept.inventory = &inv;
            kept.breakdown = Some(&b);
            let (x, y) = (report::build(&own).unwrap(), report::build(&kept).unwrap());
            assert_eq!(x.hash, y.hash, "org {org}, {threads} threads");
            assert_eq!(report::render(&x, Format::Csv, None).unwrap(), report::render(&y, Format::Csv, None).unwrap());
        }
    }
}

/// What the platform holds besides the snapshot, written out by hand.
fn platform_data() -> (report::PlatformData, Vec<report::SavingProject>) {
    let d = report::PlatformData {
        targets: Some(vec![report::TargetProgress {
            id: "pue-2025".into(),
            name: "Data-centre PUE".into(),
            indicator: "pue".into(),
            unit: "".into(),
            base_year: 2020,
            year: 2025,
            baseline: Some(1.6),
            goal: Some(1.3),
            current: Some(1.45),
            progress: Some(0.5),
            on_track: Some(false),
            met: Some(false),
        }]),
        water_m3: Some(12_345.5),
        waste_hazardous_t: Some(7.25),
        waste_non_hazardous_t: Some(130.0),
        water_waste_sources: vec!["demo: illustrative values (not measured)".into()],
        inclusive: vec![
            report::InclusiveRow { action: "metro".into(), month: "2024-03".into(), credits: 4, kg: 12.5 },
            report::InclusiveRow { action: "cycling".into(), month: "2024-04".into(), credits: 2, kg: 3.0 },
        ],
    };
    let projects = vec![report::SavingProject {
        name: "run-a".into(),
        periods: "2024".into(),
        stations: 3,
        saved_kwh: 10_000.0,
        reference_kwh: 80_000.0,
    }];
    (d, projects)
}

/// The platform's targets and progress, water and waste, measured savings (kWh and tce), the
/// 碳普惠 totals and the facility list are in the report, read back from the XLSX, the CSV and the
/// PDF's text; from a data directory each says "not available" in words.
#[test]
fn platform_figures_targets_savings_water_waste_inclusive_facilities() {
    let f = fixture();
    let (d, projects) = platform_data();
    let mut i = input(f, Lang::En, Template::Inventory);
    i.platform = Some(d);
    i.projects = projects;
    let r = report::build(&i).unwrap();
    // Hand-checked: 10,000 kWh × 0.1229 kgce/kWh = 1,229 kgce = 1.229 tce.
    assert_eq!(r.figure("saving_projects", "run-a", "saved_tce"), Some(1.229));
    assert_eq!(r.figure("saving_projects", "run-a", "saved_kwh"), Some(10_000.0));
    assert_eq!(r.figure("saving_projects", "Total", "stations"), Some(3.0));
    assert_eq!(r.figure("hkex_kpi", "A1.3", "value"), Some(7.25));
    assert_eq!(r.figure("hkex_kpi", "A1.4", "value"), Some(130.0));
    assert_eq!(r.figure("hkex_kpi", "A2.2", "value"), Some(12_345.5));
    assert_eq!(r.figure("targets_progress", "Data-centre PUE (pue-2025)", "progress"), Some(50.0));
    assert_eq!(r.figure("targets_progress", "Data-centre PUE (pue-2025)", "goal"), Some(1.3));
    // 12.5 kg + 3 kg = 15.5 kg = 0.0155 t; 6 credits.
    assert_eq!(r.figure("inclusive", "Total", "tco2e"), Some(0.0155));
    assert_eq!(r.figure("inclusive", "Total", "credits"), Some(6.0));
    assert_eq!(r.figure("facility_list", "Total", "total"), Some(f.ds.facilities.len() as f64));
    // Every figure cites a reference that exists.
    for t in ["saving_projects", "targets_progress", "inclusive", "facility_list"] {
        for row in &r.table(t).unwrap().rows {
            for c in row {
                if let Cell::Num { r: Some(id), .. } = c {
                    assert!(r.references.iter().any(|x| x.id == *id), "{t}: [{id}]");
                }
            }
        }
    }
    // XLSX: the figures as numbers.
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(report::render(&r, Format::Xlsx, None).unwrap())).unwrap();
    let sheet = book.worksheet_range(&report::xlsx::sheet_name("saving_projects")).unwrap();
    assert_eq!(sheet.get_value((2, 0)), Some(&Data::String("run-a".into())));
    assert_eq!(sheet.get_value((2, 5)), Some(&Data::Float(1.229)));
    let sheet = book.worksheet_range(&report::xlsx::sheet_name("inclusive")).unwrap();
    assert_eq!(sheet.get_value((4, 3)), Some(&Data::Float(0.0155)));
    // CSV: one line per cell.
    let csv = String::from_utf8(report::render(&r, Format::Csv, None).unwrap()).unwrap();
    assert!(csv.contains("saving_projects,1,run-a,saved_tce,Energy saved,1.229,tce,1.2290,16"), "{csv}");
    assert!(csv.contains("hkex_kpi,5,A1.3,value,Value,7.25,,7.25,17"));
    // PDF (zh): the figures as printed and the titles.
    let mut zh = input(f, Lang::Zh, Template::Government);
    let (d, projects) = platform_data();
    zh.platform = Some(d);
    zh.projects = projects;
    let rz = report::build(&zh).unwrap();
    let (font, index) = font();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.pdf");
    std::fs::write(&path, report::render(&rz, Format::Pdf, Some((&font, index))).unwrap()).unwrap();
    let out = Command::new(tool("pdftotext")).args([path.to_str().unwrap(), "-"]).output().unwrap();
    let text: String = String::from_utf8(out.stdout).unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    for words in ["节能技改项目", "1.2290", "10,000.00", "80,000.00"] {
        assert!(text.contains(words), "{words} in the government PDF");
    }
    // From a data directory: said in words.
    let none = report::build(&input(f, Lang::En, Template::CapitalMarket)).unwrap();
    let cell = |t: &str, row: usize, col: usize| none.table(t).unwrap().rows[row][col].printed();
    assert!(cell("targets_progress", 0, 0).starts_with("not available"), "{}", cell("targets_progress", 0, 0));
    assert!(cell("inclusive", 0, 0).starts_with("not available"));
    let a13 = none.table("hkex_kpi").unwrap().rows.iter().find(|r| r[0].printed() == "A1.3").unwrap()[2].printed();
    assert!(a13.starts_with("not available"), "{a13}");
    let g = report::build(&input(f, Lang::En, Template::Government)).unwrap();
    assert!(g.table("saving_projects").unwrap().rows[0][0].printed().starts_with("not available"));
}

/// Scope 3 from procurement (hand-written grams: category 1 908,979 g by spend, category 2
/// 6,250,000 g = 3,250,000 g supplier-specific + 3,000,000 g average, category 4 300,000 g by
/// distance; 7,458,979 g in all, 3,000,000 g of category 2 in one province) is in every Scope 3
/// and total of the report, as its own row where breakdowns are by facility, and nowhere twice.
#[test]
fn procurement_scope3_is_in_the_totals_categories_org_rows_and_uncertainty() {
    let f = fixture();
    let root = f.ds.orgs.root();
    let child = (0..f.ds.orgs.orgs.len()).find(|i| f.ds.orgs.orgs[*i].parent == Some(root)).unwrap();
    let mut subtree = vec![[0i64; 3]; f.ds.orgs.orgs.len()];
    subtree[root as usize] = [908_979, 6_250_000, 300_000];
    subtree[child] = [0, 3_000_000, 0];
    let procurement = report::Procurement {
        subtree,
        runs: vec![42],
        by_method: [
            ("average", 3_000_000),
            ("distance", 300_000),
            ("spend", 908_979),
            ("supplier_specific", 3_250_000),
        ]
        .into_iter()
        .map(|(m, g)| (m.to_string(), g))
        .collect(),
        references: vec!["useeio-v1.3@1".into(), "test-secondary@1".into()],
    };
    let mut i = input(f, Lang::En, Template::Inventory);
    i.procurement = Some(procurement.clone());
    let r = report::build(&i).unwrap();
    let plain = report::build(&input(f, Lang::En, Template::Inventory)).unwrap();
    let inv = f.inv.report(&f.ds, &f.lib, None, None);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
    let s3 = r.figure("summary", "Scope 3", "value").unwrap();
    assert!(close(s3 - inv.totals.scope3, 7.458979), "{s3} vs {}", inv.totals.scope3);
    let tl = r.figure("summary", "Total (location-based)", "value").unwrap();
    assert!(close(tl - inv.totals.total_location, 7.458979));
    let tm = r.figure("summary", "Total (market-based)", "value").unwrap();
    assert!(close(tm - inv.totals.total_market, 7.458979));
    assert_eq!(r.figure("summary", "Scope 1", "value"), Some(inv.totals.scope1));
    // The category table: category 2 its own row (6.25 t), categories 1 and 4 with procurement.
    let cats = r.table("by_category").unwrap();
    let by_scope = |scope: &str| -> f64 {
        let row = cats.rows.iter().find(|row| row[1] == Cell::text(scope)).unwrap();
        match row[3] {
            Cell::Num { v, .. } => v,
            _ => panic!(),
        }
    };
    assert_eq!(by_scope("Scope 3 cat. 2"), 6.25);
    assert!(close(by_scope("Scope 3 cat. 1") - inv.scope3.cat1_purchased_goods, 0.908979));
    assert!(close(by_scope("Scope 3 cat. 4") - inv.scope3.cat4_upstream_transport, 0.3));
    // The procurement reference: numbered after the carriers', with the method and the sets.
    let pref = r.references.iter().max_by_key(|x| x.id).unwrap();
    assert_eq!(pref.id as usize, plain.references.len() + 1, "after every existing reference");
    assert!(pref.method.contains("supplier-specific product footprint > average product data > spend-based"));
    assert!(pref.method.contains("runs 42"), "{}", pref.method);
    assert!(pref.method.contains("spend-based 0.908979 t"), "{}", pref.method);
    // 3,250,000 / 7,458,979 = 43.57 % covered by supplier-specific data.
    assert!(pref.method.contains("covered by supplier-specific data: 43.57 %"), "{}", pref.method);
    assert_eq!(pref.factors, vec!["useeio-v1.3@1".to_string(), "test-secondary@1".to_string()]);
    let row2 = cats.rows.iter().find(|row| row[1] == Cell::text("Scope 3 cat. 2")).unwrap();
    assert_eq!(row2[3], Cell::num(6.25, 2, Some(pref.id)));
    // Breakdowns by facility keep summing to the totals with the explicit procurement row.
    let sum = |id: &str, col: &str| -> f64 {
        let t = r.table(id).unwrap();
        let c = t.columns.iter().position(|c| c.key == col).unwrap();
        t.rows.iter().filter_map(|row| if let Cell::Num { v, .. } = row[c] { Some(v) } else { None }).sum()
    };
    for id in ["by_province", "by_facility_type"] {
        assert!((sum(id, "scope3") - s3).abs() < 1e-6 * s3.max(1.0), "{id}: {} vs {s3}", sum(id, "scope3"));
        assert!((sum(id, "scope1") - inv.totals.scope1).abs() < 1e-6 * inv.totals.scope1, "{id}");
        assert_eq!(
            r.figure(id, "procurement (supply chain, not by facility)", "scope3").map(|v| (v * 1e6).round()),
            Some(7_458_979.0)
        );
    }
    // The org rows: the group's own row and the child's with its 3 t.
    let tree = r.table("org_tree").unwrap();
    let sc = tree.columns.iter().position(|c| c.key == "scope3").unwrap();
    let own = tree.rows.iter().find(|row| row[1] == Cell::text("this org (total)")).unwrap();
    assert_eq!(own[sc], Cell::num(s3, 2, Some(6)));
    let code = &f.ds.orgs.orgs[child].code;
    let num = |t: &report::Table, code: &str| -> f64 {
        let row =
            t.rows.iter().find(|row| matches!(&row[0], Cell::Text(s) if s.starts_with(&format!("{code} ")))).unwrap();
        match row[sc] {
            Cell::Num { v, .. } => v,
            _ => panic!(),
        }
    };
    assert!(close(num(tree, code) - num(plain.table("org_tree").unwrap(), code), 3.0));
    // Capital-market tables: Scope 3 and its categories.
    let ifrs = r.table("ifrs_s2").unwrap();
    let s3row = ifrs.rows.iter().find(|row| row[1] == Cell::text("Scope 3")).unwrap();
    assert_eq!(s3row[2], Cell::num(s3, 2, Some(6)));
    let cats_row = ifrs.rows.iter().find(|row| row[1] == Cell::text("Scope 3 categories included")).unwrap();
    assert!(matches!(&cats_row[2], Cell::Text(t) if t.contains("1, 2, 4")), "{:?}", cats_row[2]);
    // Uncertainty: the spend part at ±5 % / ±50 % (√(5² + 50²) = 50.2494 %), the rest at
    // ±10 % / ±30 % (√(10² + 30²) = 31.6228 %).
    let u = r.table("uncertainty").unwrap();
    let urow = |name: &str| u.rows.iter().find(|row| row[0] == Cell::text(name)).unwrap().clone();
    let spend = urow("Procurement: spend-based");
    assert!(matches!(spend[1], Cell::Num { v, .. } if close(v, 0.908979)));
    assert!(matches!(spend[4], Cell::Num { v, .. } if (v - 50.2494).abs() < 1e-4), "{:?}", spend[4]);
    let rest = urow("Procurement: supplier-specific, average and transport");
    assert!(matches!(rest[1], Cell::Num { v, .. } if close(v, 6.55)));
    assert!(matches!(rest[4], Cell::Num { v, .. } if (v - 31.6228).abs() < 1e-4), "{:?}", rest[4]);
    // Category 2 is no longer listed as excluded; the boundary says procurement is included.
    let ex = r.table("exclusions").unwrap();
    assert!(ex.rows.iter().any(|row| row[0] == Cell::text("Scope 3 categories 3, 5, 8–15")));
    assert!(r.sections.iter().any(|s| s.paragraphs.iter().any(|p| p.contains("category 2 capital goods"))));
    // Emissions by source (location-based) sum to the location-based total with a row per
    // procurement category.
    let src = r.table("emissions_by_source").unwrap();
    let total: f64 =
        src.rows.iter().filter_map(|row| if let Cell::Num { v, .. } = row[2] { Some(v) } else { None }).sum();
    assert!((total - tl).abs() < 1e-6 * tl, "{total} vs {tl}");
    assert_eq!(r.figure("emissions_by_source", "Procurement: capital goods (cat. 2)", "tco2e"), Some(6.25));
    // The methods section: by method, and the supplier-specific coverage.
    assert_eq!(r.figure("procurement_by_method", "supplier-specific", "tco2e"), Some(3.25));
    let spend = r.figure("procurement_by_method", "spend-based", "tco2e").unwrap();
    assert_eq!((spend * 1e6).round(), 908_979.0);
    let cov = r.figure("procurement_by_method", "Covered by supplier-specific data (%)", "tco2e").unwrap();
    assert!((cov - 43.5716).abs() < 1e-4, "{cov}");
    // The same input gives the same bytes, in Chinese too.
    let mut z = input(f, Lang::Zh, Template::Inventory);
    z.procurement = Some(procurement.clone());
    let a = report::build(&z).unwrap();
    let b = report::build(&z).unwrap();
    assert_eq!(report::render(&a, Format::Csv, None).unwrap(), report::render(&b, Format::Csv, None).unwrap());
    assert!(a.table("by_province").unwrap().rows.iter().any(|row| row[0] == Cell::text("采购（供应链，不分设施）")));
    // Every format renders it, twice the same bytes.
    let (font, index) = font();
    for format in [Format::Pdf, Format::Xlsx] {
        let x = report::render(&a, format, Some((&font, index))).unwrap();
        assert!(x == report::render(&b, format, Some((&font, index))).unwrap(), "{format:?}");
    }
    // Without procurement: the report is the one it was (same hash as before the field existed).
    let mut none = input(f, Lang::En, Template::Inventory);
    none.procurement = Some(report::Procurement::default());
    assert_eq!(report::build(&none).unwrap().hash, plain.hash);
}
