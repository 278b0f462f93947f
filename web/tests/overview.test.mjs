// Browser tests of the overview's year-on-year changes and intensities per site (issue 14), in zh
// and en at 1440 and 390 px, on the shared harness: each printed change and intensity is the
// server's (`comparisons` of the overview answer) in the server's unit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cspViolations, login as harnessLogin, shot, skip, startPlatform } from './harness.mjs'

startPlatform({ name: 'overview', sites: 200, year: 2024, collectApi: true })

const number = (s) => Number(String(s).replace(/[^\d.\-]/g, ''))

for (const [lang, viewport] of [['zh-CN', { width: 1440, height: 900 }], ['en', { width: 390, height: 844 }]]) {
  test(`overview (${lang}, ${viewport.width} px): year on year against the year before, per site`, { skip }, async () => {
    const page = await harnessLogin('admin', lang, { viewport, pinLocale: true })
    await page.waitForSelector('[data-test=comparisons]')
    const answer = [...page.api.entries()].find(([k]) => /\/console\/orgs\/CT\/overview/.test(k))[1]
    const c = answer.comparisons
    assert.equal(c.previous.year, 2023, 'the demo files 2022–2024')
    assert.match(await page.textContent('[data-test=comparisons] h3'), lang === 'en' ? /against 2023/ : /较 2023 年/)
    const total = c.previous.figures.total_market
    const shown = await page.locator('[data-test=yoy-total_market] .kpi-value').textContent()
    assert.equal(Math.round(number(shown)), Math.round(total.change), `${shown} vs ${total.change}`)
    assert.equal(await page.getAttribute('[data-test=yoy-total_market] .kpi-value', 'data-fig'), 'comparisons.previous.figures.total_market.change')
    assert.match(shown, /tCO₂e/)
    const ratio = await page.locator('[data-test=yoy-total_market] .kpi-sub').textContent()
    assert.ok(Math.abs(number(ratio) / 100 - total.change_ratio) < 0.0006, `${ratio} vs ${total.change_ratio}`)
    // Per site over the group's facilities.
    const perSite = await page.locator('[data-test=per-site-total] .kpi-value').textContent()
    assert.ok(Math.abs(number(perSite.split('/')[0]) - c.intensity.per_site.total_market) < 0.006, `${perSite} vs ${c.intensity.per_site.total_market}`)
    assert.match(perSite, lang === 'en' ? /tCO₂e\/site/ : /tCO₂e\/站点/)
    assert.match(await page.textContent('[data-test=per-site-total] .kpi-sub'), new RegExp(c.intensity.sites.toLocaleString('en')))
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), 0)
    await shot(page, `overview-yoy-${lang === 'en' ? 'en' : 'zh'}`)
    await page.context().close()
  })
}

test('no page of the overview tests broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
