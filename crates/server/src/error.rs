//! API errors: JSON `{"error": {"code": "...", "message": "..."}}` with a stable code (documented in
//! docs/platform.md) and an HTTP status that follows from it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra structured detail (e.g. every rejected row).
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), detail: None }
    }
    /// 422 with every problem of `what` in `detail` (a list of strings) and the first five in the message.
    pub fn problems(code: &'static str, what: &str, errors: Vec<String>) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!(
                "{} problem(s) in {what}: {}",
                errors.len(),
                errors.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ),
        );
        e.detail = Some(serde_json::json!(errors));
        e
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in first: POST /api/v1/auth/login, then send `Authorization: Bearer TOKEN` or the session cookie",
        )
    }
    pub fn forbidden_role(role: &str, need: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("the role {role} may not {need}"))
    }
    pub fn out_of_scope(what: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "out_of_scope", format!("{what} is outside your organisation's subtree"))
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(format!("not found: {m}")),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            StoreError::Database(m) => {
                tracing::error!(error = %m, "database error");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database", format!("database error: {m}"))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        if let Some(d) = self.detail {
            body["error"]["detail"] = d;
        }
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Middleware: answers that axum itself produced (a body that is not JSON: an unknown route, a
/// wrong method, a request body or query that does not parse) become JSON errors with a code too.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("no_route", "no such route: see /api/v1/openapi.json".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not take that method".to_string()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", text),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", text),
        s if s.is_client_error() => ("bad_request", text),
        _ => ("internal", text),
    };
    ApiError::new(status, code, message).into_response()
}
