// Browser tests of the web console: Debian's chromium driven by playwright-core against a real
// `dualcarbon demo` server (embedded console, SQLite, a small generated operator) on 127.0.0.1,
// started by the shared harness (tests/harness.mjs). Run with `npm test` after building the console
// and the binary (scripts/test-all does both). With CI=true a missing chromium or binary fails the suite.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { api, base, browser, chartPoints, cspViolations, dataDir, login, shot, skip, startPlatform } from './harness.mjs'

const YEAR = 2024

startPlatform({ name: 'console', sites: 600, year: YEAR, viewport: { width: 1440, height: 900 }, collectApi: true })

test('the login page refuses a wrong password with the server reason, in the page language', { skip }, async () => {
  const ctx = await browser.newContext()
  const page = await ctx.newPage()
  await page.goto(base + '/login')
  await page.fill('input[name=username]', 'admin')
  await page.fill('input[name=password]', 'wrong password')
  await page.click('[data-test=login-submit]')
  const err = await page.textContent('[data-test=login-error]')
  // The server sends the code bad_credentials; the (Chinese by default) page words it.
  assert.match(err, /用户名或密码错误/)
  await shot(page, 'login')
  await ctx.close()
})

test('group overview: figures, charts rendered with data, province grid; language switch', { skip }, async () => {
  const page = await login('admin')
  await page.waitForSelector('[data-test=overview]')
  assert.match(await page.textContent('[data-test=org-name]'), /示例电信集团/)
  const tiles = await page.locator('[data-test=org-tile]').count()
  assert.equal(tiles, 31, 'one tile per provincial subsidiary')
  assert.ok((await chartPoints(page, '[data-test=scope-chart]')) === 3)
  // The monthly figures are pre-aggregated per snapshot by a job on first view.
  assert.equal(await chartPoints(page, '[data-test=monthly-chart]'), 48, '12 months × (3 scopes + energy)')
  const kpi = await page.locator('.kpi-value').first().textContent()
  assert.match(kpi, /^\d{1,3}(,\d{3})+ tCO₂e$/, `thousands separators and unit: ${kpi}`)
  const loads = page.messages.filter((m) => m.startsWith('overview-loaded'))
  console.log(`# ${loads.join('; ')}`)
  await shot(page, 'overview-zh')

  await page.click('[data-test=lang-switch]')
  await page.waitForSelector('text=Group overview')
  assert.match(await page.textContent('.sidebar'), /Inventory/)
  assert.match(await page.textContent('[data-test=overview]'), /Total emissions \(market-based\)/)
  await chartPoints(page, '[data-test=monthly-chart]')
  await shot(page, 'overview-en')
  await page.click('[data-test=lang-switch]')
  await page.waitForSelector('text=集团总览')
  // A province tile opens that province's overview, and its parent link leads back.
  await page.click('[data-test=org-tile][title=CT-GD]')
  await page.waitForURL(/\/overview\/CT-GD$/)
  assert.match(await page.textContent('[data-test=org-name]'), /广东分公司/)
  await page.click('[data-test=overview-up]')
  await page.waitForURL(/\/overview\/CT$/)
  await page.context().close()
})

test('org tree drill-down from the group to a facility and its chart', { skip }, async () => {
  const page = await login('admin')
  await page.click('[data-test=nav-orgs]')
  await page.click('[data-test=child-link] >> text=CT-GD')
  await page.waitForURL(/\/orgs\/CT-GD$/)
  await page.click('[data-test=child-link] >> text=CT-GD-01')
  await page.waitForURL(/\/orgs\/CT-GD-01$/)
  assert.match(await page.textContent('[data-test=breadcrumb]'), /示例电信集团.*广东分公司.*广东第1地市分公司/s)
  await page.waitForSelector('[data-test=facility-link]')
  await shot(page, 'orgs')
  const code = (await page.locator('[data-test=facility-link]').first().textContent()).trim()
  await page.locator('[data-test=facility-link]').first().click()
  await page.waitForURL(new RegExp(`/facilities/CT-GD-01/${code}$`))
  assert.match(await page.textContent('[data-test=facility-name]'), new RegExp(code))
  assert.ok((await chartPoints(page, '[data-test=facility-chart]')) >= 12, 'a year of monthly activity')
  await page.waitForSelector('[data-test=live-telemetry]') // the live panel (this site has no meters: it waits for telemetry)
  await shot(page, 'facility')
  await page.context().close()
})

test('filing: upload a file with a bad row, see its reason, submit; a reviewer approves', { skip }, async () => {
  const filer = await login('gd-filer')
  await filer.goto(base + '/filings')
  await filer.selectOption('[data-test=new-org]', 'CT-GD')
  await filer.fill('[data-test=new-period]', '2025-01')
  await filer.click('[data-test=create-filing]')
  await filer.waitForURL(/\/filings\/\d+$/)
  const id = Number(/\/filings\/(\d+)$/.exec(filer.url())[1])
  // A real facility of the province from the filing's template, and a row with a negative quantity.
  const template = await (await filer.request.get(`${base}/api/v1/filings/${id}/template.csv`)).text()
  const facility = template.split('\n')[1].split(',')[0]
  const other = template.split('\n')[2].split(',')[0]
  // As a spreadsheet saves it too: "1,234" and 柴油 / 升 are accepted; an unfilled template line
  // (line 5) is skipped, not rejected.
  const csv = 'facility_code,period,carrier,quantity,unit,source_document,evidence_ref\n' +
    `${facility},2025-01,electricity,1234.5,kWh,EB202501,\n` +
    `${facility},2025-01,diesel,-40,L,FUEL202501,\n` +
    `${facility},2025-01,柴油,"1,234",升,FUEL202501B,\n` +
    `${other},2025-01,electricity,,kWh,,\n`
  const file = join(dataDir, 'upload.csv')
  writeFileSync(file, csv)
  await filer.setInputFiles('[data-test=upload]', file)
  await filer.waitForSelector('[data-test=rejected-rows]')
  const report = await filer.textContent('[data-test=upload-report]')
  assert.match(report, /接受 2 行/)
  assert.match(report, /拒绝 1 行/)
  assert.match(await filer.textContent('[data-test=skipped-blank]'), /跳过未填写的模板行 1 行/)
  const reason = await filer.textContent('[data-test=rejected-rows] tbody tr')
  // Worded in the page's language from the row's problem code (the English reason is its title).
  assert.match(reason, /数量：数量 -40 为负/)
  assert.equal(await filer.getAttribute('[data-test=rejected-rows] tbody tr [data-problem]', 'data-problem'), 'negative_quantity')
  assert.match(await filer.getAttribute('[data-test=rejected-rows] tbody tr td.reason', 'title'), /negative quantity/)
  assert.match(reason, /^\s*3/, 'the rejected row is line 3 of the file')
  await shot(filer, 'filing-upload')
  // The import ran as a job on the server: leaving the page and coming back shows its report again.
  await filer.click('[data-test=nav-overview]')
  await filer.waitForSelector('[data-test=overview]')
  await filer.goto(`${base}/filings/${id}`)
  assert.match(await filer.getAttribute('[data-test=rejected-rows] tbody tr td.reason', 'title'), /negative quantity/)
  await filer.click('[data-test=submit]')
  await filer.waitForSelector('[data-test=filing-status] >> text=待审核')
  assert.equal(await filer.locator('[data-test=approve]').count(), 0, 'a filer cannot approve')
  await filer.context().close()

  const reviewer = await login('gd-reviewer')
  await reviewer.goto(`${base}/filings/${id}`)
  await reviewer.click('[data-test=approve]')
  await reviewer.waitForSelector('[data-test=filing-status] >> text=已通过')
  await reviewer.waitForSelector('[data-test=versions] >> text=v1')
  await shot(reviewer, 'filing-approved')
  await reviewer.context().close()
})

test('a province user sees only its subtree and cannot open another province', { skip }, async () => {
  const page = await login('gd-admin')
  await page.waitForSelector('[data-test=overview]')
  assert.match(await page.textContent('[data-test=org-name]'), /广东分公司/)
  assert.equal(await page.locator('[data-test=overview-up]').count(), 0, 'no way up out of the subtree')
  await page.goto(base + '/overview/CT-BJ')
  const err = await page.textContent('[data-test=page-error]')
  assert.match(err, /无权访问/)
  assert.match(err, /outside your organisation's subtree/)
  await page.goto(base + '/orgs/CT-BJ')
  assert.match(await page.textContent('[data-test=page-error]'), /out_of_scope/)
  await page.goto(base + '/filings')
  await page.waitForSelector('[data-test=filings]')
  // The org column names the org; its code is the cell's title.
  const orgsShown = await page.locator('[data-test=filings] tbody td:nth-child(2)').evaluateAll((tds) => tds.map((td) => td.title))
  assert.ok(orgsShown.length > 0 && orgsShown.every((c) => c.startsWith('CT-GD')), `only 广东's filings: ${[...new Set(orgsShown)]}`)
  await page.context().close()
})

test('an auditor reads the audit log and cannot edit', { skip }, async () => {
  const page = await login('auditor')
  await page.click('[data-test=nav-audit]')
  await page.waitForSelector('[data-test=audit] tbody tr')
  await page.click('[data-test=verify]')
  assert.match(await page.textContent('[data-test=verification]'), /审计链完整/)
  await shot(page, 'audit')
  await page.goto(base + '/filings/1')
  await page.waitForSelector('[data-test=filing]')
  for (const b of ['upload', 'submit', 'approve', 'return', 'restate', 'create-filing']) {
    assert.equal(await page.locator(`[data-test=${b}]`).count(), 0, `an auditor has no ${b} control`)
  }
  await page.context().close()
})

test('inventory: explain a number down to records × factors; a run as a job; factor library', { skip }, async () => {
  const page = await login('admin')
  await page.click('[data-test=nav-inventory]')
  // The list shows the session year's snapshots: at first the demo's snapshot of YEAR (the demo
  // stores one per year, oldest first, so its id is not 1).
  const first = page.locator('[data-test=snapshots] tbody tr a').first()
  const demoSnapshot = (await first.textContent()).trim().replace('#', '')
  await first.click()
  await page.waitForSelector('[data-test=snapshot-rows]')
  await page.locator('[data-test=explain]').nth(1).click()
  // The totals are tonnes (issue 13: they were labelled kgCO₂e); the record values kilograms.
  const sum = await page.textContent('[data-test=explain-sum]', { timeout: 120_000 })
  assert.match(sum, /\d tCO₂e/)
  assert.doesNotMatch(sum, /kgCO₂e/)
  await shot(page, 'inventory-explain')
  await page.click('[data-test=explain-panel] >> text=关闭')
  await page.click('[data-test=run-inventory]')
  await page.waitForSelector('[data-test=run-job]')
  // When the job is done the page opens the new snapshot.
  await page.waitForURL((u) => /^\/inventory\/\d+$/.test(u.pathname) && u.pathname !== `/inventory/${demoSnapshot}`, { timeout: 300_000 })
  await page.click('[data-test=nav-jobs]')
  await page.waitForSelector('[data-test=job] >> text=盘查 CT 2024')
  await page.click('[data-test=nav-factors]')
  await page.waitForSelector('[data-test=factors] tbody tr')
  await page.fill('[data-test=factor-search]', 'CN-GD')
  assert.ok((await page.locator('[data-test=factors] tbody tr').count()) > 0)
  await shot(page, 'factors')
  await page.click('[data-test=nav-quality]')
  await page.waitForSelector('[data-test=quality] tbody tr')
  await shot(page, 'quality')
  assert.deepEqual(page.messages.filter((m) => m.startsWith('PAGE ERROR')), [])
  await page.context().close()
})

// ---- Every figure with a unit is the server's value in the server's unit (issue 13: the explain
// drawer labelled tonnes as kilograms). A figure the console prints carries the API response it
// came from, the JSON path of the value and of its unit (web/src/figs.ts); the check reads them
// back from the responses the page received, parses the number and unit printed, and compares.
// Any number printed with a unit that is not tied to an API value fails too, so the next page
// that formats a figure on its own is caught.

const UNIT_TEXT = /\d[\d,]*(?:\.\d+)?\s*(?:[tk]g?CO₂e?|[tk]g?CO2e?|kgce|tce|[kMG]Wh)(?![\w])/

/** The value at a dotted path (`a.b.0.c`) of a JSON value. */
const at = (v, path) => path.split('.').reduce((x, k) => (x == null ? undefined : x[k]), v)
/** A unit as the console prints it (figs.ts unitLabel; unitWords words "10^4 yuan" in the page's language). */
const printed = (u, lang) =>
  !u || u === '1' || u === 'ratio' || u === 'fraction'
    ? ''
    : u.replace('CO2', 'CO₂').replace('10^4 yuan', lang === 'en' ? '10⁴ yuan' : '万元').replace(/^count$/, lang === 'en' ? 'count' : '个')

async function checkFigures(page, where) {
  await page.waitForTimeout(500) // the response bodies are read asynchronously
  const shown = await page.evaluate((pattern) => {
    const unitText = new RegExp(pattern)
    const figs = [...document.querySelectorAll('[data-fig],[data-fig-cell]')].map((el) => {
      let header = null
      if (el.dataset.figCell !== undefined) {
        const cell = el.closest('td')
        const idx = [...cell.parentElement.children].indexOf(cell)
        header = cell.closest('table').querySelectorAll('thead th')[idx]?.innerText ?? ''
      }
      return { src: el.dataset.figSrc, path: el.dataset.fig ?? el.dataset.figCell, unit: el.dataset.figUnit, text: el.innerText.trim(), header }
    })
    const untagged = []
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const el = n.parentElement
      if (!el || !el.offsetParent || el.closest('[data-fig],[data-fig-cell]')) continue
      if (unitText.test(n.textContent)) untagged.push(n.textContent.trim())
    }
    return { figs, untagged }
  }, UNIT_TEXT.source)
  assert.deepEqual(shown.untagged, [], `${where}: numbers with a unit not tied to an API value`)
  const lang = await page.evaluate(() => document.documentElement.lang)
  const problems = []
  for (const f of shown.figs) {
    const body = page.api.get(f.src)
    if (!body) { problems.push(`${f.path}: no API response ${f.src}`); continue }
    const value = at(body, f.path)
    const unit = printed(at(body, f.unit), lang)
    if (value === null || value === undefined) {
      if (!f.text.includes('—')) problems.push(`${f.path}: "${f.text}" but the API has no value`)
      continue
    }
    if (typeof value !== 'number') { problems.push(`${f.path}: API value ${JSON.stringify(value)} is not a number`); continue }
    let numText
    if (f.header !== null) {
      // A table cell: the number in the cell, the unit in its column header.
      numText = /-?\d[\d,]*(?:\.\d+)?/.exec(f.text)?.[0]
      if (unit && !f.header.includes(`(${unit})`)) problems.push(`${f.path}: header "${f.header}" does not name the unit ${unit}`)
    } else if (unit) {
      // The number printed right before the unit.
      const i = f.text.lastIndexOf(' ' + unit)
      const before = i < 0 ? '' : f.text.slice(0, i)
      numText = /-?\d[\d,]*(?:\.\d+)?$/.exec(before)?.[0]
      if (i < 0 || f.text.slice(i + 1 + unit.length).match(/^[\w₂]/)) problems.push(`${f.path}: "${f.text}" does not print the unit ${unit}`)
    } else {
      numText = /-?\d[\d,]*(?:\.\d+)?/.exec(f.text)?.[0]
    }
    if (!numText) { problems.push(`${f.path}: no number in "${f.text}"`); continue }
    const n = Number(numText.replace(/,/g, ''))
    const decimals = numText.includes('.') ? numText.split('.')[1].length : 0
    if (Math.abs(n - value) > 0.5 * 10 ** -decimals + 1e-9 * Math.abs(value)) {
      problems.push(`${f.path}: printed ${numText} ${unit}, the API says ${value} ${unit}`)
    }
  }
  assert.deepEqual(problems, [], `${where}: ${shown.figs.length} figures checked`)
  return shown.figs.length
}

test('every figure the console labels with a unit is the server\'s value in that unit', { skip }, async () => {
  const page = await login('admin')
  await page.waitForSelector('[data-test=overview] .kpi-value')
  await page.waitForSelector('[data-test=targets-card], [data-test=targets] .muted')
  const counts = { overview: await checkFigures(page, 'group overview') }
  await page.click('[data-test=org-tile][title=CT-GD]')
  await page.waitForURL(/\/overview\/CT-GD$/)
  await page.waitForSelector('[data-test=overview] .kpi-value')
  counts.province = await checkFigures(page, 'province overview')
  await page.goto(base + '/orgs/CT')
  await page.waitForSelector('[data-test=children] td[data-fig-cell]')
  counts.orgs = await checkFigures(page, 'org tree')
  await page.click('[data-test=nav-inventory]')
  await page.locator('[data-test=snapshots] tbody tr a').first().click()
  await page.waitForSelector('[data-test=snapshot-rows] td[data-fig-cell]')
  counts.inventory = await checkFigures(page, 'inventory snapshot')
  // The explain drawer of every scope for Guangdong (issue 13's figure) and the group.
  for (const org of ['CT-GD', 'CT']) {
    const row = page.locator('[data-test=snapshot-rows] tbody tr', { has: page.locator(`small:text-is("${org}")`) })
    for (let s = 0; s < 4; s++) {
      await row.locator('[data-test=explain]').nth(s).click()
      await page.waitForSelector('[data-test=explain-total]', { timeout: 120_000 })
      counts[`explain ${org} ${s}`] = await checkFigures(page, `explain ${org} scope ${s}`)
      await page.click('[data-test=explain-panel] >> text=关闭')
    }
  }
  // Scope 2 of Guangdong: market-based is above location-based, and the drawer says why, in parts
  // that add up to the difference (the vintage part among them: 2022 provincial, 2023 residual).
  const gd = page.locator('[data-test=snapshot-rows] tbody tr', { has: page.locator('small:text-is("CT-GD")') })
  await gd.locator('[data-test=market-above]').click()
  await page.waitForSelector('[data-test=scope2-gap]', { timeout: 120_000 })
  assert.equal(await page.locator('[data-test=scope2-gap] [data-gap=residual_newer_vintage]').count(), 1)
  assert.ok((await page.locator('[data-test=vintage]').count()) > 0, 'the factors of another year are flagged')
  assert.ok((await page.locator('[data-test=vintages] li').count()) >= 2)
  console.log(`# figures checked: ${JSON.stringify(counts)}`)
  assert.ok(counts.overview >= 8 && counts.inventory > 100, JSON.stringify(counts))
  await page.context().close()
})

// ---- Monitoring pages (live power/PUE, alerts, scoreboard). `dualcarbon demo` registers a
// total-facility and an IT-load power meter per data centre (in the database: GET /api/v1/meters),
// so the server has monitoring.

/** The first metered data centre of 广东 (the demo's province users), with its org (facilities.csv). */
async function meteredDataCentre() {
  const res = await api('admin', 'GET', '/api/v1/meters')
  assert.equal(res.status, 200)
  const metered = new Set(res.json.meters.map((m) => m.facility))
  const rows = readFileSync(join(dataDir, 'demo-data', 'facilities.csv'), 'utf8').trim().split('\n')
  const head = rows[0].split(',')
  const [code, org] = [head.indexOf('facility_code'), head.indexOf('org_code')]
  const row = rows.slice(1).map((l) => l.split(',')).find((r) => metered.has(r[code]) && r[org].startsWith('CT-GD'))
  assert.ok(row, 'the demo has a data centre in 广东')
  return { facility: row[code], org: row[org] }
}

/** POSTs CSV lines as the admin to an API path; returns the answer. */
async function postCsvAsAdmin(path, lines) {
  const res = await api('admin', 'POST', path, { body: lines.join('\n') + '\n', type: 'text/csv' })
  assert.equal(res.status, 200, res.text)
  return res.json
}

/** POSTs CSV readings (meter,timestamp,value) through the HTTP endpoint; returns the batch report. */
async function postReadings(lines) {
  return (await postCsvAsAdmin('/api/v1/telemetry/readings', lines)).report
}

const QUARTER = 15 * 60_000
/** Two hours of quarter-hourly readings ending at the last whole quarter: 1,600 kW total, 1,000 kW IT (PUE 1.6). */
function historyLines(facility) {
  const end = Math.floor(Date.now() / QUARTER) * QUARTER
  const lines = []
  for (let ts = end - 8 * QUARTER; ts <= end; ts += QUARTER) lines.push(`${facility}-TOT,${ts},1600`, `${facility}-IT,${ts},1000`)
  return lines
}

test('facility page: live power and PUE chart updated by readings posted to the HTTP endpoint', { skip }, async () => {
  const { facility, org } = await meteredDataCentre()
  const report = await postReadings(historyLines(facility))
  assert.equal(report.rejected, 0, JSON.stringify(report))
  const page = await login('admin')
  await page.goto(`${base}/facilities/${org}/${facility}`)
  const before = await chartPoints(page, '[data-test=live-chart]')
  assert.equal(before, 2, 'the current power and PUE from the real-time state')
  assert.match(await page.textContent('[data-test=live-latest]'), /1,600\.0 kW · PUE 1\.600/)
  // History: the server's hourly roll-ups of both roles over the two hours posted (bars per hour and role).
  assert.ok((await chartPoints(page, '[data-test=history-chart]')) >= 4, 'hourly energy of total facility and IT load')
  // A new reading pair arrives while the page is open: the SSE stream adds a point (power and PUE).
  const now = Date.now()
  await postReadings([`${facility}-TOT,${now},1500`, `${facility}-IT,${now},1000`])
  await page.waitForFunction(() => Number(document.querySelector('[data-test=live-chart]')?.getAttribute('data-points')) === 4, null, { timeout: 30_000 })
  assert.match(await page.textContent('[data-test=live-latest]'), /1,500\.0 kW/)
  await shot(page, 'facility-live')
  await page.context().close()
})

test('alerts: a PUE above 1.5 for an hour opens an alert; a reviewer acknowledges it', { skip }, async () => {
  const { facility } = await meteredDataCentre()
  await postReadings(historyLines(facility)) // duplicates when the facility test ran first: the alert is open either way
  const page = await login('gd-reviewer')
  await page.click('[data-test=nav-alerts]')
  await page.waitForSelector('[data-test=alerts]')
  const row = page.locator(`[data-test=alert-row][data-state=open]`, { hasText: facility }).first()
  await row.waitFor({ timeout: 30_000 })
  assert.match(await row.textContent(), /pue/i)
  await shot(page, 'alerts')
  const id = await row.getAttribute('data-id')
  await row.locator('[data-test=alert-ack]').click()
  await page.waitForSelector(`[data-test=alert-row][data-id="${id}"][data-state=acknowledged]`)
  assert.match(await page.textContent(`[data-test=alert-row][data-id="${id}"]`), /gd-reviewer/)
  // Resolved by hand: the row says so and who did it; no button is left on it.
  await page.locator(`[data-test=alert-row][data-id="${id}"] [data-test=alert-resolve]`).click()
  await page.waitForSelector(`[data-test=alert-row][data-id="${id}"][data-state=resolved]`)
  assert.equal(await page.locator(`[data-test=alert-row][data-id="${id}"] button`).count(), 0)
  // An auditor reads alerts but has no acknowledge or resolve button.
  const auditor = await login('auditor')
  await auditor.click('[data-test=nav-alerts]')
  await auditor.waitForSelector('[data-test=alert-row]')
  assert.equal(await auditor.locator('[data-test=alert-ack]').count(), 0)
  assert.equal(await auditor.locator('[data-test=alert-resolve]').count(), 0)
  await auditor.context().close()
  await page.context().close()
})

test('scoreboard: subsidiaries ranked against the 2025 targets; a province user sees only its own', { skip }, async () => {
  // The demo's targets run on the platform's own numbers (issue 15: snapshots, business data,
  // attributes, saving runs). Hand-entered data-centre counts for 广东 are overridden by the counts
  // its facility attributes give, never added; a component nothing on the platform knows (sharing
  // savings, the cumulative 45 bn kWh target) is entered by hand and counts: 广东 meets it.
  await postCsvAsAdmin('/api/v1/indicator-data', [
    'org_code,period,component,value,source',
    'CT-GD,2024,large_dc_count,9,console test', 'CT-GD,2024,dc_count,10,console test',
    'CT-GD,2022,sharing_saved_kwh,20000000000,console test', 'CT-GD,2023,sharing_saved_kwh,25000000000,console test',
  ])
  const board = (await api('admin', 'GET', `/api/v1/orgs/CT/scoreboard?year=${YEAR}`)).json
  const apiGd = board.rows.find((r) => r.org === 'CT-GD')
  const sharing = apiGd.progress.find((p) => p.target === 'sharing_savings_45bn_kwh')
  assert.equal(sharing.met, true, JSON.stringify(sharing))
  const dcs = apiGd.progress.find((p) => p.target === 'large_dc_share_80')
  assert.ok(dcs.sources[0].sources.every((x) => x.kind === 'attributes'), JSON.stringify(dcs.sources))
  const page = await login('admin')
  await page.click('[data-test=nav-scoreboard]')
  await page.waitForSelector('[data-test=scoreboard]')
  const ranks = await page.locator('[data-test=score-row] td:first-child').allTextContents()
  assert.deepEqual(ranks, Array.from({ length: 31 }, (_, i) => String(i + 1)), 'the 31 provinces ranked 1..31')
  // Every row is the server's: its org and score, in the server's order.
  const shownRows = await page.locator('[data-test=score-row]').evaluateAll((rows) => rows.map((r) => r.textContent.replace(/\s+/g, ' ')))
  board.rows.forEach((r, i) => {
    assert.ok(shownRows[i].includes(`(${r.org})`), `${i}: ${shownRows[i]} vs ${r.org}`)
    assert.ok(r.score !== null && shownRows[i].includes(r.score.toFixed(1)), `${r.org}: ${shownRows[i]} vs ${r.score}`)
  })
  assert.ok((await page.locator('[data-test=target-row]').count()) >= 8, 'the white paper 2025 targets')
  // The indicator by its name in the page's language (its code on hover).
  assert.match(await page.textContent('[data-test=targets]'), /新建大型、超大型数据中心PUE/)
  assert.equal(await page.locator('[data-test=targets] td[title=pue_new_large_dc]').count() > 0, true)
  await shot(page, 'scoreboard')
  // The group tightens a province's target for its subtree (an override with a reason, audited):
  // targets are set by the parent org, never by the org itself.
  await page.goto(base + '/scoreboard/CT-GD')
  await page.waitForSelector('[data-test=target-edit]')
  await page.selectOption('[data-test=target-edit] select[name=target]', 'new_large_dc_pue')
  await page.fill('[data-test=target-edit] input[name=value]', '1.25')
  await page.fill('[data-test=target-edit] input[name=reason]', '广东新建大型数据中心从严')
  await page.click('[data-test=target-save]')
  await page.waitForSelector('[data-test=target-saved]')
  await page.context().close()
  const gd = await login('gd-admin')
  await gd.goto(base + '/scoreboard')
  await gd.waitForSelector('[data-test=scoreboard]')
  assert.match(await gd.textContent('[data-test=scoreboard-page]'), /CT-GD/)
  // The row of the indicator (named in the page's language; its code on hover).
  const row = gd.locator('[data-test=target-row]', { has: gd.locator('td[title=pue_new_large_dc]') })
  assert.match(await row.textContent(), /1\.250/)
  // The province does not set its own targets.
  assert.equal(await gd.locator('[data-test=target-edit]').count(), 0)
  await gd.waitForSelector('[data-test=target-set-by-parent]')
  // The overview's indicators-and-targets card shows the same targets.
  await gd.goto(base + '/overview/CT-GD')
  await gd.waitForSelector('[data-test=targets-card] .kpi')
  assert.ok((await gd.locator('[data-test=targets-card] .kpi').count()) >= 8)
  assert.match(await gd.textContent('[data-test=targets-card]'), /1\.250/)
  await gd.goto(base + '/scoreboard/CT-BJ')
  await gd.waitForSelector('[data-test=page-error].forbidden')
  await gd.context().close()
})

test('the session is the HttpOnly cookie only: nothing in web storage, a reload stays logged in', { skip }, async () => {
  const page = await login('gd-filer')
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }))
  assert.doesNotMatch(stored, /token|[0-9a-f]{64}/, stored)
  const cookies = await page.context().cookies()
  const session = cookies.find((c) => c.name === 'dualcarbon_session')
  assert.ok(session?.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies))
  assert.equal(await page.evaluate(() => document.cookie.includes('dualcarbon_session')), false, 'not readable by scripts')
  // A reload (or a link opened in the tab) asks the server who the cookie belongs to.
  await page.reload()
  await page.waitForSelector('[data-test=user]')
  assert.match(await page.textContent('[data-test=user]'), /gd-filer/)
  // The console's own writes carry its Origin and pass the server's check.
  const status = await page.evaluate(async () =>
    (await fetch('/api/v1/filings', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ org_code: 'CT-GD', period: '2024-13' }) })).status)
  assert.notEqual(status, 403, 'a same-origin cookie write is not refused as cross-origin')
  const res = await page.goto(base + '/filings')
  const h = res.headers()
  assert.match(h['content-security-policy'] ?? '', /script-src 'self'/)
  assert.equal(h['x-frame-options'], 'DENY')
  assert.equal(h['x-content-type-options'], 'nosniff')
  await page.waitForSelector('[data-test=user]')
  await page.context().close()
})

test('no page broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
