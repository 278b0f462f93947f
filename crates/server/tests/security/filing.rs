//! Uploads: the rows validated are the rows stored (one parser, one line counter).

use super::*;

#[test]
fn a_clean_upload_is_accepted_whole() {
    both("sec_clean_upload", |h| async move {
        let t = h.login("gd-filer").await;
        let id = h.open_filing(&t, "CT-GD", "2025-07").await;
        let r = h.upload(id, &t, b"facility_code,period,carrier,quantity,unit\nGD1,2025-07,electricity,5,kWh\n").await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", h.backend, r.text);
        assert_eq!(r.json["accepted"], json!(1), "{}", r.text);
    });
}
