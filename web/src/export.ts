// Taking things out of the console: every table to CSV (UTF-8 with a byte order mark, so Excel
// reads Chinese) and XLSX, every chart to PNG. One helper for every page: a table is exported from
// what the page shows (its header and rows as printed), so the file's numbers are the page's
// numbers; a figure printed as a plain number ("1,234.5") becomes a number cell in XLSX, anything
// else (a unit, a percentage, a date, a name) stays text as shown.
//
// XLSX is written here, without a dependency: a workbook of one sheet with inline strings in a
// ZIP archive whose entries are stored (no compression), about 150 lines instead of a library of
// several hundred kilobytes in the console's bundle.

export type Cell = string | number
export type Rows = Cell[][]

/** Text of a table cell as the user sees it, without its buttons and inputs. */
function cellText(el: Element): string {
  const c = el.cloneNode(true) as Element
  // A figure printed as a button (explain it) is kept; other controls are not the table's content.
  c.querySelectorAll('button:not(.number-link), input, select, .no-export').forEach((x) => x.remove())
  // Items of a list or paragraphs in a cell are read apart, as the page shows them, not run together.
  c.querySelectorAll('li, p, div, br').forEach((x) => x.after(' '))
  return (c.textContent ?? '').replace(/\s+/g, ' ').trim()
}

const NUMBER = /^[-−]?\d{1,3}(,\d{3})*(\.\d+)?$|^[-−]?\d+(\.\d+)?$/

/** A printed plain number ("1,234.5", "−3") as a number; any other text as it is. */
export function cellValue(text: string): Cell {
  if (NUMBER.test(text)) return Number(text.replace(/,/g, '').replace('−', '-'))
  return text
}

/** The rows of a table as shown: header rows, body rows, footer rows; columns marked
 * `data-export="skip"` (action buttons) left out. */
export function tableRows(table: HTMLTableElement): Rows {
  const rows: Rows = []
  const skip = new Set<number>()
  const head = table.tHead?.rows[0]
  if (head) Array.from(head.cells).forEach((c, i) => { if (c.dataset.export === 'skip') skip.add(i) })
  for (const tr of Array.from(table.rows)) {
    if ((tr as HTMLElement).dataset.export === 'skip') continue
    const header = tr.parentElement?.tagName === 'THEAD'
    const row: Cell[] = []
    Array.from(tr.cells).forEach((c, i) => {
      if (skip.has(i)) return
      const text = cellText(c)
      row.push(header ? text : cellValue(text))
      for (let k = 1; k < c.colSpan; k++) row.push('')
    })
    if (row.some((v) => v !== '')) rows.push(row)
  }
  return rows
}

/** CSV text (RFC 4180, CRLF) with a UTF-8 byte order mark. */
export function csvText(rows: Rows): string {
  const field = (v: Cell) => {
    const s = String(v)
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  return '\uFEFF' + rows.map((r) => r.map(field).join(',')).join('\r\n') + '\r\n'
}

// ---- XLSX: SpreadsheetML parts in a stored ZIP ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

function crc32(b: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** A ZIP archive of `files`, each stored (method 0), names in UTF-8. */
export function zip(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const enc = new TextEncoder()
  const parts: Uint8Array[] = []
  const central: Uint8Array[] = []
  let offset = 0
  for (const f of files) {
    const name = enc.encode(f.name)
    const crc = crc32(f.data)
    const local = new DataView(new ArrayBuffer(30))
    local.setUint32(0, 0x04034b50, true)
    local.setUint16(4, 20, true)
    local.setUint16(6, 0x0800, true) // names in UTF-8
    local.setUint16(8, 0, true) // stored
    local.setUint16(10, 0, true)
    local.setUint16(12, 0x21, true) // 1980-01-01
    local.setUint32(14, crc, true)
    local.setUint32(18, f.data.length, true)
    local.setUint32(22, f.data.length, true)
    local.setUint16(26, name.length, true)
    local.setUint16(28, 0, true)
    const cd = new DataView(new ArrayBuffer(46))
    cd.setUint32(0, 0x02014b50, true)
    cd.setUint16(4, 20, true)
    cd.setUint16(6, 20, true)
    cd.setUint16(8, 0x0800, true)
    cd.setUint16(10, 0, true)
    cd.setUint16(12, 0, true)
    cd.setUint16(14, 0x21, true)
    cd.setUint32(16, crc, true)
    cd.setUint32(20, f.data.length, true)
    cd.setUint32(24, f.data.length, true)
    cd.setUint16(28, name.length, true)
    cd.setUint32(42, offset, true)
    parts.push(new Uint8Array(local.buffer), name, f.data)
    central.push(new Uint8Array(cd.buffer), name)
    offset += 30 + name.length + f.data.length
  }
  const cdSize = central.reduce((n, p) => n + p.length, 0)
  const end = new DataView(new ArrayBuffer(22))
  end.setUint32(0, 0x06054b50, true)
  end.setUint16(8, files.length, true)
  end.setUint16(10, files.length, true)
  end.setUint32(12, cdSize, true)
  end.setUint32(16, offset, true)
  const all = [...parts, ...central, new Uint8Array(end.buffer)]
  const out = new Uint8Array(all.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of all) { out.set(p, at); at += p.length }
  return out
}

const xml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
    // characters XML 1.0 cannot carry
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')

function columnName(i: number): string {
  let s = ''
  for (let n = i + 1; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s
  return s
}

/** An XLSX workbook with one sheet `sheet` holding `rows` (numbers as numbers, the first row bold). */
export function xlsxBytes(rows: Rows, sheet = 'Sheet1'): Uint8Array {
  const enc = new TextEncoder()
  const body = rows.map((r, ri) => {
    const cells = r.map((v, ci) => {
      const ref = `${columnName(ci)}${ri + 1}`
      const style = ri === 0 ? ' s="1"' : ''
      if (typeof v === 'number' && Number.isFinite(v)) return `<c r="${ref}"${style}><v>${v}</v></c>`
      return `<c r="${ref}"${style} t="inlineStr"><is><t xml:space="preserve">${xml(String(v))}</t></is></c>`
    })
    return `<row r="${ri + 1}">${cells.join('')}</row>`
  }).join('')
  const name = xml(sheet.replace(/[\\/?*[\]:]/g, ' ').slice(0, 31) || 'Sheet1')
  const parts: [string, string][] = [
    ['[Content_Types].xml', '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'],
    ['_rels/.rels', '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'],
    ['xl/workbook.xml', `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="${name}" sheetId="1" r:id="rId1"/></sheets></workbook>`],
    ['xl/_rels/workbook.xml.rels', '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>'],
    ['xl/styles.xml', '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs></styleSheet>'],
    ['xl/worksheets/sheet1.xml', `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${body}</sheetData></worksheet>`],
  ]
  return zip(parts.map(([n, d]) => ({ name: n, data: enc.encode(d) })))
}

// ---- downloads ----

/** The file name of an export: `name-YYYYMMDD.ext` (name without characters file systems refuse). */
export function fileName(name: string, ext: string): string {
  const d = new Date()
  const day = `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`
  return `${name.replace(/[\\/:*?"<>|\s]+/g, '_')}-${day}.${ext}`
}

/** Saves `data` as a file in the browser's downloads. */
export function download(data: BlobPart, type: string, name: string) {
  const url = URL.createObjectURL(new Blob([data], { type }))
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

export function downloadCsv(rows: Rows, name: string) {
  download(csvText(rows), 'text/csv;charset=utf-8', fileName(name, 'csv'))
}

export function downloadXlsx(rows: Rows, name: string, sheet?: string) {
  download(xlsxBytes(rows, sheet ?? name) as BlobPart, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', fileName(name, 'xlsx'))
}

/** A PNG from a `data:image/png;base64,...` URL (a chart's image), saved as a file. */
export function downloadPng(dataUrl: string, name: string) {
  const b64 = dataUrl.slice(dataUrl.indexOf(',') + 1)
  const bin = atob(b64)
  const bytes = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
  download(bytes as BlobPart, 'image/png', fileName(name, 'png'))
}
