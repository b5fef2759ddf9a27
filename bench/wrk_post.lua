-- Signed WeChat text deliveries for wrk: a fixed signed query (plaintext-mode signatures cover
-- token, timestamp and nonce only), a fresh MsgId and a rotating user per request so that the
-- dedup and per-user lock paths see realistic traffic. Questions come from QUESTIONS_FILE.
local counter = 0
local questions = {}
local users = tonumber(os.getenv("WRK_USERS") or "20000")
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end


-- Each request carries its own signed query (QUERIES_FILE, written by bench/common.py): the
-- service treats the same signed parameters seen twice as a replay (issue 15), as WeChat never
-- sends two messages with one nonce. Thread t uses lines (t-1)*QUERIES_PER_THREAD + 1 onwards.
local queries, query_base, query_next, query_last = {}, 0, 0, 0
local function load_queries()
  local path = os.getenv("QUERIES_FILE")
  local per = tonumber(os.getenv("QUERIES_PER_THREAD") or "0")
  if path == nil then return end
  local first, last, n = ((tid or 1) - 1) * per + 1, (tid or 1) * per, 0
  for line in io.lines(path) do
    n = n + 1
    if n >= first and n <= last then table.insert(queries, line) end
    if n > last then break end
  end
end
local function signed_path()
  local base = string.match(wrk.path, "^[^?]*")
  if #queries == 0 then return wrk.path end
  query_next = (query_next % #queries) + 1
  return base .. "?" .. queries[query_next]
end

function init(args)
  load_queries()
  local path = os.getenv("QUESTIONS_FILE")
  for line in io.lines(path) do
    if #line > 0 then table.insert(questions, line) end
  end
  counter = (tid or 1) * 100000000 + math.floor(os.time() % 100000) * 1000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml"
end

function request()
  counter = counter + 1
  local q = questions[(counter % #questions) + 1]
  local user = string.format("o_bench_%d_%d", tid or 1, counter % users)
  local body = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[" .. user ..
    "]]></FromUserName><CreateTime>" .. os.time() .. "</CreateTime><MsgType><![CDATA[text]]></MsgType>" ..
    "<Content><![CDATA[" .. q .. "]]></Content><MsgId>" .. counter .. "</MsgId></xml>"
  return wrk.format(nil, signed_path(), nil, body)
end
