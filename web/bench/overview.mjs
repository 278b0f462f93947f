// Measures the group overview in a real browser (bench/console.sh): log in, then open the overview
// ROUNDS times; each round reports the overview API call as the page timed it, and the time from
// navigation to the monthly chart drawn with data. Prints one JSON line per round and a summary.
//   node bench/overview.mjs http://127.0.0.1:18091 [rounds]
import { chromium } from 'playwright-core'

const base = process.argv[2]
const rounds = Number(process.argv[3] ?? 10)
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
})
const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage()
const messages = []
page.on('console', (m) => messages.push(m.text()))
await page.goto(base + '/login')
await page.fill('input[name=username]', 'admin')
await page.fill('input[name=password]', 'dualcarbon-demo')
await page.click('[data-test=login-submit]')
await page.waitForSelector('[data-test=user]')
const results = []
for (let i = 0; i < rounds; i++) {
  messages.length = 0
  const t0 = Date.now()
  // A full page load each round: HTML, scripts (from the embedded console) and the API call.
  await page.goto(base + '/overview/CT?round=' + i)
  await page.waitForFunction(() => Number(document.querySelector('[data-test=monthly-chart]')?.getAttribute('data-points') ?? 0) > 0, null, { timeout: 600_000 })
  const rendered = Date.now() - t0
  const api = Number(/overview-loaded \S+ (\d+) ms/.exec(messages.find((m) => m.startsWith('overview-loaded')) ?? '')?.[1] ?? NaN)
  const r = { round: i, api_ms: api, page_to_chart_ms: rendered }
  results.push(r)
  console.log(JSON.stringify(r))
}
const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log(JSON.stringify({
  summary: true,
  rounds,
  api_ms_median: med(results.map((r) => r.api_ms)),
  api_ms_max: Math.max(...results.map((r) => r.api_ms)),
  page_to_chart_ms_median: med(results.map((r) => r.page_to_chart_ms)),
  page_to_chart_ms_max: Math.max(...results.map((r) => r.page_to_chart_ms)),
}))
await browser.close()
