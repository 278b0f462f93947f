//! An append-only, crash-safe reading log: a batch is acknowledged only after it is on disk
//! (`fdatasync`), and the log recovers after `kill -9` or power loss by dropping the torn tail.
//!
//! Layout: a directory of segment files `NNNNNNNN.seg`. Each file is a sequence of frames:
//!
//! ```text
//! magic "DCRL" (4) | kind (1) | reserved (3) | payload length (4, LE) | CRC-32 of kind+payload (4, LE) | payload
//! kind 1 (readings):   n × { meter u32 LE, ts_ms i64 LE, value f64 LE }   (20 bytes a reading)
//! kind 2 (meter code): meter u32 LE, UTF-8 code                          (defines a log meter id)
//! ```
//!
//! Meter ids in the log are the log's own (defined by kind-2 frames before first use), so a log
//! outlives changes to the registry's order. Concurrent writers share one fsync (group commit):
//! each appends its frames to a pending buffer, and one of them writes and syncs everything
//! pending while the others wait for their ticket to become durable.
//!
//! On open, every frame is checked. A bad or short frame at the end of the newest segment is a torn
//! write from a crash: it was never acknowledged, so it is cut off (and the cut is reported). A bad
//! frame anywhere else is corruption: opening fails, naming the file and offset; nothing is skipped.
//! The log is a plain directory so that the platform's store can own it (keep it beside its database
//! and replay it into its tables).

use crate::hub::Reading;
use crate::meter::MeterId;
use rustc_hash::FxHashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

const MAGIC: &[u8; 4] = b"DCRL";
const HEADER: usize = 16;
const KIND_READINGS: u8 = 1;
const KIND_METER: u8 = 2;
const READING_BYTES: usize = 20;
/// A new segment starts once the current one passes this size.
pub const SEGMENT_BYTES: u64 = 256 << 20;
/// Largest accepted frame payload; anything larger in a header is corruption.
const MAX_PAYLOAD: usize = 1 << 30;

/// What `open` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    pub batches: u64,
    pub readings: u64,
    /// Bytes of a torn final frame that were cut off (never acknowledged).
    pub truncated_bytes: u64,
}

struct Segment {
    file: File,
    number: u64,
    len: u64,
}

struct State {
    pending: Vec<u8>,
    next_ticket: u64,
    durable_ticket: u64,
    flushing: bool,
    failed: Option<String>,
    /// log meter id by code, and by the caller's meter id (cache, see `append`).
    ids: FxHashMap<String, u32>,
    by_caller: Vec<Option<u32>>,
    readings: u64,
}

pub struct ReadingLog {
    dir: PathBuf,
    state: Mutex<State>,
    durable: Condvar,
    segment: Mutex<Segment>,
    /// Each write is synced to disk before its batch is acknowledged (the default). Off when the
    /// log is a disposable copy of a durable log elsewhere (cluster mode: the JetStream stream).
    sync: std::sync::atomic::AtomicBool,
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:08}.seg"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn frame(buf: &mut Vec<u8>, kind: u8, payload_len: usize, write_payload: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&[kind, 0, 0, 0]);
    buf.extend_from_slice(&(payload_len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    write_payload(buf);
    debug_assert_eq!(buf.len() - start - HEADER, payload_len);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&buf[start + HEADER..]);
    buf[start + 12..start + 16].copy_from_slice(&crc.finalize().to_le_bytes());
}

impl ReadingLog {
    /// Opens (or creates) the log in `dir`, replaying every stored reading into `visit(code, ts_ms, value)`.
    pub fn open(dir: &Path, mut visit: impl FnMut(&str, i64, f64)) -> io::Result<(ReadingLog, Recovery)> {
        std::fs::create_dir_all(dir)?;
        let mut numbers: Vec<u64> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_suffix(".seg").and_then(|s| s.parse::<u64>().ok()) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        let mut rec = Recovery { segments: numbers.len(), ..Recovery::default() };
        let mut codes: Vec<Option<String>> = Vec::new();
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut buf = Vec::new();
        for (i, &n) in numbers.iter().enumerate() {
            let path = segment_path(dir, n);
            buf.clear();
            File::open(&path)?.read_to_end(&mut buf)?;
            let last = i + 1 == numbers.len();
            let mut at = 0usize;
            let bad = loop {
                if at == buf.len() {
                    break None;
                }
                if buf.len() - at < HEADER {
                    break Some("short frame header");
                }
                let h = &buf[at..at + HEADER];
                if &h[0..4] != MAGIC {
                    break Some("bad frame magic");
                }
                let kind = h[4];
                let len = u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize;
                let crc = u32::from_le_bytes(h[12..16].try_into().unwrap());
                if len > MAX_PAYLOAD || buf.len() - at - HEADER < len {
                    break Some("frame shorter than its header says");
                }
                let payload = &buf[at + HEADER..at + HEADER + len];
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(&[kind]);
                hasher.update(payload);
                if hasher.finalize() != crc {
                    break Some("frame checksum mismatch");
                }
                match kind {
                    KIND_READINGS if len.is_multiple_of(READING_BYTES) => {
                        for r in payload.chunks_exact(READING_BYTES) {
                            let meter = u32::from_le_bytes(r[0..4].try_into().unwrap());
                            let ts = i64::from_le_bytes(r[4..12].try_into().unwrap());
                            let value = f64::from_le_bytes(r[12..20].try_into().unwrap());
                            let Some(Some(code)) = codes.get(meter as usize) else {
                                return Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    format!(
                                        "{}: offset {at}: reading for undefined log meter id {meter}",
                                        path.display()
                                    ),
                                ));
                            };
                            visit(code, ts, value);
                        }
                        rec.batches += 1;
                        rec.readings += (len / READING_BYTES) as u64;
                    }
                    KIND_METER if len >= 4 => {
                        let id = u32::from_le_bytes(payload[0..4].try_into().unwrap());
                        let code = std::str::from_utf8(&payload[4..]).map_err(|_| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("{}: offset {at}: meter code is not UTF-8", path.display()),
                            )
                        })?;
                        if codes.len() <= id as usize {
                            codes.resize(id as usize + 1, None);
                        }
                        codes[id as usize] = Some(code.to_string());
                        ids.insert(code.to_string(), id);
                    }
                    _ => break Some("unknown frame kind"),
                }
                at += HEADER + len;
            };
            if let Some(reason) = bad {
                if !last {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: offset {at}: {reason} in a sealed segment: the log is corrupt", path.display()),
                    ));
                }
                // A torn tail: written but never acknowledged, because acknowledgement waits for the sync.
                rec.truncated_bytes = (buf.len() - at) as u64;
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(at as u64)?;
                f.sync_all()?;
            }
        }
        let number = numbers.last().copied().unwrap_or(1);
        let path = segment_path(dir, number);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        if numbers.is_empty() {
            sync_dir(dir)?;
            rec.segments = 1;
        }
        let state = State {
            pending: Vec::new(),
            next_ticket: 0,
            durable_ticket: 0,
            flushing: false,
            failed: None,
            ids,
            by_caller: Vec::new(),
            readings: rec.readings,
        };
        let log = ReadingLog {
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            durable: Condvar::new(),
            segment: Mutex::new(Segment { file, number, len }),
            sync: std::sync::atomic::AtomicBool::new(true),
        };
        Ok((log, rec))
    }

    /// Whether writes are synced to disk (see the field); on by default.
    pub fn set_sync(&self, on: bool) {
        self.sync.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Appends a batch and returns once it is durable. `code_of` names the caller's meter ids
    /// (the registry's); the mapping is cached, so a caller's ids must not change while the log is open.
    pub fn append(&self, readings: &[Reading], code_of: impl Fn(MeterId) -> String) -> io::Result<u64> {
        let mut st = self.state.lock().unwrap();
        if let Some(e) = &st.failed {
            return Err(io::Error::other(format!("the reading log stopped after a write error: {e}")));
        }
        let State { pending, ids, by_caller, .. } = &mut *st;
        let mut log_ids = Vec::with_capacity(readings.len());
        for r in readings {
            let caller = r.meter as usize;
            if by_caller.len() <= caller {
                by_caller.resize(caller + 1, None);
            }
            let id = match by_caller[caller] {
                Some(id) => id,
                None => {
                    let code = code_of(r.meter);
                    let id = match ids.get(&code) {
                        Some(&id) => id,
                        None => {
                            let id = ids.len() as u32;
                            ids.insert(code.clone(), id);
                            frame(pending, KIND_METER, 4 + code.len(), |b| {
                                b.extend_from_slice(&id.to_le_bytes());
                                b.extend_from_slice(code.as_bytes());
                            });
                            id
                        }
                    };
                    by_caller[caller] = Some(id);
                    id
                }
            };
            log_ids.push(id);
        }
        frame(pending, KIND_READINGS, readings.len() * READING_BYTES, |b| {
            for (r, id) in readings.iter().zip(&log_ids) {
                b.extend_from_slice(&id.to_le_bytes());
                b.extend_from_slice(&r.ts_ms.to_le_bytes());
                b.extend_from_slice(&r.value.to_le_bytes());
            }
        });
        st.readings += readings.len() as u64;
        st.next_ticket += 1;
        let ticket = st.next_ticket;
        loop {
            if st.durable_ticket >= ticket {
                return Ok(ticket);
            }
            if let Some(e) = &st.failed {
                return Err(io::Error::other(format!("the reading log stopped after a write error: {e}")));
            }
            if st.flushing {
                st = self.durable.wait(st).unwrap();
                continue;
            }
            // Lead a group commit: everything pending up to now goes in one write and one sync.
            st.flushing = true;
            let buf = std::mem::take(&mut st.pending);
            let upto = st.next_ticket;
            drop(st);
            let result = self.write_durably(&buf);
            st = self.state.lock().unwrap();
            st.flushing = false;
            match result {
                Ok(()) => st.durable_ticket = upto,
                Err(e) => st.failed = Some(e.to_string()),
            }
            self.durable.notify_all();
        }
    }

    fn write_durably(&self, buf: &[u8]) -> io::Result<()> {
        let mut seg = self.segment.lock().unwrap();
        seg.file.write_all(buf)?;
        if self.sync.load(std::sync::atomic::Ordering::SeqCst) {
            seg.file.sync_data()?;
        }
        seg.len += buf.len() as u64;
        if seg.len >= SEGMENT_BYTES {
            let number = seg.number + 1;
            let file = OpenOptions::new().create(true).append(true).open(segment_path(&self.dir, number))?;
            sync_dir(&self.dir)?;
            *seg = Segment { file, number, len: 0 };
        }
        Ok(())
    }

    /// Readings stored (recovered plus appended) since open.
    pub fn readings(&self) -> u64 {
        self.state.lock().unwrap().readings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(meter: u32, ts: i64, value: f64) -> Reading {
        Reading { meter, ts_ms: ts, value }
    }

    fn replay(dir: &Path) -> (Vec<(String, i64, f64)>, Recovery) {
        let mut got = Vec::new();
        let (_log, rec) = ReadingLog::open(dir, |c, t, v| got.push((c.to_string(), t, v))).unwrap();
        (got, rec)
    }

    #[test]
    fn round_trip_across_reopen_with_new_caller_ids() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, _) = ReadingLog::open(dir.path(), |_, _, _| {}).unwrap();
            log.append(&[r(0, 1, 1.5), r(1, 2, 2.5)], |m| ["A", "B"][m as usize].to_string()).unwrap();
        }
        {
            // After a restart the registry numbers meters differently: codes still match.
            let (log, rec) = ReadingLog::open(dir.path(), |_, _, _| {}).unwrap();
            assert_eq!((rec.batches, rec.readings), (1, 2));
            log.append(&[r(0, 3, 3.5), r(1, 4, 4.5)], |m| ["B", "C"][m as usize].to_string()).unwrap();
        }
        let (got, rec) = replay(dir.path());
        assert_eq!(rec.readings, 4);
        assert_eq!(got, vec![("A".into(), 1, 1.5), ("B".into(), 2, 2.5), ("B".into(), 3, 3.5), ("C".into(), 4, 4.5)]);
    }

    #[test]
    fn torn_tail_is_cut_and_reported_but_sealed_corruption_fails() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, _) = ReadingLog::open(dir.path(), |_, _, _| {}).unwrap();
            log.append(&[r(0, 1, 1.0)], |_| "A".into()).unwrap();
            log.append(&[r(0, 2, 2.0), r(0, 3, 3.0)], |_| "A".into()).unwrap();
        }
        let seg = segment_path(dir.path(), 1);
        let full = std::fs::read(&seg).unwrap();
        // Cut the last frame in the middle, as a crash during write would.
        std::fs::write(&seg, &full[..full.len() - 7]).unwrap();
        let (got, rec) = replay(dir.path());
        assert_eq!(got, vec![("A".into(), 1, 1.0)]);
        assert_eq!(rec.truncated_bytes, (HEADER + 2 * READING_BYTES - 7) as u64);
        // The cut is permanent and the log keeps working after it.
        {
            let (log, rec) = ReadingLog::open(dir.path(), |_, _, _| {}).unwrap();
            assert_eq!(rec.truncated_bytes, 0);
            log.append(&[r(0, 9, 9.0)], |_| "A".into()).unwrap();
        }
        assert_eq!(replay(dir.path()).0.len(), 2);

        // A flipped bit in a sealed (not newest) segment is corruption, not a torn tail.
        let mut bytes = std::fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x40;
        std::fs::write(&seg, &bytes).unwrap();
        std::fs::write(segment_path(dir.path(), 2), b"").unwrap();
        let err = ReadingLog::open(dir.path(), |_, _, _| {}).err().unwrap();
        assert!(err.to_string().contains("checksum mismatch in a sealed segment"), "{err}");
    }

    #[test]
    fn concurrent_writers_all_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = ReadingLog::open(dir.path(), |_, _, _| {}).unwrap();
        std::thread::scope(|s| {
            for w in 0..4u32 {
                let log = &log;
                s.spawn(move || {
                    for b in 0..50i64 {
                        let batch: Vec<Reading> = (0..10).map(|i| r(w, b * 10 + i, w as f64)).collect();
                        log.append(&batch, |m| format!("W{m}")).unwrap();
                    }
                });
            }
        });
        drop(log);
        let (got, _) = replay(dir.path());
        assert_eq!(got.len(), 4 * 50 * 10);
        for w in 0..4 {
            let mut ts: Vec<i64> = got.iter().filter(|g| g.0 == format!("W{w}")).map(|g| g.1).collect();
            ts.sort_unstable();
            assert_eq!(ts, (0..500).collect::<Vec<_>>());
        }
    }
}
