-- wrk script for bench/webhook_bench.py: replays pre-generated, distinct WeChat pushes.
--
-- usage: wrk -s bench/wrk_replay.lua URL -- DATAFILE NTHREADS [EXPECTED_BODY_PREFIX]
-- DATAFILE has one request per line, "path?query<TAB>body" (signatures computed in Python).
-- Thread t of n sends lines t, t+n, t+2n, ... so no two threads send the same MsgId; a thread
-- that runs out starts again from its first line and counts the reuse (the app would answer
-- those from its deduplication table, which is a different code path: size the file to avoid it).
-- done() prints one line "WRKJSON {...}" with exact percentiles in microseconds.

local threads = {}
local count = 0

function setup(thread)
   thread:set("tid", count)
   count = count + 1
   table.insert(threads, thread)
end

function init(args)
   local datafile, nthreads = args[1], tonumber(args[2])
   expect = args[3] or ""
   local headers = {["Content-Type"] = "text/xml"}
   reqs = {}
   local i = 0
   for line in io.lines(datafile) do
      if i % nthreads == tid then
         local tab = line:find("\t", 1, true)
         reqs[#reqs + 1] = wrk.format("POST", line:sub(1, tab - 1), headers, line:sub(tab + 1))
      end
      i = i + 1
   end
   nreqs = #reqs
   sent, bad_status, bad_body, idx = 0, 0, 0, 0
end

function request()
   idx = idx + 1
   if idx > nreqs then idx = 1 end
   sent = sent + 1
   return reqs[idx]
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      bad_status = bad_status + 1
   elseif expect ~= "" and body:sub(1, #expect) ~= expect then
      bad_body = bad_body + 1
   end
end

function done(summary, latency, requests)
   local sent_all, distinct, reused, bs, bb = 0, 0, 0, 0, 0
   for _, t in ipairs(threads) do
      local s, n = t:get("sent"), t:get("nreqs")
      sent_all = sent_all + s
      distinct = distinct + n
      if s > n then reused = reused + (s - n) end
      bs = bs + t:get("bad_status")
      bb = bb + t:get("bad_body")
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
      '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "sent": %d, "distinct": %d, ' ..
      '"reused": %d, "non_2xx": %d, "bad_body": %d, "wrk_status_errors": %d, ' ..
      '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, sent_all, distinct, reused, bs, bb,
      e.status, e.connect, e.read, e.write, e.timeout))
end
