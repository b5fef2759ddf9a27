-- Shared by the wrk scripts that send signed deliveries (wrk_post.lua, wrk_mix.lua): thread
-- numbering and one signed query per request.
--
-- Each request carries its own signed query (QUERIES_FILE, written by bench/common.py): the
-- service treats the same signed parameters seen twice as a replay (issue 15), as WeChat never
-- sends two messages with one nonce. Thread t uses lines (t-1)*QUERIES_PER_THREAD + 1 onwards.
-- Load it with `local signed = dofile(<this file's path>)`; it defines wrk's setup() hook.
local signed = {}
local queries, query_next = {}, 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function signed.load_queries()
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

function signed.path()
  local base = string.match(wrk.path, "^[^?]*")
  if #queries == 0 then return wrk.path end
  query_next = (query_next % #queries) + 1
  return base .. "?" .. queries[query_next]
end

-- A text message from `user`, as WeChat delivers it.
function signed.text_body(to, user, content, msgid)
  return "<xml><ToUserName><![CDATA[" .. to .. "]]></ToUserName><FromUserName><![CDATA[" .. user ..
    "]]></FromUserName><CreateTime>" .. os.time() .. "</CreateTime><MsgType><![CDATA[text]]></MsgType>" ..
    "<Content><![CDATA[" .. content .. "]]></Content><MsgId>" .. msgid .. "</MsgId></xml>"
end

return signed
