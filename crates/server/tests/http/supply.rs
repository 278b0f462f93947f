//! Supply chain (issue 18) over the real router, on SQLite and PostgreSQL: the supplier registry,
//! supplier users scoped to their company (a walk of every supply route as two suppliers), the
//! portal's disclosures with every problem named by its field, the footprint library with versions,
//! lineage and class comparison, and Scope 3 from uploaded lines with hand-checked figures.

use crate::harness::{basic_auth, group_orgs, Harness, Platform, Seed, PASSWORD};
use axum::http::StatusCode;
use serde_json::{json, Value};
use server::routes::ROUTES;

const HUAWEI: &str = "914403001922038216";
const OTHER: &str = "91310000MA1FL4XX5M";

fn platform(name: &str) -> Platform {
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("zj-admin", "org_admin", "CT-ZJ"),
        ("employee", "employee", "CT"),
    ];
    Platform::new(name, Seed { orgs: group_orgs("CT-ZJ"), facilities: vec![], users })
}

fn form(product: &str, pcf: &str) -> Value {
    json!({"product_id": product, "product_name": format!("{product} AAU"), "class": "aau", "declared_unit": "piece",
        "pcf_kg": pcf, "mass_kg": "40", "period_start": "2024-01-01", "period_end": "2024-12-31", "geography": "CN",
        "standard": "GB/T 24067-2024", "primary_data_share": "60", "dqr": ["2", "2", "2"]})
}

/// Each supplier's footprint id after disclosing one AAU.
async fn disclose(h: &Harness, token: &str, product: &str, pcf: &str) -> i64 {
    let r = h.post("/api/v1/supply/portal/footprints", token, json!({"form": form(product, pcf)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["footprint"]["id"].as_i64().unwrap()
}

#[test]
fn a_supplier_sees_only_its_own_company_on_every_supply_route() {
    platform("supply_isolation").run(|h| async move {
        let backend = h.backend.clone();
        let admin = h.login("admin").await;
        let (s1, t1) = h.supplier(&admin, "CT-GD", HUAWEI, "华为技术有限公司", "s1").await;
        let (s2, t2) = h.supplier(&admin, "CT-ZJ", OTHER, "上海某通信设备有限公司", "s2").await;
        let f1 = disclose(&h, &t1, "AAU-A", "812.5").await;
        let f2 = disclose(&h, &t2, "AAU-B", "950").await;
        let me = [(s1, f1, t1.clone(), HUAWEI, "AAU-A"), (s2, f2, t2.clone(), OTHER, "AAU-B")];
        let supply_routes: Vec<_> = ROUTES.iter().filter(|r| r.path.starts_with("/api/v1/supply/")).collect();
        let mut walked = 0;
        for (i, (own_s, own_f, token, own_code, own_product)) in me.iter().enumerate() {
            let (other_s, other_f, _, other_code, other_product) = &me[1 - i];
            for r in &supply_routes {
                let method = r.method.to_uppercase();
                // Ids in the path are the other supplier's.
                let path = r.path.replace(
                    "{id}",
                    &if r.path.contains("footprints") { other_f.to_string() } else { other_s.to_string() },
                );
                let body = match r.path {
                    "/api/v1/supply/portal/disclosures" => json!({"year": 2024, "scope1_t": "10", "scope2_t": "20", "verification": "none"}),
                    "/api/v1/supply/portal/footprints" => json!({"form": form(own_product, "800")}),
                    "/api/v1/supply/portal/equipment" => json!({"class": "aau", "model": "m", "typical_w": 900.0, "reference": 1080.0, "grade": 1}),
                    "/api/v1/supply/portal/footprints.csv" => Value::String(format!(
                        "{}\n{own_product}-csv,AAU,,aau,piece,700,,,2024-01-01,2024-12-31,CN,ISO14067,,,,\n",
                        supply::pact::FORM_COLUMNS.join(",")
                    )),
                    _ => json!({"org_code": "CT", "year": 2024, "bids": [], "uscc": own_code, "name": "x", "categories": ["other"], "username": "x", "password": PASSWORD, "toml": ""}),
                };
                let (body, ctype): (Vec<u8>, &str) = match body {
                    _ if r.path == "/api/v1/supply/portal/disclosures.xlsx" => {
                        let mut row: Vec<String> = ["x", "AAU", "", "aau", "piece", "700", "", "", "2024-01-01", "2024-12-31", "CN", "ISO14067"].map(String::from).to_vec();
                        row[0] = format!("{own_product}-xlsx");
                        let head: Vec<&str> = supply::pact::FORM_COLUMNS.to_vec();
                        (workbook(&[("footprints", vec![head, row.iter().map(String::as_str).collect()])]), platform::xlsx::MEDIA_TYPE)
                    }
                    Value::String(csv) => (csv.into_bytes(), "text/csv"),
                    b => (b.to_string().into_bytes(), "application/json"),
                };
                let res = h.request(&method, &path, Some(token), body, ctype).await;
                walked += 1;
                let text = &res.text;
                if r.path.starts_with("/api/v1/supply/portal") {
                    if r.path.contains("{id}") {
                        assert_eq!(res.status, StatusCode::NOT_FOUND, "{backend}: {method} {path}: {text}");
                    } else {
                        assert_eq!(res.status, StatusCode::OK, "{backend}: {method} {path}: {text}");
                    }
                    // Nothing of the other supplier, and what was stored is the caller's own.
                    assert!(!text.contains(other_code) && !text.contains(other_product), "{backend}: {method} {path}: {text}");
                    if method == "POST" {
                        let sid = res.json["disclosure"]["supplier_id"]
                            .as_i64()
                            .or(res.json["footprint"]["supplier_id"].as_i64())
                            .or(res.json["stored"][0]["supplier_id"].as_i64())
                            .or(res.json["stored"]["footprints"][0]["supplier_id"].as_i64());
                        assert_eq!(sid, Some(*own_s), "{backend}: {path}: {text}");
                    }
                } else {
                    assert_eq!(res.status, StatusCode::FORBIDDEN, "{backend}: {method} {path}: {text}");
                    assert_eq!(res.json["error"]["code"], json!("forbidden"), "{text}");
                }
            }
            // Their own footprint by id, and the platform's routes beyond supply are closed.
            let mine = h.get(&format!("/api/v1/supply/portal/footprints/{own_f}"), token).await;
            assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
            for p in ["/api/v1/orgs", "/api/v1/filings", "/api/v1/snapshots", "/api/v1/console/orgs/CT/overview"] {
                assert_eq!(h.get(p, token).await.status, StatusCode::FORBIDDEN, "{backend}: {p}");
            }
            assert_eq!(h.get("/api/v1/me", token).await.status, StatusCode::OK);
        }
        assert_eq!(walked, 2 * supply_routes.len());
        // Buyers see the suppliers registered within their subtree only.
        let gd = h.login("gd-admin").await;
        let zj = h.login("zj-admin").await;
        let list = h.get("/api/v1/supply/suppliers", &gd).await;
        assert!(list.text.contains(HUAWEI) && !list.text.contains(OTHER), "{}", list.text);
        assert_eq!(h.get(&format!("/api/v1/supply/suppliers/{s2}"), &gd).await.status, StatusCode::NOT_FOUND);
        assert_eq!(h.get(&format!("/api/v1/supply/footprints/{f1}"), &zj).await.status, StatusCode::NOT_FOUND);
        let lib = h.get("/api/v1/supply/footprints", &zj).await;
        assert!(lib.text.contains(OTHER) && !lib.text.contains(HUAWEI), "{}", lib.text);
        // A supplier user is never made through the users route.
        let u = h
            .post("/api/v1/users", &admin, json!({"username": "sx", "password": PASSWORD, "role": "supplier", "org_code": "CT"}))
            .await;
        assert_eq!(u.status, StatusCode::BAD_REQUEST, "{}", u.text);
        // Employees do not read supply data.
        let e = h.login("employee").await;
        assert_eq!(h.get("/api/v1/supply/suppliers", &e).await.status, StatusCode::FORBIDDEN);
    });
}

#[test]
fn disclosures_name_every_bad_field_and_the_library_keeps_versions_and_lineage() {
    platform("supply_library").run(|h| async move {
        let admin = h.login("admin").await;
        // A bad supplier code: its check character is named.
        let r = h
            .post(
                "/api/v1/supply/suppliers",
                &admin,
                json!({"org_code": "CT-GD", "uscc": "914403001922038217", "name": "x", "categories": ["other"]}),
            )
            .await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_supplier")),
            "{}",
            r.text
        );
        assert_eq!(r.json["error"]["detail"][0]["field"], json!("uscc"), "{}", r.text);
        let (_, t1) = h.supplier(&admin, "CT-GD", HUAWEI, "华为技术有限公司", "s1").await;
        // A footprint without unit or period and with a negative value: each field named, nothing stored.
        let mut bad = form("AAU-A", "-1");
        bad["declared_unit"] = json!("");
        bad["period_end"] = json!("");
        let r = h.post("/api/v1/supply/portal/footprints", &t1, json!({"form": bad})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let fields: Vec<&str> =
            r.json["error"]["detail"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["declared_unit", "pcf_kg", "period_end"]);
        // A PACT payload that breaks the schema.
        let r =
            h.post("/api/v1/supply/portal/footprints", &t1, json!({"pact": {"id": "x", "specVersion": "3.0.0"}})).await;
        assert_eq!(r.json["error"]["code"], json!("invalid_pact"), "{}", r.text);
        assert!(r.text.contains("\"field\":\"created\""), "{}", r.text);
        // A template with a bad row: each problem by line and field, the good row not stored either.
        let head = supply::pact::FORM_COLUMNS.join(",");
        let csv = format!("{head}\nAAU-A,AAU,,aau,piece,900,,,2024-01-01,2024-12-31,CN,ISO14067,,,,\nAAU-B,AAU,,aau,,-1,,,2024-01-01,,CN,ISO14067,,,,\n");
        let r = h.request("POST", "/api/v1/supply/portal/footprints.csv", Some(&t1), csv, "text/csv").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let fields: Vec<&str> = r.json["error"]["detail"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["line 3: declared_unit", "line 3: pcf_kg", "line 3: period_end"]);
        let tpl = h.get("/api/v1/supply/portal/template.csv", &t1).await;
        assert!(tpl.text.contains("product_id,product_name"), "{}", tpl.text);
        assert_eq!(h.get("/api/v1/supply/portal", &t1).await.json["footprints"], json!([]));
        // Two versions of one product and a second product: the first version is deprecated, the
        // second names it as preceding and keeps its own disclosure.
        let v1 = disclose(&h, &t1, "AAU-A", "900").await;
        let v2 = disclose(&h, &t1, "AAU-A", "800").await;
        disclose(&h, &t1, "AAU-B", "600").await;
        disclose(&h, &t1, "AAU-C", "1000").await;
        let gd = h.login("gd-admin").await;
        let d = h.get(&format!("/api/v1/supply/footprints/{v2}"), &gd).await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.text);
        assert_eq!(d.json["footprint"]["version"], json!(2));
        assert_eq!(d.json["versions"].as_array().unwrap().len(), 2);
        let v1_pf = h.get(&format!("/api/v1/supply/footprints/{v1}"), &gd).await.json["footprint"]["pf_id"].clone();
        assert_eq!(d.json["pact"]["precedingPfIds"], json!([v1_pf]));
        assert_eq!(d.json["lineage"]["disclosure"]["kind"], json!("footprint"));
        assert_eq!(d.json["lineage"]["disclosure"]["body"]["pcf_kg"], json!("800"));
        assert_eq!(
            h.get(&format!("/api/v1/supply/footprints/{v1}"), &gd).await.json["footprint"]["status"],
            json!("Deprecated")
        );
        // Its class: 600, 800, 1000 kg per piece (current versions) → median 800; 800 is at
        // (1 below + ½ equal) / 3 = 50 %.
        assert_eq!(d.json["comparison"]["distribution"]["median"], json!(800.0));
        assert_eq!(d.json["comparison"]["percentile"], json!(50.0));
        let lib = h.get("/api/v1/supply/footprints?class=aau", &gd).await;
        assert_eq!(lib.json["footprints"].as_array().unwrap().len(), 3, "{}", lib.text);
        // The served PACT record passes the published schema.
        assert!(supply::pact::parse(&d.json["pact"]).is_ok(), "{}", d.json["pact"]);
        // Equipment checks: 950 W against a 1,080 W reference fails the −15 % rule (limit 918 W).
        let e = h
            .post(
                "/api/v1/supply/portal/equipment",
                &t1,
                json!({"class": "aau", "model": "AAU-X", "typical_w": 950.0, "reference": 1080.0, "grade": 1}),
            )
            .await;
        assert_eq!(
            e.json["checks"][0],
            json!({"rule": "radio_15", "pass": false, "value": 950.0, "limit": 918.0}),
            "{}",
            e.text
        );
    });
}

#[test]
fn scope3_from_uploaded_lines_by_hand() {
    platform("supply_scope3").run(|h| async move {
        let admin = h.login("admin").await;
        let (_, t1) = h.supplier(&admin, "CT-GD", HUAWEI, "华为技术有限公司", "s1").await;
        disclose(&h, &t1, "AAU5613", "812.5").await;
        let gd = h.login("gd-admin").await;
        let filer = h.login("gd-filer").await;
        let sec = "[set]\nid = \"test-secondary\"\nversion = 1\n[[product]]\nclass = \"aau\"\nunit = \"piece\"\nkg_per_unit = \"1000\"\nsource = \"test figure\"\n[[mode]]\nmode = \"road\"\nkg_per_tkm = \"0.1\"\nsource = \"test figure\"\n";
        let r = h.post("/api/v1/supply/secondary", &gd, json!({"org_code": "CT-GD", "toml": sec})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let csv = format!(
            "line,org,category,supplier,item,class,quantity,unit,spend,currency,date,sector\n\
             L1,CT-GD,2,{HUAWEI},AAU5613,aau,4,台,400000,CNY,2024-03-01,334111\n\
             L2,CT-GD-GZ,2,{OTHER},X,aau,3,piece,100,CNY,2024-03-01,334111\n\
             L3,CT-GD,1,,,,,,100000,CNY,2024-06-30,334111\n\
             L9,CT-GD,1,,,,,,5,CNY,2023-06-30,334111\n"
        );
        let r = h.request("POST", "/api/v1/supply/procurement", Some(&filer), csv, "text/csv").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let legs = "line,org,tonnes,km,mode,date\nT1,CT-GD,2.5,1200,road,2024-03-01\n";
        let r = h.request("POST", "/api/v1/supply/transport", Some(&filer), legs, "text/csv").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // A line of another province is refused whole.
        let r = h
            .request("POST", "/api/v1/supply/procurement", Some(&filer), "line,org,category,supplier,item,class,quantity,unit,spend,currency,date,sector\nZ1,CT-ZJ,1,,,,,,1,CNY,2024-01-01,ALL\n", "text/csv")
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let run = h.post("/api/v1/supply/scope3", &gd, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.text);
        let res = &run.json["run"]["result"];
        // L1 supplier-specific 4 × 812.5 = 3,250 kg; L2 average 3 × 1,000 = 3,000 kg; L3 spend
        // 100,000 CNY of 2024 × 100 / 94.866 / 6.7261 × 0.058 = 908.979 kg; T1 2.5 t × 1,200 km × 0.1
        // = 300 kg. Total 7,458.979 kg; supplier-specific share 3,250 / 7,458.979 = 43.5716 %.
        assert_eq!(res["total_kg"], json!(7458.979), "{res}");
        let methods: Vec<(String, Value)> = res["lines"].as_array().unwrap().iter().map(|l| (l["method"].as_str().unwrap().to_string(), l["kg"].clone())).collect();
        assert_eq!(
            methods,
            [
                ("supplier_specific".to_string(), json!(3250.0)),
                ("average".to_string(), json!(3000.0)),
                ("spend".to_string(), json!(908.979)),
                ("distance".to_string(), json!(300.0)),
            ]
        );
        assert!((res["supplier_specific_share"].as_f64().unwrap() - 0.435716).abs() < 1e-6, "{res}");
        assert_eq!(res["lines"][2]["dqr"], json!(4.0));
        let latest = h.get("/api/v1/supply/scope3?org=CT-GD&year=2024", &gd).await;
        assert_eq!(latest.json["run"]["id"], run.json["run"]["id"]);
        // A spend in an unknown currency fails the run with the field named; no run is stored.
        let r = h
            .request("POST", "/api/v1/supply/procurement", Some(&filer), "line,org,category,supplier,item,class,quantity,unit,spend,currency,date,sector\nL4,CT-GD,1,,,,,,10,XYZ,2024-01-01,ALL\n", "text/csv")
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let bad = h.post("/api/v1/supply/scope3", &gd, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert!(bad.text.contains("currency") && bad.text.contains("XYZ"), "{}", bad.text);
        assert_eq!(h.get("/api/v1/supply/scope3?org=CT-GD&year=2024", &gd).await.json["run"]["id"], run.json["run"]["id"]);
        // Tender scoring through the API (the default model; arithmetic tested in the crate).
        let bid = |s: &str, price: f64, carbon: f64| json!({"supplier": s, "values": {"price": price, "quality": 80.0, "delivery": 30.0, "carbon": carbon, "energy_efficiency": 1.0}});
        let t = h.post("/api/v1/supply/tender", &gd, json!({"bids": [bid("A", 100.0, 1000.0), bid("B", 100.0, 800.0)]})).await;
        assert_eq!(t.status, StatusCode::OK, "{}", t.text);
        // Equal but carbon: A gets 80 × 20 % = 16 points for carbon against B's 20.
        assert_eq!(t.json["ranking"][0]["supplier"], json!("B"));
        assert_eq!(t.json["ranking"][1]["score"], json!(92.0));
    });
}

// ---- PACT host and client ----------------------------------------------------------------------

/// A supplier's PACT host: its own platform on SQLite serving TLS with a self-signed certificate
/// for `localhost`, with three footprints and a partner's credentials. (app, client id, secret, CA PEM).
async fn pact_host(dir: &std::path::Path) -> (std::sync::Arc<server::App>, String, String, String) {
    let store = store::Store::open_sqlite_dir(&dir.join("db")).unwrap();
    Seed { orgs: group_orgs("CT-ZJ"), facilities: vec![], users: vec![("admin", "group_admin", "CT")] }.apply(&store);
    let app = server::App::new(store, dir.join("spool"));
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let files = server::transport::TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    std::fs::write(&files.cert, ck.cert.pem()).unwrap();
    std::fs::write(&files.key, ck.signing_key.serialize_pem()).unwrap();
    app.configure_transport(server::transport::Config { tls: Some(files), ..Default::default() }).unwrap();
    let h = Harness::on(app.clone(), "sqlite");
    let admin = h.login("admin").await;
    let (_, t) = h.supplier(&admin, "CT-GD", HUAWEI, "华为技术有限公司", "s1").await;
    disclose(&h, &t, "AAU-A", "812.5").await;
    disclose(&h, &t, "AAU-B", "950").await;
    let mut bbu = form("BBU-1", "120");
    bbu["class"] = json!("bbu");
    let r = h.post("/api/v1/supply/portal/footprints", &t, json!({"form": bbu})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = h.post("/api/v1/supply/pact/clients", &admin, json!({"name": "buyer", "org_code": "CT-GD"})).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    (
        app,
        c.json["client"]["client_id"].as_str().unwrap().into(),
        c.json["secret"].as_str().unwrap().into(),
        ck.cert.pem(),
    )
}

#[test]
fn the_pact_host_answers_a_client_token_list_filters_pages_get_events_and_errors() {
    platform("supply_pact_host").sqlite_only().run(|h| async move {
        // Over plain HTTP the PACT routes refuse (conformance tests 9–11, 17).
        let r = h.raw("GET", "/3/footprints", &[], "").await;
        assert_eq!((r.status, r.json["code"].as_str()), (StatusCode::FORBIDDEN, Some("AccessDenied")), "{}", r.text);
        let dir = tempfile::tempdir().unwrap();
        let (app, id, secret, _) = pact_host(dir.path()).await;
        let host = Harness::on(app, "sqlite");
        // Discovery, then the token (#1) and wrong credentials (#2).
        let d = host.raw("GET", "/.well-known/openid-configuration", &[("host", "pact.test")], "").await;
        assert_eq!(d.json["token_endpoint"], json!("https://pact.test/auth/token"), "{}", d.text);
        let form = "application/x-www-form-urlencoded";
        let t = host.raw("POST", "/auth/token", &[("authorization", &basic_auth(&id, &secret)), ("content-type", form)], "grant_type=client_credentials").await;
        assert_eq!(t.status, StatusCode::OK, "{}", t.text);
        assert_eq!(t.json["token_type"], json!("bearer"));
        let bad = host.raw("POST", "/auth/token", &[("authorization", &basic_auth(&id, "wrong")), ("content-type", form)], "grant_type=client_credentials").await;
        assert_eq!((bad.status, bad.json["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
        let auth = format!("Bearer {}", t.json["access_token"].as_str().unwrap());
        let get = |path: String| {
            let host = &host;
            let auth = auth.clone();
            async move { host.raw("GET", &path, &[("authorization", &auth), ("host", "pact.test")], "").await }
        };
        // All (#4), then pages of 2 with an absolute Link on the request's host (#5).
        let all = get("/3/footprints".into()).await;
        assert_eq!(all.json["data"].as_array().unwrap().len(), 3, "{}", all.text);
        let p1 = get("/3/footprints?limit=2".into()).await;
        assert_eq!(p1.json["data"].as_array().unwrap().len(), 2);
        let link = p1.headers.get("link").unwrap().to_str().unwrap().to_string();
        assert!(link.starts_with("<https://pact.test/3/footprints?limit=2&") && link.ends_with(">; rel=\"next\""), "{link}");
        let next = link.trim_start_matches("<https://pact.test").split('>').next().unwrap().to_string();
        let p2 = get(next).await;
        assert_eq!(p2.json["data"].as_array().unwrap().len(), 1, "{}", p2.text);
        assert!(p2.headers.get("link").is_none());
        // Every listed footprint passes the published schema.
        for pf in all.json["data"].as_array().unwrap() {
            assert!(supply::pact::parse(pf).is_ok(), "{pf}");
        }
        // Filters: one productId, two productIds ORed, AND with status, a bogus value, classification, validity.
        let pid = all.json["data"][0]["productIds"][0].as_str().unwrap().to_string();
        let pid2 = all.json["data"][2]["productIds"][0].as_str().unwrap().to_string();
        let n = |r: &crate::harness::Reply| r.json["data"].as_array().map_or(usize::MAX, Vec::len);
        assert_eq!(n(&get(format!("/3/footprints?productId={pid}")).await), 1);
        assert_eq!(n(&get(format!("/3/footprints?productId={pid}&productId={pid2}")).await), 2);
        assert_eq!(n(&get(format!("/3/footprints?productId={pid}&status=Deprecated")).await), 0);
        assert_eq!(n(&get(format!("/3/footprints?productId={pid}&status=Active")).await), 1);
        assert_eq!(n(&get("/3/footprints?companyId=urn:bogus:x".into()).await), 0);
        assert_eq!(n(&get(format!("/3/footprints?companyId=urn:dualcarbon:uscc:{HUAWEI}")).await), 3);
        assert_eq!(n(&get("/3/footprints?classification=urn:dualcarbon:productclass:bbu".into()).await), 1);
        assert_eq!(n(&get("/3/footprints?geography=CN".into()).await), 3);
        assert_eq!(n(&get("/3/footprints?validOn=2026-06-01T00:00:00Z".into()).await), 3);
        assert_eq!(n(&get("/3/footprints?validOn=2031-06-01T00:00:00Z".into()).await), 0);
        assert_eq!(n(&get("/3/footprints?validBefore=2028-01-02T00:00:00Z".into()).await), 3);
        assert_eq!(n(&get("/3/footprints?validAfter=2026-01-01T00:00:00Z".into()).await), 0);
        // Get (#3), an unknown id (#8), an invalid token (#6, #7).
        let one_id = all.json["data"][1]["id"].as_str().unwrap().to_string();
        let one = get(format!("/3/footprints/{one_id}")).await;
        assert_eq!((one.status, one.json["data"]["id"].as_str()), (StatusCode::OK, Some(one_id.as_str())));
        let none = get("/3/footprints/00000000-0000-4000-8000-000000000000".into()).await;
        assert_eq!((none.status, none.json["code"].as_str()), (StatusCode::NOT_FOUND, Some("NotFound")));
        for path in ["/3/footprints", "/3/footprints/x"] {
            let r = host.raw("GET", path, &[("authorization", "Bearer nope")], "").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        }
        // Events: a request fulfilled and one rejected (#12, #14), a published event (#15), an
        // invalid token (#16), a malformed event without a token (#40).
        let ce = "application/cloudevents+json; charset=UTF-8";
        let event = |t: &str, data: Value| json!({"type": t, "specversion": "1.0", "id": format!("ev-{t}"), "source": "https://buyer.example/3/events", "time": "2025-01-01T00:00:00Z", "data": data}).to_string();
        let post = |body: String, auth: Option<String>| {
            let host = &host;
            async move {
                let mut hs = vec![("content-type", ce)];
                let a = auth.unwrap_or_default();
                if !a.is_empty() {
                    hs.push(("authorization", a.as_str()));
                }
                host.raw("POST", "/3/events", &hs, body).await
            }
        };
        let req = post(event("org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3", json!({"productId": [pid], "comment": "please"})), Some(auth.clone())).await;
        assert_eq!((req.status, req.text.as_str()), (StatusCode::OK, ""));
        let rej = post(event("org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3", json!({"productId": ["urn:null"]})), Some(auth.clone())).await;
        assert_eq!(rej.status, StatusCode::OK);
        let pubd = post(event("org.wbcsd.pact.ProductFootprint.PublishedEvent.3", json!({"pfIds": [one_id]})), Some(auth.clone())).await;
        assert_eq!(pubd.status, StatusCode::OK);
        let inv = post(event("org.wbcsd.pact.ProductFootprint.PublishedEvent.3", json!({"pfIds": ["x"]})), Some("Bearer nope".into())).await;
        assert_eq!(inv.status, StatusCode::UNAUTHORIZED);
        let mal = post(json!({"type": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3", "specversion": "1.0"}).to_string(), None).await;
        assert_eq!((mal.status, mal.json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("BadRequest")), "{}", mal.text);
        // The answers were recorded: fulfilled with the footprint, rejected for urn:null.
        let events = host.app.store.supply_pact_events(&id).unwrap();
        let answers: Vec<(&str, &Value)> = events.iter().filter(|e| e.3 == "answer").map(|e| (e.2.as_str(), &e.4)).collect();
        assert_eq!(answers.len(), 2);
        assert!(answers.iter().any(|(t, b)| t.ends_with("RequestFulfilledEvent.3") && b["data"]["pfs"][0]["productIds"][0] == json!(pid)));
        assert!(answers.iter().any(|(t, b)| t.ends_with("RequestRejectedEvent.3") && b["data"]["requestEventId"] == json!("ev-org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3")));
    });
}

#[test]
fn footprints_are_pulled_from_a_suppliers_pact_host_over_tls() {
    platform("supply_pact_pull").run(|h| async move {
        let dir = tempfile::tempdir().unwrap();
        let (app, id, secret, ca) = pact_host(dir.path()).await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server::serve_until(
            app,
            "127.0.0.1:0".parse().unwrap(),
            move |a| {
                let _ = tx.send(a);
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        let addr = rx.await.unwrap();
        let admin = h.login("admin").await;
        let base = format!("https://localhost:{}", addr.port());
        let pull =
            json!({"base_url": base, "client_id": id, "client_secret": secret, "org_code": "CT-GD", "ca_pem": ca});
        let r = h.post("/api/v1/supply/pact/pull", &admin, pull.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["stored"].as_array().unwrap().len(), 3, "{}", r.text);
        // Pulled again: nothing new.
        let again = h.post("/api/v1/supply/pact/pull", &admin, pull.clone()).await;
        assert_eq!(
            (again.json["stored"].as_array().map(Vec::len), again.json["skipped"].as_i64()),
            (Some(0), Some(3)),
            "{}",
            again.text
        );
        // In the library with their lineage: the pull's disclosure.
        let lib = h.get("/api/v1/supply/footprints?class=aau", &admin).await;
        assert_eq!(lib.json["footprints"].as_array().unwrap().len(), 2, "{}", lib.text);
        let fid = lib.json["footprints"][0]["id"].as_i64().unwrap();
        let d = h.get(&format!("/api/v1/supply/footprints/{fid}"), &admin).await;
        assert_eq!(
            (d.json["footprint"]["source"].as_str(), d.json["lineage"]["disclosure"]["kind"].as_str()),
            (Some("pact_pull"), Some("pact_pull"))
        );
        // Wrong secret, and a host whose certificate is not trusted.
        let mut wrong = pull.clone();
        wrong["client_secret"] = json!("nope");
        assert_eq!(
            h.post("/api/v1/supply/pact/pull", &admin, wrong).await.json["error"]["code"],
            json!("pact_auth_failed")
        );
        let mut untrusted = pull.clone();
        untrusted.as_object_mut().unwrap().remove("ca_pem");
        assert_eq!(
            h.post("/api/v1/supply/pact/pull", &admin, untrusted).await.json["error"]["code"],
            json!("pact_unavailable")
        );
        let _ = stop_tx.send(());
        let _ = served.await;
    });
}

// ---- Scope 3 into the group inventory, EEIO and transport factor set versions ------------------

/// The scope3 test's data for CT-GD in 2024: a supplier footprint, secondary data and four lines
/// (supplier-specific, average, spend, distance). Returns the group admin's and CT-GD admin's tokens.
async fn scope3_data(h: &Harness) -> (String, String) {
    let admin = h.login("admin").await;
    let (_, t1) = h.supplier(&admin, "CT-GD", HUAWEI, "华为技术有限公司", "s1").await;
    disclose(h, &t1, "AAU5613", "812.5").await;
    let gd = h.login("gd-admin").await;
    let filer = h.login("gd-filer").await;
    let sec = "[set]\nid = \"test-secondary\"\nversion = 1\n[[product]]\nclass = \"aau\"\nunit = \"piece\"\nkg_per_unit = \"1000\"\nsource = \"test figure\"\n[[mode]]\nmode = \"road\"\nkg_per_tkm = \"0.1\"\nsource = \"test figure\"\n";
    let r = h.post("/api/v1/supply/secondary", &admin, json!({"org_code": "CT", "toml": sec})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let csv = format!(
        "line,org,category,supplier,item,class,quantity,unit,spend,currency,date,sector\n\
         L1,CT-GD,2,{HUAWEI},AAU5613,aau,4,台,400000,CNY,2024-03-01,334111\n\
         L2,CT-GD-GZ,2,{OTHER},X,aau,3,piece,100,CNY,2024-03-01,334111\n\
         L3,CT-GD,1,,,,,,100000,CNY,2024-06-30,334111\n"
    );
    let r = h.request("POST", "/api/v1/supply/procurement", Some(&filer), csv, "text/csv").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let legs = "line,org,tonnes,km,mode,date\nT1,CT-GD,2.5,1200,road,2024-03-01\n";
    let r = h.request("POST", "/api/v1/supply/transport", Some(&filer), legs, "text/csv").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (admin, gd)
}

async fn scope3_run(h: &Harness, token: &str, org: &str) -> i64 {
    let run = h.post("/api/v1/supply/scope3", token, json!({"org_code": org, "year": 2024})).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    run.json["run"]["id"].as_i64().unwrap()
}

/// Milligrams of CO2e in a figure of tonnes (the accounting core's exact unit).
fn mg(t: &Value) -> i64 {
    (t.as_f64().unwrap_or(f64::NAN) * 1e9).round() as i64
}

/// Grams of CO2e in a figure of tonnes (the inventory's floating-point tonnes, exact to the gram).
fn g(t: &Value) -> i64 {
    (t.as_f64().unwrap_or(f64::NAN) * 1e6).round() as i64
}

async fn snapshot(h: &Harness, token: &str, org: &str) -> Value {
    let s = h.post("/api/v1/inventories", token, json!({"org_code": org, "year": 2024})).await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.text);
    s.json
}

#[test]
fn a_recorded_scope3_run_flows_into_the_inventory_by_category_with_explain_and_never_twice() {
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("zj-admin", "org_admin", "CT-ZJ"),
    ];
    let facilities = vec![crate::harness::fac("GD-OFFICE", "office", "CT-GD", "广东")];
    Platform::new("supply_scope3_inventory", Seed { orgs: group_orgs("CT-ZJ"), facilities, users }).run(
        |h| async move {
            let (admin, gd) = scope3_data(&h).await;
            // Activity records with a Scope 3 carrier: 1,000 m³ of water at 0.176684547 kg/m³ (the
            // shipped DESNZ 2023 factor) = 176.684547 kg in category 1, beside the procurement lines.
            let filer = h.login("gd-filer").await;
            h.file_approved(
                &filer,
                &admin,
                "CT-GD",
                "2024-03",
                "facility_code,period,carrier,quantity,unit,source_document\nGD-OFFICE,2024-03,water,1000,m3,w1\n",
            )
            .await;
            // Before any run is recorded the inventory has no procurement Scope 3.
            let before = snapshot(&h, &gd, "CT-GD").await;
            let id0 = before["snapshot"]["id"].as_i64().or(before["id"].as_i64()).unwrap();
            let s0 = h.get(&format!("/api/v1/snapshots/{id0}"), &gd).await;
            assert_eq!(mg(&s0.json["snapshot"]["result"]["totals"]["scope3"]), 176_684_547, "{}", s0.text);
            assert!(s0.json["snapshot"]["result"]["scope3"].get("cat2_capital_goods").is_none());

            let run1 = scope3_run(&h, &gd, "CT-GD").await;
            let rec = h.post(&format!("/api/v1/supply/scope3/{run1}/record"), &gd, json!({})).await;
            assert_eq!(rec.status, StatusCode::OK, "{}", rec.text);
            assert_eq!(rec.json["recorded"]["run_id"], json!(run1));
            // Never twice: the same run again, another run of the same org and year without replace,
            // a run of an org above or within.
            let again = h.post(&format!("/api/v1/supply/scope3/{run1}/record"), &gd, json!({})).await;
            assert_eq!(
                (again.status, again.json["error"]["code"].as_str()),
                (StatusCode::CONFLICT, Some("scope3_already_recorded")),
                "{}",
                again.text
            );
            let run2 = scope3_run(&h, &gd, "CT-GD").await;
            let second = h.post(&format!("/api/v1/supply/scope3/{run2}/record"), &gd, json!({})).await;
            assert_eq!(
                (second.status, second.json["error"]["code"].as_str()),
                (StatusCode::CONFLICT, Some("scope3_recorded")),
                "{}",
                second.text
            );
            assert!(second.text.contains(&format!("run {run1}")), "{}", second.text);
            let group_run = scope3_run(&h, &admin, "CT").await;
            let over = h.post(&format!("/api/v1/supply/scope3/{group_run}/record"), &admin, json!({})).await;
            assert_eq!(
                (over.status, over.json["error"]["code"].as_str()),
                (StatusCode::CONFLICT, Some("scope3_overlaps")),
                "{}",
                over.text
            );
            let city_run = scope3_run(&h, &gd, "CT-GD-GZ").await;
            let over = h.post(&format!("/api/v1/supply/scope3/{city_run}/record"), &gd, json!({})).await;
            assert_eq!(over.json["error"]["code"], json!("scope3_overlaps"), "{}", over.text);
            // Another province cannot record Guangdong's run (not found outside the subtree).
            let zj = h.login("zj-admin").await;
            let r = h.post(&format!("/api/v1/supply/scope3/{run2}/record"), &zj, json!({"replace": true})).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
            let replaced = h.post(&format!("/api/v1/supply/scope3/{run2}/record"), &gd, json!({"replace": true})).await;
            assert_eq!(
                (replaced.status, replaced.json["replaced"].as_i64()),
                (StatusCode::OK, Some(run1)),
                "{}",
                replaced.text
            );

            // The inventory of CT-GD: L1 4 × 812.5 = 3,250 kg and L2 3 × 1,000 = 3,000 kg are
            // category 2 (6.25 t); L3 908.979 kg by spend is category 1; T1 2.5 t × 1,200 km × 0.1 =
            // 300 kg is category 4: 7.458979 t from procurement. With the water (0.176684547 t of
            // category 1): Scope 3 = 7.635663547 t, category 1 = 1.085663547 t, and the whole total
            // (no Scope 1 or 2 filed).
            let snap = snapshot(&h, &gd, "CT-GD").await;
            let id = snap["snapshot"]["id"].as_i64().or(snap["id"].as_i64()).unwrap();
            let s = h.get(&format!("/api/v1/snapshots/{id}"), &gd).await;
            let r = &s.json["snapshot"]["result"];
            assert_eq!(mg(&r["totals"]["scope3"]), 7_635_663_547, "{r}");
            assert_eq!(mg(&r["totals"]["total_location"]), 7_635_663_547);
            assert_eq!(mg(&r["totals"]["total_market"]), 7_635_663_547);
            assert_eq!(mg(&r["scope3"]["cat1_purchased_goods"]), 1_085_663_547);
            assert_eq!(g(&r["scope3"]["from_procurement"]["cat1_purchased_goods"]), 908979);
            assert_eq!(g(&r["scope3"]["cat2_capital_goods"]), 6250000);
            assert_eq!(g(&r["scope3"]["cat4_upstream_transport"]), 300000);
            assert_eq!(g(&r["scope3"]["from_procurement"]["total"]), 7458979);
            assert_eq!(r["supply_scope3"]["runs"], json!([run2]));
            assert_eq!(s.json["snapshot"]["options"]["supply_scope3_runs"], json!([run2]));
            // The rows by org: the city holds L2 only (3 t of category 2).
            let gz = r["rows"].as_array().unwrap().iter().find(|x| x["key"] == json!("CT-GD-GZ")).unwrap();
            assert_eq!(
                (g(&gz["totals"]["scope3"]), g(&gz["scope3"]["cat2_capital_goods"])),
                (3_000_000, 3_000_000),
                "{gz}"
            );
            // The group's inventory includes the province's recorded run; another province's does not.
            let group = snapshot(&h, &admin, "CT").await;
            let gid = group["snapshot"]["id"].as_i64().unwrap();
            let gs = h.get(&format!("/api/v1/snapshots/{gid}"), &admin).await;
            assert_eq!(mg(&gs.json["snapshot"]["result"]["totals"]["scope3"]), 7_635_663_547, "{}", gs.text);
            let z = snapshot(&h, &zj, "CT-ZJ").await;
            let zid = z["snapshot"]["id"].as_i64().or(z["id"].as_i64()).unwrap();
            let zs = h.get(&format!("/api/v1/snapshots/{zid}"), &zj).await;
            assert_eq!(g(&zs.json["snapshot"]["result"]["totals"]["scope3"]), 0);
            assert!(zs.json["snapshot"]["options"].get("supply_scope3_runs").is_none());

            // Explain traces the figure to the procurement lines, method and factor version.
            let ex = h.get(&format!("/api/v1/snapshots/{id}/explain?org=CT-GD&scope=3"), &gd).await;
            assert_eq!(ex.status, StatusCode::OK, "{}", ex.text);
            let sx = &ex.json["supply_scope3"];
            assert_eq!(
                (mg(&sx["scope3"]), mg(&sx["activity_scope3"]), g(&sx["total"]), sx["lines_total"].clone()),
                (7_635_663_547, 176_684_547, 7_458_979, json!(4)),
                "{sx}"
            );
            // The activity part is explained by its records as before.
            assert_eq!(ex.json["explanation"]["lines"].as_array().map(Vec::len), Some(1), "{}", ex.text);
            let cats = &sx["by_category"];
            assert_eq!((g(&cats["1"]), g(&cats["2"]), g(&cats["4"])), (908_979, 6_250_000, 300_000), "{cats}");
            let line =
                |l: &str| sx["lines"].as_array().unwrap().iter().find(|x| x["line"] == json!(l)).unwrap().clone();
            assert_eq!(
                (line("L1")["method"].clone(), line("L1")["kg"].clone(), line("L1")["run"].clone()),
                (json!("supplier_specific"), json!(3250.0), json!(run2))
            );
            assert!(line("L1")["reference"].as_str().unwrap().starts_with("footprint "), "{}", line("L1"));
            assert_eq!(line("L2")["method"], json!("average"));
            assert!(line("L2")["reference"].as_str().unwrap().contains("test-secondary@1"), "{}", line("L2"));
            assert_eq!(line("L3")["method"], json!("spend"));
            assert!(line("L3")["reference"].as_str().unwrap().contains("useeio-v1.3@1"), "{}", line("L3"));
            assert_eq!(line("T1")["method"], json!("distance"));
            let city = h.get(&format!("/api/v1/snapshots/{id}/explain?org=CT-GD-GZ&scope=3"), &gd).await;
            assert_eq!(
                (g(&city.json["supply_scope3"]["total"]), city.json["supply_scope3"]["lines_total"].clone()),
                (3_000_000, json!(1))
            );
            // Recomputed from its recorded inputs: the same figures.
            let rr = h.post(&format!("/api/v1/snapshots/{id}/rerun"), &gd, json!({})).await;
            assert_eq!(rr.json["identical"], json!(true), "{}", rr.text);
        },
    );
}

/// A report of an approved snapshot with a recorded Scope 3 run prints the snapshot's stored
/// Scope 3, totals and categories exactly (issue 18: the report builds from the same figures).
#[test]
fn a_report_of_a_snapshot_with_a_recorded_scope3_run_prints_its_stored_scope3() {
    let users =
        vec![("admin", "group_admin", "CT"), ("gd-admin", "org_admin", "CT-GD"), ("gd-filer", "data_filer", "CT-GD")];
    let facilities = vec![crate::harness::fac("GD-OFFICE", "office", "CT-GD", "广东")];
    Platform::new("supply_scope3_report", Seed { orgs: group_orgs("CT-ZJ"), facilities, users }).run(|h| async move {
        let backend = h.backend.clone();
        let (admin, gd) = scope3_data(&h).await;
        // A report needs every month: 1,000 m³ of water a month at 0.176684547 kg/m³ = 12 ×
        // 176.684547 kg = 2.120214564 t of category 1 from activity records.
        let filer = h.login("gd-filer").await;
        for m in 1..=12 {
            let csv = format!(
                "facility_code,period,carrier,quantity,unit,source_document\nGD-OFFICE,2024-{m:02},water,1000,m3,w{m}\n"
            );
            h.file_approved(&filer, &admin, "CT-GD", &format!("2024-{m:02}"), &csv).await;
        }
        let run = scope3_run(&h, &gd, "CT-GD").await;
        let rec = h.post(&format!("/api/v1/supply/scope3/{run}/record"), &gd, json!({})).await;
        assert_eq!(rec.status, StatusCode::OK, "{backend}: {}", rec.text);
        let snap = snapshot(&h, &gd, "CT-GD").await;
        let id = snap["snapshot"]["id"].as_i64().or(snap["id"].as_i64()).unwrap();
        let a = h.post(&format!("/api/v1/snapshots/{id}/approve"), &gd, json!({"note": "checked"})).await;
        assert_eq!(a.status, StatusCode::OK, "{backend}: {}", a.text);
        let s = h.get(&format!("/api/v1/snapshots/{id}"), &gd).await;
        let r = s.json["snapshot"]["result"].clone();
        // Procurement 7.458979 t (category 1 0.908979 t by spend, category 2 6.25 t, category 4
        // 0.3 t) + water 2.120214564 t: Scope 3 = the totals = 9.579193564 t; category 1 =
        // 3.029193564 t.
        assert_eq!(mg(&r["totals"]["scope3"]), 9_579_193_564, "{backend}: {r}");
        assert_eq!(mg(&r["totals"]["total_location"]), 9_579_193_564, "{backend}");
        assert_eq!(mg(&r["scope3"]["cat1_purchased_goods"]), 3_029_193_564, "{backend}");
        let (j, file) = crate::reports::make(
            &h,
            &gd,
            json!({"snapshot": id, "template": "inventory", "lang": "en", "format": "csv"}),
        )
        .await;
        let csv = String::from_utf8(file.unwrap_or_else(|| panic!("{backend}: {j}"))).unwrap();
        // The figure of a CSV line (its `value` column), found by its start and column key.
        let value = |start: &str, col: &str| -> f64 {
            let line = csv
                .lines()
                .find(|l| l.starts_with(start) && l.contains(&format!(",{col},")))
                .unwrap_or_else(|| panic!("{backend}: no line {start}…{col} in {csv}"));
            let fields: Vec<&str> = line.split(',').collect();
            let at = fields.iter().position(|f| *f == col).unwrap();
            fields[at + 2].parse().unwrap()
        };
        let stored = |v: &Value| v.as_f64().unwrap();
        // Exactly the stored figures (the same f64), and the hand-checked grams.
        for (start, col, v) in [
            ("summary,4,Scope 3,", "value", &r["totals"]["scope3"]),
            ("summary,5,Total (location-based),", "value", &r["totals"]["total_location"]),
            ("summary,6,Total (market-based),", "value", &r["totals"]["total_market"]),
            ("by_category,6,", "tco2e", &r["scope3"]["cat1_purchased_goods"]),
            ("by_category,7,", "tco2e", &r["scope3"]["cat2_capital_goods"]),
            ("by_category,8,", "tco2e", &r["scope3"]["cat4_upstream_transport"]),
            ("ifrs_s2,4,29(a)(i),", "value", &r["totals"]["scope3"]),
        ] {
            assert_eq!(value(start, col), stored(v), "{backend}: {start}{col}");
        }
        assert_eq!((value("summary,4,Scope 3,", "value") * 1e9).round() as i64, 9_579_193_564, "{backend}");
        assert_eq!((value("by_category,7,", "tco2e") * 1e6).round() as i64, 6_250_000, "{backend}");
        assert_eq!((value("by_category,6,", "tco2e") * 1e9).round() as i64, 3_029_193_564, "{backend}");
        assert_eq!((value("by_category,8,", "tco2e") * 1e6).round() as i64, 300_000, "{backend}");
        // Category 2 names the procurement reference (after the one carrier's: [21]), whose
        // method names the run and the hierarchy, and whose factors the EEIO set version.
        assert!(csv.contains("by_category,7,Category 4 products used,scope,Scope,Scope 3 cat. 2,"), "{backend}");
        assert!(
            csv.contains("by_category,7,Category 4 products used,tco2e,Emissions,6.25,tCO2e,6.25,21"),
            "{backend}: {csv}"
        );
        assert!(
            csv.lines().any(|l| l.starts_with("references,21,,method,") && l.contains(&format!("runs {run} "))),
            "{backend}"
        );
        assert!(csv.contains("references,21,,factor,factor,useeio-v1.3@1,"), "{backend}: {csv}");
        // L1's 3,250 kg by supplier footprint of 7,458.979 kg: 43.57 % covered.
        assert!(
            csv.lines()
                .any(|l| l.starts_with("references,21,,method,")
                    && l.contains("covered by supplier-specific data: 43.57 %")),
            "{backend}"
        );
        assert!(
            csv.lines().any(|l| l.starts_with("emissions_by_source,")
                && l.ends_with(",Procurement: capital goods (cat. 2),tco2e,Emissions,6.25,tCO2e,6.25,21")),
            "{backend}: {csv}"
        );
        assert!(csv.contains("ifrs_s2,5,29(a)(vi),value,Value,\"1, 2, 4\","), "{backend}");
        // The org rows: the province's own row is the stored total; the city holds L2's 3 t.
        let gz = r["rows"].as_array().unwrap().iter().find(|x| x["key"] == json!("CT-GD-GZ")).unwrap().clone();
        let line = csv
            .lines()
            .find(|l| l.starts_with("org_tree,") && l.contains(",CT-GD-GZ ") && l.contains(",scope3,"))
            .unwrap_or_else(|| panic!("{backend}: {csv}"));
        let v: f64 = line.split(',').nth(5).unwrap().parse().unwrap();
        assert_eq!((v, (v * 1e6).round() as i64), (stored(&gz["totals"]["scope3"]), 3_000_000), "{backend}: {line}");
        // Breakdowns by facility: the procurement row (7.458979 t) beside the office's water.
        let p = value("by_province,2,\"procurement (supply chain, not by facility)\",", "scope3");
        assert_eq!((p * 1e6).round() as i64, 7_458_979, "{backend}");
        let p = value("by_facility_type,2,\"procurement (supply chain, not by facility)\",", "scope3");
        assert_eq!((p * 1e6).round() as i64, 7_458_979, "{backend}");
        // The same snapshot gives the same bytes again.
        let (_, again) = crate::reports::make(
            &h,
            &gd,
            json!({"snapshot": id, "template": "inventory", "lang": "en", "format": "csv"}),
        )
        .await;
        assert!(again.unwrap() == csv.as_bytes(), "{backend}");
    });
}

#[test]
fn eeio_and_transport_factor_set_versions_are_uploaded_checked_and_old_runs_keep_theirs() {
    platform("supply_factor_sets").run(|h| async move {
        let (admin, gd) = scope3_data(&h).await;
        let run1 = h.post("/api/v1/supply/scope3", &gd, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(run1.json["run"]["result"]["inputs"]["eeio"], json!("useeio-v1.3@1"), "{}", run1.text);
        // Every problem named by its key; nothing stored.
        let bad = "[set]\nid = \"useeio-v1.3\"\nversion = 2\ntitle = \"t\"\ncurrency = \"usd\"\nprice_year = 2022\nprice_basis = \"purchaser\"\nsource = \"s\"\n[[factor]]\nsector = \"334111\"\nname = \"c\"\nkg_per_unit = \"-1\"\nsource = \"\"\n";
        let r = h.post("/api/v1/supply/factor-sets", &admin, json!({"kind": "eeio", "toml": bad, "reason": "CN factors"})).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_factor_set")), "{}", r.text);
        for field in ["set.currency", "factor[0].kg_per_unit", "factor[0].source"] {
            assert!(r.text.contains(field), "{field}: {}", r.text);
        }
        let r = h.post("/api/v1/supply/factor-sets", &admin, json!({"kind": "other", "toml": "", "reason": "x"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        // Version 2 of the shipped set with the computer factor doubled (0.116).
        let v2 = supply::eeio::SHIPPED.replace("version = 1", "version = 2").replace("kg_per_unit = \"0.058\"", "kg_per_unit = \"0.116\"");
        let r = h.post("/api/v1/supply/factor-sets", &gd, json!({"kind": "eeio", "toml": v2, "reason": "test"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "only the group uploads: {}", r.text);
        let r = h.post("/api/v1/supply/factor-sets", &admin, json!({"kind": "eeio", "toml": v2, "reason": "doubled for the test"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = h.post("/api/v1/supply/factor-sets", &admin, json!({"kind": "eeio", "toml": v2, "reason": "again"})).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("factor_set_version")), "{}", r.text);
        // A transport set: problems by key, then a good one.
        let t_bad = "[set]\nid = \"cn-transport\"\nversion = 1\n[[mode]]\nmode = \"camel\"\nkg_per_tkm = \"x\"\nsource = \"\"\n";
        let r = h.post("/api/v1/supply/factor-sets", &admin, json!({"kind": "transport", "toml": t_bad, "reason": "r"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        for field in ["mode[0].mode", "mode[0].kg_per_tkm", "mode[0].source"] {
            assert!(r.text.contains(field), "{field}: {}", r.text);
        }
        let t = "[set]\nid = \"cn-transport\"\nversion = 1\n[[mode]]\nmode = \"rail\"\nkg_per_tkm = \"0.02\"\nsource = \"test figure\"\n";
        let r = h.post("/api/v1/supply/factor-sets", &admin, json!({"kind": "transport", "toml": t, "reason": "rail"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let list = h.get("/api/v1/supply/factor-sets", &gd).await;
        assert_eq!(list.json["current"], json!({"eeio": "useeio-v1.3@2", "transport": "cn-transport@1"}), "{}", list.text);
        // A new run uses version 2: L3 = 100,000 × 100 / 94.866 / 6.7261 × 0.116 = 1,817.959 kg.
        let run2 = h.post("/api/v1/supply/scope3", &gd, json!({"org_code": "CT-GD", "year": 2024})).await;
        let res = &run2.json["run"]["result"];
        assert_eq!(res["inputs"]["eeio"], json!("useeio-v1.3@2"));
        assert_eq!(res["inputs"]["transport"], json!("cn-transport@1"));
        let l3 = res["lines"].as_array().unwrap().iter().find(|l| l["line"] == json!("L3")).unwrap();
        assert_eq!(l3["kg"], json!(1817.959), "{l3}");
        assert!(l3["reference"].as_str().unwrap().contains("useeio-v1.3@2"), "{l3}");
        // The old run keeps its version and figure.
        let id1 = run1.json["run"]["id"].as_i64().unwrap();
        let store = h.app.store.clone();
        let old = tokio::task::spawn_blocking(move || store.supply_run(id1)).await.unwrap().unwrap().unwrap();
        let l3_old = old.result["lines"].as_array().unwrap().iter().find(|l| l["line"] == json!("L3")).unwrap().clone();
        assert_eq!((l3_old["kg"].clone(), old.result["inputs"]["eeio"].clone()), (json!(908.979), json!("useeio-v1.3@1")));
    });
}

/// A requester's PACT events endpoint over TLS (its own self-signed certificate for `localhost`)
/// that keeps every event it receives. (base URL, CA PEM, received events, stop).
async fn events_receiver(
    dir: &std::path::Path,
) -> (String, String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>, tokio::sync::oneshot::Sender<()>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let files = server::transport::TlsFiles { cert: dir.join("rcv-cert.pem"), key: dir.join("rcv-key.pem") };
    std::fs::write(&files.cert, ck.cert.pem()).unwrap();
    std::fs::write(&files.key, ck.signing_key.serialize_pem()).unwrap();
    let tls = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server::transport::tls_config(&files).unwrap()));
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let keep = got.clone();
    let router = axum::Router::new().route(
        "/3/events",
        axum::routing::post(move |body: String| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Value::Null));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let cfg = server::transport::Config::default();
        server::transport::accept_loop(listener, router, &cfg, Some(tls), async move {
            let _ = stop_rx.await;
        })
        .await;
    });
    (format!("https://localhost:{port}"), ck.cert.pem(), got, stop_tx)
}

#[test]
fn pact_answers_to_a_request_go_to_the_requester_named_by_the_events_source_over_tls() {
    platform("supply_pact_source").sqlite_only().run(|_h| async move {
        let dir = tempfile::tempdir().unwrap();
        let (app, id, secret, _) = pact_host(dir.path()).await;
        let (requester, requester_ca, got, stop) = events_receiver(dir.path()).await;
        // The host trusts the requester's certificate authority for its deliveries.
        *app.platform.pact_ca.write().unwrap() = Some(requester_ca);
        let host = Harness::on(app.clone(), "sqlite");
        let form = "application/x-www-form-urlencoded";
        let t = host
            .raw(
                "POST",
                "/auth/token",
                &[("authorization", &basic_auth(&id, &secret)), ("content-type", form)],
                "grant_type=client_credentials",
            )
            .await;
        let auth = format!("Bearer {}", t.json["access_token"].as_str().unwrap());
        let all = host.raw("GET", "/3/footprints", &[("authorization", &auth)], "").await;
        let pid = all.json["data"][0]["productIds"][0].as_str().unwrap().to_string();
        let source = format!("{requester}/3/events");
        let ce = "application/cloudevents+json; charset=UTF-8";
        let request = |id: &str, data: Value| {
            json!({"type": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3", "specversion": "1.0", "id": id,
                   "source": source, "time": "2025-01-01T00:00:00Z", "data": data})
            .to_string()
        };
        // The partner registered no callback: the answers go to the events' source (#13, #14.B).
        let r = host
            .raw(
                "POST",
                "/3/events",
                &[("content-type", ce), ("authorization", &auth)],
                request("req-1", json!({"productId": [pid]})),
            )
            .await;
        assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, ""));
        let r = host
            .raw(
                "POST",
                "/3/events",
                &[("content-type", ce), ("authorization", &auth)],
                request("req-2", json!({"productId": ["urn:null"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let mut waited = 0;
        while got.lock().unwrap().len() < 2 && waited < 100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            waited += 1;
        }
        let events = got.lock().unwrap().clone();
        assert_eq!(events.len(), 2, "{events:?}");
        let by_request =
            |rid: &str| events.iter().find(|e| e["data"]["requestEventId"] == json!(rid)).cloned().unwrap();
        let fulfilled = by_request("req-1");
        assert_eq!(fulfilled["type"], json!("org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"));
        assert_eq!(fulfilled["data"]["pfs"][0]["productIds"][0], json!(pid));
        assert!(supply::pact::parse(&fulfilled["data"]["pfs"][0]).is_ok());
        let rejected = by_request("req-2");
        assert_eq!(rejected["type"], json!("org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3"));
        assert_eq!(rejected["data"]["error"]["code"], json!("NotFound"));
        // Each delivery is recorded with where it went.
        let store = app.store.clone();
        let deliveries =
            tokio::task::spawn_blocking(move || store.supply_pact_events("(delivery)").unwrap()).await.unwrap();
        assert_eq!(deliveries.iter().filter(|d| d.2 == source && d.3 == "delivered").count(), 2, "{deliveries:?}");
        let _ = stop.send(());
    });
}

/// A workbook of (sheet, rows) as a spreadsheet program would save it (text cells).
fn workbook(sheets: &[(&str, Vec<Vec<&str>>)]) -> Vec<u8> {
    let owned: Vec<(String, Vec<Vec<String>>)> = sheets
        .iter()
        .map(|(n, rows)| (n.to_string(), rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()))
        .collect();
    let specs: Vec<platform::xlsx::SheetSpec<'_>> = owned
        .iter()
        .map(|(n, rows)| platform::xlsx::SheetSpec { name: n, rows, lists: Vec::new(), hidden: false })
        .collect();
    platform::xlsx::workbook_of(&specs).unwrap()
}

#[test]
fn disclosures_from_the_xlsx_template_name_every_bad_cell_and_store_nothing_until_all_are_good() {
    platform("supply_xlsx").run(|h| async move {
        let admin = h.login("admin").await;
        let (_, t) = h.supplier(&admin, "CT-GD", HUAWEI, "华为技术有限公司", "s1").await;
        // The template: the three sheets to fill, with their headers and dropdowns, and instructions.
        let tpl =
            h.raw("GET", "/api/v1/supply/portal/template.xlsx", &[("authorization", &format!("Bearer {t}"))], "").await;
        assert_eq!(tpl.status, StatusCode::OK, "{}", tpl.text);
        assert_eq!(tpl.content_type, platform::xlsx::MEDIA_TYPE);
        let sheets = platform::xlsx::sheets_to_csv(
            tpl.bytes.clone(),
            &["footprints", "company", "equipment", "说明 instructions"],
        )
        .unwrap();
        let text = |i: usize| String::from_utf8(sheets[i].clone().unwrap()).unwrap();
        assert_eq!(text(0).trim_end(), supply::pact::FORM_COLUMNS.join(","));
        assert_eq!(text(1).trim_end(), "year,scope1_t,scope2_t,scope3_t,verification,verifier");
        assert!(text(2).starts_with("class,model,typical_w,compute,grade"), "{}", text(2));
        assert!(text(3).contains("verification") && text(3).contains("核查"), "{}", text(3));
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(tpl.bytes.clone())).unwrap();
        let mut sheet1 = String::new();
        std::io::Read::read_to_string(&mut z.by_name("xl/worksheets/sheet1.xml").unwrap(), &mut sheet1).unwrap();
        assert!(
            sheet1.contains("dataValidation") && sheet1.contains("GB/T 24067-2024") && sheet1.contains("server"),
            "{sheet1}"
        );
        // The template itself holds nothing to disclose.
        let up = |bytes: Vec<u8>| {
            let (h, t) = (&h, t.clone());
            async move {
                h.request("POST", "/api/v1/supply/portal/disclosures.xlsx", Some(&t), bytes, platform::xlsx::MEDIA_TYPE)
                    .await
            }
        };
        let r = up(tpl.bytes.clone()).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_workbook")),
            "{}",
            r.text
        );
        let fp_head: Vec<&str> = supply::pact::FORM_COLUMNS.to_vec();
        let good_fp = vec![
            "AAU-1",
            "AAU 64T64R",
            "",
            "aau",
            "piece",
            "812.5",
            "",
            "40",
            "2024-01-01",
            "2024-12-31",
            "CN",
            "GB/T 24067-2024",
            "60",
            "2",
            "2",
            "2",
        ];
        let bad_fp =
            vec!["AAU-2", "AAU", "", "aau", "", "-1", "", "", "2024-01-01", "", "CN", "ISO14067", "", "", "", ""];
        let co_head = vec!["year", "scope1_t", "scope2_t", "scope3_t", "verification", "verifier"];
        let eq_head = vec![
            "class",
            "model",
            "typical_w",
            "compute",
            "grade",
            "reference",
            "power_0_w",
            "power_50_w",
            "power_100_w",
        ];
        // Every bad cell of every sheet at once, by sheet, line and column; nothing stored.
        let bad = workbook(&[
            ("footprints", vec![fp_head.clone(), good_fp.clone(), bad_fp]),
            ("company", vec![co_head.clone(), vec!["2024", "-5", "12.5", "", "limited", ""]]),
            (
                "equipment",
                vec![
                    eq_head.clone(),
                    vec!["aau", "AAU5613", "abc", "", "7", "", "", "", ""],
                    vec!["server", "S1", "400", "", "1", "", "", "", ""],
                ],
            ),
        ]);
        let r = up(bad).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_workbook")),
            "{}",
            r.text
        );
        let fields: Vec<String> = r.json["error"]["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap().to_string())
            .collect();
        for f in [
            "footprints: line 3: declared_unit",
            "footprints: line 3: pcf_kg",
            "footprints: line 3: period_end",
            "company: line 2: scope1_t",
            "company: line 2: verifier",
            "equipment: line 2: typical_w",
            "equipment: line 2: grade",
            "equipment: line 3: compute",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f}: {fields:?}");
        }
        assert!(!fields.iter().any(|x| x.starts_with("footprints: line 2")), "the good row has no problem: {fields:?}");
        let portal = h.get("/api/v1/supply/portal", &t).await;
        assert_eq!(portal.json["footprints"].as_array().map(Vec::len), Some(0), "nothing stored: {}", portal.text);
        // All good: stored, each as its form would be.
        let good = workbook(&[
            ("footprints", vec![fp_head, good_fp]),
            ("company", vec![co_head, vec!["2024", "1200", "3400.5", "", "limited", "中国质量认证中心"]]),
            ("equipment", vec![eq_head, vec!["aau", "AAU5613", "800", "", "1", "1000", "300", "600", "900"]]),
        ]);
        let r = up(good).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let s = &r.json["stored"];
        assert_eq!(
            (
                s["footprints"].as_array().map(Vec::len),
                s["company"].as_array().map(Vec::len),
                s["equipment"].as_array().map(Vec::len)
            ),
            (Some(1), Some(1), Some(1)),
            "{s}"
        );
        // 800 W against the reference's 1,000 W is −20 %: the −15 % check passes.
        let checks = &s["equipment"][0]["checks"];
        assert!(
            checks.as_array().unwrap().iter().any(|c| c["rule"] == json!("radio_15") && c["pass"] == json!(true)),
            "{checks}"
        );
        let portal = h.get("/api/v1/supply/portal", &t).await;
        assert_eq!(portal.json["footprints"].as_array().map(Vec::len), Some(1), "{}", portal.text);
        // Not a workbook at all.
        let r = up(b"line,org\n".to_vec()).await;
        assert_eq!(r.json["error"]["code"], json!("invalid_workbook"));
    });
}
