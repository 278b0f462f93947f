//! activity.csv: tens of millions of rows, so it is read in blocks and parsed on every core, with a
//! hand-written field splitter (quoted fields take a slower path). Every bad field of every row is
//! reported; accepted rows keep their file and line for lineage.

use crate::error::{RowError, ValidationReport};
use model::{Carrier, Dataset, StringPool, UNITS};
use rustc_hash::FxHashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

pub const REQUIRED: [&str; 5] = ["facility_code", "period", "carrier", "quantity", "unit"];
const BLOCK: usize = 8 << 20;

#[derive(Clone, Copy)]
struct Cols {
    facility: usize,
    period: usize,
    carrier: usize,
    quantity: usize,
    unit: usize,
    source_document: Option<usize>,
    evidence: Option<usize>,
    width: usize,
}

/// Carriers seen so far, shared by the parser threads.
struct CarrierRegistry {
    carriers: Vec<Carrier>,
}

struct Shared<'a> {
    facilities: &'a FxHashMap<String, u32>,
    year: i32,
    file_id: u16,
    file: &'a str,
    cols: Cols,
    registry: &'a Mutex<CarrierRegistry>,
}

struct Parsed {
    table: model::ActivityTable,
    pool: StringPool,
    report: ValidationReport,
    bad_rows: usize,
}

fn split_fields<'b>(line: &'b [u8], out: &mut Vec<std::borrow::Cow<'b, [u8]>>) {
    out.clear();
    if memchr::memchr(b'"', line).is_none() {
        let mut start = 0;
        for comma in memchr::memchr_iter(b',', line) {
            out.push(std::borrow::Cow::Borrowed(&line[start..comma]));
            start = comma + 1;
        }
        out.push(std::borrow::Cow::Borrowed(&line[start..]));
        return;
    }
    // RFC 4180 quoting: "a,b" and "" inside quotes.
    let mut field = Vec::new();
    let mut in_quotes = false;
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if in_quotes {
            if c == b'"' {
                if line.get(i + 1) == Some(&b'"') {
                    field.push(b'"');
                    i += 1;
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else if c == b'"' {
            in_quotes = true;
        } else if c == b',' {
            out.push(std::borrow::Cow::Owned(std::mem::take(&mut field)));
        } else {
            field.push(c);
        }
        i += 1;
    }
    out.push(std::borrow::Cow::Owned(field));
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let e = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(s, |e| e + 1);
    &b[s..e]
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Interns a field without allocating when it is valid UTF-8 and already known (the common case).
fn intern(pool: &mut StringPool, b: &[u8]) -> u32 {
    match std::str::from_utf8(b) {
        Ok("") => 0,
        Ok(s) => pool.intern(s),
        Err(_) => pool.intern(&text(b)),
    }
}

/// Parses `YYYY-MM`; returns (year, month) or a reason.
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

fn parse_block(sh: &Shared, data: &[u8], first_line: u64) -> Parsed {
    let mut p =
        Parsed { table: Default::default(), pool: StringPool::new(), report: ValidationReport::default(), bad_rows: 0 };
    p.table.reserve(data.len() / 48);
    let mut carrier_cache: FxHashMap<Vec<u8>, Result<u16, String>> = FxHashMap::default();
    let mut unit_cache: FxHashMap<Vec<u8>, Option<u8>> = FxHashMap::default();
    let mut dim_cache: FxHashMap<(u16, u8), Option<String>> = FxHashMap::default();
    let mut fields = Vec::with_capacity(16);
    let c = sh.cols;
    // Rows of one facility come together in practice: remember the last lookup.
    let mut last_facility: (Vec<u8>, Option<u32>) = (Vec::with_capacity(64), None);
    let mut line_start = 0;
    let line_ends = memchr::memchr_iter(b'\n', data).chain(std::iter::once(data.len()));
    for (line_here, end) in (first_line..).zip(line_ends) {
        if line_start > data.len() {
            break;
        }
        let raw = &data[line_start..end];
        line_start = end + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if trim(line).is_empty() {
            continue;
        }
        split_fields(line, &mut fields);
        let before = p.report.total;
        let mut err = |column: &str, value: &[u8], reason: String| {
            p.report.push(RowError {
                file: sh.file.to_string(),
                line: line_here,
                column: column.into(),
                value: text(value),
                reason,
            })
        };
        if fields.len() < c.width {
            err("", line, format!("row has {} fields but the header names {}", fields.len(), c.width));
            p.bad_rows += 1;
            continue;
        }
        let fac_b = trim(&fields[c.facility]);
        let facility = if !fac_b.is_empty() && fac_b == last_facility.0.as_slice() {
            last_facility.1
        } else {
            let f = std::str::from_utf8(fac_b).ok().and_then(|code| sh.facilities.get(code)).copied();
            last_facility.0.clear();
            last_facility.0.extend_from_slice(fac_b);
            last_facility.1 = f;
            f
        };
        if facility.is_none() {
            err("facility_code", fac_b, "unknown facility: not a facility_code in facilities.csv".into());
        }
        let period_b = trim(&fields[c.period]);
        let month = match parse_period(period_b) {
            Ok((y, m)) if y == sh.year => Some(m),
            Ok((y, _)) => {
                err("period", period_b, format!("period is in {y}, outside the inventory year {}", sh.year));
                None
            }
            Err(reason) => {
                err("period", period_b, reason);
                None
            }
        };
        let carrier_b = trim(&fields[c.carrier]);
        let carrier = match carrier_cache.get(carrier_b) {
            Some(r) => r.clone(),
            None => {
                let r = match std::str::from_utf8(carrier_b)
                    .map_err(|_| "not UTF-8".to_string())
                    .and_then(|s| Carrier::parse(s).map_err(|e| e.to_string()))
                {
                    Ok(carrier) => {
                        let mut reg = sh.registry.lock().expect("carrier registry");
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
                carrier_cache.insert(carrier_b.to_vec(), r.clone());
                r
            }
        };
        if let Err(reason) = &carrier {
            err("carrier", carrier_b, reason.clone());
        }
        let unit_b = trim(&fields[c.unit]);
        // Look up before inserting: `entry` would allocate a key on every row.
        let unit = match unit_cache.get(unit_b) {
            Some(&u) => u,
            None => {
                let u = std::str::from_utf8(unit_b)
                    .ok()
                    .and_then(model::parse_unit)
                    .map(|u| UNITS.iter().position(|x| x.code == u.code).expect("unit in table") as u8);
                unit_cache.insert(unit_b.to_vec(), u);
                u
            }
        };
        match unit {
            None => err("unit", unit_b, "unknown unit; see docs/formats.md for the accepted units".into()),
            Some(ui) => {
                if let Ok(cid) = carrier {
                    // Per (carrier, unit) pair, decided once per block: locking the shared
                    // registry on every row serialised the parser threads.
                    let verdict = dim_cache.entry((cid, ui)).or_insert_with(|| {
                        let reg = sh.registry.lock().expect("carrier registry");
                        let car = &reg.carriers[cid as usize];
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
                    });
                    if let Some(reason) = verdict {
                        err("unit", unit_b, reason.clone());
                    }
                }
            }
        }
        let qty_b = trim(&fields[c.quantity]);
        let quantity = match std::str::from_utf8(qty_b).ok().and_then(|s| s.parse::<f64>().ok()) {
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
        if p.report.total > before {
            p.bad_rows += 1;
            continue;
        }
        let (Some(f), Some(m), Ok(cid), Some(ui), Some(q)) = (facility, month, carrier, unit, quantity) else {
            unreachable!("every missing value pushed an error")
        };
        let t = &mut p.table;
        t.facility.push(f);
        t.month.push(m);
        t.carrier.push(cid);
        t.quantity.push(q * UNITS[ui as usize].in_base);
        t.unit.push(ui);
        t.file.push(sh.file_id);
        t.line.push(line_here as u32);
        let doc = c.source_document.map_or(&[][..], |i| trim(&fields[i]));
        let ev = c.evidence.map_or(&[][..], |i| trim(&fields[i]));
        t.source_document.push(intern(&mut p.pool, doc));
        t.evidence.push(intern(&mut p.pool, ev));
    }
    p
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
    let file = path.display().to_string();
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            report.push(RowError {
                file,
                line: 0,
                column: String::new(),
                value: String::new(),
                reason: format!("cannot open: {e}"),
            });
            return 0;
        }
    };
    // Header: read until the first newline.
    let mut buf = vec![0u8; BLOCK];
    let mut filled = 0;
    let header_end = loop {
        if let Some(i) = memchr::memchr(b'\n', &buf[..filled]) {
            break Some(i);
        }
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[filled..]) {
            Ok(0) => break if filled > 0 { Some(filled) } else { None },
            Ok(n) => filled += n,
            Err(e) => {
                report.push(RowError {
                    file,
                    line: 0,
                    column: String::new(),
                    value: String::new(),
                    reason: format!("read error: {e}"),
                });
                return 0;
            }
        }
    };
    let Some(header_end) = header_end else {
        report.push(RowError {
            file,
            line: 0,
            column: String::new(),
            value: String::new(),
            reason: "empty file: a header row is required".into(),
        });
        return 0;
    };
    let header_line = buf[..header_end].strip_suffix(b"\r").unwrap_or(&buf[..header_end]);
    let header_line = header_line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(header_line);
    let mut hf = Vec::new();
    split_fields(header_line, &mut hf);
    let header: Vec<String> = hf.iter().map(|h| text(trim(h))).collect();
    let cols_by_name = crate::tables::Columns::new(&header);
    let req = match cols_by_name.require(&file, &REQUIRED, &header) {
        Ok(r) => r,
        Err(e) => {
            report.push(e);
            return 0;
        }
    };
    let cols = Cols {
        facility: req[0],
        period: req[1],
        carrier: req[2],
        quantity: req[3],
        unit: req[4],
        source_document: cols_by_name.get("source_document"),
        evidence: cols_by_name.get("evidence_ref"),
        width: req
            .iter()
            .copied()
            .chain(cols_by_name.get("source_document"))
            .chain(cols_by_name.get("evidence_ref"))
            .max()
            .unwrap_or(0)
            + 1,
    };
    ds.files.push(file.clone());
    let file_id = (ds.files.len() - 1) as u16;
    let registry = Mutex::new(CarrierRegistry { carriers: std::mem::take(&mut ds.carriers) });
    let shared = Shared { facilities, year: ds.year, file_id, file: &file, cols, registry: &registry };
    let start = header_end + 1;
    buf.copy_within(start..filled, 0);
    filled -= start;
    let mut rows = 0usize;
    let mut bad_rows = 0usize;
    let threads = threads.max(1);
    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>, u64)>(threads * 2);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, Parsed)>();
    let mut read_error = None;
    std::thread::scope(|s| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            let shared = &shared;
            s.spawn(move || loop {
                let job = work_rx.lock().expect("work queue").recv();
                let Ok((seq, data, first_line)) = job else { break };
                let parsed = parse_block(shared, &data, first_line);
                if done_tx.send((seq, parsed)).is_err() {
                    break;
                }
            });
        }
        drop(done_tx);
        let mut table = std::mem::take(&mut ds.activity);
        let mut pool = std::mem::take(&mut ds.strings);
        let merger = s.spawn(move || {
            let mut pending = std::collections::BTreeMap::new();
            let mut next = 0usize;
            let mut rep = ValidationReport::default();
            let mut bad = 0usize;
            for (seq, parsed) in done_rx.iter() {
                pending.insert(seq, parsed);
                while let Some(mut p) = pending.remove(&next) {
                    let remap: Vec<u32> = p.pool.strings.iter().map(|s| pool.intern(s)).collect();
                    for v in p.table.source_document.iter_mut().chain(p.table.evidence.iter_mut()) {
                        *v = remap[*v as usize];
                    }
                    table.append(p.table);
                    rep.merge(p.report);
                    bad += p.bad_rows;
                    next += 1;
                }
            }
            (table, pool, rep, bad)
        });
        let mut seq = 0usize;
        let mut next_line = 2u64;
        let mut eof = false;
        while !eof {
            while filled < buf.len() {
                match f.read(&mut buf[filled..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) => {
                        read_error = Some(e.to_string());
                        eof = true;
                        break;
                    }
                }
            }
            let cut = if eof { filled } else { memchr::memrchr(b'\n', &buf[..filled]).map_or(filled, |i| i + 1) };
            if cut == 0 && !eof {
                buf.resize(buf.len() * 2, 0);
                continue;
            }
            let block = buf[..cut].to_vec();
            let lines_in_block = memchr::memchr_iter(b'\n', &block).count() as u64;
            rows += lines_in_block as usize + usize::from(!block.is_empty() && block.last() != Some(&b'\n'));
            if !block.is_empty() && work_tx.send((seq, block, next_line)).is_err() {
                break;
            }
            seq += 1;
            next_line += lines_in_block;
            buf.copy_within(cut..filled, 0);
            filled -= cut;
        }
        drop(work_tx);
        let (table, pool, rep, bad) = merger.join().expect("merge thread");
        ds.activity = table;
        ds.strings = pool;
        report.merge(rep);
        bad_rows = bad;
    });
    if let Some(e) = read_error {
        report.push(RowError {
            file: file.clone(),
            line: 0,
            column: String::new(),
            value: String::new(),
            reason: format!("read error: {e}"),
        });
    }
    ds.carriers = registry.into_inner().expect("carrier registry").carriers;
    report.count_rejected(&file, bad_rows);
    rows
}

/// Finds records that share the key (facility, period, carrier, source_document). Rows are grouped
/// by facility with a counting sort, then each facility's few rows are compared.
pub fn check_duplicate_keys(ds: &Dataset, report: &mut ValidationReport) -> usize {
    let a = &ds.activity;
    let n_fac = ds.facilities.len();
    let mut start = vec![0u32; n_fac + 1];
    for &f in &a.facility {
        start[f as usize + 1] += 1;
    }
    for i in 0..n_fac {
        start[i + 1] += start[i];
    }
    let mut pos = start.clone();
    let mut order = vec![0u32; a.len()];
    for (r, &f) in a.facility.iter().enumerate() {
        order[pos[f as usize] as usize] = r as u32;
        pos[f as usize] += 1;
    }
    let mut dups = 0;
    let mut keys: Vec<(u8, u16, u32, u32)> = Vec::new();
    for f in 0..n_fac {
        let rows = &order[start[f] as usize..start[f + 1] as usize];
        if rows.len() < 2 {
            continue;
        }
        keys.clear();
        keys.extend(rows.iter().map(|&r| {
            let r = r as usize;
            (a.month[r], a.carrier[r], a.source_document[r], r as u32)
        }));
        keys.sort_unstable();
        for w in keys.windows(2) {
            if (w[0].0, w[0].1, w[0].2) == (w[1].0, w[1].1, w[1].2) {
                dups += 1;
                let (first, dup) = (w[0].3 as usize, w[1].3 as usize);
                report.push(RowError {
                    file: ds.files[a.file[dup] as usize].clone(),
                    line: a.line[dup] as u64,
                    column: "facility_code,period,carrier,source_document".into(),
                    value: format!(
                        "{},{}-{:02},{},{}",
                        ds.facilities[f].code,
                        ds.year,
                        a.month[dup],
                        ds.carriers[a.carrier[dup] as usize].code,
                        ds.strings.get(a.source_document[dup])
                    ),
                    reason: format!(
                        "duplicated record key: same facility, period, carrier and source_document as {}:{}",
                        ds.files[a.file[first] as usize], a.line[first]
                    ),
                });
            }
        }
    }
    dups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_plain_and_quoted_fields() {
        let mut out = Vec::new();
        split_fields(b"a,b,,c", &mut out);
        assert_eq!(out.len(), 4);
        split_fields(br#"a,"x, y","say ""hi""",d"#, &mut out);
        let v: Vec<String> = out.iter().map(|c| text(c)).collect();
        assert_eq!(v, vec!["a", "x, y", "say \"hi\"", "d"]);
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
