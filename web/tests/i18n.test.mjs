// Every text the console shows exists in both languages: the keys of the zh-CN and English
// dictionaries are the same, and every key the pages use (t('...')) is in them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

const SRC = resolve(import.meta.dirname, '../src')
const i18n = readFileSync(join(SRC, 'i18n.ts'), 'utf8')

function dict(name) {
  const body = new RegExp(`const ${name}: Dict = \\{([\\s\\S]*?)\\n\\}`).exec(i18n)[1]
  return new Set([...body.matchAll(/^\s*'([^']+)':/gm)].map((m) => m[1]))
}

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(vue|ts)$/.test(e.name) ? [join(dir, e.name)] : [])
}

test('both languages have the same keys', () => {
  const zh = dict('zh')
  const en = dict('en')
  assert.ok(zh.size > 100, `parsed ${zh.size} keys`)
  assert.deepEqual([...zh].filter((k) => !en.has(k)), [], 'missing in English')
  assert.deepEqual([...en].filter((k) => !zh.has(k)), [], 'missing in Chinese')
})

test('every literal key used by a page or component exists', () => {
  const zh = dict('zh')
  const used = new Set()
  for (const f of sources(SRC)) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\bt\('([a-zA-Z0-9_.]+)'\s*[,)]/g)) used.add(m[1])
    // Menu labels of the page registry.
    for (const m of readFileSync(f, 'utf8').matchAll(/menu: '([a-zA-Z0-9_.]+)'/g)) used.add(m[1])
  }
  assert.ok(used.size > 50, `found ${used.size} keys in use`)
  assert.deepEqual([...used].filter((k) => !zh.has(k)), [])
})
