// Browser tests of the filing cockpit (issue 14): the org × month status grid with org names and
// labelled filters by org, month and status, what is missing, a new period's filing shown at once,
// accepted rows paged, and the web form for a few rows (the same import path as an upload), in zh
// and en at 1440 and 390 px, on the shared harness (tests/harness.mjs).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { apiToken, base, cspViolations, dataDir, download, login as harnessLogin, shot, skip, startPlatform } from './harness.mjs'

const DESKTOP = { width: 1440, height: 900 }
const PHONE = { width: 390, height: 844 }
startPlatform({ name: 'cockpit', sites: 200, year: 2024 })

const login = (user, lang, viewport = DESKTOP) => harnessLogin(user, lang, { viewport, pinLocale: true })
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)

/** The grid's answer from the API, as the page fetched it. */
async function grid(code, year = 2024) {
  const token = await apiToken('admin')
  return (await fetch(`${base}/api/v1/orgs/${code}/filing-status?year=${year}`, { headers: { authorization: `Bearer ${token}` } })).json()
}

for (const [lang, viewport] of [['zh-CN', DESKTOP], ['en', PHONE]]) {
  test(`cockpit (${lang}, ${viewport.width} px): org names, labelled filters, what is missing`, { skip }, async () => {
    const page = await login('admin', lang, viewport)
    await page.goto(base + '/filings')
    await page.waitForSelector('[data-test=cockpit-grid] tbody tr')
    const api = await grid('CT')
    const rows = page.locator('[data-test=cockpit-row]')
    // Rows by org name (the code on hover), in tree order; every expected org is there.
    const expected = api.rows.filter((r) => r.expected || r.cells.some((c) => c.status !== 'none'))
    assert.equal(await rows.count(), expected.length)
    assert.ok(expected.length > 30, `the whole subtree, scrollable: ${expected.length}`)
    const first = rows.nth(1).locator('td').first()
    assert.equal(await first.getAttribute('title'), expected[1].org)
    assert.match(await first.textContent(), new RegExp(expected[1].name))
    // 12 month columns; the summary counts the missing org-months the server counted.
    assert.equal(await page.locator('[data-test=cockpit-grid] thead th').count(), 14)
    assert.match(await page.textContent('[data-test=cockpit-summary]'), new RegExp(api.missing.toLocaleString('en')))
    // The filters are labelled in the page's language.
    const labels = await page.locator('[data-test=cockpit] .filters label').allTextContents()
    assert.match(labels.join(' | '), lang === 'en' ? /Org.*Month.*Status.*Missing only/s : /单位.*月份.*状态.*只看缺报/s)
    // Filter by org: a province's subtree only.
    await page.selectOption('[data-test=cockpit-org]', 'CT-GD')
    await page.waitForFunction(() => document.querySelector('[data-test=cockpit-row]')?.getAttribute('data-org') === 'CT-GD')
    const gd = await grid('CT-GD')
    const orgs = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-org')))
    assert.ok(orgs.every((o) => o.startsWith('CT-GD')), orgs.join())
    // A month: one column; a status: only rows with it; missing only.
    await page.selectOption('[data-test=cockpit-month]', '2024-03')
    assert.equal(await page.locator('[data-test=cockpit-grid] thead th').count(), 3)
    await page.selectOption('[data-test=cockpit-status]', 'approved')
    const statuses = await page.locator('[data-test=cockpit-grid] td[data-period]').evaluateAll((cs) => cs.map((c) => c.getAttribute('data-status')))
    assert.ok(statuses.length > 0 && statuses.every((s) => s === 'approved'), statuses.join())
    await page.selectOption('[data-test=cockpit-status]', '')
    await page.check('[data-test=cockpit-missing-only]')
    const missingMarch = gd.rows.filter((r) => r.cells[2].missing).length
    assert.equal(await rows.count(), missingMarch)
    // A reviewer sends a reminder (no webhook target in the tests: it says so).
    await page.click('[data-test=cockpit-remind]')
    await page.waitForSelector('[data-test=cockpit-reminded]')
    assert.match(await page.textContent('[data-test=cockpit-reminded]'), lang === 'en' ? /org-months missing; no webhook target/ : /缺报 [\d,]+ 个单位·月；未配置 webhook 目标/)
    // A status cell opens its filing.
    await page.uncheck('[data-test=cockpit-missing-only]')
    await page.selectOption('[data-test=cockpit-month]', '')
    const link = page.locator('[data-test=cockpit-grid] td[data-status=approved] a').first()
    await link.click()
    await page.waitForURL(/\/filings\/\d+$/)
    if (viewport === PHONE) assert.equal(await overflow(page), 0, 'nothing wider than the phone')
    await shot(page, `cockpit-${lang === 'en' ? 'en' : 'zh'}`)
    await page.context().close()
  })
}

test('a new period\'s filing shows at once; accepted rows paged; the web form files through the upload\'s checks', { skip, timeout: 300_000 }, async () => {
  const page = await login('gd-filer', 'zh-CN')
  await page.goto(base + '/filings')
  await page.waitForSelector('[data-test=filings]')
  // The navigation reminds of the ended months of the year shown without an approved filing,
  // counted as the server counts missing org-months of the filer's subtree.
  const badge = async (year) => {
    const g = await (await page.request.get(`${base}/api/v1/orgs/CT-GD/filing-status?year=${year}`)).json()
    const now = new Date(Date.now() + 8 * 3600_000)
    const due = now.getUTCFullYear() > year ? 12 : now.getUTCFullYear() < year ? 0 : now.getUTCMonth()
    const missing = g.rows.reduce((n, r) => n + r.cells.slice(0, due).filter((c) => c.missing).length, 0)
    if (missing) {
      await page.waitForFunction((m) => Number(document.querySelector('[data-test=filing-badge]')?.textContent) === m, missing)
      assert.match(await page.getAttribute('[data-test=filing-badge]', 'title'), /尚无审核通过的填报/)
    } else {
      assert.equal(await page.locator('[data-test=filing-badge]').count(), 0)
    }
    return missing
  }
  await badge(2024)
  // The year shown is 2024; a filing for 2025-07 is listed at once (the list shows its month, the
  // cockpit its year), and the year shown stays 2024.
  await page.selectOption('[data-test=new-org]', 'CT-GD')
  await page.fill('[data-test=new-period]', '2025-07')
  await page.click('[data-test=create-filing]')
  await page.waitForURL(/\/filings\/\d+$/)
  const id = Number(/\/filings\/(\d+)$/.exec(page.url())[1])
  await page.waitForSelector(`[data-test=filings] a[href="/filings/${id}"]`)
  await page.waitForSelector('[data-test=cockpit-row][data-org=CT-GD] td[data-period="2025-07"][data-status=draft]')
  assert.equal(await page.inputValue('[data-test=year]'), '2024')
  // The reminder follows the year shown: in 2025 nothing is approved yet, so every ended month of
  // every expected org is reminded of.
  await page.selectOption('[data-test=year]', '2025')
  await page.waitForSelector('[data-test=filing-form]')
  assert.ok((await badge(2025)) > 0)
  await page.selectOption('[data-test=year]', '2024')

  // The web form: "1,234" of 柴油 in 升 and a negative line; the same report as an upload.
  const template = await (await page.request.get(`${base}/api/v1/filings/${id}/template.csv?lang=en`)).text()
  const facility = template.replace(/^\uFEFF/, '').split('\n')[1].split(',')[0]
  await page.waitForSelector('[data-test=filing-form]')
  await page.selectOption('[data-test=form-facility-0]', facility)
  await page.selectOption('[data-test=form-carrier-0]', 'diesel')
  await page.fill('[data-test=form-quantity-0]', '1,234')
  await page.selectOption('[data-test=form-unit-0]', 'L')
  await page.fill('[data-test=form-bill-0]', 'FORM-1')
  await page.selectOption('[data-test=form-facility-1]', facility)
  await page.fill('[data-test=form-quantity-1]', '-5')
  await page.fill('[data-test=form-bill-1]', 'FORM-2')
  await page.click('[data-test=form-send]')
  await page.waitForSelector('[data-test=upload-report]')
  assert.match(await page.textContent('[data-test=upload-report]'), /接受 1 行/)
  assert.match(await page.textContent('[data-test=upload-report]'), /拒绝 1 行/)
  assert.equal(await page.getAttribute('[data-test=rejected-rows] [data-problem]', 'data-problem'), 'negative_quantity')
  await page.waitForSelector('[data-test=accepted-rows] tbody tr')
  assert.match(await page.textContent('[data-test=accepted-rows]'), /柴油/)
  await shot(page, 'filing-web-form')

  // 130 more bills: the accepted rows come 100 a page, all of them reachable.
  const lines = ['facility_code,period,carrier,quantity,unit,source_document,evidence_ref']
  for (let i = 0; i < 130; i++) lines.push(`${facility},2025-07,electricity,${100 + i},kWh,PAGE-${i},`)
  const file = join(dataDir, 'paged.csv')
  writeFileSync(file, lines.join('\n') + '\n')
  await page.setInputFiles('[data-test=upload]', file)
  await page.waitForFunction(() => /接受 130 行/.test(document.querySelector('[data-test=upload-report]')?.textContent ?? ''), null, { timeout: 120_000 })
  await page.waitForFunction(() => document.querySelectorAll('[data-test=accepted-rows] tbody tr').length === 100)
  assert.match(await page.textContent('[data-test=rows-pager]'), /第 1–100 行，共 131 行/)
  await page.click('[data-test=rows-next]')
  await page.waitForFunction(() => document.querySelectorAll('[data-test=accepted-rows] tbody tr').length === 31)
  assert.match(await page.textContent('[data-test=rows-pager]'), /第 101–131 行，共 131 行/)
  // Export takes every row of the table's query, not the page shown.
  const csv = await download(page, '[data-test=export]:has(+ [data-test=accepted-rows]) >> [data-test=export-csv]')
  const exported = csv.bytes.toString('utf8').slice(1).trim().split('\r\n')
  assert.equal(exported.length, 1 + 131, 'the header and all 131 rows')
  assert.match(exported[0], /^行号,设施编码,能源品种/)
  assert.ok(exported.some((l) => l.includes('柴油')) && exported.some((l) => l.includes('PAGE-129')))
  await page.context().close()
})

test('the audit log exports every entry of its query (newest first), not the page of 50', { skip }, async () => {
  const page = await login('admin', 'en', PHONE)
  await page.goto(base + '/audit')
  await page.waitForSelector('[data-test=audit] tbody tr')
  const total = Number(await page.getAttribute('[data-test=audit-total]', 'data-total'))
  assert.ok(total > 50, `more than a page: ${total}`)
  assert.equal(await page.locator('[data-test=audit] tbody tr').count(), 50)
  const csv = await download(page, '[data-test=audit-total] + [data-test=export] >> [data-test=export-csv]')
  const lines = csv.bytes.toString('utf8').slice(1).trim().split('\r\n')
  // A change may span lines inside its quoted cell: count records by their leading sequence number.
  const seqs = lines.slice(1).map((l) => /^(\d+),/.exec(l)?.[1]).filter(Boolean).map(Number)
  assert.equal(seqs.length, total)
  assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first')
  await page.context().close()
})

test('no page of the cockpit tests broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
