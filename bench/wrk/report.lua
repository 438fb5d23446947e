-- wrk script: optional POST body, and a one-line machine-readable summary with latency percentiles.
--
-- Environment (read once per wrk thread):
--   WRK_BODY          if set, requests are POSTs with this body and Content-Type: application/json
--   WRK_LABEL         free text echoed in the summary line
--
-- The summary line printed by done() looks like
--   RESULT label=… requests=… duration_s=… rps=… p50_ms=… p90_ms=… p99_ms=… p999_ms=… max_ms=… errors=… non2xx=…
-- `errors` counts socket errors (connect/read/write/timeout); `non2xx` counts HTTP responses with a
-- status >= 400 (wrk's errors.status, which also counts 3xx).

local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local function ms(us) return string.format("%.3f", us / 1000) end
  io.write(string.format(
    "RESULT label=%s requests=%d duration_s=%.2f rps=%.1f p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s mean_ms=%s errors=%d non2xx=%d\n",
    os.getenv("WRK_LABEL") or "-", summary.requests, secs, summary.requests / secs,
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
    ms(latency:percentile(99.9)), ms(latency.max), ms(latency.mean),
    e.connect + e.read + e.write + e.timeout, e.status))
end
