//! The PostgreSQL backend (production): a small fixed pool of synchronous clients. The server calls
//! the store from blocking worker threads, so the synchronous client is enough and compiles light.

use crate::backend::{Backend, Conn, Kind, Row, Value};
use crate::StoreError;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub struct Postgres {
    pool: Vec<Mutex<Session>>,
    next: AtomicUsize,
    /// Where it connects: a client whose connection broke (server restarted, network cut) is
    /// connected again on its next use, so the platform recovers without a restart.
    url: String,
}

/// A client with its prepared statements, so that a repeated query (an import's batch insert,
/// a dashboard read) is parsed and planned once per connection.
struct Session {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// Prepared statements kept per connection at most (the cache is cleared when full).
const STATEMENT_CACHE: usize = 256;

const POOL: usize = 8;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(t) => match *ty {
                Type::INT8 => t.parse::<i64>()?.to_sql(ty, out),
                _ => t.as_str().to_sql(ty, out),
            },
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

fn err(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        if db.code().code().starts_with("23") {
            // The database's words (constraint and column names) are not for clients.
            return StoreError::Conflict(crate::sqlite::CONSTRAINT_CONFLICT.into());
        }
        return StoreError::Database(format!("{}: {}", db.code().code(), db.message()));
    }
    StoreError::Database(e.to_string())
}

impl Postgres {
    /// Connects to `url` (`postgres://user:pass@host:port/db`).
    pub fn connect(url: &str) -> Result<Postgres, StoreError> {
        let pool = (0..POOL)
            .map(|_| {
                Client::connect(url, NoTls)
                    .map(|client| Mutex::new(Session { client, statements: HashMap::new() }))
                    .map_err(err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Postgres { pool, next: AtomicUsize::new(0), url: url.to_string() })
    }

    /// `f` on `s`, connected again first when its connection broke (a failed reconnection is a
    /// database error: 503 to an HTTP client, nothing acknowledged).
    fn on(
        &self,
        s: &mut Session,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if s.client.is_closed() {
            let client = Client::connect(&self.url, NoTls)
                .map_err(|e| StoreError::Database(format!("PostgreSQL is unavailable: {e}")))?;
            *s = Session { client, statements: HashMap::new() };
        }
        f(&mut PgConn(s))
    }
}

struct PgConn<'a>(&'a mut Session);

impl PgConn<'_> {
    fn prepare(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(st) = self.0.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.0.client.prepare(sql).map_err(err)?;
        if self.0.statements.len() >= STATEMENT_CACHE {
            self.0.statements.clear();
        }
        self.0.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

fn params(p: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn<'_> {
    fn exec(&mut self, sql: &str, p: &[Value]) -> Result<u64, StoreError> {
        let st = self.prepare(sql)?;
        self.0.client.execute(&st, &params(p)).map_err(err)
    }
    fn query(&mut self, sql: &str, p: &[Value]) -> Result<Vec<Row>, StoreError> {
        let st = self.prepare(sql)?;
        let rows = self.0.client.query(&st, &params(p)).map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut v = Vec::with_capacity(r.len());
            for (i, c) in r.columns().iter().enumerate() {
                v.push(match *c.type_() {
                    Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(err)?.map_or(Value::Null, Value::Int),
                    Type::INT4 => {
                        r.try_get::<_, Option<i32>>(i).map_err(err)?.map_or(Value::Null, |x| Value::Int(x.into()))
                    }
                    Type::INT2 => {
                        r.try_get::<_, Option<i16>>(i).map_err(err)?.map_or(Value::Null, |x| Value::Int(x.into()))
                    }
                    Type::BOOL => {
                        r.try_get::<_, Option<bool>>(i).map_err(err)?.map_or(Value::Null, |x| Value::Int(x.into()))
                    }
                    _ => r.try_get::<_, Option<String>>(i).map_err(err)?.map_or(Value::Null, Value::Text),
                });
            }
            out.push(Row(v));
        }
        Ok(out)
    }
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.client.batch_execute(sql).map_err(err)
    }
}

impl Backend for Postgres {
    fn kind(&self) -> Kind {
        Kind::Postgres
    }
    fn with_conn(
        &self,
        _write: bool,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Try every client once without waiting, then wait for the next in turn.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..self.pool.len() {
            if let Ok(mut c) = self.pool[(start + k) % self.pool.len()].try_lock() {
                return self.on(&mut c, f);
            }
        }
        let mut c = self.pool[start % self.pool.len()]
            .lock()
            .map_err(|_| StoreError::Database("connection lock poisoned".into()))?;
        self.on(&mut c, f)
    }
    fn begin_sql(&self) -> &'static str {
        "BEGIN"
    }
    fn serial_pk(&self) -> &'static str {
        "BIGSERIAL PRIMARY KEY"
    }
    fn url(&self) -> Option<&str> {
        Some(&self.url)
    }
}
