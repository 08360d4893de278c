-- search_wrk.lua - wrk requests for bench/search.sh: one kind of JSON API
-- call per run, each request with a key drawn at random from a file.
--
--   wrk ... -s bench/search_wrk.lua URL -- KIND KEYFILE COOKIE NOW_US
--
-- KIND: quick (Message-ID or queue ID), flow (e-mail id), address (extended
-- search by address over 7 days), substring (sender substring over 7 days),
-- dash1 / dash30 (statistics of the last day / 30 days), mix (quick and flow,
-- alternating).  Keys hold no quotes or backslashes (bench/search.sh samples
-- them from the generated data), so they go into JSON as they are.
local kind, cookie, now_us
local keys, keys2 = {}, {}

function init(args)
	kind, cookie, now_us = args[1], args[3], tonumber(args[4])
	for line in io.lines(args[2]) do
		local a, b = line:match("^([^\t]*)\t?(.*)$")
		keys[#keys + 1] = a
		keys2[#keys2 + 1] = b
	end
	math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

local n = 0
function request()
	local i = math.random(#keys)
	local k, path, body = keys[i]
	-- %.0f: a Lua number this large would print in exponent form.
	local week = string.format("%.0f", now_us - 7 * 86400 * 1000000)
	local month = string.format("%.0f", now_us - 30 * 86400 * 1000000)
	n = n + 1
	local which = kind
	if kind == "mix" then
		which = (n % 2 == 0) and "quick" or "flow"
		k = (which == "flow") and keys2[i] or k
	end
	if which == "quick" then
		path, body = "/api/quick", '{"q":"' .. k .. '"}'
	elseif which == "flow" then
		path, body = "/api/flow", '{"email_id":"' .. k .. '"}'
	elseif which == "address" then
		path, body = "/api/search", '{"address":"' .. k .. '","from_us":' .. week .. ',"limit":100}'
	elseif which == "substring" then
		path, body = "/api/search",
			'{"sender":"' .. k .. '","match":"MATCH_SUBSTRING","from_us":' .. week .. ',"limit":100}'
	elseif which == "dash1" then
		path, body = "/api/stats", '{"top":10}'
	elseif which == "dash30" then
		path, body = "/api/stats", '{"daily":true,"top":10,"from_us":' .. month .. '}'
	end
	return wrk.format("POST", path, {
		["Content-Type"] = "application/json",
		["Cookie"] = "else_session=" .. cookie,
	}, body)
end

local errors = 0
function response(status, headers, body)
	if status ~= 200 then
		errors = errors + 1
		if errors <= 3 then
			io.stderr:write("search_wrk: HTTP " .. status .. ": " .. body:sub(1, 200) .. "\n")
		end
	end
end
