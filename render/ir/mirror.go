package ir

// Request mirroring (the RequestMirror filter). HAProxy 2.6 has no mirroring
// of its own: a Lua action (hagate's MirrorScript, the same for every
// configuration) copies a request selected by a rule's mirror and hands
// the copy to a Lua task, which sends it over the unix socket of an
// internal frontend; that frontend sends it to the mirror's backend and
// the task discards the answer. The client's request never waits for it.

// MirrorScript is the path, relative to the configuration root, of the Lua
// file that mirrors requests; its folder holds nothing else.
const MirrorScript = DirLua + "hagate-mirror.lua"

// DirLua holds the Lua files HAProxy loads.
const DirLua = "lua/"

// MirrorFrontend is the name of the internal frontend copies go through.
const MirrorFrontend = "hagate-mirror"

// Mirroring is what the configuration needs to mirror requests: set when a
// rule has a mirror.
type Mirroring struct {
	// Socket is the unix socket (relative to the configuration root) the
	// mirror frontend binds and the Lua tasks connect to.
	Socket string
	// Backends are the mirror backends, sorted: the mirror frontend sends
	// a copy to the one its x-hagate-mirror header names.
	Backends []string
	// MaxInFlight bounds the copies being sent at once to one mirror
	// backend; copies beyond it are dropped and counted.
	MaxInFlight int
	// TaskTimeoutMs bounds, in milliseconds, how long a Lua task waits for
	// the mirror frontend's answer: longer than the mirror backends can
	// take (Backend.MirrorTimeout for the connection, each of its tries,
	// and for the answer), so that it never cuts a copy short (HAProxy
	// 2.6's HTTP client would send it again), and yet a bound.
	TaskTimeoutMs int
	// BodyWait is how long a mirrored rule waits for the request body
	// (http-request wait-for-body), an HAProxy duration: the copy carries
	// the body, up to what HAProxy's buffer holds.
	BodyWait string
}

// Mirror is one mirror of a rule: a share of its requests copied to a
// backend.
type Mirror struct {
	// Backend is the mirror backend's name.
	Backend string
	// Numerator out of Denominator requests are copied, by a random draw
	// per request; Numerator == Denominator copies every request.
	// Numerator > 0.
	Numerator, Denominator int32
	// Service names the Service port, for comments.
	Service string
}
