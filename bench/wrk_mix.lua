-- Realistic mixed traffic for bench/load.py, at an approximately fixed rate.
-- Each connection waits RATE_DELAY_MS between requests (delay()), so C connections send about
-- C * 1000 / RATE_DELAY_MS messages a second. The mix: FAQ questions from citizens (60%), flow
-- conversations where each citizen answers after our reply (20%), menu clicks (10%) and WeChat
-- re-deliveries of a message already sent (10%). Inputs come from files written by load.py.
local counter = 0
local questions, keys, scripts = {}, {}, {}
local pending = {}      -- flow citizens waiting to send their next message: {user, step index, script}
local last_body = nil
local last_path = nil
local last_kind = nil
local inflight_flow = nil
local delay_ms = tonumber(os.getenv("RATE_DELAY_MS") or "80")
-- This script's folder, so that wrk finds the shared part from any working directory.
local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local signed = dofile(here .. "wrk_signed.lua")

local function lines(path, into)
  for line in io.lines(path) do
    if #line > 0 then table.insert(into, line) end
  end
end


function init(args)
  signed.load_queries()
  lines(os.getenv("QUESTIONS_FILE"), questions)
  lines(os.getenv("KEYS_FILE"), keys)
  for line in io.lines(os.getenv("SCRIPTS_FILE")) do
    local steps = {}
    for step in string.gmatch(line, "[^|]+") do table.insert(steps, step) end
    if #steps > 0 then table.insert(scripts, steps) end
  end
  math.randomseed((tid or 1) * 7919 + os.time())
  counter = (tid or 1) * 100000000 + math.floor(os.time() % 100000) * 1000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml"
end

local function text_body(user, content)
  counter = counter + 1
  return signed.text_body("gh_load", user, content, counter)
end

local function click_body(user, key)
  counter = counter + 1
  return "<xml><ToUserName><![CDATA[gh_load]]></ToUserName><FromUserName><![CDATA[" .. user ..
    "]]></FromUserName><CreateTime>" .. counter .. "</CreateTime><MsgType><![CDATA[event]]></MsgType>" ..
    "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[" .. key .. "]]></EventKey></xml>"
end

function delay()
  return delay_ms
end

function request()
  local roll = math.random()
  inflight_flow = nil
  if roll < 0.10 and last_body ~= nil then
    last_kind = "retry"
    -- A re-delivery: the same message, signed as WeChat signed it the first time.
    return wrk.format(nil, last_path, nil, last_body)
  end
  local body
  if roll < 0.20 then
    counter = counter + 1
    body = click_body(string.format("o_load_m_%d_%d", tid or 1, counter), keys[math.random(#keys)])
    last_kind = "menu"
  elseif roll < 0.40 then
    local citizen
    if #pending > 0 and math.random() < 0.7 then
      citizen = table.remove(pending, 1)
    else
      counter = counter + 1
      citizen = {user = string.format("o_load_f_%d_%d", tid or 1, counter), step = 1,
                 script = scripts[math.random(#scripts)]}
    end
    body = text_body(citizen.user, citizen.script[citizen.step])
    inflight_flow = citizen
    last_kind = "flow"
  else
    counter = counter + 1
    body = text_body(string.format("o_load_q_%d_%d", tid or 1, counter), questions[math.random(#questions)])
    last_kind = "faq"
  end
  last_body = body
  last_path = signed.path()
  return wrk.format(nil, last_path, nil, body)
end

function response(status, headers, body)
  -- A citizen in a flow answers only after our reply, as people do.
  if inflight_flow ~= nil and status == 200 and inflight_flow.step < #inflight_flow.script then
    inflight_flow.step = inflight_flow.step + 1
    table.insert(pending, inflight_flow)
  end
  inflight_flow = nil
end
