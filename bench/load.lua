-- wrk script for bench/run.sh: one request shape per run, read from the
-- environment, spread round-robin over BENCH_PATHS.
--   BENCH_METHOD  GET | POST (default GET)
--   BENCH_PATHS   space-separated paths, e.g. "/sessions/a/messages /sessions/b/messages"
--   BENCH_BODY    request body (JSON) for POST
--   BENCH_TOKEN   bearer token, if any
-- done() prints one machine-readable line:
--   RESULT requests=<n> seconds=<s> p50_us=<µs> p99_us=<µs> errors=<n>
-- where errors counts connect/read/write errors, timeouts and non-2xx/3xx answers.

local counter = 0
local paths = {}
local headers = {}
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")

local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "%S+") do
    table.insert(paths, p)
  end
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  if body and body ~= "" then
    headers["Content-Type"] = "application/json"
  else
    body = nil
  end
  -- Threads start at different paths, so they do not move in step.
  counter = (offset or 0) * 7
end

function request()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
