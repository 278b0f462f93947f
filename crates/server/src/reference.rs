//! Reference data over the API: the org tree (`orgs.csv`) and facilities (`facilities.csv`), in
//! the formats of docs/formats.md, validated by `ingest` with every problem reported at once.
//! Codes already known are updated, new ones added; nothing is deleted (filings refer to them).

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::State;
use axum::{Extension, Json};
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

async fn spool(app: &App, body: Body) -> ApiResult<tempfile::TempDir> {
    tokio::fs::create_dir_all(&app.spool_dir).await.map_err(|e| ApiError::internal(format!("spool dir: {e}")))?;
    let dir = tempfile::tempdir_in(&app.spool_dir).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut file =
        tokio::fs::File::create(dir.path().join("upload.csv")).await.map_err(|e| ApiError::internal(e.to_string()))?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(crate::error::body_read_error)?;
        file.write_all(&chunk).await.map_err(|e| ApiError::internal(e.to_string()))?;
    }
    file.flush().await.map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(dir)
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
        .blocking(move || Ok(platform::reference::import_orgs(&store, &actor, &dir.path().join("upload.csv"))?))
        .await?;
    // Monitoring follows the new org tree and facilities without a restart.
    let platform = app.platform.clone();
    app.blocking(move || {
        platform::monitoring::reload_after_change(&platform);
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
    let n = app.blocking(move || Ok(platform::reference::import_facilities(&store, &actor, dir.path())?)).await?;
    // Monitoring follows the new org tree and facilities without a restart.
    let platform = app.platform.clone();
    app.blocking(move || {
        platform::monitoring::reload_after_change(&platform);
        Ok(())
    })
    .await?;
    Ok(Json(serde_json::json!({"facilities": n})))
}
