// The console's language throughout (issue 14): every page of the console in zh, with its server
// answers shown (the explain drawer, a rejected upload, a scenario's plan and LMDI, jobs, alerts,
// site energy with a set-point error), must show no English that came from the server. The server
// sends codes, numbers and ids; the console words them (web/src/i18n.ts). The page's visible text
// and the words of its charts (titles, legends, axis and category labels: `data-words` of
// components/Chart.vue) are collected, and every Latin word that is not on a short allowlist fails
// the test. Text in <code> (ids of factors, org and facility codes, usernames shown as codes) is an
// identifier, not prose, and is left out; so is what a page marks `data-code`: usernames, org and
// facility codes, file names, the raw fields of a rejected row and the values it was refused for
// (what the user wrote), and the audit log's stored records (entity, field names and values as
// hash-chained); and <input> values. The language switch names the other language in that
// language (marked with its `lang`). Tooltips count only on buttons and links (where they are the label).
// The same walk in English checks that no Chinese leaks into an English page either (only names of
// the demo's orgs and facilities, which are data).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { apiToken, base, chartPoints, cspViolations, dataDir, download, login as harnessLogin, shot, skip, startPlatform } from './harness.mjs'

const YEAR = 2024
const DESKTOP = { width: 1440, height: 900 }
const PHONE = { width: 390, height: 844 }

startPlatform({ name: 'language', sites: 200, year: YEAR })

/** The stops of the walk kept as screenshots (docs/screenshots). */
const SHOTS = new Set(['explain-1', 'upload', 'jobs', 'site', 'factors'])

const login = (user, lang, viewport = DESKTOP) => harnessLogin(user, lang, { viewport, pinLocale: true })

// Latin words allowed on a zh page, each for a reason:
const ALLOWED = new Set([
  // units and chemical formulas (SI and the GHG Protocol's own notation; tCO₂e is split at ₂)
  'kWh', 'MWh', 'GWh', 'tCO', 'kgCO', 'tce', 'kgce', 'kg', 'GJ', 'MJ', 'km', 'CO', 'CH', 'N', 'kW', 'Wh', 'kgCO2e', 'tCO2e', 'kgCO2', 'tCO2',
  'kVA', 'Ah', 'Nm', 'Nm3', 'm3', 'TJ', 'tC', 'kgC', 'tkm', 'pkm', 'ppm', 'ms', 'TFLOPS',
  // established abbreviations used as such in Chinese carbon and telecom reports
  'PUE', 'CUE', 'WUE', 'LMDI', 'MACC', 'MAPE', 'sMAPE', 'SoC', 'GWP', 'IPCC', 'GHG', 'AR', 'HFC', 'HCFC', 'PFC', 'SF',
  'NCV', 'CSV', 'XLSX', 'PNG', 'PDF', 'TOML', 'API', 'ID', 'BOM', 'UTF', 'Excel', 'PV', 'MQTT', 'SSE', 'IT', 'TMY', 'GEC', 'Kaya',
  'GB', 'DESNZ', 'ITU', 'TR', 'EARTH', 'Monte', 'Carlo', 'MILP', 'AI', 'TMY3',
  // the shipped weather year's source, cited as such: its data set (CSWD), station number (WMO), file
  // format (EPW) and checksum (SHA-256), the book's ISBN, the software that converts and ships it and
  // that software's licence (EnergyPlus, OpenStudio, BSD)
  'CSWD', 'WMO', 'EPW', 'SHA', 'ISBN', 'EnergyPlus', 'OpenStudio', 'BSD',
  // a standard's own name, cited as such in Chinese ("GHG Protocol 范围二指南", "ISO 14064-1 类别")
  'Protocol', 'ISO',
  // the product's and the demo operator's own names
  'DualCarbon',
])

/** The visible text of the page (without <code>, inputs, scripts) and the words of its charts. */
async function visibleText(page) {
  return page.evaluate(() => {
    const out = []
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    while (walker.nextNode()) {
      const n = walker.currentNode
      const el = n.parentElement
      if (!el || el.closest('code, script, style, noscript, [data-code], [lang]:not(html)')) continue
      if (el.closest('select') && !el.closest('option')?.selected) continue
      if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) continue
      const s = n.textContent.trim()
      if (s) out.push(s)
    }
    for (const c of document.querySelectorAll('[data-words]')) out.push(c.getAttribute('data-words'))
    for (const e of document.querySelectorAll('button[title], a[title], [placeholder]')) {
      if (e.closest('code, [data-code], [lang]:not(html)') || (e.checkVisibility && !e.checkVisibility())) continue
      for (const a of ['title', 'placeholder']) if (e.getAttribute(a)) out.push(e.getAttribute(a))
    }
    return out
  })
}

/** Chemical formulas (CH4, N2O, SF6, CO2e) and IPCC report names (AR6): notation, not words. */
const NOTATION = /^(?:(?:[A-Z][a-z]?\d*)+\d(?:e)?|AR\d)$/

/** The Latin words of `texts` that are not allowed on a zh page, with the text they came from;
 * `codes` are the org codes of the platform (identifiers, as data). */
function english(texts, codes = []) {
  const bad = []
  for (const s of texts) {
    // Codes: org and facility codes (CT-GD-01-BS-0012), factor ids (grid.cn.2022), refrigerant
    // names (R-410A), periods and versions are identifiers, not words.
    const words = s
      // factor set versions (cn-grid@2026.1+fuels-cn@2026.1) and document names (docs/formats.md)
      .replace(/\S*@\d[\w.+@-]*/g, ' ')
      .replace(/\b[\w/-]+\.(?:md|toml|csv|xlsx)\b/g, ' ')
      .replace(/\b[A-Z0-9]+(?:[-_][A-Z0-9]+)+\b/g, ' ')
      .replace(/\b[\w-]+(?:\.[\w-]+){2,}\b/g, ' ')
      .match(/[A-Za-z][A-Za-z0-9]*/g) ?? []
    for (const w of words) {
      if (ALLOWED.has(w) || NOTATION.test(w) || codes.includes(w) || w.length < 2 || /^[A-Z]\d/.test(w) || /^v\d/.test(w)) continue
      bad.push(`${w}  ← ${s.slice(0, 120)}`)
    }
  }
  return [...new Set(bad)]
}

/** Chinese on an English page (org, facility and user names of the demo are data and may be Chinese). */
function chinese(texts, dataNames) {
  const bad = []
  for (const s of texts) {
    // The measure catalogue's English names keep the Chinese term of art in brackets: 共建共享.
    let rest = s.replace(/\([^)]*[\u4e00-\u9fff][^)]*\)/g, ' ')
    for (const n of dataNames) if (n && rest.includes(n)) rest = rest.split(n).join(' ')
    if (/[\u4e00-\u9fff]/.test(rest)) bad.push(s.slice(0, 120))
  }
  return [...new Set(bad)]
}

/** Opens an alert as the tests of alerts do: two hours at PUE 1.6 of a metered data centre. */
async function openAlert() {
  const token = await apiToken('admin')
  const meters = await (await fetch(base + '/api/v1/meters', { headers: { authorization: `Bearer ${token}` } })).json()
  const facility = meters.meters.map((m) => m.facility).find((f) => f)
  const QUARTER = 15 * 60_000
  const end = Math.floor(Date.now() / QUARTER) * QUARTER
  const lines = []
  for (let ts = end - 8 * QUARTER; ts <= end; ts += QUARTER) lines.push(`${facility}-TOT,${ts},1600`, `${facility}-IT,${ts},1000`)
  const r = await fetch(base + '/api/v1/telemetry/readings', {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: lines.join('\n') + '\n',
  })
  assert.equal(r.status, 200)
}

/** `days` hourly days of plain weather (sun, then rain). */
function weatherCsv(days) {
  const rows = ['time,ghi,dni,dhi,temp_air,wind_speed']
  const start = Date.UTC(2023, 0, 1)
  for (let i = 1; i <= days * 24; i++) {
    const t = new Date(start + i * 3600_000)
    const hour = ((i - 1) % 24) + 0.5
    const sun = Math.max(0, Math.sin(((hour - 6) / 12) * Math.PI))
    const [ghi, dni, dhi] = i <= 10 * 24 ? [900 * sun, 700 * sun, 150 * sun] : [120 * sun, 0, 120 * sun]
    rows.push(`${t.toISOString().slice(0, 16)},${ghi.toFixed(1)},${dni.toFixed(1)},${dhi.toFixed(1)},25,2`)
  }
  return rows.join('\n') + '\n'
}

/**
 * Walks every page of the console as `lang` and returns, per stop, the texts found there.
 * `visit(name)` is called at each stop to collect.
 */
async function walk(lang, viewport, visit, period) {
  const nav = async (page, name) => {
    if (viewport === PHONE) {
      await page.click('[data-test=menu-toggle]')
    }
    await page.click(`[data-test=nav-${name}]`)
  }
  // Overview, orgs and a facility, inventory with its explain drawer, quality, audit, factors,
  // alerts, scoreboard, scenarios (plan, LMDI): the group admin.
  const page = await login('admin', lang, viewport)
  await page.waitForSelector('[data-test=overview]')
  await chartPoints(page, '[data-test=monthly-chart]')
  await visit(page, 'overview')
  await page.goto(base + '/orgs/CT-GD-01')
  await page.waitForSelector('[data-test=facility-link]')
  await visit(page, 'orgs')
  await page.locator('[data-test=facility-link]').first().click()
  await page.waitForSelector('[data-test=facility-name]')
  await chartPoints(page, '[data-test=facility-chart]')
  await visit(page, 'facility')
  await nav(page, 'inventory')
  await page.waitForSelector('[data-test=snapshots] tbody tr')
  await page.locator('[data-test=snapshots] tbody tr a').first().click()
  await page.waitForSelector('[data-test=snapshot-rows] tbody tr')
  await visit(page, 'inventory')
  for (const nth of [0, 1, 3]) { // scope 1 (fuels, refrigerants), scope 2 (grid, green power), energy
    await page.locator('[data-test=explain]').nth(nth).click()
    await page.waitForSelector('[data-test=explain-sum]', { timeout: 120_000 })
    await visit(page, `explain-${nth}`)
    await page.click('[data-test=explain-close]')
  }
  for (const name of ['quality', 'audit', 'factors']) {
    await nav(page, name)
    await page.waitForSelector(`[data-test=${name}] tbody tr`, { timeout: 60_000 })
    await visit(page, name)
  }
  await nav(page, 'alerts')
  await page.waitForSelector('[data-test=alert-row]')
  await visit(page, 'alerts')
  await nav(page, 'scoreboard')
  await page.waitForSelector('[data-test=scoreboard]', { timeout: 60_000 })
  await visit(page, 'scoreboard')
  // A disclosure report made from the preselected approved snapshot, in the page's language.
  await nav(page, 'reports')
  await page.waitForSelector('[data-test=report-form]')
  await page.click('[data-test=report-generate]')
  await page.waitForSelector('[data-test=report-result]', { timeout: 180_000 })
  await visit(page, 'reports')
  // The supply chain's page (issue 18), each tab as the group's administrator sees it.
  await nav(page, 'supply')
  await page.waitForSelector('[data-test=supply-page]')
  for (const tab of ['library', 'suppliers', 'scope3', 'tender']) {
    await page.click(`[data-test=tab-${tab}]`)
    await page.waitForTimeout(500)
    await visit(page, `supply-${tab}`)
  }
  await nav(page, 'scenarios')
  await page.waitForSelector('[data-test=scenario-chart]', { timeout: 120_000 })
  await chartPoints(page, '[data-test=scenario-chart]')
  await page.click('[data-test=run-plan]')
  await page.waitForSelector('[data-test=plan-text]', { timeout: 120_000 })
  await page.click('[data-test=run-lmdi]')
  await page.waitForSelector('[data-test=lmdi-text]', { timeout: 120_000 })
  await chartPoints(page, '[data-test=trend-chart]')
  await visit(page, 'scenarios')
  await page.context().close()

  // A filer's upload with rejected rows of every kind the importer words.
  const filer = await login('gd-filer', lang, viewport)
  await filer.goto(base + '/filings')
  await filer.waitForSelector('[data-test=filings]')
  await visit(filer, 'filings')
  await filer.selectOption('[data-test=new-org]', 'CT-GD')
  await filer.fill('[data-test=new-period]', period)
  await filer.click('[data-test=create-filing]')
  await filer.waitForURL(/\/filings\/\d+$/)
  const id = Number(/\/filings\/(\d+)$/.exec(filer.url())[1])
  const template = await (await filer.request.get(`${base}/api/v1/filings/${id}/template.csv`)).text()
  const facility = template.replace(/^\uFEFF/, '').split('\n')[1].split(',')[0]
  const csv = 'facility_code,period,carrier,quantity,unit,source_document,evidence_ref\n' +
    `${facility},${period},electricity,1234.5,kWh,EB1,\n` +
    `${facility},${period},diesel,-40,L,F1,\n` +
    `NOPE-FACILITY,${period},electricity,10,kWh,EB2,\n` +
    `${facility},${period},unobtainium,10,kg,X1,\n` +
    `${facility},${period},electricity,10,furlong,EB3,\n` +
    `${facility},2019-01,electricity,10,kWh,EB4,\n` +
    `${facility},${period},electricity,abc,kWh,EB5,\n`
  const file = join(dataDir, `language-${lang}.csv`)
  writeFileSync(file, csv)
  await filer.setInputFiles('[data-test=upload]', file)
  await filer.waitForSelector('[data-test=rejected-rows] tbody tr')
  await visit(filer, 'upload')
  // The import ran as the filer's job.
  await nav(filer, 'jobs')
  await filer.waitForSelector('[data-test=job]')
  await visit(filer, 'jobs')
  await filer.context().close()

  // Site energy as a province admin: a simulation, and a set point refused.
  const site = await login('gd-admin', lang, viewport)
  await nav(site, 'site')
  await site.waitForSelector('[data-test=site-page]')
  await site.setInputFiles('[data-test=weather-file]', { name: 'weather.csv', mimeType: 'text/csv', buffer: Buffer.from(weatherCsv(14)) })
  await site.click('[data-test=simulate]')
  await chartPoints(site, '[data-test=daily-chart]')
  await site.waitForSelector('[data-test=sp-soc_min]')
  await site.fill('[data-test=sp-soc_min]', '0.9')
  await site.fill('[data-test=sp-reason]', '')
  await site.click('[data-test=sp-save]')
  await site.waitForSelector('[data-test=sp-errors]')
  await visit(site, 'site')
  await site.context().close()
}

/** The org codes of the platform (identifiers shown beside names). */
async function orgCodes() {
  const token = await apiToken('admin')
  const orgs = (await (await fetch(base + '/api/v1/orgs', { headers: { authorization: `Bearer ${token}` } })).json()).orgs
  return orgs.map((o) => o.code)
}

test('zh: no page shows English from the server (every page, the explain drawer, a rejected upload, plan and LMDI, jobs, alerts, site)', { skip, timeout: 900_000 }, async () => {
  await openAlert()
  const codes = await orgCodes()
  const found = {}
  await walk('zh-CN', DESKTOP, async (page, name) => {
    const bad = english(await visibleText(page), codes)
    if (bad.length) found[name] = bad
    if (SHOTS.has(name)) await shot(page, `language-zh-${name}`)
  }, '2025-02')
  assert.deepEqual(found, {}, 'English words on zh pages:\n' + Object.entries(found).map(([k, v]) => `[${k}]\n  ${v.join('\n  ')}`).join('\n'))
})

test('zh at 390 px: the same walk on a phone', { skip, timeout: 900_000 }, async () => {
  const codes = await orgCodes()
  const found = {}
  await walk('zh-CN', PHONE, async (page, name) => {
    const bad = english(await visibleText(page), codes)
    if (bad.length) found[name] = bad
  }, '2025-04')
  assert.deepEqual(found, {}, 'English words on zh pages (390 px):\n' + Object.entries(found).map(([k, v]) => `[${k}]\n  ${v.join('\n  ')}`).join('\n'))
})

test('en: no page shows Chinese but the names of orgs and facilities', { skip, timeout: 900_000 }, async () => {
  const token = await apiToken('admin')
  const orgs = (await (await fetch(base + '/api/v1/orgs', { headers: { authorization: `Bearer ${token}` } })).json()).orgs
  const facilities = (await (await fetch(base + '/api/v1/orgs/CT-GD-01/facilities', { headers: { authorization: `Bearer ${token}` } })).json()).facilities
  const names = [...orgs, ...facilities].map((o) => o.name).sort((a, b) => b.length - a.length)
  const found = {}
  await walk('en', DESKTOP, async (page, name) => {
    // Facility names of the page (data) are left out too.
    const facilityNames = await page.$$eval('[data-name]', (els) => els.map((e) => e.getAttribute('data-name')))
    const bad = chinese(await visibleText(page), [...facilityNames, ...names])
    if (bad.length) found[name] = bad
    if (SHOTS.has(name)) await shot(page, `language-en-${name}`)
  }, '2025-03')
  assert.deepEqual(found, {}, 'Chinese on en pages:\n' + Object.entries(found).map(([k, v]) => `[${k}]\n  ${v.join('\n  ')}`).join('\n'))
})

// Factor sources cite the primary document (crates/factors/data/documents.toml) in the page's
// language: the MEE/NBS announcement by its issuer and number, not the code repository or news
// report the value was read from (that stays, as a link, below it).
for (const lang of ['zh-CN', 'en']) {
  test(`factor sources (${lang}): the primary document, in the page's language, with its number`, { skip }, async () => {
    const page = await login('admin', lang, lang === 'en' ? PHONE : DESKTOP)
    await page.goto(base + '/factors')
    await page.waitForSelector('[data-test=factors] tbody tr')
    await page.fill('[data-test=factor-search]', 'elec.nbs_average.CN-GD.2021')
    const cell = page.locator('[data-test=factors] tbody tr', { hasText: 'elec.nbs_average.CN-GD.2021' }).locator('[data-source]')
    const primary = await cell.locator('[data-test=primary]').textContent()
    if (lang === 'zh-CN') {
      assert.equal(primary, '生态环境部 国家统计局《2021年电力二氧化碳排放因子》 公告 2024年第12号，省级电力平均二氧化碳排放因子表')
      // (the walk above checks that the whole factors page, sources included, is in Chinese)
    } else {
      assert.match(primary, /Ministry of Ecology and Environment \(MEE\) and National Bureau of Statistics \(NBS\), .*Announcement No\. 12 of 2024, provincial table/)
      assert.match(await cell.textContent(), /生态环境部 国家统计局 公告 2024年第12号/, 'the original title beside the translation')
    }
    // The value's transcription stays as a link under the primary document.
    assert.match(await cell.locator('a[data-code]').getAttribute('href'), /github\.com\/felix0220170/)
    // Every shipped factor but the assumed densities names its primary document.
    await page.fill('[data-test=factor-search]', '')
    const rows = await page.locator('[data-test=factors] tbody tr').count()
    const withPrimary = await page.locator('[data-test=factors] tbody tr [data-test=primary]').count()
    const densities = await page.locator('[data-test=factors] tbody tr', { hasText: 'fuel.density.' }).count()
    assert.equal(withPrimary, rows - densities)
    await shot(page, `factors-sources-${lang === 'en' ? 'en' : 'zh'}`)
    await page.context().close()
  })
}

// Filing templates in the user's language (CSV with a BOM, XLSX with its instructions sheet); the
// zh template, filled in as a spreadsheet writes it, is accepted like the canonical one.
for (const [lang, viewport, period] of [['zh-CN', DESKTOP, '2025-05'], ['en', PHONE, '2025-06']]) {
  test(`templates (${lang}, ${viewport.width} px): header and instructions in the page's language; the filled template is accepted`, { skip }, async () => {
    const page = await login('gd-filer', lang, viewport)
    await page.goto(base + '/filings')
    await page.waitForSelector('[data-test=filings]')
    await page.selectOption('[data-test=new-org]', 'CT-GD')
    await page.fill('[data-test=new-period]', period)
    await page.click('[data-test=create-filing]')
    await page.waitForURL(/\/filings\/\d+$/)
    const csv = await download(page, '[data-test=template]')
    assert.deepEqual([...csv.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a UTF-8 byte order mark')
    const lines = csv.bytes.toString('utf8').slice(1).trim().split(/\r?\n/)
    if (lang === 'zh-CN') {
      assert.equal(lines[0], '设施编码,期间,能源品种,数量,单位,凭证号,证明材料,设施名称')
      assert.match(lines[1], new RegExp(`^[^,]+,${period},电力,,千瓦时,`))
    } else {
      assert.equal(lines[0], 'facility_code,period,carrier,quantity,unit,source_document,evidence_ref,facility_name')
      assert.match(lines[1], new RegExp(`^[^,]+,${period},electricity,,kWh,`))
    }
    const xlsx = await download(page, '[data-test=template-xlsx]')
    const sheets = execFileSync('/usr/bin/python3', ['-c', `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(z.read('xl/workbook.xml').decode())
print(z.read('xl/worksheets/sheet2.xml').decode())`, xlsx.path], { encoding: 'utf8' })
    if (lang === 'zh-CN') {
      assert.match(sheets, /<sheet name="说明"/)
      assert.match(sheets, /千分位/)
      assert.doesNotMatch(sheets, /thousands may be grouped/)
    } else {
      assert.match(sheets, /<sheet name="instructions"/)
      assert.match(sheets, /thousands may be grouped/)
      assert.doesNotMatch(sheets, /千分位/)
    }
    // The first line filled in ("1,234" quoted, as a spreadsheet saves it) and uploaded as is.
    const cells = lines[1].split(',')
    cells[3] = '"1,234"'
    cells[5] = 'TPL-1'
    const file = join(dataDir, `template-${lang}.csv`)
    writeFileSync(file, '\uFEFF' + [lines[0], cells.join(',')].join('\n') + '\n')
    await page.setInputFiles('[data-test=upload]', file)
    await page.waitForSelector('[data-test=upload-report]')
    assert.match(await page.textContent('[data-test=upload-report]'), lang === 'en' ? /\b1 rows accepted/ : /接受 1 行/)
    await shot(page, `template-upload-${lang === 'en' ? 'en' : 'zh'}`)
    await page.context().close()
  })
}

test('no page of the walk broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
