// Package propagation benchmarks how fast a change becomes live in hagate
// as a user meets it, under background load, and whether any request fails
// meanwhile (issue 14, "Speed"). It drives the real hagate binary, built
// from ./cmd/hagate with go build into a temporary folder at the start of
// the run, with the real HAProxy; nothing runs in process but the clients
// and the echo backend.
//
// Run it with (CI runs every benchmark once, with -benchtime 1x):
//
//	go test ./test/propagation -run '^$' -bench Propagation -benchtime 1x -timeout 60m
//
// or one variant, with fewer samples:
//
//	HAGATE_PROPAGATION_SAMPLES=10 go test ./test/propagation -run '^$' -bench 'Propagation/mode=file/routes=3000' -benchtime 1x
//
// # The world
//
// Sub-benchmarks mode=file/routes={3000,10000} and mode=kube/routes={3000,10000}
// serve the same world: the GatewayClass hagate (controllerName
// hagate.io/gateway-controller); one Gateway gw with an HTTP listener on a
// free loopback port, an HTTPS listener for *.example.com on another
// (a wildcard certificate from internal/testutil/pki) and a second HTTPS
// listener rot.example.com on that same port with a Secret of its own (the
// certificate that is rotated); a Service web whose EndpointSlice points at
// a Go echo backend answering 200; and N HTTPRoutes r<i>.example.com, one
// rule each (PathPrefix /) to web. hagate runs with --bind-address
// 127.0.0.1.
//
//   - mode=file writes the world into a source folder, one file per object
//     (as a GitOps checkout), and runs `hagate run --source-dir`.
//   - mode=kube creates the objects in a namespace of their own on the
//     private etcd + kube-apiserver of internal/testutil/kubetest (started
//     once, for the kube-mode sub-benchmarks only) with a controller-runtime
//     client, and runs `hagate run --kubeconfig K --gateway NS/gw`. It is
//     skipped when kube-apiserver (`make kube-apiserver`) or etcd is
//     missing, unless HAGATE_REQUIRE_CLUSTER=1, which makes that a failure.
//     The API server refuses loopback addresses in EndpointSlices, so here
//     the echo backend listens on a test host (internal/testutil/netns,
//     which needs root) rather than on 127.0.0.1. Measuring starts once
//     every route has hagate's Accepted condition in its status.
//
// Before measuring, the benchmark waits until a sample of routes answers
// 200 through HAProxy. hagate's log (its stderr, with HAProxy's output) is
// written to hagate.log in its state folder; when the benchmark fails, its
// last 50 lines are shown and the state folder is kept (also when
// HAGATE_PROPAGATION_KEEP is set).
//
// # Measured changes
//
// Each kind is measured S times (HAGATE_PROPAGATION_SAMPLES, default 40),
// one change at a time. A change's clock starts when it is stored: the
// file renamed into place (written under a hidden temporary name first, so
// it appears whole), or the API server's answer to Create, Update or
// Delete received. A probe of its own then polls with fresh requests, 0.5
// ms apart, and the figure is the time of its first success. The next
// change comes 150 to 250 ms after (random jitter), so that the source's
// batching does not merge changes.
//
//   - add: a route with a new hostname n<k>.example.com (path only); live
//     at the first 200 for that host on the HTTP listener.
//   - header: a route on a new hostname c<k>.example.com matching the
//     header x-canary: "1"; live at the first 200 for a request carrying
//     that header.
//   - delete: the route n<k> added above is deleted; live at the first 404
//     for its host.
//   - rotate: the rot.example.com Secret is rewritten with a new
//     certificate (made before measuring); live at the first TLS handshake
//     with SNI rot.example.com that presents it.
//
// Per kind, the benchmark reports p50, p90, p99 and max in milliseconds
// (metrics add-p50-ms, add-p90-ms, add-p99-ms, add-max-ms, and so on for
// header, delete, rotate; with few samples p99 is the max) and prints a
// table with them, the changes not live within 30 s (each is also a
// benchmark error), and hagate's applies over the kind's changes read
// from its /metrics: "runtime applies" (hagate_apply_duration_seconds_count
// with action="runtime": applied through the Runtime API, no reload),
// "reloads" (hagate_haproxy_reloads_total) and "failed applies"
// (hagate_apply_failures_total). The ns/op figure is the time spent
// measuring (all kinds, spacing included) and means little.
//
// # Background load
//
// During all measured changes, clients send requests to routes that exist
// all along, each pacing itself (one request, then a pause of 5 to 10 ms),
// and none retrying:
//
//   - h1-keepalive-tcp, h1-keepalive-tls: 2 clients each, HTTP/1.1 written
//     on a raw net.Conn (plain TCP on the HTTP listener, crypto/tls on the
//     HTTPS one) and read with http.ReadResponse; the connection is kept
//     until HAProxy answers Connection: close, which is correct behaviour
//     (counted in the "Connection: close" column), not a failure. net/http's
//     client is not used for these: its Transport silently resends an
//     idempotent request that fails on a reused connection, which would hide
//     the very failures measured here.
//   - h2-tls: 2 HTTP/2 clients (net/http, ALPN h2), one connection each.
//   - newconn-tcp, newconn-tls: 1 client each, one request per connection
//     with Connection: close.
//
// Per client kind and in total, it reports requests sent (bg-requests),
// failed (bg-failed: an error writing or reading, a failed dial or
// handshake, or an answer other than 200) and, of the failed, resets
// (bg-resets: ECONNRESET, a broken pipe, or the connection closed before a
// full answer), as metrics (bg-requests-<kind> and so on) and in the table,
// with the first failures of each kind and their times.
//
// Once the load has stopped and closed its connections, the benchmark
// gives old HAProxy workers (those a reload replaced, which finish the
// connections they had) 5 s to exit, logs how many were running when
// measuring ended and how many are left, and reports the latter as
// old-workers. (With HAProxy 2.6.12 and the HTTP/2 clients, old workers
// were seen to stay about a minute, the client timeout, after the load
// had gone; without HTTP/2 clients they exit at once.)
//
// Progress lines and the tables go to standard output as they come, each
// line naming its sub-benchmark: the testing package shows only the first
// 10 lines of a benchmark's b.Logf output when it passes. Failures (with
// the last 50 lines of hagate's log) go through b.Errorf and b.Logf,
// which are shown whole.
//
// The benchmark reports timings; it does not judge them. It fails when
// hagate exits, when HAProxy exits on its own, or when a change is not live
// within 30 s. It also logs how many lines of hagate's log carry an error,
// and the first of them.
package propagation
