-- wrk script of bench/run: every request carries the next token of a file,
-- rotating over all of them, and the run ends with one JSON line.
--
-- Environment:
--   SD_BENCH_TOKENS  file of tokens, one per line (required)
--   SD_BENCH_MODE    "auth"  (default) GET /v1/auth: open or resume
--                    "churn" GET /v1/auth then DELETE /v1/session with the
--                            same token, pipelined on one connection, so
--                            each pair opens a fresh session and logs out
--   SD_BENCH_PATH    path of "auth" requests (default /v1/auth)
--
-- Requests are formatted once in init(), so request() costs a table index.

local requests, n, i = {}, 0, 0

function init(args)
  local file = assert(os.getenv("SD_BENCH_TOKENS"), "SD_BENCH_TOKENS not set")
  local mode = os.getenv("SD_BENCH_MODE") or "auth"
  local path = os.getenv("SD_BENCH_PATH") or "/v1/auth"
  for token in io.lines(file) do
    if token ~= "" then
      local h = {["Authorization"] = "Bearer " .. token}
      local r = wrk.format("GET", path, h)
      if mode == "churn" then r = r .. wrk.format("DELETE", "/v1/session", h) end
      n = n + 1
      requests[n] = r
    end
  end
  assert(n > 0, "no tokens in " .. file)
  -- Threads start at different places, so they do not send the same token
  -- at the same moment.
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return requests[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_us": %d, "rps": %.1f, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_write": %d, "errors_timeout": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status))
end
