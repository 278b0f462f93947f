//! activity.csv: tens of millions of rows. The file is cut into chunks at line boundaries; every
//! worker reads its chunks itself (positioned reads into a buffer it reuses, so there is no serial
//! reader and no copy per block) and parses them with a hand-written field splitter (quoted fields
//! take a slower path) and number parser. Chunks are merged in file order as they complete, by
//! whichever worker finds the next one ready. A chunk keeps each run of equal facility codes once;
//! codes are looked up after the parse, so facilities.csv can load while activity.csv is parsed.
//! Every bad field of every row is reported; accepted rows keep their file and line for lineage.

use crate::error::{RowError, ValidationReport, MAX_KEPT_ERRORS};
use crate::line::{line_problem, split_fields};
use crate::number::parse_quantity;
use model::{ActivityTable, Carrier, Dataset, StringPool, UNITS};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub const REQUIRED: [&str; 5] = ["facility_code", "period", "carrier", "quantity", "unit"];

/// The activity columns' Chinese names (the zh filing template writes the first of each), with
/// their canonical names: a header in either language is read the same (docs/formats.md).
pub const COLUMN_NAMES_ZH: &[(&str, &str)] = &[
    ("设施编码", "facility_code"),
    ("期间", "period"),
    ("月份", "period"),
    ("能源品种", "carrier"),
    ("数量", "quantity"),
    ("用量", "quantity"),
    ("单位", "unit"),
    ("凭证号", "source_document"),
    ("票据编号", "source_document"),
    ("证明材料", "evidence_ref"),
    ("设施名称", "facility_name"),
];

/// The canonical name of an activity header cell (a Chinese name mapped, a byte order mark and
/// surrounding spaces dropped); any other name as it is.
pub fn canonical_column(name: &str) -> &str {
    let n = name.trim().trim_start_matches('\u{feff}').trim();
    COLUMN_NAMES_ZH.iter().find(|(zh, _)| *zh == n).map_or(n, |(_, c)| c)
}

/// The Chinese name the zh template gives a canonical column (the name itself when it has none).
pub fn column_name_zh(column: &str) -> &str {
    COLUMN_NAMES_ZH.iter().find(|(_, c)| *c == column).map_or(column, |(zh, _)| zh)
}
/// Chunk size bounds: large enough that per-chunk work is negligible, small enough that the
/// workers stay balanced and a small file still spreads over every worker.
const MAX_CHUNK: u64 = 8 << 20;
const MIN_CHUNK: u64 = 64 << 10;
/// Bytes read past a chunk's end to finish its last line (more is read if that is not enough).
const MARGIN: u64 = 4 << 10;
/// Run id of a row too short to have a facility code.
const NO_RUN: u32 = u32::MAX;

#[derive(Clone, Copy)]
pub(crate) struct Cols {
    facility: usize,
    period: usize,
    carrier: usize,
    quantity: usize,
    unit: usize,
    source_document: Option<usize>,
    evidence: Option<usize>,
    width: usize,
    /// Fields the header names: a row with more is refused (a merged or shifted line).
    header_fields: usize,
}

impl Cols {
    /// Why a row of `n` fields is refused before its values are looked at: more fields than the
    /// header names (a merged or shifted line) or too few to hold the columns read.
    pub(crate) fn shape_problem(&self, n: usize) -> Option<String> {
        (n > self.header_fields || n < self.width)
            .then(|| format!("row has {n} fields but the header names {}", self.header_fields))
    }

    /// The columns of an activity file with header `header`, or the error naming every required
    /// column it lacks.
    pub(crate) fn of_header(file: &str, header: &[String]) -> Result<Cols, RowError> {
        let canonical: Vec<String> = header.iter().map(|h| canonical_column(h).to_string()).collect();
        let by_name = crate::tables::Columns::new(&canonical);
        let req = by_name.require(file, &REQUIRED, header)?;
        let (source_document, evidence) = (by_name.get("source_document"), by_name.get("evidence_ref"));
        Ok(Cols {
            facility: req[0],
            period: req[1],
            carrier: req[2],
            quantity: req[3],
            unit: req[4],
            source_document,
            evidence,
            width: req.iter().copied().chain(source_document).chain(evidence).max().unwrap_or(0) + 1,
            header_fields: header.len(),
        })
    }

    /// Where each of [`crate::line::ACTIVITY_COLUMNS`] is in a row (None: not in the header).
    pub(crate) fn positions(&self) -> [Option<usize>; 7] {
        [
            Some(self.facility),
            Some(self.period),
            Some(self.carrier),
            Some(self.quantity),
            Some(self.unit),
            self.source_document,
            self.evidence,
        ]
    }
}

/// The error of a row whose facility code is not a known facility (the first of its errors).
pub(crate) fn unknown_facility(file: &str, line: u64, code: &[u8]) -> RowError {
    RowError {
        file: file.to_string(),
        line,
        column: "facility_code".into(),
        value: text(code),
        reason: "unknown facility: not a facility_code in facilities.csv".into(),
    }
}

/// The key two records may not share (with their facility): month, carrier and source document,
/// packed in one word.
#[inline]
pub(crate) fn record_key(month: u8, carrier: u16, source_document: u32) -> u64 {
    (month as u64) << 48 | (carrier as u64) << 32 | source_document as u64
}

/// The error of a record that repeats the key of an earlier one (`first`: its file and line).
#[allow(clippy::too_many_arguments)]
pub(crate) fn duplicate_key(
    (file, line): (&str, u64),
    facility_code: &str,
    year: i32,
    month: u8,
    carrier_code: &str,
    source_document: &str,
    (first_file, first_line): (&str, u64),
) -> RowError {
    RowError {
        file: file.to_string(),
        line,
        column: "facility_code,period,carrier,source_document".into(),
        value: format!("{facility_code},{year}-{month:02},{carrier_code},{source_document}"),
        reason: format!(
            "duplicated record key: same facility, period, carrier and source_document as {first_file}:{first_line}"
        ),
    }
}

/// Carriers seen so far, shared by the parser threads.
pub(crate) struct CarrierRegistry {
    pub(crate) carriers: Vec<Carrier>,
}

/// A rejected row: its errors are in the error list from `first_error` on (None: beyond the errors
/// kept); `run` is its facility code, checked once codes are resolved.
#[derive(Clone, Copy)]
struct BadRow {
    line: u64,
    run: u32,
    first_error: Option<usize>,
}

/// Runs of equal facility codes: codes back to back, and where each ends.
#[derive(Default)]
struct Runs {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Runs {
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
    fn last(&self) -> Option<&[u8]> {
        self.ends.len().checked_sub(1).map(|i| self.get(i))
    }
    fn push(&mut self, code: &[u8]) -> u32 {
        self.bytes.extend_from_slice(code);
        self.ends.push(self.bytes.len());
        (self.ends.len() - 1) as u32
    }
    fn len(&self) -> usize {
        self.ends.len()
    }
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// What one chunk yields. Lines count from the chunk's first line (0), facilities are indexes into
/// the chunk's runs and strings into its own pool; the merge makes all three global. The buffers
/// are reused from chunk to chunk.
#[derive(Default)]
struct ChunkOut {
    table: ActivityTable,
    runs: Runs,
    /// Source documents and evidence references by their bytes; id 0 is the empty string.
    strings: FxHashMap<Vec<u8>, u32>,
    /// Recently interned strings and their ids, by a hash of their bytes (256 slots).
    recent: Vec<(u32, Vec<u8>)>,
    bad: Vec<BadRow>,
    errors: Vec<RowError>,
    error_total: usize,
    lines: u64,
    /// Bytes of the file the chunk's lines take.
    bytes: u64,
}

impl ChunkOut {
    fn clear(&mut self) {
        let t = &mut self.table;
        t.facility.clear();
        t.month.clear();
        t.carrier.clear();
        t.quantity.clear();
        t.unit.clear();
        t.file.clear();
        t.line.clear();
        t.source_document.clear();
        t.evidence.clear();
        self.runs.clear();
        self.strings.clear();
        for d in &mut self.recent {
            d.0 = u32::MAX;
        }
        self.bad.clear();
        self.errors.clear();
        self.error_total = 0;
        self.lines = 0;
        self.bytes = 0;
    }

    /// [`ChunkOut::intern`] through a small cache indexed by a cheap hash of the bytes: a few
    /// hundred bills repeat from facility to facility (EB202401-AC), so most rows skip the map.
    fn intern_cached(&mut self, b: &[u8]) -> u32 {
        if b.is_empty() {
            return 0;
        }
        let word = |s: &[u8]| {
            let mut w = [0u8; 8];
            w[..s.len()].copy_from_slice(s);
            u64::from_le_bytes(w)
        };
        let n = b.len();
        let (head, last) = (word(&b[..n.min(8)]), word(&b[n.saturating_sub(8)..]));
        let slot = ((head ^ last.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize;
        if self.recent.is_empty() {
            self.recent.resize(256, (u32::MAX, Vec::new()));
        }
        let (id, bytes) = &self.recent[slot];
        if *id != u32::MAX && same(bytes, b) {
            return *id;
        }
        let id = self.intern(b);
        let entry = &mut self.recent[slot];
        entry.0 = id;
        entry.1.clear();
        entry.1.extend_from_slice(b);
        id
    }

    fn intern(&mut self, b: &[u8]) -> u32 {
        if b.is_empty() {
            return 0;
        }
        if let Some(&i) = self.strings.get(b) {
            return i;
        }
        let i = self.strings.len() as u32 + 1;
        self.strings.insert(b.to_vec(), i);
        i
    }
}

/// The chunks merged in file order so far. Facilities are run ids until [`resolve`].
struct Merged {
    next: usize,
    /// Line number of the next chunk's first line.
    line_base: u64,
    table: ActivityTable,
    runs: Runs,
    pool: StringPool,
    bad: Vec<BadRow>,
    errors: Vec<RowError>,
    error_total: usize,
    /// Bytes of rows merged so far, and in the whole file: the table is sized from them.
    bytes_done: u64,
    bytes_total: u64,
}

impl Merged {
    /// Room for `extra` more rows: the whole file's rows as estimated from the rows so far, so
    /// the table is allocated once rather than grown step by step.
    fn reserve(&mut self, extra: usize) {
        let t = &mut self.table;
        let (len, cap) = (t.facility.len(), t.facility.capacity());
        if len + extra <= cap {
            return;
        }
        let estimate = ((len + extra) as f64 * self.bytes_total as f64 / self.bytes_done.max(1) as f64 * 1.02) as usize;
        let want = (len + extra).max(estimate).max(cap + cap / 4) - len;
        t.facility.reserve_exact(want);
        t.month.reserve_exact(want);
        t.carrier.reserve_exact(want);
        t.quantity.reserve_exact(want);
        t.unit.reserve_exact(want);
        t.line.reserve_exact(want);
        t.source_document.reserve_exact(want);
        t.evidence.reserve_exact(want);
    }

    fn absorb(&mut self, c: &ChunkOut) {
        self.bytes_done += c.bytes;
        self.reserve(c.table.facility.len());
        let run_base = self.runs.len() as u32;
        let line_base = self.line_base;
        let t = &mut self.table;
        t.facility.extend(c.table.facility.iter().map(|&r| r + run_base));
        t.line.extend(c.table.line.iter().map(|&l| (l as u64 + line_base) as u32));
        t.month.extend_from_slice(&c.table.month);
        t.carrier.extend_from_slice(&c.table.carrier);
        t.quantity.extend_from_slice(&c.table.quantity);
        t.unit.extend_from_slice(&c.table.unit);
        let mut local: Vec<(u32, &Vec<u8>)> = c.strings.iter().map(|(k, &v)| (v, k)).collect();
        local.sort_unstable();
        let mut remap = Vec::with_capacity(local.len() + 1);
        remap.push(0);
        // Same text as the parser used to intern (invalid UTF-8 replaced), in first-seen order.
        remap.extend(local.iter().map(|(_, b)| self.pool.intern(&String::from_utf8_lossy(b))));
        t.source_document.extend(c.table.source_document.iter().map(|&s| remap[s as usize]));
        t.evidence.extend(c.table.evidence.iter().map(|&s| remap[s as usize]));
        self.runs.bytes.extend_from_slice(&c.runs.bytes);
        let byte_base = self.runs.ends.last().copied().unwrap_or(0);
        self.runs.ends.extend(c.runs.ends.iter().map(|&e| e + byte_base));
        let error_base = self.errors.len();
        let room = MAX_KEPT_ERRORS.saturating_sub(error_base);
        for b in &c.bad {
            self.bad.push(BadRow {
                line: b.line + line_base,
                run: if b.run == NO_RUN { NO_RUN } else { b.run + run_base },
                first_error: b.first_error.filter(|&i| i < room).map(|i| i + error_base),
            });
        }
        for e in c.errors.iter().take(room) {
            self.errors.push(RowError { line: e.line + line_base, ..e.clone() });
        }
        self.error_total += c.error_total;
        self.line_base += c.lines;
        self.next += 1;
    }
}

/// The carrier and unit of a row, decided once per distinct pair.
#[derive(Clone)]
struct Verdict {
    carrier: Result<u16, String>,
    unit: Option<u8>,
    /// The unit's dimension is not one the carrier is measured in.
    mismatch: Option<String>,
}

/// A worker's caches, kept across its chunks.
#[derive(Default)]
pub(crate) struct Caches {
    carriers: FxHashMap<Vec<u8>, Result<u16, String>>,
    units: FxHashMap<Vec<u8>, Option<u8>>,
    /// Keyed by carrier length (4 bytes), carrier, unit.
    pairs: FxHashMap<Vec<u8>, Verdict>,
    key: Vec<u8>,
    last_pair: Option<(Vec<u8>, Vec<u8>, Verdict)>,
}

struct Shared<'a> {
    file: &'a str,
    cols: Cols,
    check: Checker<'a>,
}

/// The rules for an activity row's values, one place for every input: the parser of a file and
/// the rows given from memory ([`crate::rows`]) both check a row's period, carrier, unit and
/// quantity through [`Checker::values`], so a value is refused for the same reason, in the same
/// words, whatever it came from.
#[derive(Clone, Copy)]
pub(crate) struct Checker<'a> {
    pub(crate) year: i32,
    pub(crate) registry: &'a Mutex<CarrierRegistry>,
}

/// A row's values as stored in the table: month, carrier id, unit index and the quantity in the
/// base unit of its dimension.
#[derive(Clone, Copy)]
pub(crate) struct Values {
    pub(crate) month: u8,
    pub(crate) carrier: u16,
    pub(crate) unit: u8,
    pub(crate) quantity: f64,
}

impl Checker<'_> {
    fn carrier(&self, caches: &mut Caches, b: &[u8]) -> Result<u16, String> {
        if let Some(r) = caches.carriers.get(b) {
            return r.clone();
        }
        let r = match std::str::from_utf8(b)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(|s| Carrier::parse(s).map_err(|e| e.to_string()))
        {
            Ok(carrier) => {
                let mut reg = self.registry.lock().expect("carrier registry");
                let id = match reg.carriers.iter().position(|k| *k == carrier) {
                    Some(i) => i,
                    None => {
                        reg.carriers.push(carrier);
                        reg.carriers.len() - 1
                    }
                };
                Ok(id as u16)
            }
            Err(e) => Err(e),
        };
        caches.carriers.insert(b.to_vec(), r.clone());
        r
    }

    #[inline(always)]
    fn verdict<'c>(&self, caches: &'c mut Caches, carrier_b: &[u8], unit_b: &[u8]) -> &'c Verdict {
        let hit = matches!(&caches.last_pair, Some((c, u, _)) if same(c, carrier_b) && same(u, unit_b));
        if !hit {
            let v = self.decide(caches, carrier_b, unit_b);
            caches.last_pair = Some((carrier_b.to_vec(), unit_b.to_vec(), v));
        }
        &caches.last_pair.as_ref().expect("just set").2
    }

    fn decide(&self, caches: &mut Caches, carrier_b: &[u8], unit_b: &[u8]) -> Verdict {
        caches.key.clear();
        caches.key.extend_from_slice(&(carrier_b.len() as u32).to_le_bytes());
        caches.key.extend_from_slice(carrier_b);
        caches.key.extend_from_slice(unit_b);
        let v = match caches.pairs.get(caches.key.as_slice()) {
            Some(v) => v.clone(),
            None => {
                let carrier = self.carrier(caches, carrier_b);
                let unit = match caches.units.get(unit_b) {
                    Some(&u) => u,
                    None => {
                        let u = std::str::from_utf8(unit_b)
                            .ok()
                            .and_then(model::parse_unit)
                            .map(|u| UNITS.iter().position(|x| x.code == u.code).expect("unit in table") as u8);
                        caches.units.insert(unit_b.to_vec(), u);
                        u
                    }
                };
                let mismatch = match (&carrier, unit) {
                    (Ok(cid), Some(ui)) => {
                        let reg = self.registry.lock().expect("carrier registry");
                        let car = &reg.carriers[*cid as usize];
                        let dim = UNITS[ui as usize].dimension;
                        if car.accepted_dimensions().contains(&dim) {
                            None
                        } else {
                            let accepted: Vec<_> = car.accepted_dimensions().iter().map(|d| d.name()).collect();
                            Some(format!(
                                "{} is a unit of {}, but {} is measured in {}",
                                UNITS[ui as usize].code,
                                dim.name(),
                                car.code,
                                accepted.join(" or ")
                            ))
                        }
                    }
                    _ => None,
                };
                let v = Verdict { carrier, unit, mismatch };
                caches.pairs.insert(caches.key.clone(), v.clone());
                v
            }
        };
        v
    }

    /// Checks a row's period, carrier, unit and quantity (its facility code is the caller's: a
    /// file's rows look theirs up once facilities.csv is read), reporting every problem to `err`
    /// in column order. The values as stored, or None when any is refused.
    #[inline(always)]
    pub(crate) fn values(
        &self,
        caches: &mut Caches,
        period_b: &[u8],
        carrier_b: &[u8],
        unit_b: &[u8],
        qty_b: &[u8],
        err: &mut impl FnMut(&str, &[u8], String),
    ) -> Option<Values> {
        let month = match parse_period(period_b) {
            Ok((y, m)) if y == self.year => Some(m),
            Ok((y, _)) => {
                err("period", period_b, format!("period is in {y}, outside the inventory year {}", self.year));
                None
            }
            Err(reason) => {
                err("period", period_b, reason);
                None
            }
        };
        let v = self.verdict(caches, carrier_b, unit_b);
        if let Err(reason) = &v.carrier {
            err("carrier", carrier_b, reason.clone());
        }
        match (&v.unit, &v.mismatch) {
            (None, _) => err("unit", unit_b, "unknown unit; see docs/formats.md for the accepted units".into()),
            (Some(_), Some(reason)) => err("unit", unit_b, reason.clone()),
            (Some(_), None) => {}
        }
        let quantity = match parse_quantity(qty_b) {
            Some(q) if !q.is_finite() => {
                err("quantity", qty_b, "not a finite number".into());
                None
            }
            Some(q) if q < 0.0 => {
                err("quantity", qty_b, "negative quantity: corrections are restatements, not negative rows".into());
                None
            }
            Some(q) => Some(q),
            None => {
                err("quantity", qty_b, "not a number".into());
                None
            }
        };
        let (Some(month), Ok(&carrier), Some(unit), None, Some(q)) =
            (month, v.carrier.as_ref(), v.unit, v.mismatch.as_ref(), quantity)
        else {
            return None;
        };
        Some(Values { month, carrier, unit, quantity: q * UNITS[unit as usize].in_base })
    }
}

impl Shared<'_> {
    /// Validates one non-blank line split into `fields`, appending it to `out` or recording why not.
    fn row(&self, caches: &mut Caches, out: &mut ChunkOut, line_no: u64, line: &[u8], fields: &[&[u8]]) {
        let c = self.cols;
        let first_error = out.errors.len();
        let file = self.file;
        let (errors, error_total) = (&mut out.errors, &mut out.error_total);
        let mut err = |column: &str, value: &[u8], reason: String| {
            *error_total += 1;
            if errors.len() < MAX_KEPT_ERRORS {
                errors.push(RowError {
                    file: file.to_string(),
                    line: line_no,
                    column: column.into(),
                    value: text(value),
                    reason,
                });
            }
        };
        if let Some(reason) = line_problem(line).or_else(|| c.shape_problem(fields.len())) {
            err("", &line[..line.len().min(200)], reason);
            out.bad.push(BadRow { line: line_no, run: NO_RUN, first_error: Some(first_error) });
            return;
        }
        // Rows of one facility come together in practice: a run of equal codes is kept once.
        let fac_b = trim(fields[c.facility]);
        let run = match out.runs.last() {
            Some(last) if same(last, fac_b) => (out.runs.len() - 1) as u32,
            _ => out.runs.push(fac_b),
        };
        let values = self.check.values(
            caches,
            trim(fields[c.period]),
            trim(fields[c.carrier]),
            trim(fields[c.unit]),
            trim(fields[c.quantity]),
            &mut err,
        );
        let Some(v) = values else {
            out.bad.push(BadRow { line: line_no, run, first_error: Some(first_error) });
            return;
        };
        let doc = c.source_document.map_or(&[][..], |i| trim(fields[i]));
        let ev = c.evidence.map_or(&[][..], |i| trim(fields[i]));
        let doc = out.intern_cached(doc);
        let ev = out.intern_cached(ev);
        let t = &mut out.table;
        t.facility.push(run);
        t.month.push(v.month);
        t.carrier.push(v.carrier);
        t.quantity.push(v.quantity);
        t.unit.push(v.unit);
        t.line.push(line_no as u32);
        t.source_document.push(doc);
        t.evidence.push(ev);
    }

    /// Records a line that does not split into fields (a quote left open, ...).
    fn unreadable(&self, out: &mut ChunkOut, line_no: u64, line: &[u8], reason: String) {
        let first_error = out.errors.len();
        out.error_total += 1;
        if out.errors.len() < MAX_KEPT_ERRORS {
            let reason = line_problem(line).unwrap_or(reason);
            out.errors.push(RowError {
                file: self.file.to_string(),
                line: line_no,
                column: String::new(),
                value: text(&line[..line.len().min(200)]),
                reason,
            });
        }
        out.bad.push(BadRow { line: line_no, run: NO_RUN, first_error: Some(first_error) });
    }

    /// Parses the lines of `data` (whole lines: a chunk's own) into `out`.
    fn parse(&self, caches: &mut Caches, data: &[u8], out: &mut ChunkOut) {
        let mut fields: Vec<&[u8]> = Vec::with_capacity(16);
        let mut line_no = 0u64;
        // One pass over commas, newlines and quotes, 64 bytes at a time, until the first quote:
        // lines from the one holding it on take the slower path that understands quoting.
        let (mut line_start, mut field_start) = (0, 0);
        let mut quoted = false;
        let mut tail = [0u8; 64];
        'scan: for base in (0..data.len()).step_by(64) {
            let mut m = match data.get(base..base + 64) {
                Some(block) => specials(block.try_into().expect("64 bytes")),
                None => {
                    let rest = &data[base..];
                    tail[..rest.len()].copy_from_slice(rest);
                    tail[rest.len()..].fill(0);
                    specials(&tail)
                }
            };
            while m != 0 {
                let p = base + m.trailing_zeros() as usize;
                m &= m - 1;
                match data[p] {
                    b',' => {
                        fields.push(&data[field_start..p]);
                        field_start = p + 1;
                    }
                    b'\n' => {
                        let line = &data[line_start..p];
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        if !trim(line).is_empty() {
                            let last = &data[field_start..p];
                            fields.push(last.strip_suffix(b"\r").unwrap_or(last));
                            self.row(caches, out, line_no, line, &fields);
                        }
                        fields.clear();
                        line_no += 1;
                        line_start = p + 1;
                        field_start = p + 1;
                    }
                    _ => {
                        quoted = true;
                        break 'scan;
                    }
                }
            }
        }
        if !quoted {
            if line_start < data.len() {
                let line = &data[line_start..];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !trim(line).is_empty() {
                    let last = &data[field_start..];
                    fields.push(last.strip_suffix(b"\r").unwrap_or(last));
                    self.row(caches, out, line_no, line, &fields);
                }
                line_no += 1;
            }
        } else {
            let mut owned = Vec::with_capacity(16);
            while line_start < data.len() {
                let end = memchr::memchr(b'\n', &data[line_start..]).map_or(data.len(), |i| line_start + i);
                let line = &data[line_start..end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !trim(line).is_empty() {
                    match split_fields(line, &mut owned) {
                        Ok(()) => {
                            let refs: Vec<&[u8]> = owned.iter().map(|f| f.as_ref()).collect();
                            self.row(caches, out, line_no, line, &refs);
                        }
                        Err(reason) => self.unreadable(out, line_no, line, reason),
                    }
                }
                line_no += 1;
                line_start = end + 1;
            }
        }
        out.lines = line_no;
    }
}

/// Bit i is set where byte i of `block` is a comma, a newline or a double quote.
#[inline]
fn specials(block: &[u8; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
        // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions exist on every CPU this
        // code runs on; the four unaligned 16-byte loads are within the 64-byte array.
        unsafe {
            let (comma, newline, quote) =
                (_mm_set1_epi8(b',' as i8), _mm_set1_epi8(b'\n' as i8), _mm_set1_epi8(b'"' as i8));
            let mut m = 0u64;
            for i in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(i * 16).cast());
                let hits = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, newline)),
                    _mm_cmpeq_epi8(v, quote),
                );
                m |= (_mm_movemask_epi8(hits) as u32 as u64 & 0xffff) << (i * 16);
            }
            m
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        specials_swar(block)
    }
}

/// [`specials`] with 64-bit integer arithmetic, 8 bytes at a time.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn specials_swar(block: &[u8; 64]) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut m = 0u64;
    for (i, word) in block.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        // High bit of each byte equal to `c` (exact: no borrow crosses bytes).
        let eq = |c: u8| {
            let x = w ^ (LOW * c as u64);
            !(((x & !HIGH) + !HIGH) | x) & HIGH
        };
        let hits = (eq(b',') | eq(b'\n') | eq(b'"')) >> 7;
        // Gathers bit 0 of each byte into the top byte, byte 0 lowest.
        m |= (hits.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (i * 8);
    }
    m
}

/// `std::os::unix::fs::FileExt::read_exact_at`, and its equivalent elsewhere.
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(f, buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// Reads file bytes `from..to` into `buf` (reused: it only grows), returning them.
fn read_range<'b>(f: &File, buf: &'b mut Vec<u8>, from: u64, to: u64) -> std::io::Result<&'b [u8]> {
    let n = (to - from) as usize;
    if buf.len() < n {
        buf.resize(n, 0);
    }
    read_exact_at(f, &mut buf[..n], from)?;
    Ok(&buf[..n])
}

/// Files at least this large are read around the page cache where the system allows (O_DIRECT):
/// a multi-gigabyte file read once is mostly not cached anyway, and copying it through the cache
/// cost more CPU than parsing a third of it.
const DIRECT_MIN: u64 = 256 << 20;
/// Alignment of offsets, lengths and memory for direct reads.
const ALIGN: usize = 4096;

/// Positioned reads of the activity file: direct when possible, else through the page cache.
struct Reader {
    file: File,
    direct: Option<File>,
    failed_direct: AtomicBool,
    len: u64,
}

impl Reader {
    fn new(file: File, path: &Path, len: u64) -> Reader {
        let direct = if len >= DIRECT_MIN { open_direct(path) } else { None };
        Reader { file, direct, failed_direct: AtomicBool::new(false), len }
    }

    /// Reads file bytes `from..to` (within the file) into `buf`, which only grows; returns where
    /// they start in `buf`.
    fn read(&self, buf: &mut Vec<u8>, from: u64, to: u64) -> std::io::Result<usize> {
        let n = (to - from) as usize;
        if let Some(direct) = self.direct.as_ref().filter(|_| !self.failed_direct.load(Ordering::Relaxed)) {
            let lo = from - from % ALIGN as u64;
            let hi = to.div_ceil(ALIGN as u64) * ALIGN as u64;
            let span = (hi - lo) as usize;
            if buf.len() < span + ALIGN {
                buf.resize(span + ALIGN, 0);
            }
            let at = buf.as_ptr().align_offset(ALIGN);
            let mut got = 0;
            let ok = loop {
                if got >= (to - lo) as usize {
                    break true;
                }
                match read_at(direct, &mut buf[at + got..at + span], lo + got as u64) {
                    Ok(0) => break false,
                    Ok(k) => got += k,
                    Err(_) => break false,
                }
            };
            if ok {
                return Ok(at + (from - lo) as usize);
            }
            // Not supported here after all (or the file changed): the page cache from now on.
            self.failed_direct.store(true, Ordering::Relaxed);
        }
        if buf.len() < n {
            buf.resize(n, 0);
        }
        read_exact_at(&self.file, &mut buf[..n], from)?;
        Ok(0)
    }
}

/// `path` opened for direct reads, if the system and file system allow it.
fn open_direct(path: &Path) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, offset)
}

/// The whole lines of chunk `[start, end)`: the lines that begin in it (a line belongs to the
/// chunk where its first byte is). Reads into `buf`; returns where those lines are in `buf`.
fn chunk_lines(
    r: &Reader,
    buf: &mut Vec<u8>,
    first: bool,
    start: u64,
    end: u64,
) -> std::io::Result<std::ops::Range<usize>> {
    let len = r.len;
    // From the byte before the chunk, to know whether a line begins at `start`.
    let from = if first { start } else { start - 1 };
    let mut to = (end + MARGIN).min(len);
    let mut at = r.read(buf, from, to)?;
    let a = if first {
        0
    } else {
        match memchr::memchr(b'\n', &buf[at..at + (to - from) as usize]) {
            Some(i) => i + 1,
            // No line begins in the chunk (nor in the margin past it).
            None => return Ok(0..0),
        }
    };
    let own_end = (end - from) as usize;
    if a >= own_end {
        return Ok(0..0);
    }
    // The last line: up to the first newline at or after the chunk's last byte.
    let mut search = own_end - 1;
    loop {
        let data = &buf[at..at + (to - from) as usize];
        if let Some(i) = memchr::memchr(b'\n', &data[search..]) {
            return Ok(at + a..at + search + i + 1);
        }
        if to == len {
            return Ok(at + a..at + data.len());
        }
        search = data.len();
        to = (to + (to - from).max(MARGIN)).min(len);
        at = r.read(buf, from, to)?;
    }
}

/// Everything the parse of activity.csv yields before facility codes are resolved.
pub(crate) struct ParsedActivity {
    file: String,
    /// Whole-file problems found before the rows (cannot open, no header, missing columns).
    early: ValidationReport,
    /// Read errors met while parsing.
    late: ValidationReport,
    header_ok: bool,
    merged: Option<Merged>,
    carriers: Vec<Carrier>,
    pool: StringPool,
    rows: usize,
}

/// Reads and validates every row of `path` except its facility codes, on `threads` workers.
/// Carriers found are added to `carriers`, strings to `pool`. Stops early if `cancel` is set.
pub(crate) fn parse_activity(
    path: &Path,
    year: i32,
    carriers: Vec<Carrier>,
    pool: StringPool,
    threads: usize,
    cancel: &AtomicBool,
) -> ParsedActivity {
    let file = path.display().to_string();
    let mut p = ParsedActivity {
        file: file.clone(),
        early: ValidationReport::default(),
        late: ValidationReport::default(),
        header_ok: false,
        merged: None,
        carriers,
        pool,
        rows: 0,
    };
    let whole_file =
        |reason: String| RowError { file: file.clone(), line: 0, column: String::new(), value: String::new(), reason };
    let f = match File::open(path).and_then(|f| f.metadata().map(|m| (f, m.len()))) {
        Ok(f) => f,
        Err(e) => {
            p.early.push(whole_file(format!("cannot open: {e}")));
            return p;
        }
    };
    let (f, len) = f;
    let reader = Reader::new(f, path, len);
    // Header: read until the first newline.
    let mut buf = Vec::new();
    let mut to = len.min(MIN_CHUNK);
    let header_end = loop {
        if let Err(e) = read_range(&reader.file, &mut buf, 0, to) {
            p.early.push(whole_file(format!("read error: {e}")));
            return p;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..to as usize]) {
            break i;
        }
        if to == len {
            break to as usize;
        }
        to = (to * 2).min(len);
    };
    if len == 0 {
        p.early.push(whole_file("empty file: a header row is required".into()));
        return p;
    }
    let header = match crate::line::header_names(crate::line::strip_ending(&buf[..header_end])) {
        Ok(h) => h,
        Err(reason) => {
            p.early.push(RowError { line: 1, ..whole_file(format!("header: {reason}")) });
            return p;
        }
    };
    let cols = match Cols::of_header(&file, &header) {
        Ok(c) => c,
        Err(e) => {
            p.early.push(e);
            return p;
        }
    };
    p.header_ok = true;
    drop(buf);
    let known = p.carriers.len();
    let registry = Mutex::new(CarrierRegistry { carriers: std::mem::take(&mut p.carriers) });
    let shared = Shared { file: &file, cols, check: Checker { year, registry: &registry } };
    let data_start = (header_end as u64 + 1).min(len);
    let threads = threads.max(1);
    let chunk = ((len - data_start) / (threads as u64 * 8)).clamp(MIN_CHUNK, MAX_CHUNK);
    let n_chunks = (len - data_start).div_ceil(chunk) as usize;
    let next_chunk = AtomicUsize::new(0);
    let pending: Mutex<BTreeMap<usize, ChunkOut>> = Mutex::new(BTreeMap::new());
    let free: Mutex<Vec<ChunkOut>> = Mutex::new(Vec::new());
    let merged = Mutex::new(Merged {
        next: 0,
        line_base: 2,
        table: ActivityTable::default(),
        runs: Runs::default(),
        pool: std::mem::take(&mut p.pool),
        bad: Vec::new(),
        errors: Vec::new(),
        error_total: 0,
        bytes_done: 0,
        bytes_total: len - data_start,
    });
    let read_error: Mutex<Option<String>> = Mutex::new(None);
    // Merges the chunks that are next in file order, unless another worker is doing so.
    let try_merge = || {
        while let Ok(mut m) = merged.try_lock() {
            loop {
                let Some(mut c) = pending.lock().expect("pending chunks").remove(&m.next) else { break };
                m.absorb(&c);
                c.clear();
                free.lock().expect("free chunks").push(c);
            }
            let again = pending.lock().expect("pending chunks").contains_key(&m.next);
            drop(m);
            if !again {
                break;
            }
        }
    };
    std::thread::scope(|s| {
        // A direct read waits for the disk: one more worker keeps every core parsing meanwhile.
        let workers = threads + usize::from(reader.direct.is_some());
        for _ in 0..workers.min(n_chunks) {
            s.spawn(|| {
                let mut caches = Caches::default();
                let mut buf = Vec::new();
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next_chunk.fetch_add(1, Ordering::Relaxed);
                    if i >= n_chunks {
                        break;
                    }
                    let start = data_start + i as u64 * chunk;
                    let end = (start + chunk).min(len);
                    let mut out = free.lock().expect("free chunks").pop().unwrap_or_default();
                    match chunk_lines(&reader, &mut buf, i == 0, start, end) {
                        Ok(range) => {
                            out.bytes = range.len() as u64;
                            shared.parse(&mut caches, &buf[range], &mut out)
                        }
                        Err(e) => {
                            read_error.lock().expect("read error").get_or_insert(e.to_string());
                            cancel.store(true, Ordering::Relaxed);
                        }
                    }
                    pending.lock().expect("pending chunks").insert(i, out);
                    try_merge();
                }
            });
        }
    });
    try_merge();
    let mut m = merged.into_inner().expect("merged chunks");
    if let Some(e) = read_error.into_inner().expect("read error") {
        p.late.push(whole_file(format!("read error: {e}")));
    }
    p.rows = (m.line_base - 2) as usize;
    m.table.file.clear();
    let mut carriers = registry.into_inner().expect("carrier registry").carriers;
    first_use_order(&mut carriers, known, &mut m.table.carrier);
    p.merged = Some(m);
    p.carriers = carriers;
    p
}

/// Numbers the carriers this file added (ids from `known` on) in file order of first use, then the
/// unused ones by code. Workers register a carrier when they first meet it, so the raw ids depend
/// on which thread got there first; carrier ids order the calculation plans and the warnings of an
/// inventory, so a recomputation must number them the same way whatever the thread timing.
pub(crate) fn first_use_order(carriers: &mut Vec<Carrier>, known: usize, column: &mut [u16]) {
    let n = carriers.len();
    if n <= known + 1 {
        return;
    }
    const UNSET: u16 = u16::MAX;
    let mut new_id: Vec<u16> = (0..n).map(|i| if i < known { i as u16 } else { UNSET }).collect();
    let mut next = known as u16;
    for &c in column.iter() {
        let slot = &mut new_id[c as usize];
        if *slot == UNSET {
            *slot = next;
            next += 1;
        }
    }
    let mut unused: Vec<usize> = (known..n).filter(|&i| new_id[i] == UNSET).collect();
    unused.sort_by(|&a, &b| carriers[a].code.cmp(&carriers[b].code));
    for i in unused {
        new_id[i] = next;
        next += 1;
    }
    if new_id.iter().enumerate().all(|(i, &id)| id as usize == i) {
        return;
    }
    for c in column.iter_mut() {
        *c = new_id[*c as usize];
    }
    let mut slots: Vec<Option<Carrier>> = std::mem::take(carriers).into_iter().map(Some).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| new_id[i]);
    *carriers = order.into_iter().map(|i| slots[i].take().expect("each carrier once")).collect();
}

/// Looks up the facility codes of a parse: rows with an unknown code are rejected (their error
/// comes first among the row's errors, as the code is its first field). Puts the accepted rows,
/// carriers and strings into `ds` and every problem into `report`; returns the rows read.
pub(crate) fn resolve_activity(
    p: ParsedActivity,
    facilities: &FxHashMap<String, u32>,
    threads: usize,
    ds: &mut Dataset,
    report: &mut ValidationReport,
) -> usize {
    report.merge(p.early);
    ds.carriers = p.carriers;
    let Some(m) = p.merged.filter(|_| p.header_ok) else {
        ds.strings = p.pool;
        report.merge(p.late);
        return 0;
    };
    ds.files.push(p.file.clone());
    let file_id = (ds.files.len() - 1) as u16;
    let Merged { mut table, runs, pool, bad, errors, error_total, .. } = m;
    // Each run's code looked up once, on every thread (each probe of a big index is a cache miss).
    let threads = threads.max(1);
    let mut ids: Vec<Option<u32>> = vec![None; runs.len()];
    let per = runs.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (k, part) in ids.chunks_mut(per).enumerate() {
            let runs = &runs;
            s.spawn(move || {
                for (j, id) in part.iter_mut().enumerate() {
                    let code = runs.get(k * per + j);
                    *id = std::str::from_utf8(code).ok().and_then(|code| facilities.get(code)).copied();
                }
            });
        }
    });
    let mut rows = ValidationReport { errors, total: error_total, rejected_rows: Vec::new() };
    let mut bad_rows = bad.len();
    if ids.iter().any(Option::is_none) {
        bad_rows += reject_unknown_facilities(&mut table, &mut rows, &bad, &ids, &runs, &p.file);
    }
    let per = table.facility.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for part in table.facility.chunks_mut(per) {
            let ids = &ids;
            s.spawn(move || {
                for f in part {
                    *f = ids[*f as usize].expect("unknown facilities were rejected");
                }
            });
        }
    });
    table.file = vec![file_id; table.facility.len()];
    if ds.activity.is_empty() {
        ds.activity = table;
    } else {
        ds.activity.append(table);
    }
    ds.strings = pool;
    report.merge(rows);
    report.merge(p.late);
    report.count_rejected(&p.file, bad_rows);
    p.rows
}

/// The slow path of [`resolve_activity`], when some facility code is unknown: reports each such
/// row (the code is its first error) and removes the accepted ones from `table`. Returns the number
/// of accepted rows so rejected.
fn reject_unknown_facilities(
    table: &mut ActivityTable,
    rows: &mut ValidationReport,
    bad: &[BadRow],
    ids: &[Option<u32>],
    runs: &Runs,
    file: &str,
) -> usize {
    let unknown = |run: u32| run != NO_RUN && ids[run as usize].is_none();
    let error = |line: u64, run: u32| unknown_facility(file, line, runs.get(run as usize));
    let kept = std::mem::take(&mut rows.errors);
    // Errors past the last one kept are only counted.
    let truncated = rows.total > kept.len();
    let last_kept_line = kept.last().map_or(0, |e| e.line);
    let mut out = Vec::with_capacity(kept.len());
    let mut keep_row = vec![true; table.len()];
    let mut newly_bad = 0;
    let mut b = 0;
    // Kept errors of bad row `i` end where the next bad row's kept errors begin.
    let mut span_ends = vec![kept.len(); bad.len()];
    for i in (1..bad.len()).rev() {
        span_ends[i - 1] = bad[i].first_error.unwrap_or(span_ends[i]);
    }
    let push_bad = |i: usize, out: &mut Vec<RowError>, total: &mut usize| {
        let r = bad[i];
        if unknown(r.run) {
            *total += 1;
            if r.first_error.is_some() {
                out.push(error(r.line, r.run));
            }
        }
        if let Some(first) = r.first_error {
            out.extend_from_slice(&kept[first..span_ends[i]]);
        }
    };
    for (r, keep) in keep_row.iter_mut().enumerate() {
        let line = table.line[r] as u64;
        while b < bad.len() && bad[b].line < line {
            push_bad(b, &mut out, &mut rows.total);
            b += 1;
        }
        let run = table.facility[r];
        if unknown(run) {
            *keep = false;
            newly_bad += 1;
            rows.total += 1;
            if !truncated || line < last_kept_line {
                out.push(error(line, run));
            }
        }
    }
    while b < bad.len() {
        push_bad(b, &mut out, &mut rows.total);
        b += 1;
    }
    out.truncate(MAX_KEPT_ERRORS);
    rows.errors = out;
    let t = std::mem::take(table);
    fn keep<T: Copy>(v: Vec<T>, keep: &[bool]) -> Vec<T> {
        v.into_iter().zip(keep).filter(|(_, &k)| k).map(|(x, _)| x).collect()
    }
    *table = ActivityTable {
        facility: keep(t.facility, &keep_row),
        month: keep(t.month, &keep_row),
        carrier: keep(t.carrier, &keep_row),
        quantity: keep(t.quantity, &keep_row),
        unit: keep(t.unit, &keep_row),
        file: Vec::new(),
        line: keep(t.line, &keep_row),
        source_document: keep(t.source_document, &keep_row),
        evidence: keep(t.evidence, &keep_row),
    };
    newly_bad
}

/// Reads `path` into `ds.activity`, registering carriers in `ds.carriers`. `facilities` maps
/// facility codes to ids. Returns the number of rows read (accepted or not).
pub fn load_activity(
    path: &Path,
    ds: &mut Dataset,
    facilities: &FxHashMap<String, u32>,
    threads: usize,
    report: &mut ValidationReport,
) -> usize {
    let parsed = parse_activity(
        path,
        ds.year,
        std::mem::take(&mut ds.carriers),
        std::mem::take(&mut ds.strings),
        threads,
        &AtomicBool::new(false),
    );
    resolve_activity(parsed, facilities, threads, ds, report)
}

/// `a == b` for the short fields of a row, without a call to `memcmp`.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if (8..=16).contains(&n) {
        // Two overlapping words cover the whole field.
        let w = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
        w(a, 0) == w(b, 0) && w(a, n - 8) == w(b, n - 8)
    } else if n < 8 {
        a.iter().zip(b).all(|(x, y)| x == y)
    } else {
        a == b
    }
}

pub(crate) fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let e = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(s, |e| e + 1);
    &b[s..e]
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses `YYYY-MM`; returns (year, month) or a reason.
#[inline(always)]
fn parse_period(b: &[u8]) -> Result<(i32, u8), String> {
    let ok =
        b.len() == 7 && b[4] == b'-' && b[..4].iter().all(u8::is_ascii_digit) && b[5..].iter().all(u8::is_ascii_digit);
    if !ok {
        return Err("period must be written YYYY-MM, e.g. 2024-03".into());
    }
    let year = b[..4].iter().fold(0i32, |a, d| a * 10 + (d - b'0') as i32);
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is outside 01-12"));
    }
    Ok((year, month))
}

/// Finds records that share the key (facility, period, carrier, source_document).
pub fn check_duplicate_keys(ds: &Dataset, report: &mut ValidationReport) -> usize {
    check_duplicates(ds, report, 1)
}

/// [`check_duplicate_keys`] on `threads` threads. Each facility's rows are found (a range when the
/// file keeps them together, as files do; else by a counting sort), then facilities are checked in
/// parallel, a block of facilities per thread, and the errors reported in facility order.
pub(crate) fn check_duplicates(ds: &Dataset, report: &mut ValidationReport, threads: usize) -> usize {
    let a = &ds.activity;
    let n_fac = ds.facilities.len();
    let mut start = vec![0u32; n_fac + 1];
    let mut first = vec![u32::MAX; n_fac];
    // Each facility's rows are one range iff there are as many runs of equal facility as facilities.
    let (mut runs, mut present) = (0usize, 0usize);
    let mut prev = None;
    for (r, &f) in a.facility.iter().enumerate() {
        start[f as usize + 1] += 1;
        if first[f as usize] == u32::MAX {
            first[f as usize] = r as u32;
            present += 1;
        }
        if prev != Some(f) {
            runs += 1;
            prev = Some(f);
        }
    }
    let contiguous = runs == present;
    for i in 0..n_fac {
        start[i + 1] += start[i];
    }
    // Rows of facility f: order[start[f]..start[f + 1]], or first[f].. when contiguous.
    let order: Vec<u32> = if contiguous {
        Vec::new()
    } else {
        let mut pos = start.clone();
        let mut order = vec![0u32; a.len()];
        for (r, &f) in a.facility.iter().enumerate() {
            order[pos[f as usize] as usize] = r as u32;
            pos[f as usize] += 1;
        }
        order
    };
    let check = |facilities: std::ops::Range<usize>| {
        let mut out = ValidationReport::default();
        // (month, carrier, source document) packed in one word, and the row.
        let mut keys: Vec<(u64, u32)> = Vec::new();
        for f in facilities {
            let n = (start[f + 1] - start[f]) as usize;
            if n < 2 {
                continue;
            }
            keys.clear();
            let key = |r: usize| (record_key(a.month[r], a.carrier[r], a.source_document[r]), r as u32);
            if contiguous {
                let lo = first[f] as usize;
                keys.extend((lo..lo + n).map(key));
            } else {
                keys.extend(order[start[f] as usize..start[f + 1] as usize].iter().map(|&r| key(r as usize)));
            }
            // Files usually list a facility's records in key order already: then no key repeats.
            if keys.windows(2).all(|w| w[0].0 < w[1].0) {
                continue;
            }
            keys.sort_unstable();
            for w in keys.windows(2) {
                if w[0].0 == w[1].0 {
                    let (first, dup) = (w[0].1 as usize, w[1].1 as usize);
                    out.push(duplicate_key(
                        (&ds.files[a.file[dup] as usize], a.line[dup] as u64),
                        &ds.facilities[f].code,
                        ds.year,
                        a.month[dup],
                        &ds.carriers[a.carrier[dup] as usize].code,
                        ds.strings.get(a.source_document[dup]),
                        (&ds.files[a.file[first] as usize], a.line[first] as u64),
                    ));
                }
            }
        }
        out
    };
    let threads = threads.clamp(1, n_fac.max(1));
    let per = n_fac.div_ceil(threads);
    let parts: Vec<ValidationReport> = std::thread::scope(|s| {
        let check = &check;
        let handles: Vec<_> =
            (0..threads).map(|t| s.spawn(move || check(t * per..((t + 1) * per).min(n_fac)))).collect();
        handles.into_iter().map(|h| h.join().expect("duplicate check thread")).collect()
    });
    let mut dups = 0;
    for part in parts {
        dups += part.total;
        report.merge(part);
    }
    dups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_plain_and_quoted_fields() {
        let mut out = Vec::new();
        split_fields(b"a,b,,c", &mut out).unwrap();
        assert_eq!(out.len(), 4);
        split_fields(br#"a,"x, y","say ""hi""",d"#, &mut out).unwrap();
        let v: Vec<String> = out.iter().map(|c| text(c)).collect();
        assert_eq!(v, vec!["a", "x, y", "say \"hi\"", "d"]);
    }

    #[test]
    fn delimiter_masks() {
        let mut block = [0u8; 64];
        let mut seed = 7u64;
        for round in 0..2000 {
            for b in block.iter_mut() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Mostly delimiters and their neighbours in value, some anything.
                *b = match (seed >> 60) % 4 {
                    0 => b',',
                    1 => b'\n',
                    2 => [b'+', b'-', b'\t', b'\x0b', 0x8a, 0xac, b'"', b'\r'][(seed >> 40) as usize % 8],
                    _ => (seed >> 32) as u8,
                };
            }
            if round == 0 {
                block = [b','; 64];
            }
            let naive = block
                .iter()
                .enumerate()
                .fold(0u64, |m, (i, &c)| m | (u64::from(c == b',' || c == b'\n' || c == b'"') << i));
            assert_eq!(specials(&block), naive, "{block:?}");
            assert_eq!(specials_swar(&block), naive, "{block:?}");
        }
    }

    /// Chunks cover every line exactly once, through the page cache and (where the file system
    /// allows it) around it, whatever the chunk size.
    #[test]
    fn chunks_partition_the_lines_buffered_and_direct() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        let mut data = Vec::new();
        let mut seed = 3u64;
        while data.len() < 300_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Lines of 0 to ~9000 bytes, some longer than a chunk's margin.
            let n = if seed >> 61 == 0 { (seed >> 40) as usize % 9000 } else { (seed >> 40) as usize % 90 };
            data.extend(std::iter::repeat_n(b'a' + (seed % 26) as u8, n));
            data.push(b'\n');
        }
        data.extend_from_slice(b"no newline at the end");
        std::fs::write(&path, &data).unwrap();
        let len = data.len() as u64;
        let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        let mut readers = vec![("buffered", Reader::new(File::open(&path).unwrap(), &path, len))];
        match open_direct(&path) {
            Some(d) => readers.push((
                "direct",
                Reader {
                    file: File::open(&path).unwrap(),
                    direct: Some(d),
                    failed_direct: AtomicBool::new(false),
                    len,
                },
            )),
            None => eprintln!("direct reads not supported here; only the buffered path is checked"),
        }
        for (name, r) in &readers {
            for chunk in [1u64, 97, 4096, 5000, 65536, 1 << 20].into_iter().filter(|&c| c > 1 || *name == "buffered") {
                let mut got: Vec<u8> = Vec::new();
                let mut buf = Vec::new();
                let mut start = 0;
                while start < len {
                    let end = (start + chunk).min(len);
                    let range = chunk_lines(r, &mut buf, start == 0, start, end).unwrap();
                    got.extend_from_slice(&buf[range]);
                    start = end;
                }
                let got_lines: Vec<&[u8]> = got.split(|&b| b == b'\n').collect();
                assert!(got_lines == lines, "{name}, chunk {chunk}: lines differ");
            }
            assert!(!r.failed_direct.load(Ordering::Relaxed), "{name}: direct reads fell back");
            let mut buf = Vec::new();
            for (from, to) in [(0, 1), (1, 4097), (4095, 4097), (12345, 200_000), (len - 3, len), (0, len)] {
                let at = r.read(&mut buf, from, to).unwrap();
                assert_eq!(&buf[at..at + (to - from) as usize], &data[from as usize..to as usize], "{name}");
            }
        }
    }

    #[test]
    fn periods() {
        assert_eq!(parse_period(b"2024-03"), Ok((2024, 3)));
        assert!(parse_period(b"2024-13").unwrap_err().contains("outside 01-12"));
        assert!(parse_period(b"2024-00").is_err());
        assert!(parse_period(b"2024/03").is_err());
        assert!(parse_period(b"24-03").is_err());
    }
}
