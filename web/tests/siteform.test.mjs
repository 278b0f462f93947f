// Browser test of the site page's parameter form (issue 14): the common parameters of the site
// file as labelled fields in zh and en (1440 and 390 px); a change writes its line of the TOML,
// which stays the file simulated and is shown as the advanced view.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { base, cspViolations, login as harnessLogin, shot, skip, startPlatform } from './harness.mjs'

startPlatform({ name: 'siteform', sites: 200, year: 2024 })

for (const [lang, viewport] of [['zh-CN', { width: 1440, height: 900 }], ['en', { width: 390, height: 844 }]]) {
  test(`site parameters (${lang}, ${viewport.width} px): a form over the site file, the TOML as the advanced view`, { skip }, async () => {
    const page = await harnessLogin('gd-admin', lang, { viewport, pinLocale: true })
    await page.goto(base + '/site')
    await page.waitForSelector('[data-test=site-form]')
    // The TOML is folded away; the form shows the file's values.
    assert.equal(await page.locator('[data-test=site-toml]').isVisible(), false)
    assert.equal(await page.inputValue('[data-test=param-pv-pdc0_w]'), '6000')
    assert.equal(await page.inputValue('[data-test=param-location-latitude]'), '21.55')
    const label = await page.locator('[data-test=site-form] label').first().textContent()
    assert.match(label, lang === 'en' ? /Latitude/ : /纬度/)
    // A change writes the line of its section (comment kept), nothing else.
    const before = await page.inputValue('[data-test=site-toml]')
    await page.fill('[data-test=param-pv-pdc0_w]', '8000')
    await page.dispatchEvent('[data-test=param-pv-pdc0_w]', 'change')
    await page.click('[data-test=site-advanced]')
    const after = await page.inputValue('[data-test=site-toml]')
    assert.match(after, /^pdc0_w = 8000 {9}# DC nameplate, W$/m)
    const changed = before.split('\n').filter((l, i) => l !== after.split('\n')[i])
    assert.deepEqual(changed, ['pdc0_w = 6000         # DC nameplate, W'])
    // And the TOML edited by hand shows in the form.
    await page.fill('[data-test=site-toml]', after.replace('capacity_wh = 20000', 'capacity_wh = 25000'))
    assert.equal(await page.inputValue('[data-test=param-battery-capacity_wh]'), '25000')
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), 0)
    await shot(page, `site-form-${lang === 'en' ? 'en' : 'zh'}`)
    await page.context().close()
  })
}

test('no page of the site form tests broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
