// Package requestcost holds the request-cost benchmark: HAProxy running
// the haproxy.cfg hagate renders, next to HAProxy running a hand-written
// configuration for the same routes (reference.cfg), under the same load.
//
//	go test ./test/requestcost -run '^$' -bench RequestCost -benchtime 1x
//
// It needs haproxy, wrk and h2load (apt-get install haproxy wrk
// nghttp2-client) and takes about three minutes; see BenchmarkRequestCost.
package requestcost
