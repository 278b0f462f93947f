// Who is logged in. The server sets an HttpOnly session cookie at login and the console
// authenticates with that cookie only: no token is readable by scripts or kept in web storage. On
// start (and after a reload) the caller comes from GET /api/v1/me. Permissions mirror the server's
// (crates/server/src/access.rs) only to hide what a role cannot do: the server enforces them.
import { reactive } from 'vue'

export type Role = 'group_admin' | 'org_admin' | 'data_filer' | 'reviewer' | 'auditor' | 'employee' | 'supplier'
export type Perm = 'dashboard' | 'read' | 'file' | 'review' | 'analyze' | 'audit' | 'manage_factors' | 'trade' | 'market_admin' | 'manage_inclusive' | 'supply' | 'supplier_portal'

const ALLOWED: Record<Perm, Role[]> = {
  dashboard: ['group_admin', 'org_admin', 'data_filer', 'reviewer', 'auditor', 'employee'],
  read: ['group_admin', 'org_admin', 'data_filer', 'reviewer', 'auditor'],
  file: ['group_admin', 'org_admin', 'data_filer'],
  review: ['group_admin', 'org_admin', 'reviewer'],
  analyze: ['group_admin', 'org_admin', 'reviewer'],
  audit: ['group_admin', 'org_admin', 'auditor'],
  manage_factors: ['group_admin'],
  trade: ['group_admin', 'org_admin'],
  market_admin: ['group_admin'],
  manage_inclusive: ['group_admin', 'org_admin'],
  supply: ['group_admin', 'org_admin', 'data_filer', 'reviewer', 'auditor'],
  supplier_portal: ['supplier'],
}

interface User { id: number; username: string; role: Role; org_code: string }

export const session = reactive({
  user: null as User | null,
  orgPath: '',
  year: Number(localStorage.getItem('dualcarbon.year') ?? new Date().getFullYear() - 1),
  expired: false,
  set(user: User, orgPath: string) {
    this.user = user
    this.orgPath = orgPath
    this.expired = false
  },
  clear() {
    this.user = null
    this.orgPath = ''
  },
  /** The caller of the session cookie, if it is still valid (after a reload). */
  async restore() {
    try {
      const res = await fetch('/api/v1/me', { credentials: 'same-origin' })
      if (res.ok) {
        const me = await res.json()
        this.set(me.user, me.org_path)
      }
    } catch { /* not logged in */ }
  },
  expire() {
    this.clear()
    this.expired = true
  },
  setYear(y: number) {
    this.year = y
    localStorage.setItem('dualcarbon.year', String(y))
  },
  can(p: Perm): boolean {
    return !!this.user && ALLOWED[p].includes(this.user.role)
  },
})
