-- Request mirroring for hagate (the Gateway API RequestMirror filter).
--
-- Written by hagate, the same for every configuration: nothing in it comes
-- from a Gateway API object. haproxy.cfg passes the values it needs:
--   setenv HAGATE_MIRROR_SOCKET <path>      the socket of the frontend
--                                           hagate-mirror, which sends a
--                                           copy to the backend named by
--                                           its x-hagate-mirror header
--   setenv HAGATE_MIRROR_MAX_INFLIGHT <n>   copies in flight at most, per
--                                           mirror backend
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
-- HAGATE_MIRROR_MAX_INFLIGHT copies in flight to a mirror backend, new
-- copies to it are dropped and counted (a slow or dead mirror does not
-- take the others' share); a copy whose body did not fit in HAProxy's
-- buffer is not sent (a copy with part of the body would be a different
-- request) and counted. "show hagate-mirror" on the stats socket prints
-- the counters, in all and per mirror backend.

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

-- Counters of this worker since it started, per mirror backend:
--   copies     handed to a task
--   answered   the mirror answered (a status below 500)
--   failed     5xx, no answer within the timeout, or no connection
--   dropped    not sent: HAGATE_MIRROR_MAX_INFLIGHT copies in flight
--   too_large  not sent: the body did not fit in HAProxy's buffer
--   inflight   being sent now
local counter_names = { "copies", "answered", "failed", "dropped", "too_large", "inflight" }
local stats = {}

local function stats_of(backend)
	local st = stats[backend]
	if st == nil then
		st = { copies = 0, answered = 0, failed = 0, dropped = 0, too_large = 0, inflight = 0 }
		stats[backend] = st
	end
	return st
end

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
	local st = stats_of(backend)
	local req = txn:get_priv()
	if req == nil then
		req = copy(txn) or false
		txn:set_priv(req)
	end
	if not req then
		st.too_large = st.too_large + 1
		return
	end
	if st.inflight >= max_inflight then
		st.dropped = st.dropped + 1
		return
	end
	st.inflight = st.inflight + 1
	st.copies = st.copies + 1
	local data = req.head .. "x-hagate-mirror: " .. backend .. "\r\n\r\n" .. req.body
	core.register_task(function()
		local ok, answered = pcall(send, data)
		st.inflight = st.inflight - 1
		if ok and answered then
			st.answered = st.answered + 1
		else
			st.failed = st.failed + 1
		end
	end)
end, 1)

-- "show hagate-mirror": the worker's PID, the limits, the counters in all
-- ("Copies: 12") and per mirror backend ("Mirror: <backend> copies=12
-- answered=11 ...").
core.register_cli({ "show", "hagate-mirror" }, "show hagate-mirror : request mirroring counters", function(applet)
	local total = { copies = 0, answered = 0, failed = 0, dropped = 0, too_large = 0, inflight = 0 }
	local backends = {}
	for backend, st in pairs(stats) do
		backends[#backends + 1] = backend
		for _, k in ipairs(counter_names) do
			total[k] = total[k] + st[k]
		end
	end
	table.sort(backends)
	local out = {
		string.format("Pid: %d\nMaxInFlight: %d\nTimeoutMs: %d\n", core.get_info().Pid or 0, max_inflight, timeout_ms),
		string.format("Copies: %d\nAnswered: %d\nFailed: %d\nDropped: %d\nTooLarge: %d\nInFlight: %d\n",
			total.copies, total.answered, total.failed, total.dropped, total.too_large, total.inflight),
	}
	for _, backend in ipairs(backends) do
		local st = stats[backend]
		out[#out + 1] = string.format("Mirror: %s copies=%d answered=%d failed=%d dropped=%d too_large=%d inflight=%d\n",
			backend, st.copies, st.answered, st.failed, st.dropped, st.too_large, st.inflight)
	end
	applet:send(table.concat(out))
end)
