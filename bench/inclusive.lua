-- wrk script of bench/inclusive.sh: posts the prepared batches of 碳普惠 events (one JSON body per
-- line of $INCLUSIVE_BATCHES) in order with the app's machine credentials. Run with one thread
-- (-t1) so that every batch is sent once; the shell checks that no batch was sent twice.
local bodies = {}
local i = 0
local auth

init = function(args)
  for line in io.lines(os.getenv("INCLUSIVE_BATCHES")) do
    bodies[#bodies + 1] = line
  end
  auth = "Basic " .. os.getenv("INCLUSIVE_AUTH_B64")
end

request = function()
  i = i + 1
  if i > #bodies then i = 1 end
  return wrk.format("POST", "/api/v1/inclusive/events",
    { ["content-type"] = "application/json", ["authorization"] = auth }, bodies[i])
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
  end
end
