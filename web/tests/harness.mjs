// What the browser test files share: a real `dualcarbon demo` platform (embedded console, SQLite,
// a small generated operator with its inventory snapshot) started on 127.0.0.1 in a fresh data
// directory, Debian's chromium driven by playwright-core, logins in the browser and over the API,
// API calls, screenshots, and the Content Security Policy violations of every page. A test file
// calls `startPlatform(...)` once at its top (it registers the before/after hooks); the live
// bindings below (`base`, `browser`, `dataDir`) are set once the platform is up.
// Run with `npm test` after building the console and the binary (scripts/test-all does both).
// With CI=true a missing chromium or binary fails the suite.
import { before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'

/** The repository's root. */
export const ROOT = resolve(import.meta.dirname, '../..')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const BIN = process.env.DUALCARBON_BIN ?? join(ROOT, 'target/debug/dualcarbon')
const SHOTS = process.env.SCREENSHOT_DIR ? resolve(process.env.SCREENSHOT_DIR) : null

/** The demo users' password. */
export const PASSWORD = 'dualcarbon-demo'

const missing = [CHROMIUM, BIN].filter((p) => !existsSync(p))
/** The `skip` option of every browser test: set when chromium or the binary is missing (outside CI). */
export const skip = missing.length && process.env.CI !== 'true' ? `missing ${missing.join(', ')}` : false

/** The platform's URL (`http://127.0.0.1:PORT`), the browser and the platform's data directory. */
export let base, browser, dataDir
/** Every Content Security Policy violation of any page (the last test of a file checks it is empty). */
export const cspViolations = []

let server
let options = { viewport: { width: 1440, height: 900 }, fullPage: false, collectApi: false }

/**
 * Starts the demo platform before the file's tests and stops it after them.
 * `name` names the data directory; `sites` and `year` go to `dualcarbon demo`; `viewport` and
 * `fullPage` are the pages' size and screenshots; `collectApi` keeps every JSON answer of the API
 * by path and query in `page.api`.
 */
export function startPlatform({ name, sites, year, ...rest }) {
  options = { ...options, ...rest }
  before(async () => {
    if (skip) return
    assert.deepEqual(missing, [], `needed for the browser tests: ${missing.join(', ')} (install chromium; build the binary)`)
    dataDir = mkdtempSync(join(tmpdir(), `dualcarbon-${name}-test-`))
    server = spawn(BIN, ['demo', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--sites', String(sites), '--year', String(year)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    server.stderr.on('data', (d) => (log += d))
    base = await new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`the demo server did not start in 300 s:\n${log}`)), 300_000)
      server.stdout.on('data', (d) => {
        log += d
        const m = /DualCarbon demo platform: (http:\/\/127\.0\.0\.1:\d+)\//.exec(log)
        if (m) { clearTimeout(timer); ok(m[1]) }
      })
      server.on('exit', (code) => fail(new Error(`the demo server exited with ${code}:\n${log}`)))
    })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      // playwright-core starts chromium with a fresh --user-data-dir of its own (a temporary profile).
    })
    if (SHOTS) mkdirSync(SHOTS, { recursive: true })
  })

  after(async () => {
    await browser?.close()
    if (server && server.exitCode === null) {
      server.kill('SIGTERM')
      await new Promise((r) => server.on('exit', r))
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })
}

/** A fresh browser context (own cookies) logged in as `user`, on the page after login. */
export async function login(user, locale = 'zh-CN') {
  const ctx = await browser.newContext({ viewport: options.viewport, locale, timezoneId: 'Europe/London' })
  // Every Content Security Policy violation of any page is collected (checked by the last test).
  await ctx.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) =>
    console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)))
  const page = await ctx.newPage()
  page.messages = []
  page.on('console', (m) => {
    page.messages.push(m.text())
    if (/Content Security Policy|CSP violation/.test(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`)
  })
  page.on('pageerror', (e) => page.messages.push('PAGE ERROR ' + e.message))
  if (options.collectApi) {
    // Every JSON answer of the API, by path and query: what the labelled figures are checked against.
    page.api = new Map()
    page.on('response', async (r) => {
      const u = new URL(r.url())
      if (!u.pathname.startsWith('/api/') || !(r.headers()['content-type'] ?? '').includes('json')) return
      try { page.api.set(u.pathname + u.search, await r.json()) } catch { /* a body the page never read */ }
    })
  }
  await page.goto(base + '/')
  await page.waitForURL(/\/login/)
  await page.fill('input[name=username]', user)
  await page.fill('input[name=password]', PASSWORD)
  await page.click('[data-test=login-submit]')
  await page.waitForSelector('[data-test=user]')
  return page
}

/** A screenshot of the page into SCREENSHOT_DIR, when that is set. */
export async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: options.fullPage })
}

/** Waits until the chart drew data and returns how many points. */
export async function chartPoints(page, selector) {
  await page.waitForFunction((s) => Number(document.querySelector(s)?.getAttribute('data-points') ?? 0) > 0, selector, { timeout: 120_000 })
  return Number(await page.getAttribute(selector, 'data-points'))
}

/** Logs `user` in over the API; the bearer token. */
export async function apiToken(user) {
  const res = await fetch(base + '/api/v1/auth/login', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password: PASSWORD }),
  })
  const { token } = await res.json()
  return token
}

/**
 * One API call outside the browser as `user` (logged in over the API): `body` is sent as is with
 * its content `type`. The status and the answer (parsed when it is JSON, else its text).
 */
export async function api(user, method, path, { body, type = 'application/json' } = {}) {
  const headers = { authorization: `Bearer ${await apiToken(user)}` }
  if (body !== undefined) headers['content-type'] = type
  const res = await fetch(base + path, { method, headers, body })
  const text = await res.text()
  let json
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, json, text }
}
