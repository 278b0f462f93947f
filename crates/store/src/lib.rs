//! Store: the platform's persistence. [`Store`] holds every domain operation (reference data,
//! users and tokens, filings with versions and quarantine, factor sets, inventory snapshots, the
//! hash-chained audit log), written once against the [`Backend`] trait; [`sqlite::Sqlite`] (the
//! embedded default) and [`postgres::Postgres`] (production) implement it. No HTTP here.
//!
//! Rules kept here: activity of an approved filing is never changed (a restatement is a new
//! version with a reason); every change appends an audit entry in the same transaction; the audit
//! entries form a SHA-256 chain, so editing history is detectable ([`Store::verify_audit`]), and
//! carry an HMAC under a key kept outside the database ([`audit::AuditKey`]), so the chain cannot
//! be recomputed by whoever can write the database. [`datadir`]: private modes and whole backups.

pub mod attributes;
pub mod audit;
pub mod backend;
pub mod cluster;
pub mod datadir;
pub mod documents;
pub mod filings;
pub mod inclusive;
pub mod market;
pub mod migrations;
pub mod postgres;
pub mod reference;
pub mod reports;
pub mod snapshots;
pub mod sqlite;
pub mod supply;
pub mod testing;
pub mod users;

pub use backend::{Backend, Conn, Kind, Row, Value};

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The platform's database, behind either backend.
pub struct Store {
    backend: Box<dyn Backend>,
    /// The key the audit entries' MACs are made and checked with (kept outside the database).
    audit_key: Option<audit::AuditKey>,
}

impl Store {
    /// Opens the embedded database `dir/dualcarbon.sqlite3` (creating `dir` and the file on first
    /// start) and applies pending migrations.
    pub fn open_sqlite_dir(dir: &Path) -> Result<Store> {
        datadir::create_dir(dir)?;
        Self::open_sqlite(&dir.join(SQLITE_FILE))
    }

    /// Opens (or creates, mode 0600) the SQLite database `file`; its journal files take its mode.
    pub fn open_sqlite(file: &Path) -> Result<Store> {
        if !file.exists() {
            let _ = datadir::create_new_private(file);
        }
        datadir::secure_file(file);
        let s = Store { backend: Box::new(sqlite::Sqlite::open(file)?), audit_key: None };
        s.migrate()?;
        Ok(s)
    }

    /// Connects to PostgreSQL and applies pending migrations.
    pub fn open_postgres(url: &str) -> Result<Store> {
        let s = Store { backend: Box::new(postgres::Postgres::connect(url)?), audit_key: None };
        s.migrate()?;
        Ok(s)
    }

    /// `postgres://...` or `postgresql://...` selects PostgreSQL; anything else is an error.
    pub fn open_url(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url)
        } else {
            Err(StoreError::Invalid(format!("unsupported database URL {url:?}: expected postgres://...")))
        }
    }

    /// This store makes and checks the audit entries' MACs with `key` (see [`audit`]); call
    /// [`Store::seal_audit`] next when the platform starts.
    pub fn with_audit_key(mut self, key: audit::AuditKey) -> Store {
        self.audit_key = Some(key);
        self
    }

    pub fn audit_key(&self) -> Option<&audit::AuditKey> {
        self.audit_key.as_ref()
    }

    pub fn kind(&self) -> Kind {
        self.backend.kind()
    }

    /// The PostgreSQL server's URL (`None` on SQLite).
    pub fn postgres_url(&self) -> Option<&str> {
        self.backend.url()
    }

    /// Runs `f` on a connection without a transaction (reads).
    pub fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.run(false, f)
    }

    fn run<T>(&self, write: bool, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        let key = self.audit_key.as_ref();
        self.backend.with_conn(write, &mut |c| {
            let f = f.take().expect("connection callback runs once");
            out = Some(f(&mut backend::Keyed { inner: c, key })?);
            Ok(())
        })?;
        Ok(out.expect("callback produced a value"))
    }

    /// Runs `f` in one write transaction: all of it is committed, or none.
    pub fn tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let begin = self.backend.begin_sql();
        self.run(true, |c| {
            c.batch(begin)?;
            match f(c) {
                Ok(v) => {
                    c.batch("COMMIT")?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = c.batch("ROLLBACK");
                    Err(e)
                }
            }
        })
    }

    /// Copies the embedded database to `dest` with `VACUUM INTO`: a consistent, compacted copy
    /// taken while the platform keeps serving. PostgreSQL is backed up with its own tools.
    pub fn backup_sqlite(&self, dest: &Path) -> Result<()> {
        if self.kind() != Kind::Sqlite {
            return Err(StoreError::Invalid(
                "backup copies the embedded SQLite database; use pg_dump for PostgreSQL".into(),
            ));
        }
        if dest.exists() {
            return Err(StoreError::Invalid(format!("{} exists already; choose a new file", dest.display())));
        }
        let target = dest.to_str().ok_or_else(|| StoreError::Invalid("backup path is not UTF-8".into()))?;
        self.run(true, |c| c.batch(&format!("VACUUM INTO '{}'", target.replace('\'', "''"))))
    }
}

/// Replaces the embedded database in `data_dir` by the backup file `from` after checking that the
/// backup is a sound DualCarbon database (integrity check, migrations table) whose audit chain is
/// intact (with its MACs when `key` is given); otherwise nothing changes and the error says why.
/// The platform must be stopped. The database being replaced is kept beside it as `*.before-restore`.
pub fn restore_sqlite(from: &Path, data_dir: &Path, key: Option<&audit::AuditKey>) -> Result<audit::Verification> {
    let (_, verification) = stage_sqlite(from, data_dir, key)?;
    install_staged(data_dir)?;
    Ok(verification)
}

fn staged_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(format!("{SQLITE_FILE}.restoring"))
}

pub(crate) fn discard_staged(data_dir: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("{SQLITE_FILE}.restoring{suffix}")));
    }
}

/// Copies the backup `from` into `data_dir` as `*.restoring` and checks it (the backup itself
/// stays untouched: opening a database may change its journal mode). A backup that fails a check
/// is removed again and the error names every problem of its audit log.
pub(crate) fn stage_sqlite(
    from: &Path,
    data_dir: &Path,
    key: Option<&audit::AuditKey>,
) -> Result<(std::path::PathBuf, audit::Verification)> {
    datadir::create_dir(data_dir)?;
    let staged = staged_path(data_dir);
    discard_staged(data_dir);
    std::fs::copy(from, &staged)
        .map_err(|e| StoreError::Invalid(format!("cannot read the backup {}: {e}", from.display())))?;
    datadir::secure_file(&staged);
    let verification = (|| {
        let check = Store { backend: Box::new(sqlite::Sqlite::open(&staged)?), audit_key: key.cloned() };
        let ok = check.read(|c| c.query("PRAGMA integrity_check", &[]))?;
        if ok.first().map(|r| r.text(0)).as_deref() != Some("ok") {
            return Err(StoreError::Invalid(format!("{} fails SQLite's integrity check", from.display())));
        }
        let version = check.read(|c| c.query("SELECT MAX(version) FROM schema_migrations", &[])).map_err(|_| {
            StoreError::Invalid(format!("{} is not a DualCarbon database (no schema_migrations)", from.display()))
        })?;
        if version.first().and_then(|r| r.opt_int(0)).unwrap_or(0) > migrations::MIGRATIONS.len() as i64 {
            return Err(StoreError::Invalid("the backup comes from a newer DualCarbon; upgrade first".into()));
        }
        // The check opened (and so migrated) the staged copy: the chain is verified as it would run.
        let v = check.verify_audit()?;
        if !v.ok {
            return Err(StoreError::Invalid(format!(
                "refusing to restore {}: its audit log is broken ({} problem(s) in {} entries): {}",
                from.display(),
                v.problems.len(),
                v.entries,
                v.problems.join("; ")
            )));
        }
        Ok(v)
    })();
    match verification {
        Ok(v) => Ok((staged, v)),
        Err(e) => {
            discard_staged(data_dir);
            Err(e)
        }
    }
}

/// Swaps the staged database in; the replaced one keeps its write-ahead log beside it, so nothing
/// it held is lost.
pub(crate) fn install_staged(data_dir: &Path) -> Result<()> {
    let io = |e: std::io::Error| StoreError::Database(e.to_string());
    for suffix in ["", "-wal", "-shm"] {
        let live = data_dir.join(format!("{SQLITE_FILE}{suffix}"));
        if live.exists() {
            std::fs::rename(&live, data_dir.join(format!("{SQLITE_FILE}.before-restore{suffix}"))).map_err(io)?;
        }
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("{SQLITE_FILE}.restoring{suffix}")));
    }
    std::fs::rename(staged_path(data_dir), data_dir.join(SQLITE_FILE)).map_err(io)?;
    Ok(())
}

/// The file name of the embedded database inside the data directory.
pub const SQLITE_FILE: &str = "dualcarbon.sqlite3";

/// Now, as RFC 3339 UTC text with milliseconds (sortable as text).
pub fn now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format_time(d.as_secs() as i64, d.subsec_millis())
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (civil-from-days, proleptic Gregorian).
pub fn format_time(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A LIKE pattern matching every text that starts with `prefix` (used with `ESCAPE '\\'`): codes
/// may contain `_` or `%`, which must not widen an org subtree.
pub fn like_prefix(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 1);
    for ch in prefix.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_known_instants() {
        assert_eq!(super::format_time(0, 0), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T12:34:56Z, a leap day.
        assert_eq!(super::format_time(1_709_210_096, 7), "2024-02-29T12:34:56.007Z");
        assert_eq!(super::format_time(951_782_400, 0), "2000-02-29T00:00:00.000Z");
    }
}
