-- wrk script of bench/supply.sh: PACT ListFootprints pages of 100 at random cursors over N
-- footprints, with the partner's bearer token (PACT_TOKEN, PACT_N).
local token = os.getenv("PACT_TOKEN")
local n = tonumber(os.getenv("PACT_N") or "100000")
math.randomseed(os.time())
request = function()
  local after = math.random(0, n - 100)
  return wrk.format("GET", "/3/footprints?limit=100&x-dualcarbon-after=" .. after, { ["authorization"] = "Bearer " .. token })
end
