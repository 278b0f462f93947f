// Browser tests of the Scenarios and Site energy pages: Debian's chromium driven by playwright-core
// against a real `dualcarbon demo` server (embedded console, SQLite, a small generated operator with
// its inventory snapshot) on 127.0.0.1, started by the shared harness (tests/harness.mjs).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, base, chartPoints, cspViolations, login, shot, skip, startPlatform } from './harness.mjs'

startPlatform({ name: 'decide', sites: 200, year: 2024, viewport: { width: 1440, height: 1000 }, fullPage: true })

test('scenarios: a slider re-runs the scenario and the chart changes; fan chart, MACC, plan', { skip }, async () => {
  const page = await login('admin')
  await page.click('[data-test=nav-scenarios]')
  await page.waitForSelector('[data-test=scenario-chart]', { timeout: 120_000 })
  const points = await chartPoints(page, '[data-test=scenario-chart]')
  assert.equal(points % 2, 0, 'two paths of the same years')
  assert.ok(points >= 2 * 30, `base year to 2060: ${points}`)
  const before = Number(await page.getAttribute('[data-test=scenario-chart]', 'data-last'))
  assert.ok(before > 0)

  // Faster traffic growth: the edited path ends higher.
  await page.locator('[data-test=slider-traffic_growth]').fill('0.3')
  await page.waitForFunction((b) => Number(document.querySelector('[data-test=scenario-chart]').getAttribute('data-last')) > b, before, { timeout: 30_000 })
  // A measure brings it down again.
  const raised = Number(await page.getAttribute('[data-test=scenario-chart]', 'data-last'))
  await page.check('[data-test=measure-green_power_purchase]')
  await page.waitForFunction((b) => Number(document.querySelector('[data-test=scenario-chart]').getAttribute('data-last')) < b, raised, { timeout: 30_000 })
  const reruns = page.messages.filter((m) => m.startsWith('scenario-rerun'))
  assert.ok(reruns.length >= 3, reruns.join('; '))
  console.log(`# ${reruns.join('; ')}`)

  assert.ok((await chartPoints(page, '[data-test=macc-chart]')) > 0)
  // The demo files five years (2020-2024) with a snapshot each: 60 months of actuals, then a 12-month
  // forecast drawn as its mean and its 80 % interval (lower edge and width), and a backtest.
  const trendPoints = await chartPoints(page, '[data-test=trend-chart]')
  assert.equal(await page.getAttribute('[data-test=trend-chart]', 'data-actual'), '60', 'months of 2020-2024')
  assert.equal(await page.getAttribute('[data-test=trend-chart]', 'data-forecast'), '12', 'forecast months')
  assert.equal(trendPoints, 60 + 3 * 12, 'every forecast month drawn: mean, lower edge and interval')
  assert.match(await page.textContent('[data-test=backtest]'), /MAPE \d+(\.\d)?%/)
  assert.match(await page.textContent('[data-test=backtest]'), /(可谨慎采信|不宜依赖).*次回测/)
  assert.doesNotMatch(await page.textContent('[data-test=backtest]'), /Trust|Do not rely/)
  await page.click('[data-test=run-mc]')
  assert.equal(await chartPoints(page, '[data-test=fan-chart]') % 3, 0, 'P10, band and P50 for every year')
  assert.match(await page.textContent('[data-test=peak-probability]'), /\d+(\.\d)?%/)
  await page.click('[data-test=run-plan]')
  await page.waitForSelector('[data-test=plan-text]', { timeout: 120_000 })
  assert.ok((await page.textContent('[data-test=plan-text]')).length > 20)
  // The plan is worded in the page's language from the server's summary (not its English text).
  assert.match(await page.textContent('[data-test=plan-text]'), /最低成本|基准情景|无法实现|求解/)
  assert.doesNotMatch(await page.textContent('[data-test=plan-text]'), /To meet|The baseline|No combination|yuan/)
  // Target checks are worded in the page's language (from their kind, year and figures).
  const targetChecks = async () => (await page.$$eval('[data-test=target-check]', (els) => els.map((e) => e.textContent))).join(' | ')
  assert.match(await targetChecks(), /2030年前达峰/)
  assert.match(await targetChecks(), /2030年及以前最高/)
  assert.doesNotMatch(await targetChecks(), /peak by|highest/)
  await shot(page, 'scenarios-zh')

  await page.click('[data-test=lang-switch]')
  await page.waitForSelector('text=Emission paths compared')
  assert.match(await targetChecks(), /peak by 2030/)
  assert.match(await page.textContent('[data-test=plan-text]'), /To meet|The baseline already meets|No combination|No plan verified|The solver/)
  await shot(page, 'scenarios-en')
  assert.deepEqual(page.messages.filter((m) => m.startsWith('PAGE ERROR')), [])
  await page.context().close()
})

/** Three days of hourly load of two cells per station (ITU 2023 layout), stations named by facility code. */
function cellsCsv(stations) {
  const rows = ['Time,BS,CellName,load']
  for (const st of stations) {
    for (let day = 1; day <= 3; day++) {
      for (let h = 0; h < 24; h++) {
        const sun = Math.max(0, Math.sin(((h - 6) / 12) * Math.PI))
        rows.push(`7/${day}/2024 ${h}:00,${st},Cell0,${(0.15 + 0.25 * sun).toFixed(4)}`)
        rows.push(`7/${day}/2024 ${h}:00,${st},Cell1,${(0.02 + 0.4 * sun).toFixed(4)}`)
      }
    }
  }
  return rows.join('\n') + '\n'
}

/** `days` hourly days of plain weather: a fortnight of sun, then rain. */
function weatherCsv(days) {
  const rows = ['time,ghi,dni,dhi,temp_air,wind_speed']
  const start = Date.UTC(2023, 0, 1)
  for (let i = 1; i <= days * 24; i++) {
    const t = new Date(start + i * 3600_000)
    const hour = ((i - 1) % 24) + 0.5
    const sun = Math.max(0, Math.sin(((hour - 6) / 12) * Math.PI))
    const sunny = i <= 14 * 24
    const [ghi, dni, dhi] = sunny ? [900 * sun, 700 * sun, 150 * sun] : [120 * sun, 0, 120 * sun]
    rows.push(`${t.toISOString().slice(0, 16)},${ghi.toFixed(1)},${dni.toFixed(1)},${dhi.toFixed(1)},25,2`)
  }
  return rows.join('\n') + '\n'
}

test('site energy: simulate a site, see its states and daily chart; set points are validated and audited', { skip }, async () => {
  const page = await login('gd-admin')
  await page.click('[data-test=nav-site]')
  await page.waitForSelector('[data-test=site-page]')
  await page.setInputFiles('[data-test=weather-file]', { name: 'weather.csv', mimeType: 'text/csv', buffer: Buffer.from(weatherCsv(21)) })
  await page.click('[data-test=simulate]')
  assert.equal(await chartPoints(page, '[data-test=daily-chart]'), 21 * 5, '21 days × (4 sources + SoC)')
  const diagram = await page.textContent('[data-test=state-diagram]')
  assert.match(diagram, /光伏供电\s*\d+ h/)
  assert.match(diagram, /燃料电池供电\s*\d+ h/)

  // Set points: an invalid change lists every problem; a valid one is audited.
  await page.waitForSelector('[data-test=sp-soc_min]')
  await page.fill('[data-test=sp-soc_min]', '0.9')
  await page.fill('[data-test=sp-reason]', '')
  await page.click('[data-test=sp-save]')
  await page.waitForSelector('[data-test=sp-errors]')
  assert.ok((await page.locator('[data-test=sp-errors] li').count()) >= 2)
  await page.fill('[data-test=sp-soc_min]', '0.2')
  await page.fill('[data-test=sp-reason]', '雨季提高最低SoC')
  await page.click('[data-test=sp-save]')
  await page.waitForFunction(() => document.querySelectorAll('[data-test=sp-changes] tr').length === 1, null, { timeout: 30_000 })
  assert.match(await page.textContent('[data-test=sp-changes]'), /雨季提高最低SoC/)
  // Base-station saving on the first day of real ITU 2023 traffic (the data beside the repository).
  const itu = join(ROOT, '../shared/data/itu-5g-energy-2023/CLdata.csv')
  if (existsSync(itu)) {
    const head = readFileSync(itu, 'utf8').split('\n').slice(0, 3000).join('\n')
    await page.setInputFiles('[data-test=cells-file]', { name: 'cells.csv', mimeType: 'text/csv', buffer: Buffer.from(head) })
    await page.waitForSelector('[data-test=bs-report]', { timeout: 60_000 })
    assert.match(await page.textContent('[data-test=bs-report]'), /\d kWh/)
  }
  // A gateway reports the site's state (the demo registers one off-grid site per province, listed
  // first): the reports go through the monitoring ingestion, and the page shows the state live
  // (polled) with the state marked, the site list and the last day's chart.
  const site = await page.inputValue('[data-test=sp-facility]')
  const statuses = await page.evaluate(async (code) => {
    const facs = await (await fetch('/api/v1/orgs/CT-GD/facilities')).json()
    const f = facs.facilities.find((x) => x.code === code)
    const now = Math.floor(Date.now() / 1000)
    const out = []
    for (const [ago, soc] of [[7200, 0.45], [3600, 0.31]]) {
      const r = await fetch(`/api/v1/orgs/${f.org_code}/sites/${code}/state`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ site: code, unix: now - ago, mode: 'fuel_cell', fuel_cell: 'running', soc, pv_w: 0, load_w: 900,
          fc_w: 1500, battery_w: 600, unserved_w: 0, fuel_l: 80, battery_low_alarm: true, fuel_low_alarm: false, invalid_input: false }),
      })
      out.push(r.status)
    }
    return out
  }, site)
  assert.deepEqual(statuses, [200, 200], `site ${site} takes state reports (its meters are registered)`)
  await page.selectOption('[data-test=sp-facility]', site)
  await page.dispatchEvent('[data-test=sp-facility]', 'change')
  await page.waitForSelector('[data-state=fuel_cell].live', { timeout: 30_000 })
  assert.match(await page.textContent('[data-test=live-state]'), /燃料电池供电 · SoC 31/)
  await page.waitForSelector('[data-test=live-chart] canvas', { timeout: 30_000 })
  await page.waitForFunction((code) => document.querySelector('[data-test=site-list]')?.textContent.includes(code), site, { timeout: 30_000 })
  assert.match(await page.textContent('[data-test=site-list]'), /31/)

  // Record a saving run as indicator data of the user's org: every error listed, then the values.
  const stations = await page.evaluate(async () => {
    const facs = await (await fetch('/api/v1/orgs/CT-GD/facilities')).json()
    return facs.facilities.filter((f) => String(f.type ?? f.kind).startsWith('base_station')).slice(0, 2).map((f) => f.code)
  })
  assert.equal(stations.length, 2)
  const upload = async (names) => {
    const done = page.waitForResponse((r) => r.url().endsWith('/api/v1/site/bs-saving'))
    await page.setInputFiles('[data-test=cells-file]', { name: 'cells.csv', mimeType: 'text/csv', buffer: Buffer.from(cellsCsv(names)) })
    await done
    await page.waitForSelector('[data-test=bs-record]:not([disabled])')
  }
  await upload([...stations, 'NOPE-1'])
  await page.fill('[data-test=bs-period]', '2024-07')
  await page.click('[data-test=bs-record]')
  await page.waitForSelector('[data-test=bs-record-errors]')
  assert.match(await page.textContent('[data-test=bs-record-errors]'), /NOPE-1/)
  await upload(stations)
  await page.click('[data-test=bs-record]')
  await page.waitForSelector('[data-test=bs-recorded]')
  assert.match(await page.textContent('[data-test=bs-recorded]'), /已记为 4 个指标值（审计日志 #\d+）/)
  assert.equal(await page.locator('[data-test=bs-recorded-rows] tr').count(), 4)
  // The same period again is refused, with each value already recorded.
  await page.click('[data-test=bs-record]')
  await page.waitForSelector('[data-test=bs-record-errors]')
  assert.equal(await page.locator('[data-test=bs-record-errors] li').count(), 4)
  assert.match(await page.textContent('[data-test=bs-record-errors]'), new RegExp(stations[0]))
  await shot(page, 'site-zh')
  assert.deepEqual(page.messages.filter((m) => m.startsWith('PAGE ERROR')), [])
  await page.context().close()
})

test('scenarios: the measured saving stands beside the catalogue value and "use measured value" sends it with the runs', { skip }, async () => {
  // Runs after the site test, which recorded a saving run for CT-GD.
  const page = await login('admin')
  await page.click('[data-test=nav-scenarios]')
  await page.waitForSelector('[data-test=measured-ai_bs_energy_saving]', { timeout: 120_000 })
  const measured = await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json()
    const r = await fetch(`/api/v1/orgs/${me.user.org_code}/scenario/measured`)
    return (await r.json()).measured.find((m) => m.measure_id === 'ai_bs_energy_saving').value
  })
  assert.ok(measured > 0 && measured < 1, String(measured))
  const text = await page.textContent('[data-test=measured-ai_bs_energy_saving]')
  assert.match(text, /目录值 15\.0% · 实测值 \d+\.\d%/)
  assert.match(text, /使用实测值/)
  await page.check('[data-test=measure-ai_bs_energy_saving]')
  const sent = page.waitForRequest((r) => {
    if (!r.url().endsWith('/api/v1/scenario/compare')) return false
    const m = r.postDataJSON().catalogue?.measure?.find((x) => x.id === 'ai_bs_energy_saving')
    return !!m && m.effects[0].value !== 0.15
  }, { timeout: 30_000 })
  await page.click('[data-test=use-measured-ai_bs_energy_saving]')
  const req = await sent
  const effect = req.postDataJSON().catalogue.measure.find((x) => x.id === 'ai_bs_energy_saving').effects[0]
  assert.equal(effect.value, measured)
  assert.equal(effect.kind, 'intensity')
  await page.waitForSelector('text=已使用实测值')
  assert.equal(await page.locator('[data-test=use-measured-ai_bs_energy_saving]').count(), 0)
  await shot(page, 'scenarios-measured-zh')
  assert.deepEqual(page.messages.filter((m) => m.startsWith('PAGE ERROR')), [])
  await page.context().close()
})

test('scenarios: the untouched scenario is business as usual; the reconciliation with the inventory in zh and en', { skip }, async () => {
  const page = await login('admin')
  // The first comparison the page asks for, before any edit: no driver edits, no measures, and
  // the two paths the server answers are the same to the bit.
  const firstCompare = page.waitForResponse((r) => r.url().endsWith('/api/v1/scenario/compare'), { timeout: 120_000 })
  const baselineAnswer = page.waitForResponse((r) => /\/api\/v1\/snapshots\/\d+\/scenario\/baseline$/.test(r.url()), { timeout: 120_000 })
  await page.click('[data-test=nav-scenarios]')
  const cmp = await firstCompare
  const sent = cmp.request().postDataJSON()
  assert.deepEqual(sent.scenarios[1].drivers, {}, 'an untouched page sends no driver edit')
  assert.deepEqual(sent.scenarios[1].measures, [])
  const runs = (await cmp.json()).runs
  assert.deepEqual(runs[1].years, runs[0].years, 'the untouched scenario is the baseline')
  assert.deepEqual(runs[1].targets, runs[0].targets)
  await page.waitForSelector('[data-test=scenario-chart]', { timeout: 120_000 })
  await chartPoints(page, '[data-test=scenario-chart]')
  const last = await page.getAttribute('[data-test=scenario-chart]', 'data-last')
  assert.equal(last, await page.getAttribute('[data-test=scenario-chart]', 'data-bau-last'), 'the two lines end together')
  assert.equal(await page.locator('[data-test^=driver-path-]').count(), 7, 'every slider on its default path')

  // The reconciliation: from the snapshot's total (the overview's figure) to the scenario base,
  // every amount the server's, worded in the page's language.
  const b = await (await baselineAnswer).json()
  const rec = b.reconciliation
  const snap = await page.evaluate(async (id) => (await (await fetch(`/api/v1/snapshots/${id}`)).json()).snapshot, b.snapshot)
  assert.equal(rec.inventory_total_tco2e, snap.result.totals.total_market)
  assert.equal(rec.scenario_base_tco2e, b.total_tco2e)
  const fmt = (v, loc) => new Intl.NumberFormat(loc, { maximumFractionDigits: 0 }).format(Math.abs(v) < 0.5 ? 0 : v)
  const check = async (loc, words) => {
    const text = await page.textContent('[data-test=reconciliation]')
    assert.ok(text.includes(fmt(rec.inventory_total_tco2e, loc)), text)
    assert.ok(text.includes(fmt(rec.scenario_base_tco2e, loc)), text)
    for (const s of rec.steps) assert.ok((await page.textContent(`[data-test=rec-${s.code}]`)).includes(fmt(s.tco2e, loc)), s.code)
    for (const w of words) assert.match(text, w)
  }
  await page.waitForSelector('[data-test=reconciliation]')
  await check('zh-CN', [/盘查总量/, /扣除范围三/, /位置基准残差/, /情景基准/])
  assert.doesNotMatch(await page.textContent('[data-test=reconciliation]'), /Scope 3|rounding|residual/)
  assert.match(await page.textContent('[data-test=scenario-base]'), new RegExp(`快照 #${b.snapshot}`))
  await shot(page, 'scenarios-reconciliation-zh')
  await page.click('[data-test=lang-switch]')
  await page.waitForSelector('text=Scenario base against the inventory total')
  await check('en', [/Inventory total/, /Scope 3 left out/, /location residual/, /Scenario base/])
  assert.match(await page.textContent('[data-test=scenario-base]'), new RegExp(`snapshot #${b.snapshot}`))

  // A moved slider sends only its own edit; "back to the default path" makes the lines one again.
  const edited = page.waitForRequest((r) => r.url().endsWith('/api/v1/scenario/compare') && Object.keys(r.postDataJSON().scenarios[1].drivers ?? {}).length > 0, { timeout: 30_000 })
  await page.locator('[data-test=slider-pue_data_center]').fill('1.2')
  assert.deepEqual((await edited).postDataJSON().scenarios[1].drivers, { pue_data_center: 1.2 })
  await page.waitForFunction(() => {
    const c = document.querySelector('[data-test=scenario-chart]')
    return Number(c.getAttribute('data-last')) < Number(c.getAttribute('data-bau-last'))
  }, null, { timeout: 30_000 })
  await page.click('[data-test=driver-reset-pue_data_center]')
  await page.waitForFunction(() => {
    const c = document.querySelector('[data-test=scenario-chart]')
    return c.getAttribute('data-last') === c.getAttribute('data-bau-last')
  }, null, { timeout: 30_000 })
  await shot(page, 'scenarios-reconciliation-en')
  assert.deepEqual(page.messages.filter((m) => m.startsWith('PAGE ERROR')), [])
  await page.context().close()
})

test('no page broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
