// Browser tests of 碳普惠: the administrators' page (statistics, review queue, methodologies,
// catalogue and orders) and the employee's phone page at 390 × 844 (account, claim, history with
// each reduction explained, redeem), against a real `dualcarbon demo` server (tests/harness.mjs).
// An app's events are posted over the API with machine credentials, as a mini-program would.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api, base, cspViolations, login, shot, skip, startPlatform } from './harness.mjs'

startPlatform({ name: 'inclusive', sites: 200, year: 2024, viewport: { width: 1440, height: 900 } })

const PHONE = { width: 390, height: 844 }
const iso = (secsAgo) => new Date(Date.now() - secsAgo * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
const trip = (id, mode, metres, minutes) =>
  ({ id, account: 'employee', action: 'commute', mode, start: iso(3600 + minutes * 60), end: iso(3600), distance_m: metres, reference: id })

/** An app credential of the root org, made by admin: its Basic header. */
async function app(trust) {
  const me = await api('admin', 'GET', '/api/v1/me')
  const r = await api('admin', 'POST', '/api/v1/inclusive/clients', {
    body: JSON.stringify({ name: `app-${trust}`, org_code: me.json.user.org_code, audience: 'employee', trust, delay_days: 0 }),
  })
  assert.equal(r.status, 200, r.text)
  return 'Basic ' + Buffer.from(`${r.json.client.client_id}:${r.json.secret}`).toString('base64')
}

async function post(auth, events) {
  const res = await fetch(base + '/api/v1/inclusive/events', { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ events }) })
  assert.equal(res.status, 200)
  return (await res.json()).verdicts
}

let seeded = false
/** The demo's employee enrolled, a catalogue item, and events: two accepted trips, one held for review, one rejected. */
async function seed() {
  if (seeded) return
  seeded = true
  const me = await api('employee', 'GET', '/api/v1/me')
  const r = await api('admin', 'POST', '/api/v1/inclusive/accounts', { body: JSON.stringify({ username: 'employee', org_code: me.json.user.org_code, display_name: '小李', opt_in: true }) })
  assert.equal(r.status, 200, r.text)
  const item = await api('admin', 'POST', '/api/v1/inclusive/catalogue', { body: JSON.stringify({ org_code: me.json.user.org_code, name: '绿植一盆', points: 500, stock: 5 }) })
  assert.equal(item.status, 200, item.text)
  const trusted = await app('authoritative')
  const v = await post(trusted, [trip('t1', 'metro', 12_300, 30), trip('t2', 'carpool', 20_000, 30), trip('t3', 'rocket', 1000, 10)])
  assert.deepEqual(v.map((x) => x.status), ['accepted', 'accepted', 'rejected'])
  const selfReported = await app('self_reported')
  const held = await post(selfReported, [trip('s1', 'bike', 14_000, 30)])
  assert.equal(held[0].status, 'pending')
}

test('administrators: statistics, the review queue, methodologies with sources, catalogue and orders (zh, en)', { skip }, async () => {
  await seed()
  const page = await login('admin')
  await page.click('[data-test=nav-inclusive]')
  await page.waitForSelector('[data-test=inc-stats]')
  // 574 g (metro 12.3 km × 46.7) + 2,718 g (carpool 20 km × 135.9); the held bike trip is not counted yet.
  assert.match(await page.textContent('[data-test=inc-total-grams]'), /3,292/)
  assert.equal(await page.locator('[data-test=inc-totals-row]').count(), 1)
  assert.match(await page.textContent('[data-test=inc-totals]'), /绿色出行/)
  assert.match(await page.textContent('[data-test=inc-journal]'), /借贷平衡/)
  assert.match(await page.textContent('[data-test=inc-rejected]'), /未知的出行方式/)
  await shot(page, 'inclusive-admin-stats-zh')

  await page.click('[data-test=inc-tab-review]')
  await page.waitForSelector('[data-test=inc-review-row]')
  assert.match(await page.textContent('[data-test=inc-review-row]'), /数据源可信度 \+40.*速度接近上限 \+20/)
  await page.click('[data-test=inc-approve]')
  await page.waitForSelector('[data-test=inc-review-empty]')
  assert.match(await page.textContent('[data-test=inc-message]'), /已通过/)

  await page.click('[data-test=inc-tab-methodologies]')
  await page.waitForSelector('[data-test=inc-methodology]')
  assert.equal(await page.locator('[data-test=inc-methodology]').count(), 3)
  const commute = page.locator('[data-test=inc-methodology][data-id=commute]')
  assert.match(await commute.textContent(), /46\.7 g\/公里/)
  assert.match(await commute.textContent(), /Shenzhen/)
  assert.match(await commute.textContent(), /每日 296 g/)
  // A version with a number without a source is refused, worded in the page's language.
  await page.fill('[data-test=inc-meth-toml]', '[methodology]\nid = "x"\nversion = 1\n')
  await page.click('[data-test=inc-meth-add]')
  await page.waitForSelector('[data-test=inc-failure]')
  assert.match(await page.textContent('[data-test=inc-failure]'), /方法学文件有误/)
  await shot(page, 'inclusive-admin-methodologies-zh')

  await page.click('[data-test=inc-tab-catalogue]')
  await page.waitForSelector('[data-test=inc-item]')
  assert.match(await page.textContent('[data-test=inc-item]'), /绿植一盆/)

  await page.click('[data-test=lang-switch]')
  await page.click('[data-test=inc-tab-stats]')
  await page.waitForSelector('text=Reductions in')
  assert.match(await page.textContent('[data-test=inc-totals]'), /Green commute/)
  assert.match(await page.textContent('[data-test=inc-journal]'), /Balanced/)
  await shot(page, 'inclusive-admin-stats-en')
  await page.context().close()
})

test('phone (390 × 844): the employee claims, sees each reduction explained and redeems', { skip }, async () => {
  await seed()
  const page = await login('employee', 'zh-CN', { viewport: PHONE })
  await page.goto(base + '/my-carbon')
  await page.waitForSelector('[data-test=inc-claim]')
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  assert.equal(await overflow(), 0, 'nothing wider than the phone')
  assert.equal((await page.textContent('[data-test=inc-available]')).trim(), '0')
  // The approved bike trip is claimable too: 574 + 2,718 + 389 = 3,681 points.
  assert.match(await page.textContent('[data-test=inc-claim]'), /3 笔减排（3,681 积分）/)
  await page.click('[data-test=inc-claim]')
  await page.waitForSelector('[data-test=inc-me-message]')
  assert.match(await page.textContent('[data-test=inc-me-message]'), /已领取 3,681 积分/)
  assert.equal((await page.textContent('[data-test=inc-available]')).trim(), '3,681')
  // Each reduction explained: methodology and version, BE − PE, the factor's source.
  await page.locator('[data-test=inc-credit]', { hasText: '拼车' }).click()
  const explain = await page.textContent('[data-test=inc-explain]')
  assert.match(explain, /方法学 commute 第 1 版/)
  assert.match(explain, /20 公里 ×（基准 271\.8 − 项目 135\.9）g = 2718 g/)
  assert.match(explain, /Beijing MaaS/)
  assert.equal(await overflow(), 0, 'the explanation wraps within the phone')
  await shot(page, 'inclusive-phone-history-zh')
  // Redeem: the points are reserved.
  await page.click('[data-test=inc-redeem]')
  await page.waitForSelector('[data-test=inc-me-order]')
  assert.equal((await page.textContent('[data-test=inc-available]')).trim(), '3,181')
  assert.equal((await page.textContent('[data-test=inc-reserved]')).trim(), '500')
  assert.match(await page.textContent('[data-test=inc-me-order]'), /绿植一盆.*已冻结/)
  // The leaderboard shows the opted-in name.
  assert.match(await page.textContent('[data-test=inc-board-row]'), /小李/)
  assert.equal(await overflow(), 0)
  await shot(page, 'inclusive-phone-zh')
  // In English.
  await page.click('[data-test=lang-switch]')
  await page.waitForSelector('text=My carbon account')
  assert.equal(await overflow(), 0)
  assert.match(await page.textContent('[data-test=my-carbon]'), /Points/)
  await page.context().close()
})

test('administrators: points expiry by age from the console, worded with its result (zh, en)', { skip }, async () => {
  await seed()
  // After the phone test: 3,681 points issued today, 500 of them reserved by the order.
  const page = await login('admin')
  await page.click('[data-test=nav-inclusive]')
  await page.waitForSelector('[data-test=inc-expire]')
  const todayCst = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10)
  await page.fill('[data-test=inc-expire-date]', todayCst)
  await page.click('[data-test=inc-expire-run]')
  // The message says the action is running until the answer comes: wait for the result's words.
  await page.waitForSelector('[data-test=inc-message] >> text=积分到期清零')
  // First in, first out: issued through today 3,681, less the 500 that left (reserved) = 3,181.
  assert.match(await page.textContent('[data-test=inc-message]'), /1 个账户共 3,181 积分到期清零/)
  assert.match(await page.textContent('[data-test=inc-message]'), new RegExp('积分发放截至 ' + todayCst))
  await shot(page, 'inclusive-admin-expiry-zh')
  // Again, in English: nothing more expires for the same day.
  await page.click('[data-test=lang-switch]')
  await page.waitForSelector('text=Points expiry')
  await page.fill('[data-test=inc-expire-date]', todayCst)
  await page.click('[data-test=inc-expire-run]')
  await page.waitForSelector('[data-test=inc-message] >> text=Done')
  assert.match(await page.textContent('[data-test=inc-message]'), /Done: 0 points expired/)
  // The employee's account: nothing available any more, the reserved order's 500 untouched.
  const me = await api('employee', 'GET', '/api/v1/inclusive/me')
  assert.deepEqual(me.json.points, { available: 0, reserved: 500 }, me.text)
  await page.context().close()
})

test('no page broke the Content Security Policy', { skip }, () => {
  assert.deepEqual(cspViolations, [])
})
