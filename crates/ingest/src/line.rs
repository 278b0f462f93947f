//! The CSV dialect of activity files, in one place: what a line is, how it splits into fields and
//! which lines are refused. The parser that validates a file and the reader that stores its rows
//! both use these functions, so the line a verdict names is the line that is stored.
//!
//! - A line ends at LF; one CR before the LF is part of the ending (CRLF, Excel's default).
//!   Lines are numbered from 1 (the header) by the LFs before them; blank lines count but are
//!   skipped.
//! - Fields are separated by commas; a field may be quoted (RFC 4180: `"a,b"`, `""` inside
//!   quotes), but a quoted field never spans lines: a line break is not data in these files.
//! - A line is refused whole (never split, joined or cut) when it holds a bare CR, a NUL byte or
//!   bytes that are not UTF-8, is longer than [`MAX_LINE_BYTES`], leaves a quote open, or has more
//!   fields than the header names.

use std::borrow::Cow;
use std::io::BufRead;

/// The longest line taken (bytes, without the line ending): a row of activity.csv is under
/// 200 bytes; anything near this is not a bill.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// A line without its LF and one CR before it.
pub fn strip_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether a line (without its ending) is blank: only ASCII whitespace. Blank lines are skipped.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Why a line (without its ending) cannot be read as a row, before its fields are looked at.
pub fn line_problem(line: &[u8]) -> Option<String> {
    if line.len() > MAX_LINE_BYTES {
        return Some(format!("the line is {} bytes long, over the limit of {MAX_LINE_BYTES}", line.len()));
    }
    if let Some(i) = memchr::memchr2(b'\r', 0, line) {
        return Some(if line[i] == 0 {
            format!("a NUL byte at byte {} of the line: the file is not a text CSV", i + 1)
        } else {
            format!(
                "a bare carriage return (CR) at byte {} of the line: lines end with LF or CRLF, and a field cannot hold a line break",
                i + 1
            )
        });
    }
    if !line.is_ascii() {
        if let Err(e) = std::str::from_utf8(line) {
            return Some(format!(
                "bytes that are not UTF-8 at byte {} of the line: save the file as UTF-8 CSV",
                e.valid_up_to() + 1
            ));
        }
    }
    None
}

/// Splits a line (without its ending) into fields. Err when a quote is left open (a quoted field
/// that would span lines) or text follows a closing quote.
pub fn split_fields<'b>(line: &'b [u8], out: &mut Vec<Cow<'b, [u8]>>) -> Result<(), String> {
    out.clear();
    if memchr::memchr(b'"', line).is_none() {
        let mut start = 0;
        for comma in memchr::memchr_iter(b',', line) {
            out.push(Cow::Borrowed(&line[start..comma]));
            start = comma + 1;
        }
        out.push(Cow::Borrowed(&line[start..]));
        return Ok(());
    }
    let mut field = Vec::new();
    let mut in_quotes = false;
    let mut closed = false;
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
                    closed = true;
                }
            } else {
                field.push(c);
            }
        } else if c == b',' {
            out.push(Cow::Owned(std::mem::take(&mut field)));
            closed = false;
        } else if closed && c.is_ascii_whitespace() {
            // Spaces after a closing quote are not part of the field.
        } else if closed {
            return Err(format!(
                "text after a closing quote in field {} (write a quote inside a quoted field as \"\")",
                out.len() + 1
            ));
        } else if c == b'"' && field.iter().all(u8::is_ascii_whitespace) {
            field.clear();
            in_quotes = true;
        } else if c == b'"' {
            return Err(format!(
                "a quote inside unquoted field {} (quote the whole field and write the quote as \"\")",
                out.len() + 1
            ));
        } else {
            field.push(c);
        }
        i += 1;
    }
    if in_quotes {
        return Err(format!(
            "quote left open in field {}: a quoted field must close on its own line (fields cannot hold line breaks)",
            out.len() + 1
        ));
    }
    out.push(Cow::Owned(field));
    Ok(())
}

/// The lines of a file as the validator numbers them: (line number, line without its ending),
/// blank lines skipped. A line longer than [`MAX_LINE_BYTES`] is returned cut to one byte over
/// the limit (so that it is refused as too long) without holding the rest in memory.
pub struct Lines<R> {
    reader: R,
    next_no: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Lines<R> {
        Lines { reader, next_no: 1, buf: Vec::new() }
    }

    /// Reads the next line into `buf`: its number and how many of its bytes (without the ending)
    /// are there, or None at the end of the file.
    fn read_line(&mut self) -> std::io::Result<Option<(u64, usize)>> {
        self.buf.clear();
        let mut any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            // Past the limit the bytes are skipped, not kept: one byte over is enough to refuse it.
            let room = (MAX_LINE_BYTES + 3).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&available[..take.min(room)]);
            self.reader.consume(take);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        let no = self.next_no;
        self.next_no += 1;
        Ok(Some((no, strip_ending(&self.buf).len().min(MAX_LINE_BYTES + 1))))
    }

    /// The next line, blank or not: (number, bytes without the ending), or None at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, &[u8])>> {
        Ok(self.read_line()?.map(|(no, len)| (no, &self.buf[..len])))
    }

    /// The next non-blank line.
    pub fn next_row(&mut self) -> std::io::Result<Option<(u64, &[u8])>> {
        loop {
            match self.read_line()? {
                None => return Ok(None),
                Some((no, len)) if !is_blank(&self.buf[..len]) => return Ok(Some((no, &self.buf[..len]))),
                Some(_) => {}
            }
        }
    }
}

/// The names of a header line (without its ending), as the validator reads them: a BOM at the
/// start dropped, each name trimmed.
pub fn header_names(line: &[u8]) -> Result<Vec<String>, String> {
    let line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
    if let Some(reason) = line_problem(line) {
        return Err(reason);
    }
    let mut fields = Vec::new();
    split_fields(line, &mut fields)?;
    Ok(fields.iter().map(|f| String::from_utf8_lossy(trim(f)).into_owned()).collect())
}

/// ASCII whitespace trimmed from both ends (what the validator compares).
pub fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let e = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(s, |e| e + 1);
    &b[s..e]
}

/// The most of a field kept when a rejected row is stored: enough to see and fix it.
pub const MAX_KEPT_FIELD_BYTES: usize = 1024;

/// The activity columns in the order they are stored.
pub const ACTIVITY_COLUMNS: [&str; 7] =
    ["facility_code", "period", "carrier", "quantity", "unit", "source_document", "evidence_ref"];

/// One non-blank line of an activity file as it is stored: its number and its seven activity
/// fields (trimmed; for a line that is not a row, made storable: control bytes replaced, long
/// fields cut), and why it is not a row, if it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub line: u64,
    pub fields: [String; 7],
    pub problem: Option<LineProblem>,
}

/// Why a line is not a row (the parser of a file refuses it for the same reason): and how it
/// starts, to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub reason: String,
    /// The first 200 bytes of the line, as text.
    pub start: String,
}

/// Reads an activity file's rows the way the file's parser does (same lines, numbers, header,
/// fields and refusals of a line), so that its rows can be checked and stored in one pass
/// ([`crate::rows::ActivityRows::push_raw`]).
pub struct ActivityRowReader<R> {
    lines: Lines<R>,
    cols: crate::activity::Cols,
}

impl<R: BufRead> ActivityRowReader<R> {
    /// Reads the header (line 1). Err when the file has no readable header or lacks a required
    /// column: the error the file's parser gives, naming `file`.
    pub fn new(reader: R, file: &str) -> std::io::Result<Result<ActivityRowReader<R>, crate::RowError>> {
        let mut lines = Lines::new(reader);
        let whole_file = |line: u64, reason: String| crate::RowError {
            file: file.to_string(),
            line,
            column: String::new(),
            value: String::new(),
            reason,
        };
        let names = match lines.next_line()? {
            Some((_, header)) => header_names(header).map_err(|reason| whole_file(1, format!("header: {reason}"))),
            None => Err(whole_file(0, "empty file: a header row is required".to_string())),
        };
        Ok(names
            .and_then(|names| crate::activity::Cols::of_header(file, &names))
            .map(|cols| ActivityRowReader { lines, cols }))
    }

    /// The next non-blank line.
    pub fn next_row(&mut self) -> std::io::Result<Option<RawRow>> {
        let cols = self.cols;
        let Some((line, bytes)) = self.lines.next_row()? else { return Ok(None) };
        let mut split = Vec::new();
        let problem = line_problem(bytes)
            .or_else(|| split_fields(bytes, &mut split).err())
            .or_else(|| cols.shape_problem(split.len()));
        let clean = problem.is_none();
        if !clean {
            // Shown as the commas cut it, so the filer sees what is there.
            split = bytes.split(|&b| b == b',').map(Cow::Borrowed).collect();
        }
        let at = cols.positions();
        let field = |i: usize| {
            let f = at[i].and_then(|c| split.get(c)).map_or(&[][..], |f| trim(f));
            if clean {
                return String::from_utf8_lossy(f).into_owned();
            }
            let mut s: String =
                String::from_utf8_lossy(f).chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
            if s.len() > MAX_KEPT_FIELD_BYTES {
                let mut cut = MAX_KEPT_FIELD_BYTES;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push('…');
            }
            s
        };
        let problem = problem.map(|reason| LineProblem {
            reason,
            start: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
        });
        Ok(Some(RawRow { line, fields: std::array::from_fn(field), problem }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        split_fields(line.as_bytes(), &mut out)?;
        Ok(out.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect())
    }

    #[test]
    fn quoting() {
        assert_eq!(fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(fields(r#""a,b","say ""hi""",c"#).unwrap(), ["a,b", r#"say "hi""#, "c"]);
        assert_eq!(fields(r#" "a" ,b"#).unwrap(), ["a", "b"]);
        assert!(fields(r#""open,b"#).unwrap_err().contains("quote left open"));
        assert!(fields(r#""a"x,b"#).unwrap_err().contains("after a closing quote"));
        assert!(fields(r#"a"b,c"#).unwrap_err().contains("inside unquoted"));
    }

    #[test]
    fn problems() {
        assert!(line_problem(b"a,b\rc,d").unwrap().contains("bare carriage return"));
        assert!(line_problem(b"a,\0").unwrap().contains("NUL"));
        assert!(line_problem(b"a,\xff").unwrap().contains("not UTF-8"));
        assert!(line_problem("a,广东".as_bytes()).is_none());
        assert!(line_problem(&vec![b'a'; MAX_LINE_BYTES + 1]).unwrap().contains("over the limit"));
    }

    #[test]
    fn lines_number_like_the_validator_and_bound_long_lines() {
        let mut data = b"h\r\n\r\nx,1\r\n  \nlong:".to_vec();
        data.extend(vec![b'z'; 3 * MAX_LINE_BYTES]);
        data.extend(b"\nlast");
        let mut l = Lines::new(std::io::BufReader::with_capacity(1024, &data[..]));
        let mut got = Vec::new();
        while let Some((no, line)) = l.next_row().unwrap() {
            got.push((no, line.len().min(10), line.len() > MAX_LINE_BYTES));
        }
        assert_eq!(got, [(1, 1, false), (3, 3, false), (5, 10, true), (6, 4, false)]);
    }
}
