//! The storage trait: a minimal SQL connection interface that both backends implement, so that
//! every query of the platform is written once (in the common subset of SQLite and PostgreSQL SQL,
//! with `$1`-style parameters) and the same integration suite exercises both.

use crate::StoreError;

/// A parameter or a column value. Only integers and text cross the boundary: quantities are
/// stored as the decimal text that was filed (never as floats), times as RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub fn int(&self, i: usize) -> i64 {
        match &self.0[i] {
            Value::Int(v) => *v,
            Value::Text(t) => t.parse().unwrap_or(0),
            Value::Null => 0,
        }
    }
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match &self.0[i] {
            Value::Null => None,
            _ => Some(self.int(i)),
        }
    }
    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match &self.0[i] {
            Value::Text(t) => Some(t.clone()),
            Value::Int(v) => Some(v.to_string()),
            Value::Null => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// One database connection (inside a transaction when the caller began one).
pub trait Conn {
    /// Runs one statement; returns the number of rows changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs several statements without parameters (migrations, BEGIN/COMMIT).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// The audit key of the store this connection belongs to ([`crate::Store::with_audit_key`]):
    /// what [`crate::audit::append`] makes the entries' MACs with.
    fn audit_key(&self) -> Option<&crate::audit::AuditKey> {
        None
    }
}

/// A backend's connection seen through a store that holds an audit key.
pub(crate) struct Keyed<'a> {
    pub inner: &'a mut dyn Conn,
    pub key: Option<&'a crate::audit::AuditKey>,
}

impl Conn for Keyed<'_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        self.inner.exec(sql, params)
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        self.inner.query(sql, params)
    }
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.inner.batch(sql)
    }
    fn audit_key(&self) -> Option<&crate::audit::AuditKey> {
        self.key
    }
}

/// A database: hands out connections. Implemented by [`crate::sqlite::Sqlite`] and
/// [`crate::postgres::Postgres`].
pub trait Backend: Send + Sync {
    fn kind(&self) -> Kind;
    /// Runs `f` on a connection; `write` asks for the connection that may write (SQLite has one).
    fn with_conn(
        &self,
        write: bool,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// The statement that starts a write transaction.
    fn begin_sql(&self) -> &'static str;
    /// The column type of an auto-increment primary key.
    fn serial_pk(&self) -> &'static str;
    /// The server's URL (PostgreSQL), for a connection of its own (change notifications).
    fn url(&self) -> Option<&str> {
        None
    }
}
