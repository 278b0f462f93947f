//! The report as a PDF: A4, one font (a CJK face given by the caller, e.g. Noto Sans CJK SC),
//! embedded as a subset (only the glyphs used, `subsetter`) in a CID font with a ToUnicode map,
//! so the text can be searched and extracted (pdftotext). Written object by object with
//! `pdf-writer`: no dates, no random ids, so the same report gives the same bytes.
//!
//! Layout is a simple flow: a title block, then per section a heading, paragraphs, bar charts and
//! tables (header repeated on a new page), a references appendix, and a footer on every page with
//! the snapshot, the report's hash and the page number.

use crate::{Cell, Chart, Report, ReportError, Table};
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const TOP: f32 = PAGE_H - MARGIN;
const BOTTOM: f32 = MARGIN + 20.0;
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN;
const BLUE: (f32, f32, f32) = (0.16, 0.42, 0.66);

enum Op {
    Text { x: f32, y: f32, size: f32, text: String, gray: f32 },
    Rect { x: f32, y: f32, w: f32, h: f32, rgb: (f32, f32, f32) },
    Line { x1: f32, y1: f32, x2: f32, y2: f32, gray: f32 },
}

struct Metrics<'a> {
    face: ttf_parser::Face<'a>,
    upem: f32,
}

impl Metrics<'_> {
    fn advance(&self, c: char) -> f32 {
        let g = self.face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
        self.face.glyph_hor_advance(g).unwrap_or(0) as f32 / self.upem
    }
    fn width(&self, s: &str, size: f32) -> f32 {
        s.chars().map(|c| self.advance(c)).sum::<f32>() * size
    }
    /// Lines of `text` no wider than `width` at `size`: breaks at a space where there is one in
    /// the line (Latin text), anywhere otherwise (Chinese).
    fn wrap(&self, text: &str, width: f32, size: f32) -> Vec<String> {
        let mut out = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            let mut w = 0.0;
            for c in para.chars() {
                let cw = self.advance(c) * size;
                if w + cw > width && !line.is_empty() {
                    if c == ' ' {
                        out.push(std::mem::take(&mut line));
                        w = 0.0;
                        continue;
                    }
                    let is_latin = c.is_ascii_alphanumeric() || c.is_ascii_punctuation();
                    match line.rfind(' ').filter(|_| is_latin) {
                        Some(i) if i > 0 => {
                            let rest = line[i + 1..].to_string();
                            line.truncate(i);
                            out.push(std::mem::replace(&mut line, rest));
                            w = self.width(&line, size);
                        }
                        _ => {
                            out.push(std::mem::take(&mut line));
                            w = 0.0;
                        }
                    }
                }
                line.push(c);
                w += cw;
            }
            out.push(line);
        }
        out
    }
}

struct Layout<'a> {
    m: &'a Metrics<'a>,
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Layout<'_> {
    fn page(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a page")
    }
    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }
    fn ensure(&mut self, h: f32) {
        if self.y - h < BOTTOM {
            self.new_page();
        }
    }
    fn text(&mut self, x: f32, y: f32, size: f32, text: &str, gray: f32) {
        if !text.is_empty() {
            self.page().push(Op::Text { x, y, size, text: text.to_string(), gray });
        }
    }
    fn paragraph(&mut self, text: &str, size: f32, indent: f32, gray: f32) {
        let lead = size * 1.5;
        for l in self.m.wrap(text, WIDTH - indent, size) {
            self.ensure(lead);
            self.y -= lead;
            let y = self.y;
            self.text(MARGIN + indent, y + size * 0.3, size, &l, gray);
        }
    }
    fn heading(&mut self, text: &str, size: f32) {
        self.ensure(size * 2.0 + 60.0);
        self.y -= size * 0.8;
        self.paragraph(text, size, 0.0, 0.0);
        self.y -= 4.0;
        let y = self.y;
        self.page().push(Op::Line { x1: MARGIN, y1: y, x2: MARGIN + WIDTH, y2: y, gray: 0.6 });
        self.y -= 6.0;
    }

    fn chart(&mut self, c: &Chart) {
        if c.bars.is_empty() {
            return;
        }
        let size = 8.0;
        let bar_h = 11.0;
        let h = 18.0 + c.bars.len() as f32 * (bar_h + 4.0) + 8.0;
        self.ensure(h);
        self.y -= 14.0;
        let y = self.y;
        self.text(MARGIN, y, 9.0, &format!("{} ({})", c.title, c.unit), 0.0);
        self.y -= 6.0;
        let label_w = 140.0;
        let value_w = 90.0;
        let max = c.bars.iter().map(|b| b.1.abs()).fold(0.0f32, |a, v| a.max(v as f32));
        for (label, v) in &c.bars {
            self.y -= bar_h + 4.0;
            let y = self.y;
            let label = self.m.wrap(label, label_w - 6.0, size).into_iter().next().unwrap_or_default();
            self.text(MARGIN, y + 2.5, size, &label, 0.2);
            let w = if max > 0.0 { (v.abs() as f32 / max) * (WIDTH - label_w - value_w) } else { 0.0 };
            self.page().push(Op::Rect { x: MARGIN + label_w, y, w: w.max(0.5), h: bar_h, rgb: BLUE });
            let printed = crate::format_number(*v, 2);
            self.text(MARGIN + label_w + w + 4.0, y + 2.5, size, &printed, 0.2);
        }
        self.y -= 8.0;
    }

    fn table(&mut self, t: &Table, refs_label: &str) {
        let size = 7.5;
        let lead = size * 1.35;
        let pad = 3.0;
        let m = self.m;
        // Printed cells, with the row's references as a last column.
        let mut header: Vec<String> = t
            .columns
            .iter()
            .map(|c| if c.unit.is_empty() { c.label.clone() } else { format!("{} ({})", c.label, c.unit) })
            .collect();
        header.push(refs_label.to_string());
        let rows: Vec<(Vec<String>, Vec<bool>)> = t
            .rows
            .iter()
            .map(|r| {
                let mut ids: Vec<u32> =
                    r.iter().filter_map(|c| if let Cell::Num { r, .. } = c { *r } else { None }).collect();
                ids.dedup();
                let mut cells: Vec<String> = r.iter().map(Cell::printed).collect();
                let mut numeric: Vec<bool> = r.iter().map(|c| matches!(c, Cell::Num { .. })).collect();
                cells.push(ids.iter().map(|i| format!("[{i}]")).collect());
                numeric.push(false);
                (cells, numeric)
            })
            .collect();
        let n = header.len();
        let mut natural = vec![0.0f32; n];
        let mut is_num = vec![true; n];
        for (c, h) in header.iter().enumerate() {
            natural[c] = h.split(' ').map(|w| m.width(w, size)).fold(0.0, f32::max).max(m.width(h, size).min(90.0));
        }
        for (cells, numeric) in &rows {
            for c in 0..n {
                natural[c] = natural[c].max(m.width(&cells[c], size));
                if !numeric[c] && !cells[c].is_empty() {
                    is_num[c] = false;
                }
            }
        }
        let mut widths: Vec<f32> = natural.iter().map(|w| w + 2.0 * pad).collect();
        let total: f32 = widths.iter().sum();
        if total > WIDTH {
            // Numbers keep their width; text columns share what is left.
            let fixed: f32 = (0..n).filter(|c| is_num[*c]).map(|c| widths[c]).sum();
            let flexible: f32 = (0..n).filter(|c| !is_num[*c]).map(|c| widths[c]).sum();
            let left = (WIDTH - fixed).max(40.0);
            for c in 0..n {
                if !is_num[c] {
                    widths[c] = (widths[c] / flexible * left).max(36.0);
                }
            }
        } else {
            let extra = (WIDTH - total) / n as f32;
            for w in &mut widths {
                *w += extra;
            }
        }
        let xs: Vec<f32> = widths
            .iter()
            .scan(MARGIN, |x, w| {
                let at = *x;
                *x += w;
                Some(at)
            })
            .collect();
        let wrap_row = |cells: &[String]| -> Vec<Vec<String>> {
            cells.iter().enumerate().map(|(c, s)| m.wrap(s, widths[c] - 2.0 * pad, size)).collect()
        };
        let head_lines = wrap_row(&header);
        let head_h = head_lines.iter().map(Vec::len).max().unwrap_or(1) as f32 * lead + 2.0 * pad;
        self.ensure(16.0 + head_h + lead * 2.0);
        self.y -= 14.0;
        let y = self.y;
        self.text(MARGIN, y, 9.0, &t.title, 0.0);
        self.y -= 4.0;
        let draw_header = |me: &mut Self| {
            me.y -= head_h;
            let y = me.y;
            me.page().push(Op::Rect { x: MARGIN, y, w: WIDTH, h: head_h, rgb: (0.90, 0.93, 0.96) });
            for (c, lines) in head_lines.iter().enumerate() {
                for (i, l) in lines.iter().enumerate() {
                    let ty = y + head_h - pad - (i as f32 + 1.0) * lead + size * 0.3;
                    me.text(xs[c] + pad, ty, size, l, 0.0);
                }
            }
        };
        draw_header(self);
        for (cells, numeric) in &rows {
            let lines = wrap_row(cells);
            let h = lines.iter().map(Vec::len).max().unwrap_or(1) as f32 * lead + 2.0 * pad;
            if self.y - h < BOTTOM {
                self.new_page();
                draw_header(self);
            }
            self.y -= h;
            let y = self.y;
            self.page().push(Op::Line { x1: MARGIN, y1: y, x2: MARGIN + WIDTH, y2: y, gray: 0.85 });
            for (c, ls) in lines.iter().enumerate() {
                for (i, l) in ls.iter().enumerate() {
                    let ty = y + h - pad - (i as f32 + 1.0) * lead + size * 0.3;
                    let x = if numeric[c] { xs[c] + widths[c] - pad - m.width(l, size) } else { xs[c] + pad };
                    self.text(x, ty, size, l, 0.1);
                }
            }
        }
        for note in &t.notes {
            self.paragraph(note, 7.0, 0.0, 0.35);
        }
        self.y -= 6.0;
    }
}

/// Glyphs used, remapped for the subset, with their text for the ToUnicode map.
struct Glyphs<'a> {
    face: &'a ttf_parser::Face<'a>,
    remapper: subsetter::GlyphRemapper,
    chars: BTreeMap<u16, char>,
    missing: BTreeSet<char>,
}

impl Glyphs<'_> {
    fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            // Subscript and superscript digits (CO₂, m³) fall back to plain digits where the
            // face has none.
            let c = if self.face.glyph_index(c).is_none() { plain_digit(c) } else { c };
            let old = match self.face.glyph_index(c) {
                Some(g) => g.0,
                None => {
                    if !c.is_whitespace() {
                        self.missing.insert(c);
                    }
                    0
                }
            };
            let new = self.remapper.remap(old);
            if old != 0 {
                self.chars.entry(new).or_insert(c);
            }
            out.extend_from_slice(&new.to_be_bytes());
        }
        out
    }
}

fn plain_digit(c: char) -> char {
    match c {
        '₀'..='₉' => char::from(b'0' + (c as u32 - '₀' as u32) as u8),
        '²' => '2',
        '³' => '3',
        '¹' => '1',
        _ => c,
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

/// The face's PostScript name (name id 6), for the font's BaseFont.
fn postscript_name(face: &ttf_parser::Face<'_>) -> String {
    face.names()
        .into_iter()
        .filter(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
        .find_map(|n| n.to_string())
        .unwrap_or_else(|| "Font".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// The family name of a face (name id 1), to pick the Simplified Chinese face of a collection.
pub fn family_name(data: &[u8], index: u32) -> Option<String> {
    let face = ttf_parser::Face::parse(data, index).ok()?;
    face.names().into_iter().filter(|n| n.name_id == ttf_parser::name_id::FAMILY).find_map(|n| n.to_string())
}

pub fn write(r: &Report, font: &[u8], index: u32) -> Result<Vec<u8>, ReportError> {
    let face = ttf_parser::Face::parse(font, index).map_err(|e| ReportError::Font { reason: e.to_string() })?;
    let metrics = Metrics { upem: face.units_per_em() as f32, face: face.clone() };
    let mut l = Layout { m: &metrics, pages: Vec::new(), y: TOP };
    l.new_page();
    // Title block.
    l.y -= 40.0;
    let y = l.y;
    l.page().push(Op::Rect { x: MARGIN, y, w: WIDTH, h: 4.0, rgb: BLUE });
    l.y -= 10.0;
    l.paragraph(&r.title, 18.0, 0.0, 0.0);
    l.y -= 10.0;
    let lang = r.lang;
    let meta = [
        (lang.t("报告主体", "Organisation"), format!("{} ({})", r.org_name, r.org_code)),
        (lang.t("报告期", "Period"), r.year.to_string()),
        (lang.t("数据来源", "Built from"), r.source.clone()),
        (lang.t("因子库", "Factor library"), format!("{} ({})", r.library_version, r.library_fingerprint)),
        (lang.t("报告哈希（SHA-256）", "Report hash (SHA-256)"), r.hash.clone()),
    ];
    for (k, v) in &meta {
        l.paragraph(&format!("{k}: {v}"), 9.0, 0.0, 0.2);
    }
    l.y -= 8.0;
    let refs_label = lang.t("引用", "Ref.");
    for (i, s) in r.sections.iter().enumerate() {
        l.heading(&format!("{}. {}", i + 1, s.title), 13.0);
        for p in &s.paragraphs {
            l.paragraph(p, 9.0, 0.0, 0.1);
            l.y -= 3.0;
        }
        for c in &s.charts {
            l.chart(c);
        }
        for t in &s.tables {
            l.table(t, refs_label);
        }
    }
    l.heading(lang.t("附录：方法与排放因子引用", "Appendix: methods and factors referenced"), 13.0);
    for rf in &r.references {
        l.paragraph(&format!("[{}] {}", rf.id, rf.method), 8.5, 0.0, 0.0);
        for f in &rf.factors {
            l.paragraph(f, 7.0, 14.0, 0.3);
        }
        l.y -= 2.0;
    }
    // Footer on every page.
    let n = l.pages.len();
    let who = r
        .snapshot
        .map_or_else(|| format!("{} {}", r.org_code, r.year), |s| format!("{} {s}", lang.t("快照", "snapshot")));
    for (i, page) in l.pages.iter_mut().enumerate() {
        let text = format!("{} · {who} · SHA-256 {} · {}/{}", r.org_code, &r.hash[..16.min(r.hash.len())], i + 1, n);
        page.push(Op::Line { x1: MARGIN, y1: MARGIN + 10.0, x2: MARGIN + WIDTH, y2: MARGIN + 10.0, gray: 0.7 });
        page.push(Op::Text { x: MARGIN, y: MARGIN, size: 7.0, text, gray: 0.4 });
    }

    // Write.
    let mut glyphs = Glyphs {
        face: &face,
        remapper: subsetter::GlyphRemapper::new(),
        chars: BTreeMap::new(),
        missing: BTreeSet::new(),
    };
    let mut alloc = Ref::new(1);
    let catalog_id = alloc.bump();
    let pages_id = alloc.bump();
    let info_id = alloc.bump();
    let font_id = alloc.bump();
    let cid_id = alloc.bump();
    let descriptor_id = alloc.bump();
    let cmap_id = alloc.bump();
    let file_id = alloc.bump();
    let page_ids: Vec<(Ref, Ref)> = (0..n).map(|_| (alloc.bump(), alloc.bump())).collect();
    let mut pdf = Pdf::new();
    pdf.set_version(1, 7);
    pdf.catalog(catalog_id).pages(pages_id).lang(TextStr(lang.t("zh-CN", "en")));
    pdf.pages(pages_id).kids(page_ids.iter().map(|p| p.0)).count(n as i32);
    let mut info = pdf.document_info(info_id);
    info.title(TextStr(&r.title));
    info.producer(TextStr("DualCarbon"));
    info.subject(TextStr(&format!("sha256:{}", r.hash)));
    info.finish();
    let font_name = Name(b"F1");
    for (ops, (page_id, content_id)) in l.pages.iter().zip(&page_ids) {
        let mut c = Content::new();
        for op in ops {
            match op {
                Op::Text { x, y, size, text, gray } => {
                    let bytes = glyphs.encode(text);
                    c.set_fill_gray(*gray);
                    c.begin_text();
                    c.set_font(font_name, *size);
                    c.set_text_matrix([1.0, 0.0, 0.0, 1.0, *x, *y]);
                    c.show(Str(&bytes));
                    c.end_text();
                }
                Op::Rect { x, y, w, h, rgb } => {
                    c.set_fill_rgb(rgb.0, rgb.1, rgb.2);
                    c.rect(*x, *y, *w, *h);
                    c.fill_nonzero();
                }
                Op::Line { x1, y1, x2, y2, gray } => {
                    c.set_stroke_gray(*gray);
                    c.set_line_width(0.5);
                    c.move_to(*x1, *y1);
                    c.line_to(*x2, *y2);
                    c.stroke();
                }
            }
        }
        let data = deflate(&c.finish());
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(pages_id);
        page.contents(*content_id);
        page.resources().fonts().pair(font_name, font_id);
        page.finish();
        pdf.stream(*content_id, &data).filter(Filter::FlateDecode);
    }
    if !glyphs.missing.is_empty() {
        let list: String = glyphs.missing.iter().collect();
        return Err(ReportError::Font { reason: format!("the font has no glyph for: {list}") });
    }
    let subset = subsetter::subset(font, index, &glyphs.remapper)
        .map_err(|e| ReportError::Font { reason: format!("subsetting: {e}") })?;
    let cff = face.tables().cff.is_some();
    // A subset tag from the glyphs used (deterministic).
    let mut h: u32 = 2166136261;
    for g in glyphs.remapper.remapped_gids() {
        h = (h ^ g as u32).wrapping_mul(16777619);
    }
    let tag: String = (0..6).map(|i| (b'A' + ((h >> (i * 5)) % 26) as u8) as char).collect();
    let base = format!("{tag}+{}", postscript_name(&face));
    let system = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };
    pdf.type0_font(font_id)
        .base_font(Name(base.as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_id)
        .to_unicode(cmap_id);
    let upem = metrics.upem;
    let widths: Vec<f32> = glyphs
        .remapper
        .remapped_gids()
        .map(|old| face.glyph_hor_advance(ttf_parser::GlyphId(old)).unwrap_or(0) as f32 * 1000.0 / upem)
        .collect();
    let mut cid = pdf.cid_font(cid_id);
    cid.subtype(if cff { CidFontType::Type0 } else { CidFontType::Type2 });
    cid.base_font(Name(base.as_bytes()));
    cid.system_info(system);
    cid.font_descriptor(descriptor_id);
    cid.default_width(1000.0);
    cid.widths().consecutive(0, widths.iter().copied());
    if !cff {
        cid.cid_to_gid_map_predefined(Name(b"Identity"));
    }
    cid.finish();
    let bbox = face.global_bounding_box();
    let scale = |v: i16| v as f32 * 1000.0 / upem;
    let mut d = pdf.font_descriptor(descriptor_id);
    d.name(Name(base.as_bytes()))
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(scale(bbox.x_min), scale(bbox.y_min), scale(bbox.x_max), scale(bbox.y_max)))
        .italic_angle(0.0)
        .ascent(scale(face.ascender()))
        .descent(scale(face.descender()))
        .cap_height(scale(face.capital_height().unwrap_or(face.ascender())))
        .stem_v(80.0);
    if cff {
        d.font_file3(file_id);
    } else {
        d.font_file2(file_id);
    }
    d.finish();
    let mut cmap = UnicodeCmap::new(Name(b"Custom"), system);
    for (g, c) in &glyphs.chars {
        cmap.pair(*g, *c);
    }
    let cmap = cmap.finish();
    pdf.cmap(cmap_id, &cmap);
    let compressed = deflate(&subset);
    let mut file = pdf.stream(file_id, &compressed);
    file.filter(Filter::FlateDecode);
    if cff {
        file.pair(Name(b"Subtype"), Name(b"OpenType"));
    }
    file.finish();
    Ok(pdf.finish())
}
