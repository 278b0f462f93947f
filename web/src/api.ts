// The platform's API as the console calls it. Errors keep the server's code and message (and the
// detail, e.g. every rejected row), so pages can show exactly what went wrong.
import { session } from './session'

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public detail?: unknown) {
    super(message)
  }
}

async function call<T>(method: string, path: string, body?: BodyInit | object, headers: Record<string, string> = {}): Promise<T> {
  // Authenticated by the HttpOnly session cookie; the browser's Origin header passes the server's
  // check of cookie writes.
  const h: Record<string, string> = { ...headers }
  let payload: BodyInit | undefined
  if (body !== undefined && !(typeof body === 'string' || body instanceof Blob || body instanceof ArrayBuffer)) {
    h['content-type'] = 'application/json'
    payload = JSON.stringify(body)
  } else {
    payload = body as BodyInit | undefined
  }
  const res = await fetch(path, { method, headers: h, body: payload, credentials: 'same-origin' })
  const text = await res.text()
  let json: any = null
  try { json = text ? JSON.parse(text) : null } catch { json = null }
  if (!res.ok) {
    const e = json?.error
    if (res.status === 401 && !path.endsWith('/auth/login')) session.expire()
    throw new ApiError(res.status, e?.code ?? 'http_' + res.status, e?.message ?? text, e?.detail)
  }
  return json as T
}

export const api = {
  get: <T = any>(path: string) => call<T>('GET', path),
  post: <T = any>(path: string, body?: object) => call<T>('POST', path, body ?? {}),
  put: <T = any>(path: string, body?: object) => call<T>('PUT', path, body ?? {}),
  postCsv: <T = any>(path: string, file: Blob, name: string) =>
    call<T>('POST', path, file, { 'content-type': file.type || 'text/csv', 'x-file-name': encodeURIComponent(name) }),
}

export interface Totals {
  scope1: number; scope2_location: number; scope2_market: number; scope3: number
  energy_tce: number; total_location: number; total_market: number
}
export interface Org { code: string; name: string; parent_code: string | null; path: string; depth: number }
export interface Job {
  id: number; kind: string; title: string; owner: string; org_code: string; target: string
  status: 'running' | 'done' | 'failed'; stage: string; steps_done: number; steps_total: number
  started_at: string; finished_at: string | null
  /** The whole result: only in the answer for one job (`?id=`); the list carries `summary`. */
  result: any
  /** The result's scalar fields (snapshot id, accepted and rejected rows, ...). */
  summary: Record<string, string | number | boolean> | null
  error: { code: string; message: string; detail?: any; reference?: string } | null
}
