-- wrk script for bench/market-api.sh: orders that trade in pairs between two subsidiaries, all at
-- one price: A sells 1 t, B buys 1 t, alternately on every connection, so every buy meets a
-- resting sell (or rests until the next sell) and about every second order is a trade. Every
-- request carries a request id of its own. Trades are counted from the market before and after.
local token_a = os.getenv("DUALCARBON_TOKEN_A")
local token_b = os.getenv("DUALCARBON_TOKEN_B")
local vintage = os.getenv("DUALCARBON_VINTAGE") or "2024"
local price = os.getenv("DUALCARBON_PRICE") or "7777"
local counter = 0
local prefix = ""

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  prefix = string.format("w%08x", math.random(0, 0x7fffffff))
end

local steps = { { token_a, "sell" }, { token_b, "buy" } }

function request()
  counter = counter + 1
  local step = steps[(counter - 1) % 2 + 1]
  local body = string.format(
    '{"request_id":"%s-%d","vintage":%s,"side":"%s","type":"limit","quantity_kg":1000,"price_fen":%s}',
    prefix, counter, vintage, step[2], price)
  return wrk.format("POST", "/api/v1/market/orders",
    { ["Authorization"] = "Bearer " .. step[1], ["Content-Type"] = "application/json" }, body)
end


function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors_status=%d errors_connect=%d seconds=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
