-- wrk script for scenario 4: one endpoint polled by many clients, each about once a second.
--
-- Environment: BENCH_PATH (what to poll), BENCH_HEADERS ("Name: value" pairs
-- separated by "\n"), BENCH_COOKIES (session ids, comma-separated: rotated per
-- request, as many browsers would send), BENCH_MARK (text every good answer
-- holds). A client waits 0.5 to 1.5 s (1 s on average) after each answer, so
-- clients drift apart like real browsers instead of polling in lock-step.
-- Prints one line: p50, p95 and p99 in microseconds, requests, failures.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
  path = os.getenv("BENCH_PATH")
  mark = os.getenv("BENCH_MARK")
  headers = {}
  for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  cookies = {}
  for id in string.gmatch(os.getenv("BENCH_COOKIES") or "", "[^,]+") do
    table.insert(cookies, id)
  end
  turn = 0
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  turn = turn + 1
  if #cookies > 0 then
    headers["Cookie"] = "sessionid=" .. cookies[(turn % #cookies) + 1]
  end
  return wrk.format("GET", path, headers)
end

function delay()
  return math.random(500, 1500)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, mark, 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
  end
  local errors = summary.errors
  failed = failed + errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format(
    "RESULT p50=%d p95=%d p99=%d requests=%d failures=%d\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    summary.requests, failed
  ))
end
