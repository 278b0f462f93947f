-- wrk script for bench/platform.sh: every request reads the dashboard figures of a random org of
-- the demo operator, as a logged-in user (the org list and the token come from the environment).
local orgs = {}
for line in io.lines(os.getenv("DUALCARBON_ORGS")) do
  orgs[#orgs + 1] = line
end
local token = os.getenv("DUALCARBON_TOKEN")
local year = os.getenv("DUALCARBON_YEAR") or "2024"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local org = orgs[math.random(#orgs)]
  return wrk.format("GET", "/api/v1/orgs/" .. org .. "/dashboard?year=" .. year, { ["Authorization"] = "Bearer " .. token })
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors_status=%d errors_connect=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, summary.errors.status, summary.errors.connect,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
