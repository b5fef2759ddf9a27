-- Signed WeChat text deliveries spread over many accounts: PATHS_FILE holds one signed callback
-- path per account ("/wechat/acct07?signature=…"), each signed with that account's token; every
-- request goes to the next account in turn, with a fresh MsgId and a rotating user.
local counter = 0
local questions = {}
local paths = {}
local users = tonumber(os.getenv("WRK_USERS") or "20000")
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  for line in io.lines(os.getenv("QUESTIONS_FILE")) do
    if #line > 0 then table.insert(questions, line) end
  end
  for line in io.lines(os.getenv("PATHS_FILE")) do
    if #line > 0 then table.insert(paths, line) end
  end
  counter = (tid or 1) * 100000000 + math.floor(os.time() % 100000) * 1000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml"
end

function request()
  counter = counter + 1
  local q = questions[(counter % #questions) + 1]
  local path = paths[(counter % #paths) + 1]
  local user = string.format("o_bench_%d_%d", tid or 1, counter % users)
  local body = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[" .. user ..
    "]]></FromUserName><CreateTime>" .. os.time() .. "</CreateTime><MsgType><![CDATA[text]]></MsgType>" ..
    "<Content><![CDATA[" .. q .. "]]></Content><MsgId>" .. counter .. "</MsgId></xml>"
  return wrk.format(nil, path, nil, body)
end
