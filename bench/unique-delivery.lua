-- wrk script: POST the body in $BODY_FILE, giving every request its own
-- Idempotency-Key so that each one is a new delivery (stores new alerts)
-- rather than a duplicate. Signature headers come from the command line: they
-- cover the timestamp and the body, not the key, and stay valid for 300 s.
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local file = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

local sent = 0
local run = os.getenv("RUN_ID") or "run"

function request()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = run .. "-" .. thread_id .. "-" .. sent
  return wrk.format()
end
