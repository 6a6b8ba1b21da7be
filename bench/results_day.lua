-- wrk script for bench/results_day.py: POST random pairs (Massar code, birth date) read from
-- $RESULTS_DAY_PAIRS (one "CODE,YYYY-MM-DD" per line: valid and invalid mixed), each from a
-- random client address in X-Forwarded-For (the server trusts one proxy: TRUSTED_PROXY_COUNT=1).
local bodies = {}

function init(args)
  for line in io.lines(os.getenv("RESULTS_DAY_PAIRS")) do
    local code, birth = line:match("([^,]+),([^,]+)")
    bodies[#bodies + 1] = '{"massar_code":"' .. code .. '","birth_date":"' .. birth .. '"}'
  end
  math.randomseed(os.time() + tonumber(tostring(bodies):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  local address = "100." .. math.random(64, 127) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = address,
  }, bodies[math.random(#bodies)])
end
