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
--   setenv HAGATE_MIRROR_TIMEOUT <ms>       how long a task waits for the
--                                           mirror frontend's answer at
--                                           most: longer than the mirror
--                                           backends' timeouts, which end a
--                                           copy first (a copy the HTTP
--                                           client gives up on, it sends
--                                           again: this is a last resort)
-- and calls, for each mirror of a route rule (under the rule's condition
-- and its percentage's random draw),
--   http-request lua.hagate-mirror <mirror backend>
-- after "http-request wait-for-body", so the body is in the buffer.
--
-- The action never waits: it copies the request (method, path and query,
-- headers, body) and hands the copy to a task of its own, which sends it
-- with HAProxy's HTTP client (core.httpclient, whose connections to the
-- mirror frontend are kept and reused) and gets back the mirror's status
-- only: the mirror frontend discards the answer. The client's request
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
local socket_dst = "unix@" .. socket_path

-- Counters of this worker since it started, per mirror backend:
--   copies     handed to a task
--   answered   the mirror answered (a status below 500)
--   failed     5xx (503: no connection to the mirror, 504: no answer
--              in time), or no answer from the mirror frontend
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
-- Content-Length) and the mirror frontend's own.
local skip = {
	["connection"] = true, ["keep-alive"] = true, ["proxy-connection"] = true,
	["te"] = true, ["transfer-encoding"] = true, ["upgrade"] = true,
	["content-length"] = true, ["expect"] = true,
	["x-hagate-mirror"] = true, ["x-hagate-mirror-method"] = true,
}

-- The methods HAProxy 2.6's HTTP client sends itself; any other is sent
-- as POST and named in x-hagate-mirror-method, which the mirror frontend
-- puts back (http-request set-method).
local client_method = { GET = "get", HEAD = "head", PUT = "put", POST = "post", DELETE = "delete" }

-- mirror_header[backend] is the x-hagate-mirror header of the copies to
-- backend (made once).
local mirror_header = {}

-- copy returns the request as the HTTP client sends it: its method
-- function and the request table (URL, headers, body); nil when the whole
-- body is not in the buffer. The copies of a request to its mirrors share
-- it: send sets x-hagate-mirror just before the HTTP client reads it.
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
	-- name -> values, as the HTTP client takes them: it sends a header's
	-- values in the order lua_next gives them, which is index order for
	-- 1..n only; req_get_headers numbers them from 0.
	local headers = txn.http:req_get_headers()
	for name in pairs(skip) do
		headers[name] = nil
	end
	for name, values in pairs(headers) do
		if values[1] ~= nil then
			local v = {}
			for i = 0, #values do
				v[i + 1] = values[i]
			end
			headers[name] = v
		end
	end
	-- As "option forwardfor" does for the request forwarded.
	local src = txn.f:src()
	if src ~= nil then
		local xff = headers["x-forwarded-for"]
		if xff == nil then
			headers["x-forwarded-for"] = { [0] = tostring(src) }
		elseif xff[1] == nil then
			headers["x-forwarded-for"] = { xff[0], tostring(src) }
		else
			xff[#xff + 1] = tostring(src)
		end
	end
	if cl ~= nil or #body > 0 then
		headers["content-length"] = { [0] = tostring(#body) }
	end
	local fn = client_method[method]
	if fn == nil then
		fn = "post"
		headers["x-hagate-mirror-method"] = { [0] = method }
	end
	-- The URL's host is not sent: the copy keeps the request's Host.
	local req = { url = "http://hagate-mirror" .. target, dst = socket_dst, headers = headers, timeout = timeout_ms }
	if #body > 0 then
		req.body = body
	end
	return { fn = fn, req = req }
end

-- send sends a copy to backend through the mirror frontend and waits for
-- its status (the frontend discards the answer's body); true when the
-- mirror answered with a status below 500.
local function send(c, backend)
	local h = mirror_header[backend]
	if h == nil then
		h = { [0] = backend }
		mirror_header[backend] = h
	end
	c.req.headers["x-hagate-mirror"] = h
	local hc = core.httpclient()
	local res = hc[c.fn](hc, c.req)
	if res == nil or res.status == nil then
		return false
	end
	local status = res.status
	local st = res.headers and res.headers["x-hagate-mirror-status"]
	if status == 200 and st ~= nil and st[0] ~= nil then
		status = tonumber(st[0]) or 599
	end
	return status < 500
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
	core.register_task(function()
		local ok, answered = pcall(send, req, backend)
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
