//! Reference data over the API: the org tree (`orgs.csv`) and facilities (`facilities.csv`), in
//! the formats of docs/formats.md, validated by `ingest` with every problem reported at once.
//! Codes already known are updated, new ones added; nothing is deleted (filings refer to them).

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use futures_util::StreamExt;
use std::path::Path;
use std::sync::Arc;
use store::Store;
use tokio::io::AsyncWriteExt;

async fn spool(app: &App, body: Body) -> ApiResult<tempfile::TempDir> {
    tokio::fs::create_dir_all(&app.spool_dir).await.map_err(|e| ApiError::internal(format!("spool dir: {e}")))?;
    let dir = tempfile::tempdir_in(&app.spool_dir).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut file =
        tokio::fs::File::create(dir.path().join("upload.csv")).await.map_err(|e| ApiError::internal(e.to_string()))?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(crate::transport::body_read_error)?;
        file.write_all(&chunk).await.map_err(|e| ApiError::internal(e.to_string()))?;
    }
    file.flush().await.map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(dir)
}

fn rejected(what: &str, report: &ingest::ValidationReport) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_file",
        format!("{what}: {} problem(s); nothing was stored", report.total),
    );
    e.detail = Some(serde_json::to_value(&report.errors).unwrap_or_default());
    e
}

/// The store's org tree written as orgs.csv into `dir` (to validate facilities against it).
fn write_orgs(store: &Store, path: &Path) -> ApiResult<usize> {
    let orgs = store.orgs()?;
    let mut w = csv::Writer::from_path(path).map_err(|e| ApiError::internal(e.to_string()))?;
    let io = |e: csv::Error| ApiError::internal(e.to_string());
    w.write_record(["org_code", "name", "parent_code", "equity_share", "operational_control"]).map_err(io)?;
    for o in &orgs {
        w.write_record([
            &o.code,
            &o.name,
            o.parent_code.as_deref().unwrap_or(""),
            &o.equity_share,
            &o.operational_control,
        ])
        .map_err(io)?;
    }
    w.flush().map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(orgs.len())
}

/// `orgs.csv` as the body: the whole tree (one root, the platform's root if it has one).
pub async fn put_orgs(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> ApiResult<Json<serde_json::Value>> {
    let dir = spool(&app, body).await?;
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let n = app
        .blocking(move || {
            let path = dir.path().join("upload.csv");
            let mut report = ingest::ValidationReport::default();
            let Some(tree) = ingest::load_orgs(&path, &mut report) else {
                return Err(rejected("orgs.csv", &report));
            };
            if !report.is_empty() {
                return Err(rejected("orgs.csv", &report));
            }
            let root = &tree.org(tree.root()).code;
            if let Some(current) = store.orgs()?.into_iter().find(|o| o.depth == 0) {
                if &current.code != root {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_file",
                        format!(
                            "the file's root org is {root} but the platform's is {}: one group per platform",
                            current.code
                        ),
                    ));
                }
            }
            let (orgs, _) = crate::load::read_reference_orgs(&path)?;
            store.upsert_reference(&actor, &orgs, &[])?;
            Ok(orgs.len())
        })
        .await?;
    // Monitoring follows the new org tree and facilities without a restart.
    let app2 = app.clone();
    app.blocking(move || {
        crate::monitoring::reload_after_change(&app2);
        Ok(())
    })
    .await?;
    Ok(Json(serde_json::json!({"orgs": n})))
}

/// `facilities.csv` as the body, checked against the platform's org tree.
pub async fn put_facilities(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> ApiResult<Json<serde_json::Value>> {
    let dir = spool(&app, body).await?;
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let n = app
        .blocking(move || {
            let orgs_path = dir.path().join("orgs.csv");
            write_orgs(&store, &orgs_path)?;
            let mut report = ingest::ValidationReport::default();
            let tree = ingest::load_orgs(&orgs_path, &mut report);
            let path = dir.path().join("upload.csv");
            let facilities = ingest::load_facilities(&path, tree.as_ref(), &mut report);
            if facilities.is_none() || !report.is_empty() {
                return Err(rejected("facilities.csv", &report));
            }
            let records = crate::load::read_reference_facilities(&path)?;
            store.upsert_reference(&actor, &[], &records)?;
            Ok(records.len())
        })
        .await?;
    // Monitoring follows the new org tree and facilities without a restart.
    let app2 = app.clone();
    app.blocking(move || {
        crate::monitoring::reload_after_change(&app2);
        Ok(())
    })
    .await?;
    Ok(Json(serde_json::json!({"facilities": n})))
}
