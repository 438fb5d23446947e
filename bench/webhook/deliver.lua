-- wrk script: sends the signed deliveries of WRK_DELIVERIES (one `signature<TAB>body` per line,
-- written by deliveries.py) to WRK_PATH, each once: thread k of n sends lines k, k+n, k+2n, …
-- A thread that runs out sends nothing more (its connections idle), so no delivery is a replay.
-- Prints `RESULT … accepted=<2xx responses> non2xx=…` like report.lua.
local threads, counter = {}, 1

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  -- Each thread has its own Lua state (`threads` is filled in the main one), so the count comes
  -- from the environment.
  local n = tonumber(os.getenv("WRK_THREADS") or "2")
  deliveries, next_index = {}, 1
  local i = 0
  for line in io.lines(os.getenv("WRK_DELIVERIES")) do
    if i % n == (tid - 1) then
      local signature, body = line:match("^([^\t]+)\t(.*)$")
      table.insert(deliveries, wrk.format("POST", os.getenv("WRK_PATH"),
        {["Content-Type"] = "application/json", ["X-Auterity-Signature"] = signature}, body))
    end
    i = i + 1
  end
  accepted = 0
end

function request()
  local r = deliveries[next_index]
  if r == nil then
    wrk.thread:stop()
    return deliveries[#deliveries]
  end
  next_index = next_index + 1
  return r
end

function response(status, headers, body)
  if status >= 200 and status < 300 then accepted = accepted + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("accepted") end
  local secs = summary.duration / 1e6
  local function ms(us) return string.format("%.3f", us / 1000) end
  io.write(string.format(
    "RESULT label=%s requests=%d duration_s=%.2f accepted=%d accepted_per_s=%.1f p50_ms=%s p99_ms=%s max_ms=%s errors=%d non2xx=%d\n",
    os.getenv("WRK_LABEL") or "-", summary.requests, secs, total, total / secs,
    ms(latency:percentile(50)), ms(latency:percentile(99)), ms(latency.max),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
