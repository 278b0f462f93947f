// Browser tests of the internal carbon market page against a real `dualcarbon demo` (whose first
// start allocates the last year's period from the approved snapshot, grants budgets and places a
// spread of orders, some of which trade): Debian's chromium driven by playwright-core.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api, base, chartPoints, cspViolations, login, shot, skip, startPlatform } from './harness.mjs'

startPlatform({ name: 'market', sites: 200, year: 2024, viewport: { width: 1440, height: 1000 }, fullPage: true })

const rows = (page, sel) => page.$$eval(`${sel} tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())))

test('market (zh): price chart, book, allocations explained as the API computed them, compliance; an order placed and cancelled', { skip }, async () => {
  const page = await login('gd-admin')
  await page.click('[data-test=nav-market]')
  await page.waitForSelector('[data-test=market-overview]')
  await page.waitForSelector('[data-test=allocation-table]')
  await page.waitForSelector('[data-test=compliance-table]')
  const market = (await api('admin', 'GET', '/api/v1/market')).json
  const v = market.vintages.find((x) => x.vintage === 2024)
  assert.ok(v.trades > 0, 'the demo traded')
  assert.equal(await chartPoints(page, '[data-test=price-chart]'), Math.min(v.trades, 100), 'one point per recent trade')
  assert.equal(await page.textContent('[data-test=trade-count]'), String(v.trades))
  const book = await rows(page, '[data-test=depth]')
  assert.equal(book.length, Math.max(v.depth.bids.length, v.depth.asks.length))

  // Allocations: every province, each figure the API's, the explanation in words with its snapshot.
  const alloc = (await api('admin', 'GET', '/api/v1/market/periods/2024/allocations')).json.allocations
  assert.equal(alloc.length, 31)
  const table = await rows(page, '[data-test=allocation-table]')
  assert.equal(table.length, 31)
  const gd = alloc.find((a) => a.org_code === 'CT-GD')
  const gdRow = table.find((r) => r[0] === 'CT-GD')
  assert.equal(gdRow[1], '历史排放法')
  assert.equal(gdRow[3], new Intl.NumberFormat('zh-CN', { minimumFractionDigits: 3, maximumFractionDigits: 3 }).format(gd.kg / 1000))
  await page.click('[data-test=explain-CT-GD]')
  const explanation = await page.textContent('[data-test=explanation-CT-GD]')
  assert.match(explanation, /配额 = 基准年核查排放量 × 控排系数/)
  assert.match(explanation, /2023 年核查排放量/)
  assert.match(explanation, /已核定的盘查快照 \d+（第 1 版）/, 'the input names its snapshot')
  assert.doesNotMatch(explanation, /snapshot|approved/)
  assert.match(explanation, /履约期方案第 1 版/)

  // The account's history, in words: its allocation is among the entries.
  const history = (await rows(page, '[data-test=history]')).map((r) => r[1])
  assert.ok(history.includes('2024 年度配额分配'), history.join(' | '))
  assert.ok(!history.some((h) => /^mk\./.test(h)), history.join(' | '))

  // Compliance: every province, statuses worded.
  const comp = await rows(page, '[data-test=compliance-table]')
  assert.equal(comp.length, 31)
  assert.ok(comp.every((r) => ['已履约', '履约中', '未履约', '排放尚未核定'].includes(r[7])), comp.map((r) => r[7]).join(','))
  await shot(page, 'market-zh')

  // An order far from the market rests, shows among the open orders, and is cancelled.
  const before = (await rows(page, '[data-test=open-orders]')).filter((r) => r.length === 5).length
  await page.selectOption('[data-test=order-side]', 'sell')
  await page.fill('[data-test=order-tonnes]', '1')
  await page.fill('[data-test=order-price]', '999.99')
  await page.click('[data-test=order-submit]')
  await page.waitForSelector('[data-test=order-done]')
  assert.equal(await page.textContent('[data-test=order-done]'), '委托已挂单')
  const openRows = (n) => [...document.querySelectorAll('[data-test=open-orders] tbody tr')].filter((tr) => tr.querySelectorAll('td').length === 5).length === n
  await page.waitForFunction(openRows, before + 1)
  const open = (await rows(page, '[data-test=open-orders]')).filter((r) => r.length === 5)
  assert.equal(open.length, before + 1)
  const mine = open.find((r) => r[2] === '999.99')
  assert.ok(mine, JSON.stringify(open))
  await page.click(`[data-test=cancel-${mine[0]}]`)
  await page.waitForFunction(openRows, before)
  // More than the account holds: refused, in words.
  await page.fill('[data-test=order-tonnes]', '99999999')
  await page.click('[data-test=order-submit]')
  await page.waitForSelector('[data-test=order-error]')
  assert.equal(await page.textContent('[data-test=order-error]'), '可用配额或预算不足')

  await page.click('[data-test=lang-switch]')
  await page.waitForSelector('text=Internal carbon market')
  assert.equal((await rows(page, '[data-test=allocation-table]')).find((r) => r[0] === 'CT-GD')[1], 'Grandfathering')
  await shot(page, 'market-en')
  assert.deepEqual(page.messages.filter((m) => m.startsWith('PAGE ERROR')), [])
  await page.context().close()
})

test('market at 390 px, and not for employees', { skip }, async () => {
  const page = await login('gd-admin', 'zh-CN', { viewport: { width: 390, height: 844 } })
  await page.goto(base + '/market')
  await page.waitForSelector('[data-test=market-overview]')
  const width = await page.evaluate(() => document.querySelector('[data-test=market-page]').getBoundingClientRect().width)
  assert.ok(width >= 340, `the page uses the phone's width: ${width}`)
  await shot(page, 'market-390', { fullPage: false })
  await page.context().close()
  const employee = await login('employee')
  assert.equal(await employee.$('[data-test=nav-market]'), null, 'employees do not see the market')
  await employee.context().close()
})

test('no page broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
