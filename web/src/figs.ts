import { t } from './i18n'
// Figures with units. The unit of every figure comes from the API, beside the number (`units` of
// a snapshot or overview, `totals_unit` / `values_unit` of an explanation, `unit` of a record or
// factor); the console only formats it and never converts. Each rendered figure carries data
// attributes naming the API value it shows: the response (`data-fig-src`, the URL the page
// fetched), the JSON path of the value (`data-fig`, or `data-fig-cell` for a table cell whose unit
// is in its column header) and of its unit (`data-fig-unit`). The browser test "every figure the
// console labels with a unit is the server's value in that unit" (tests/console.test.mjs) checks
// each against the API responses the page received, and that no number with a unit goes untagged.

/** How a unit sent by the server is printed: CO2 with a subscript; a ratio ("1", "ratio" as the
 * indicator registry writes PUE's, or "fraction" as factor files write an oxidation rate) has no
 * label. */
export function unitLabel(u: string | null | undefined): string {
  if (!u || u === '1' || u === 'ratio' || u === 'fraction') return ''
  return u.replace('CO2', 'CO₂')
}

/** A unit as `unitLabel` prints it, with the words of a currency unit in the language ("10^4 yuan":
 * 万元, 10⁴ yuan) and of a count ("count": 个); for figures not tied to an API value's unit by a
 * data attribute. */
export function unitWords(u: string | null | undefined): string {
  return unitLabel(u).replace('10^4 yuan', t('unit.10k_yuan')).replace(/^count$/, t('unit.count'))
}

type Attrs = Record<string, string>

/** A figure printed with its unit in the same element. */
export function fig(src: string, path: string, unitPath: string): Attrs {
  return { 'data-fig-src': src, 'data-fig': path, 'data-fig-unit': unitPath }
}

/** A table cell whose unit is printed in its column header. */
export function figCell(src: string, path: string, unitPath: string): Attrs {
  return { 'data-fig-src': src, 'data-fig-cell': path, 'data-fig-unit': unitPath }
}
