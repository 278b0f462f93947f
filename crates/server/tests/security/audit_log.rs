//! The audit log as the console pages it: newest first with a cursor, filtered by actor, action,
//! org (within the caller's subtree only) and China Standard Time days, with the matching count;
//! every new parameter bounded.

use super::*;

fn seqs(r: &Reply) -> Vec<i64> {
    r.json["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

#[test]
fn audit_log_pages_newest_first_and_filters_within_the_subtree() {
    both("audit_log_pages", |h| async move {
        let admin = h.login("admin").await;
        let gd = h.login("gd-admin").await;
        let zj = h.login("zj-admin").await;
        h.open_filing(&gd, "CT-GD", "2024-01").await;
        h.open_filing(&gd, "CT-GD-GZ", "2024-02").await;
        h.open_filing(&zj, "CT-ZJ", "2024-01").await;

        let all = h.get("/api/v1/audit?limit=10000", &admin).await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.text);
        let all_seqs = seqs(&all);
        let n = all_seqs.len() as i64;
        assert_eq!(all.json["total"], n, "{}", all.text);
        assert!(all_seqs.windows(2).all(|w| w[0] < w[1]), "oldest first by default");

        // Newest first, two at a time, following next_before to the end.
        let first = h.get("/api/v1/audit?order=desc&limit=2", &admin).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        let mut seen = seqs(&first);
        assert_eq!(seen, all_seqs.iter().rev().take(2).copied().collect::<Vec<_>>());
        assert_eq!(first.json["total"], n);
        let mut next = first.json["next_before"].as_i64();
        while let Some(b) = next {
            let page = h.get(&format!("/api/v1/audit?order=desc&limit=2&before={b}"), &admin).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            seen.extend(seqs(&page));
            next = page.json["next_before"].as_i64();
        }
        assert_eq!(seen, all_seqs.iter().rev().copied().collect::<Vec<_>>(), "every entry once, newest first");

        // Filters: actor, action, org subtree, days.
        let by_zj = h.get("/api/v1/audit?actor=zj-admin", &admin).await;
        let entries = by_zj.json["entries"].as_array().unwrap();
        assert!(!entries.is_empty() && entries.iter().all(|e| e["actor"] == "zj-admin"), "{}", by_zj.text);
        let creates = h.get("/api/v1/audit?action=filing.create&order=desc", &admin).await;
        assert_eq!(creates.json["total"], 3, "{}", creates.text);
        let gd_sub = h.get("/api/v1/audit?action=filing.create&org=CT-GD", &admin).await;
        let orgs: Vec<&str> =
            gd_sub.json["entries"].as_array().unwrap().iter().map(|e| e["org_code"].as_str().unwrap()).collect();
        assert_eq!(orgs, vec!["CT-GD", "CT-GD-GZ"], "{}", gd_sub.text);
        let whole = h.get("/api/v1/audit?from=1990-01-01&to=2100-12-31", &admin).await;
        assert_eq!(whole.json["total"], n, "{}", whole.text);
        let future = h.get("/api/v1/audit?from=2100-01-01", &admin).await;
        assert_eq!((future.status, future.json["total"].as_i64()), (StatusCode::OK, Some(0)), "{}", future.text);

        // A province admin: their subtree only, whatever the filter; another province is refused.
        let mine = h.get("/api/v1/audit?action=filing.create", &gd).await;
        assert_eq!(mine.json["total"], 2, "{}", mine.text);
        let other = h.get("/api/v1/audit?org=CT-ZJ", &gd).await;
        assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text);
        assert_eq!(other.json["error"]["code"], "out_of_scope");

        // Bounded and checked parameters.
        for (q, code) in [
            ("from=2101-01-01", "bad_date"),
            ("to=2024-02-30", "bad_date"),
            ("from=yesterday", "bad_date"),
            ("limit=0", "out_of_range"),
            ("order=desc&before=0", "out_of_range"),
            ("order=sideways", "bad_request"),
            ("before=5", "bad_request"),
            ("order=desc&after=5", "bad_request"),
            ("from=2024-02-01&to=2024-01-01", "bad_request"),
        ] {
            let r = h.get(&format!("/api/v1/audit?{q}"), &admin).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text);
            assert_eq!(r.json["error"]["code"], code, "{q}: {}", r.text);
        }
        let long = h.get(&format!("/api/v1/audit?actor={}", "a".repeat(201)), &admin).await;
        assert_eq!(long.json["error"]["code"], "out_of_range", "{}", long.text);
    });
}
