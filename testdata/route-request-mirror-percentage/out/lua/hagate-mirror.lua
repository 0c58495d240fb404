-- Request mirroring for hagate (the Gateway API RequestMirror filter).
--
-- Written by hagate, the same for every configuration: nothing in it comes
-- from a Gateway API object. haproxy.cfg passes the values it needs:
--   setenv HAGATE_MIRROR_SOCKET <path>      the socket of the frontend
--                                           hagate-mirror, which sends a
--                                           copy to the backend named by
--                                           its x-hagate-mirror header
--   setenv HAGATE_MIRROR_MAX_INFLIGHT <n>   copies in flight at most
--   setenv HAGATE_MIRROR_TIMEOUT <ms>       each copy's time to connect,
--                                           send, and get its answer
-- and calls, for each mirror of a route rule (under the rule's condition
-- and its percentage's random draw),
--   http-request lua.hagate-mirror <mirror backend>
-- after "http-request wait-for-body", so the body is in the buffer.
--
-- The action never waits: it copies the request (method, path and query,
-- headers, body) and hands the copy to a task of its own, which sends it
-- and reads the start of the answer, then drops it. The client's request
-- goes on at once, whatever the mirror does. Bounded: beyond
-- HAGATE_MIRROR_MAX_INFLIGHT copies in flight, new copies are dropped and
-- counted; a copy whose body did not fit in HAProxy's buffer is not sent
-- (a copy with part of the body would be a different request) and counted.
-- "show hagate-mirror" on the stats socket prints the counters.

local socket_path = os.getenv("HAGATE_MIRROR_SOCKET")
if socket_path == nil or socket_path == "" then
	error("hagate-mirror.lua: HAGATE_MIRROR_SOCKET is not set")
end
local max_inflight = tonumber(os.getenv("HAGATE_MIRROR_MAX_INFLIGHT") or "256")
local timeout_ms = tonumber(os.getenv("HAGATE_MIRROR_TIMEOUT") or "5000")
if max_inflight == nil or max_inflight < 1 or timeout_ms == nil or timeout_ms < 1 then
	error("hagate-mirror.lua: HAGATE_MIRROR_MAX_INFLIGHT and HAGATE_MIRROR_TIMEOUT must be positive numbers")
end
local timeout = timeout_ms / 1000
-- At most this much of a mirror's answer is read (then the connection is
-- closed): answers are discarded, reading them lets the mirror finish.
local max_answer = 65536

-- Counters (this worker's, since it started).
local inflight = 0
local stats = {
	copies = 0,    -- copies handed to a task
	answered = 0,  -- the mirror answered (status below 500)
	failed = 0,    -- 5xx, no answer within the timeout, or no connection
	dropped = 0,   -- not sent: HAGATE_MIRROR_MAX_INFLIGHT copies in flight
	too_large = 0, -- not sent: the body did not fit in HAProxy's buffer
}

-- Headers not copied: hop-by-hop ones, the framing (the copy has its own
-- Content-Length), and the mirror frontend's own.
local skip = {
	["connection"] = true, ["keep-alive"] = true, ["proxy-connection"] = true,
	["te"] = true, ["transfer-encoding"] = true, ["upgrade"] = true,
	["content-length"] = true, ["expect"] = true, ["x-hagate-mirror"] = true,
}

-- copy returns the request as HTTP/1.1 text without its blank line and
-- body, and its body; nil when the whole body is not in the buffer.
local function copy(txn)
	local body = txn.f:req_body() or ""
	local cl = txn.f:req_hdr("content-length")
	local whole
	if cl ~= nil then
		whole = tonumber(cl) == #body
	else
		-- Chunked or HTTP/2 without Content-Length: wait-for-body gave up
		-- waiting before the end only if the buffer was full.
		whole = txn.req:may_recv()
	end
	if not whole then
		return nil
	end
	local method, target = txn.f:method(), txn.f:pathq()
	if method == nil or target == nil then
		return nil
	end
	local t = { method, " ", target, " HTTP/1.1\r\n" }
	for name, values in pairs(txn.http:req_get_headers()) do
		if not skip[name] then
			for i = 0, #values do
				t[#t + 1] = name .. ": " .. values[i] .. "\r\n"
			end
		end
	end
	local src = txn.f:src()
	if src ~= nil then
		t[#t + 1] = "x-forwarded-for: " .. tostring(src) .. "\r\n"
	end
	t[#t + 1] = "content-length: " .. #body .. "\r\nconnection: close\r\n"
	return { head = table.concat(t), body = body }
end

-- send sends one copy and reads the start of its answer; true when the
-- mirror answered with a status below 500.
local function send(data)
	local s = core.tcp()
	s:settimeout(timeout)
	local ok = s:connect(socket_path)
	if not ok then
		s:close()
		return false
	end
	if s:send(data) == nil then
		s:close()
		return false
	end
	local line = s:receive("*l")
	local status = line and tonumber(string.match(line, "^HTTP/1%.[01] (%d%d%d)"))
	local read = line and #line or 0
	while line ~= nil and read < max_answer do
		line = s:receive(4096)
		read = read + (line and #line or 0)
	end
	s:close()
	return status ~= nil and status < 500
end

core.register_action("hagate-mirror", { "http-req" }, function(txn, backend)
	local req = txn:get_priv()
	if req == nil then
		req = copy(txn) or false
		txn:set_priv(req)
	end
	if not req then
		stats.too_large = stats.too_large + 1
		return
	end
	if inflight >= max_inflight then
		stats.dropped = stats.dropped + 1
		return
	end
	inflight = inflight + 1
	stats.copies = stats.copies + 1
	local data = req.head .. "x-hagate-mirror: " .. backend .. "\r\n\r\n" .. req.body
	core.register_task(function()
		local ok, answered = pcall(send, data)
		inflight = inflight - 1
		if ok and answered then
			stats.answered = stats.answered + 1
		else
			stats.failed = stats.failed + 1
		end
	end)
end, 1)

core.register_cli({ "show", "hagate-mirror" }, "show hagate-mirror : request mirroring counters", function(applet)
	applet:send(string.format(
		"Copies: %d\nAnswered: %d\nFailed: %d\nDropped: %d\nTooLarge: %d\nInFlight: %d\nMaxInFlight: %d\nTimeoutMs: %d\n",
		stats.copies, stats.answered, stats.failed, stats.dropped, stats.too_large, inflight, max_inflight, timeout_ms))
end)
