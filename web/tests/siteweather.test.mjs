// Browser test of the shipped weather year (issue 14): the site page offers the typical year the
// platform ships (Qinzhou, CSWD), preselected for the example site, with its source shown (data set,
// producers, station and distance, where the copy came from, licence status); the example site is
// simulated on it without any upload, in zh and en (1440 and 390 px), and the figures shown are the
// ones the server answered.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { base, chartPoints, cspViolations, login as harnessLogin, shot, skip, startPlatform } from './harness.mjs'

startPlatform({ name: 'siteweather', sites: 200, year: 2024, collectApi: true })

const WORDS = {
  'zh-CN': { dataSet: /中国建筑热环境分析专用气象数据集/, producers: /清华大学建筑技术科学系/, station: /钦州.*WMO 59632.*58\.6 km/, licence: /未声明明确的许可/, solar: /光伏供电\s*([\d,]+) h/, choice: /平台自带典型气象年：广西钦州（CSWD），距示例站点 58\.6 km/ },
  en: { dataSet: /China Standard Weather Data for Analyzing Building Thermal Conditions/, producers: /Tsinghua University, Department of Building Science and Technology/, station: /Qinzhou, Guangxi, WMO 59632.*58\.6 km from the example site/, licence: /No explicit licence/, solar: /PV\s*([\d,]+) h/, choice: /Shipped typical weather year: Qinzhou, Guangxi \(CSWD\), 58\.6 km from the example site/ },
}

for (const [lang, viewport] of [['zh-CN', { width: 1440, height: 900 }], ['en', { width: 390, height: 844 }]]) {
  test(`site energy on the shipped weather year (${lang}, ${viewport.width} px): no upload, source shown`, { skip, timeout: 300_000 }, async () => {
    const w = WORDS[lang]
    const page = await harnessLogin('gd-admin', lang, { viewport, pinLocale: true })
    await page.goto(base + '/site')
    await page.waitForSelector('[data-test=weather-source-info]')
    // The shipped year is the preselected choice; nothing was uploaded.
    assert.equal(await page.isChecked('[data-test=weather-shipped]'), true)
    assert.equal(await page.isChecked('[data-test=weather-upload]'), false)
    assert.match(await page.textContent('[data-test=weather-source]'), w.choice)
    // Its source, in the page's language, with the copy's origin and the licence status.
    assert.match(await page.textContent('[data-test=ws-data-set]'), w.dataSet)
    assert.match(await page.textContent('[data-test=ws-producers]'), w.producers)
    assert.match(await page.textContent('[data-test=ws-station]'), w.station)
    assert.match(await page.textContent('[data-test=ws-licence]'), w.licence)
    assert.match(await page.textContent('[data-test=ws-copy]'), /gwyxjtu\/eppy_for_power_load_generation.*f52597b20ff0192f119e01a8da1b80b379d52b0e/)
    assert.match(await page.textContent('[data-test=ws-attribution]'), /China Meteorological Bureau Climate Information Center & Tsinghua University, 2005/)
    const listed = page.api.get('/api/v1/site/weather').weather_years[0]
    assert.match(await page.textContent('[data-test=weather-source-info]'), new RegExp(listed.sha256))

    await page.click('[data-test=simulate]')
    // A whole typical year: 365 days × (4 sources + SoC) in the daily chart.
    assert.equal(await chartPoints(page, '[data-test=daily-chart]'), 365 * 5)
    const answer = page.api.get('/api/v1/site/simulate')
    assert.equal(answer.report.steps, 8760)
    assert.equal(answer.report.weather, 'Qinzhou (CSWD 596320)')
    assert.match(await page.textContent('[data-test=weather-used]'), /Qinzhou \(CSWD 596320\)/)
    // The hours in the PV state and the PV energy shown are the server's.
    const diagram = await page.textContent('[data-test=state-diagram]')
    const solar = Number(w.solar.exec(diagram)[1].replace(/,/g, ''))
    assert.equal(solar, Math.round(answer.report.hours_by_state.solar))
    assert.ok(solar > 1000, `${solar} h on PV in a year at 22° N`)
    const pv = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 }).format(answer.report.energy_kwh.pv_available)
    assert.ok((await page.textContent('.kpis')).includes(`${pv} kWh`), `PV ${pv} kWh shown`)
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), 0)
    await shot(page, `site-weather-${lang === 'en' ? 'en' : 'zh'}`, { fullPage: true })

    // The upload stays possible: choosing it hides the source and needs a file before simulating.
    await page.check('[data-test=weather-upload]')
    assert.equal(await page.locator('[data-test=weather-source-info]').count(), 0)
    assert.equal(await page.isDisabled('[data-test=simulate]'), true)
    await page.context().close()
  })
}

test('no page of the shipped weather tests broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
