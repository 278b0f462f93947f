//! The platform's data directory on disk: private modes (directories 0700, files 0600: it holds
//! the database, the reading log, the audit key and uploads in the spool), and whole backups.
//!
//! A backup is a directory: the database (`dualcarbon.sqlite3`, a consistent copy), every other
//! file of the data directory under `files/` (the reading log, meters.csv, targets, indicator data,
//! alert rules, console aggregates, ...), and `MANIFEST.json` with the SHA-256 of each. Left out:
//! the spool (uploads in flight), the audit key (a backup holding its key could be rewritten by
//! whoever holds the backup) and what an earlier restore set aside.

use crate::audit::{AuditKey, Verification};
use crate::{Result, Store, StoreError, SQLITE_FILE};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The audit key's file name inside the data directory (when no other file is given).
pub const AUDIT_KEY_FILE: &str = "audit.key";
/// The manifest of a backup directory.
pub const MANIFEST: &str = "MANIFEST.json";
const FORMAT: &str = "dualcarbon-backup/1";

fn io(what: &str, p: &Path) -> impl Fn(std::io::Error) -> StoreError {
    let (what, p) = (what.to_string(), p.display().to_string());
    move |e| StoreError::Database(format!("{what} {p}: {e}"))
}

/// Creates `dir` and its missing parents with mode 0700 (an existing one is tightened).
pub fn create_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("cannot create directory", dir))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(io("cannot create directory", dir))?;
    secure_dir(dir);
    Ok(())
}

/// Creates a new file that only its owner may read or write (fails if it exists).
pub fn create_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_symlink() && m.permissions().mode() & 0o777 != mode {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// Mode 0600 for a file.
pub fn secure_file(path: &Path) {
    set_mode(path, 0o600);
}

/// Mode 0700 for a directory.
pub fn secure_dir(path: &Path) {
    set_mode(path, 0o700);
}

/// Tightens a whole data directory (or backup): every directory 0700, every file 0600. Symbolic
/// links are not followed.
pub fn secure_tree(root: &Path) {
    let Ok(m) = std::fs::symlink_metadata(root) else { return };
    if m.is_dir() {
        secure_dir(root);
        if let Ok(rd) = std::fs::read_dir(root) {
            for e in rd.flatten() {
                secure_tree(&e.path());
            }
        }
    } else if m.is_file() {
        secure_file(root);
    }
}

/// Whether a top-level name of the data directory stays out of backups and restores.
fn excluded(name: &str) -> bool {
    name.starts_with(SQLITE_FILE) || name == "spool" || name == AUDIT_KEY_FILE || name.starts_with("before-restore")
}

/// Every regular file under `root` worth backing up, as paths relative to `root`.
fn platform_files(root: &Path) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io("cannot read", dir))?.flatten().collect::<Vec<_>>();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            if rel.as_os_str().is_empty() && excluded(&name.to_string_lossy()) {
                continue;
            }
            let Ok(t) = e.file_type() else { continue };
            let r = rel.join(&name);
            if t.is_dir() {
                walk(&e.path(), &r, out)?;
            } else if t.is_file() {
                out.push(r);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if root.is_dir() {
        walk(root, Path::new(""), &mut out)?;
    }
    Ok(out)
}

fn sha256_file(path: &Path) -> Result<(String, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(io("cannot read", path))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io("cannot read", path))?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((h.finalize().iter().map(|b| format!("{b:02x}")).collect(), n))
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackedUpFile {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a backup holds (`MANIFEST.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created_at: String,
    pub database: BackedUpFile,
    pub files: Vec<BackedUpFile>,
    /// The audit head when the backup was taken (an anchor the restore can be checked against).
    pub audit_head: crate::audit::Head,
}

/// Backs up the platform whose database is `store` (the embedded SQLite of `data_dir`) and whose
/// files are in `data_dir` into the new directory `out`. Safe while the platform runs: the database
/// copy is consistent; a reading log's last frame may be cut, which its open repairs.
pub fn backup(store: &Store, data_dir: &Path, out: &Path) -> Result<Manifest> {
    if out.exists() {
        return Err(StoreError::Invalid(format!("{} exists already; choose a new path", out.display())));
    }
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let out_parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if abs(out_parent).starts_with(abs(data_dir)) {
        return Err(StoreError::Invalid("write the backup outside the data directory".into()));
    }
    create_dir(out)?;
    let result = (|| {
        let head = store.audit_head()?;
        let db = out.join(SQLITE_FILE);
        store.backup_sqlite(&db)?;
        secure_file(&db);
        let (sha, bytes) = sha256_file(&db)?;
        let mut files = Vec::new();
        for rel in platform_files(data_dir)? {
            let to = out.join("files").join(&rel);
            if let Some(d) = to.parent() {
                create_dir(d)?;
            }
            std::fs::copy(data_dir.join(&rel), &to).map_err(io("cannot copy", &rel))?;
            secure_file(&to);
            let (sha256, bytes) = sha256_file(&to)?;
            let path = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            files.push(BackedUpFile { path, bytes, sha256 });
        }
        let m = Manifest {
            format: FORMAT.into(),
            created_at: crate::now(),
            database: BackedUpFile { path: SQLITE_FILE.into(), bytes, sha256: sha },
            files,
            audit_head: head,
        };
        let text = serde_json::to_string_pretty(&m).map_err(|e| StoreError::Database(e.to_string()))?;
        let mpath = out.join(MANIFEST);
        let mut f = create_new_private(&mpath).map_err(io("cannot write", &mpath))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io("cannot write", &mpath))?;
        f.sync_all().map_err(io("cannot write", &mpath))?;
        Ok(m)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(out);
    }
    result
}

/// What a restore installed.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub verification: Verification,
    /// Platform files put back (none for a backup that is a database file alone).
    pub files: usize,
    /// Where the replaced files were moved (inside the data directory), if any.
    pub set_aside: Option<PathBuf>,
}

fn rel_path(p: &str) -> Result<PathBuf> {
    let rel = PathBuf::from(p);
    let ok = !p.is_empty()
        && rel.components().all(|c| matches!(c, std::path::Component::Normal(_)))
        && rel.components().next().is_some_and(|c| !excluded(&c.as_os_str().to_string_lossy()));
    if ok {
        Ok(rel)
    } else {
        Err(StoreError::Invalid(format!("the backup's manifest names a file outside what a backup holds: {p:?}")))
    }
}

/// Restores a backup into `data_dir` (the platform must be stopped): a backup directory (database
/// and platform files) or a database file alone (backups of earlier versions). Everything is
/// checked first: the manifest's hashes, SQLite's integrity, the schema, and the audit chain (with
/// its MACs when `key` is given); on any problem nothing in `data_dir` changes and the error says
/// why. The replaced database is kept beside it as `*.before-restore`, replaced files in
/// `before-restore-<time>/`.
pub fn restore(from: &Path, data_dir: &Path, key: Option<&AuditKey>) -> Result<Restored> {
    if !from.is_dir() {
        let verification = crate::restore_sqlite(from, data_dir, key)?;
        return Ok(Restored { verification, files: 0, set_aside: None });
    }
    let mpath = from.join(MANIFEST);
    let text = std::fs::read_to_string(&mpath)
        .map_err(|_| StoreError::Invalid(format!("{} is not a DualCarbon backup (no {MANIFEST})", from.display())))?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| StoreError::Invalid(format!("{} is not a DualCarbon backup manifest: {e}", mpath.display())))?;
    if m.format != FORMAT {
        return Err(StoreError::Invalid(format!("unknown backup format {:?} (this version reads {FORMAT})", m.format)));
    }
    let check = |f: &BackedUpFile, p: &Path| -> Result<()> {
        let (sha, bytes) = sha256_file(p)
            .map_err(|_| StoreError::Invalid(format!("the backup lacks {} (named in its manifest)", f.path)))?;
        if sha != f.sha256 || bytes != f.bytes {
            return Err(StoreError::Invalid(format!(
                "{} differs from the backup's manifest (changed after the backup was taken)",
                f.path
            )));
        }
        Ok(())
    };
    check(&m.database, &from.join(SQLITE_FILE))?;
    let mut files = Vec::new();
    for f in &m.files {
        let rel = rel_path(&f.path)?;
        check(f, &from.join("files").join(&rel))?;
        files.push(rel);
    }
    let (staged, verification) = crate::stage_sqlite(&from.join(SQLITE_FILE), data_dir, key)?;
    if verification.head.seq < m.audit_head.seq || (m.audit_head.seq > 0 && verification.head.hash != m.audit_head.hash)
    {
        crate::discard_staged(data_dir);
        return Err(StoreError::Invalid(format!(
            "the backup's database does not end at the audit head its manifest names ({})",
            m.audit_head.anchor()
        )));
    }
    let _ = staged;
    // Checked: now set the current platform files aside and put the backup's in place.
    let current = platform_files(data_dir)?;
    let set_aside = if current.is_empty() {
        None
    } else {
        let stamp: String = crate::now().chars().filter(char::is_ascii_digit).collect();
        let aside = data_dir.join(format!("before-restore-{stamp}"));
        create_dir(&aside)?;
        let mut tops: Vec<PathBuf> =
            current.iter().filter_map(|p| p.components().next()).map(|c| c.as_os_str().into()).collect();
        tops.dedup();
        for top in tops {
            std::fs::rename(data_dir.join(&top), aside.join(&top)).map_err(io("cannot move aside", &top))?;
        }
        Some(aside)
    };
    for rel in &files {
        let to = data_dir.join(rel);
        if let Some(d) = to.parent() {
            create_dir(d)?;
        }
        std::fs::copy(from.join("files").join(rel), &to).map_err(io("cannot restore", rel))?;
        secure_file(&to);
    }
    crate::install_staged(data_dir)?;
    Ok(Restored { verification, files: files.len(), set_aside })
}
