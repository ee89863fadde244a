-- wrk script: a signed GitHub webhook with a unique X-GitHub-Delivery per request.
--
--   wrk -t1 -c16 -d10s -s bench/webhook.lua http://127.0.0.1:PORT/hook/github -- BODY_FILE SIGNATURE NONCE [EVENT]
--   wrk ... -- BODIES.list - NONCE [EVENT]      (BODIES.list: one "BODY_FILE SIGNATURE" per line)
--
-- With one body, every request carries the same body (and so X-Hub-Signature-256); with a list, the
-- requests rotate through the bodies (one per PR, so prowlet's per-PR queue sees many PRs, as in real
-- traffic).  The delivery id is unique per request, "<NONCE>-<thread>-<counter>", so prowlet never
-- answers "duplicate".  Response statuses are counted per thread and printed by done() as one line:
-- "BENCHJSON {...}".

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

local function slurp(path)
   local f = assert(io.open(path, "rb"))
   local data = f:read("*a")
   f:close()
   return data
end

function init(args)
   bodies, signatures = {}, {}
   if string.sub(args[1], -5) == ".list" then
      for line in io.lines(args[1]) do
         local path, sig = string.match(line, "^(%S+)%s+(%S+)$")
         if path then
            table.insert(bodies, slurp(path))
            table.insert(signatures, sig)
         end
      end
   else
      bodies[1], signatures[1] = slurp(args[1]), args[2]
   end
   nonce = args[3]
   counter = 0
   statuses = {}
   hdrs = {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "GitHub-Hookshot/prowlet-bench",
      ["X-GitHub-Event"] = args[4] or "issue_comment",
      ["X-GitHub-Hook-ID"] = "1",
   }
end

function request()
   counter = counter + 1
   local k = (counter + tid) % #bodies + 1
   hdrs["X-GitHub-Delivery"] = nonce .. "-" .. tid .. "-" .. counter
   hdrs["X-Hub-Signature-256"] = signatures[k]
   return wrk.format("POST", nil, hdrs, bodies[k])
end

function response(status, headers, resp_body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
   local agg = {}
   for _, t in ipairs(threads) do
      for k, v in pairs(t:get("statuses")) do
         agg[k] = (agg[k] or 0) + v
      end
   end
   local parts = {}
   for k, v in pairs(agg) do
      parts[#parts + 1] = string.format('"%s": %d', k, v)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"duration_us": %d, "requests": %d, "bytes": %d, "statuses": {%s}, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_ms": {"50": %.3f, "90": %.3f, "99": %.3f, "100": %.3f}}\n',
      summary.duration, summary.requests, summary.bytes, table.concat(parts, ", "),
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000))
end
