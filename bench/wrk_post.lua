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

function init(args)
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
  return wrk.format(nil, nil, nil, body)
end
