//! The embedded SQLite backend: one writer connection and a few readers on a WAL database, so that
//! dashboard reads never wait for an import.

use crate::backend::{Backend, Conn, Kind, Row, Value};
use crate::StoreError;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub struct Sqlite {
    path: PathBuf,
    /// Fair: writers are served in the order they came, so a long import that writes in short
    /// transactions lets a login or an approval in between instead of starving it.
    writer: parking_lot::FairMutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Checkpoints the WAL into the database file beside the writer (dropped with the store).
    _checkpointer: Checkpointer,
}

const READERS: usize = 4;
/// Statements each connection keeps prepared (rusqlite's default of 16 is fewer than one batch of
/// 碳普惠 events or one market commit uses with the audit log, so they were prepared again and again).
const STATEMENT_CACHE: usize = 256;
/// How often the checkpointer looks at the WAL.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies committed WAL frames into the database file on a thread of its own, so that no request
/// pays for a checkpoint (the copy and its fsync) inside its commit, as SQLite's automatic
/// checkpoint on the writing connection would make it (that was the p99 of write-heavy routes).
/// PASSIVE: it never blocks the writer or the readers, and SQLite restarts the WAL from its start
/// on the next write once everything is copied and no reader needs the old frames.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let c = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(CHECKPOINT_EVERY);
                    // A checkpoint that fails leaves the frames in the WAL, where readers find
                    // them and the next checkpoint copies them: nothing is lost by ignoring it.
                    let _ = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StoreError::Database(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

/// What a violated constraint (a duplicate key, a missing reference) is reported as, on both backends.
pub const CONSTRAINT_CONFLICT: &str =
    "the change conflicts with data stored already (a duplicate or a missing reference)";

fn err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            // The database's words (table and column names) are not for clients.
            return StoreError::Conflict(CONSTRAINT_CONFLICT.into());
        }
    }
    StoreError::Database(e.to_string())
}

/// `$1` parameters are the common spelling; SQLite reads them as `?1`.
fn translate(sql: &str) -> String {
    sql.replace('$', "?")
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let c = Connection::open_with_flags(path, flags).map_err(err)?;
    c.busy_timeout(std::time::Duration::from_secs(30)).map_err(err)?;
    c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;").map_err(err)?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(c)
}

impl Sqlite {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let writer = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
        // WAL lets readers see the last commit while a writer works.
        // A 64 MB page cache keeps the activity key index in memory during a large import.
        // Checkpoints run on the checkpointer's thread, not inside the writer's commits.
        writer
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0;")
            .map_err(err)?;
        let readers = (0..READERS)
            .map(|_| open(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            writer: parking_lot::FairMutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            _checkpointer: Checkpointer::start(path)?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies the live database into `dest` with SQLite's online backup (consistent while serving).
    pub fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        let src = self.writer.lock();
        src.backup(rusqlite::DatabaseName::Main, dest, None).map_err(err)
    }
}

struct SqliteConn<'a>(&'a Connection);

impl Conn for SqliteConn<'_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut st = self.0.prepare_cached(&translate(sql)).map_err(err)?;
        st.execute(rusqlite::params_from_iter(params.iter())).map(|n| n as u64).map_err(err)
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut st = self.0.prepare_cached(&translate(sql)).map_err(err)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter())).map_err(err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(match r.get_ref(i).map_err(err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(x) => Value::Int(x),
                    ValueRef::Real(x) => Value::Text(x.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                });
            }
            out.push(Row(v));
        }
        Ok(out)
    }
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(err)
    }
}

impl Backend for Sqlite {
    fn kind(&self) -> Kind {
        Kind::Sqlite
    }
    fn with_conn(
        &self,
        write: bool,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if write {
            let c = self.writer.lock();
            return f(&mut SqliteConn(&c));
        }
        let lock = &self.readers[self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len()];
        let c = lock.lock().map_err(|_| StoreError::Database("connection lock poisoned".into()))?;
        f(&mut SqliteConn(&c))
    }
    fn begin_sql(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }
    fn serial_pk(&self) -> &'static str {
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    }
}
