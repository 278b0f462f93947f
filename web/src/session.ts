// Who is logged in. The server sets an HttpOnly session cookie at login; the console also keeps the
// bearer token for this tab so that logging out revokes it. Permissions mirror the server's
// (crates/server/src/access.rs) only to hide what a role cannot do: the server enforces them.
import { reactive } from 'vue'

export type Role = 'group_admin' | 'org_admin' | 'data_filer' | 'reviewer' | 'auditor' | 'employee'
export type Perm = 'dashboard' | 'read' | 'file' | 'review' | 'analyze' | 'audit' | 'manage_factors'

const ALLOWED: Record<Perm, Role[]> = {
  dashboard: ['group_admin', 'org_admin', 'data_filer', 'reviewer', 'auditor', 'employee'],
  read: ['group_admin', 'org_admin', 'data_filer', 'reviewer', 'auditor'],
  file: ['group_admin', 'org_admin', 'data_filer'],
  review: ['group_admin', 'org_admin', 'reviewer'],
  analyze: ['group_admin', 'org_admin', 'reviewer'],
  audit: ['group_admin', 'org_admin', 'auditor'],
  manage_factors: ['group_admin'],
}

interface User { id: number; username: string; role: Role; org_code: string }

const stored = sessionStorage.getItem('dualcarbon.session')
const initial = stored ? JSON.parse(stored) : null

export const session = reactive({
  token: (initial?.token ?? '') as string,
  user: (initial?.user ?? null) as User | null,
  orgPath: (initial?.orgPath ?? '') as string,
  year: Number(localStorage.getItem('dualcarbon.year') ?? new Date().getFullYear() - 1),
  expired: false,
  set(token: string, user: User, orgPath: string) {
    this.token = token
    this.user = user
    this.orgPath = orgPath
    this.expired = false
    sessionStorage.setItem('dualcarbon.session', JSON.stringify({ token, user, orgPath }))
  },
  clear() {
    this.token = ''
    this.user = null
    this.orgPath = ''
    sessionStorage.removeItem('dualcarbon.session')
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
