// Long jobs (imports, inventory runs, pre-aggregation) run on the server; the console follows them
// here. Leaving a page does not stop a job: the list comes back from the server on any page.
import { reactive } from 'vue'
import { api, type Job } from './api'
import { session } from './session'

export const jobs = reactive({ list: [] as Job[], timer: 0 as number | 0 })

export async function refreshJobs() {
  if (!session.user) return
  try {
    jobs.list = (await api.get<{ jobs: Job[] }>('/api/v1/console/jobs')).jobs
  } catch {
    /* shown again on the next poll */
  }
  schedule()
}

function schedule() {
  if (jobs.timer) clearTimeout(jobs.timer)
  const running = jobs.list.some((j) => j.status === 'running')
  jobs.timer = window.setTimeout(refreshJobs, running ? 1000 : 10000)
}

/** Polls one job until it ends; `onUpdate` sees every state. */
export async function follow(id: number, onUpdate: (j: Job) => void): Promise<Job> {
  for (;;) {
    const j = (await api.get<{ jobs: Job[] }>(`/api/v1/console/jobs?id=${id}`)).jobs[0]
    onUpdate(j)
    if (j.status !== 'running') {
      refreshJobs()
      return j
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}
