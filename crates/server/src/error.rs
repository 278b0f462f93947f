//! API errors: JSON `{"error": {"code": "...", "message": "..."}}` with a stable code (documented in
//! docs/platform.md) and an HTTP status that follows from it.
//!
//! Internal and database errors never reach a client as they are (they can name files of the data
//! directory or carry the database's own messages): they are logged in full with a reference id,
//! and the client gets a generic message with that id (`"reference"`), see [`ApiError::public`].

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
        platform::Error::from(e).into()
    }
}

impl ApiError {
    /// Whether the message is the server's own business (internal and database errors).
    pub fn is_internal(&self) -> bool {
        platform::error::is_internal_code(self.code)
    }

    /// The error as a client may see it: an internal or database error is logged here in full
    /// with a new reference id and becomes a generic message naming that id (the message, detail
    /// and the database's words stay in the log; `platform::error::conceal`). Other errors are
    /// returned as they are. The reference, when there is one, is the second value.
    pub fn public(self) -> (ApiError, Option<String>) {
        match platform::error::conceal(self.code, self.status.as_u16(), &self.message, self.detail.as_ref()) {
            None => (self, None),
            Some((message, reference)) => {
                (ApiError { status: self.status, code: self.code, message, detail: None }, Some(reference))
            }
        }
    }
}

/// A platform error as an HTTP error: each kind has one status.
impl From<platform::Error> for ApiError {
    fn from(e: platform::Error) -> ApiError {
        use platform::Kind;
        let status = match e.kind {
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError { status, code: e.code, message: e.message, detail: e.detail }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (e, reference) = self.public();
        let mut body = serde_json::json!({"error": {"code": e.code, "message": e.message}});
        if let Some(d) = e.detail {
            body["error"]["detail"] = d;
        }
        if let Some(r) = reference {
            body["error"]["reference"] = serde_json::json!(r);
        }
        (e.status, axum::Json(body)).into_response()
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

/// Whether an error met while reading a body is the route's limit (see `transport::limit_body`).
pub fn is_limit_error(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The error for a body whose reading failed: 413 at the route's limit, else 400.
pub fn body_read_error(e: axum::Error) -> ApiError {
    if is_limit_error(&e) {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than this route's limit",
        )
    } else {
        ApiError::bad_request(format!("reading the request body: {e}"))
    }
}
