-- Signed WeChat text deliveries for wrk: a signed query of its own (bench/wrk_signed.lua), a fresh
-- MsgId and a rotating user per request so that the dedup and per-user lock paths see realistic
-- traffic. Questions come from QUESTIONS_FILE.
local counter = 0
local questions = {}
local users = tonumber(os.getenv("WRK_USERS") or "20000")
-- This script's folder, so that wrk finds the shared part from any working directory.
local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local signed = dofile(here .. "wrk_signed.lua")

function init(args)
  signed.load_queries()
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
  return wrk.format(nil, signed.path(), nil, signed.text_body("gh_bench", user, q, counter))
end
