//! The application layer's errors: a stable code (documented in docs/platform.md), a message, an
//! optional structured detail, and a [`Kind`] that says what went wrong in terms any front end can
//! map (the HTTP server maps each kind to a status; the command line prints the message).

use store::StoreError;

/// What kind of failure an error is; the server maps each to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request itself is malformed or names an impossible value (400).
    BadRequest,
    /// The caller may not do this (403).
    Forbidden,
    /// What the request names does not exist (404).
    NotFound,
    /// The request conflicts with the current state (409).
    Conflict,
    /// More data than the platform takes (413).
    TooLarge,
    /// The content is understood but invalid (422).
    Invalid,
    /// Too many requests or a queue is full (429).
    TooMany,
    /// A bug or an unexpected IO failure (500).
    Internal,
    /// A dependency (the database, monitoring) is not available (503).
    Unavailable,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub code: &'static str,
    pub message: String,
    /// Extra structured detail (e.g. every rejected row).
    pub detail: Option<serde_json::Value>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Error {
        Error { kind, code, message: message.into(), detail: None }
    }
    /// With structured detail.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Error {
        self.detail = Some(detail);
        self
    }
    /// 422 with every problem of `what` in `detail` (a list of strings) and the first five in the message.
    pub fn problems(code: &'static str, what: &str, errors: Vec<String>) -> Error {
        Error::new(
            Kind::Invalid,
            code,
            format!(
                "{} problem(s) in {what}: {}",
                errors.len(),
                errors.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ),
        )
        .with_detail(serde_json::json!(errors))
    }
    /// 422 with a code and a structured detail.
    pub fn invalid(code: &'static str, message: impl Into<String>, detail: serde_json::Value) -> Error {
        Error::new(Kind::Invalid, code, message).with_detail(detail)
    }
    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new(Kind::BadRequest, "bad_request", message)
    }
    pub fn not_found(what: impl Into<String>) -> Error {
        Error::new(Kind::NotFound, "not_found", what)
    }
    pub fn out_of_scope(what: &str) -> Error {
        Error::new(Kind::Forbidden, "out_of_scope", format!("{what} is outside your organisation's subtree"))
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(Kind::Internal, "internal", message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound(m) => Error::not_found(format!("not found: {m}")),
            StoreError::Conflict(m) => Error::new(Kind::Conflict, "conflict", m),
            StoreError::Invalid(m) => Error::new(Kind::Invalid, "invalid", m),
            // The database's own message stays in the server's log (the server's `public`).
            StoreError::Database(m) => Error::new(Kind::Unavailable, "database", m),
        }
    }
}

/// A short random id that ties a client's error to the platform's log line.
fn reference_id() -> String {
    use rand_core::RngCore;
    let mut b = [0u8; 6];
    rand_core::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether an error with this code is the platform's own business (internal and database errors):
/// its message can name files of the data directory or carry the database's own words.
pub fn is_internal_code(code: &str) -> bool {
    matches!(code, "internal" | "database")
}

/// What a client may see of an internal or database error: the error is logged here in full with a
/// new reference id, and the client gets a generic message naming that id. `None` for other codes
/// (they are shown as they are). Returns (message, reference).
pub fn conceal(code: &str, status: u16, message: &str, detail: Option<&serde_json::Value>) -> Option<(String, String)> {
    if !is_internal_code(code) {
        return None;
    }
    let reference = reference_id();
    tracing::error!(reference = %reference, code, status, error = %message, detail = ?detail, "request failed");
    let shown = match code {
        "database" => format!(
            "the database could not complete the request (reference {reference}); the details are in the server's log"
        ),
        _ => format!("internal error (reference {reference}); the details are in the server's log"),
    };
    Some((shown, reference))
}

impl Error {
    /// The error as a client may see it (see [`conceal`]), with its reference when it was concealed.
    pub fn public(self) -> (Error, Option<String>) {
        match conceal(self.code, 0, &self.message, self.detail.as_ref()) {
            None => (self, None),
            Some((message, reference)) => {
                (Error { kind: self.kind, code: self.code, message, detail: None }, Some(reference))
            }
        }
    }
}
