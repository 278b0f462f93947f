// The console's page registry: one line per page. A later issue adds its page (scenarios, carbon
// market, 碳普惠, supply chain, site energy, reports) by adding a line here with its menu label
// (an i18n key) and the permission it needs; the router and the menu are built from this list.
import type { RouteRecordRaw } from 'vue-router'
import type { Perm } from './session'

export interface PageSpec {
  path: string
  name: string
  /** i18n key of the menu label; pages without one are reached by links only. */
  menu?: string
  icon?: string
  perm: Perm
  component: () => Promise<unknown>
}

export const PAGES: PageSpec[] = [
  { path: '/overview/:code?', name: 'overview', menu: 'nav.overview', icon: '◎', perm: 'dashboard', component: () => import('./pages/Overview.vue') },
  { path: '/orgs/:code?', name: 'orgs', menu: 'nav.orgs', icon: '⌂', perm: 'read', component: () => import('./pages/Orgs.vue') },
  { path: '/facilities/:org/:code', name: 'facility', perm: 'read', component: () => import('./pages/Facility.vue') },
  { path: '/inventory/:id?', name: 'inventory', menu: 'nav.inventory', icon: '∑', perm: 'read', component: () => import('./pages/Inventory.vue') },
  { path: '/filings/:id?', name: 'filings', menu: 'nav.filings', icon: '⇪', perm: 'read', component: () => import('./pages/Filings.vue') },
  { path: '/quality', name: 'quality', menu: 'nav.quality', icon: '✓', perm: 'read', component: () => import('./pages/Quality.vue') },
  { path: '/audit', name: 'audit', menu: 'nav.audit', icon: '§', perm: 'audit', component: () => import('./pages/Audit.vue') },
  { path: '/factors', name: 'factors', menu: 'nav.factors', icon: 'ƒ', perm: 'read', component: () => import('./pages/Factors.vue') },
  { path: '/alerts', name: 'alerts', menu: 'nav.alerts', icon: '⚠', perm: 'read', component: () => import('./pages/Alerts.vue') },
  { path: '/indicators/:code?/:indicator?', name: 'indicators', menu: 'nav.indicators', icon: '‰', perm: 'dashboard', component: () => import('./pages/Indicators.vue') },
  { path: '/scoreboard/:code?', name: 'scoreboard', menu: 'nav.scoreboard', icon: '★', perm: 'dashboard', component: () => import('./pages/Scoreboard.vue') },
  { path: '/scenarios', name: 'scenarios', menu: 'nav.scenarios', icon: '↗', perm: 'read', component: () => import('./pages/Scenarios.vue') },
  { path: '/market', name: 'market', menu: 'nav.market', icon: '⇄', perm: 'read', component: () => import('./pages/Market.vue') },
  { path: '/site', name: 'site', menu: 'nav.site', icon: '☀', perm: 'read', component: () => import('./pages/Site.vue') },
  { path: '/jobs', name: 'jobs', menu: 'nav.jobs', icon: '⧗', perm: 'dashboard', component: () => import('./pages/Jobs.vue') },
  // 碳普惠 (issue 17): the programme's administration, and every user's own account (phone-sized).
  { path: '/inclusive', name: 'inclusive', menu: 'nav.inclusive', icon: '♻', perm: 'manage_inclusive', component: () => import('./pages/Inclusive.vue') },
  // Disclosure reports (issue 19).
  { path: '/reports', name: 'reports', menu: 'nav.reports', icon: '▤', perm: 'read', component: () => import('./pages/Reports.vue') },
  // Supply chain (issue 18): buyers' library, Scope 3 and tenders; suppliers' own portal.
  { path: '/supply', name: 'supply', menu: 'nav.supply', icon: '⛓', perm: 'supply', component: () => import('./pages/Supply.vue') },
  { path: '/supplier', name: 'supplier', menu: 'nav.supplier', icon: '⚙', perm: 'supplier_portal', component: () => import('./pages/Supplier.vue') },
  { path: '/my-carbon', name: 'my-carbon', menu: 'nav.myCarbon', icon: '❀', perm: 'dashboard', component: () => import('./pages/MyCarbon.vue') },
]

export function routes(): RouteRecordRaw[] {
  return PAGES.map((p) => ({ path: p.path, name: p.name, component: p.component as any, meta: { perm: p.perm } }))
}
