package render

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hagate.io/hagate/render/ir"
)

// rankedMatch is a match with what orders it.
type rankedMatch struct {
	m     ir.Match
	route metav1.Object
	// cr is the rule the match selects.
	cr *compiledRule
	// grpc is set for GRPCRoute matches, which rank by service and method.
	grpc  *grpcRank
	rule  int
	index int
}

// matchBefore orders matches by the Gateway API's precedence: exact path,
// longest prefix, method, most headers, most query parameters, then the
// oldest route, its namespace/name, and rule and match order.
func matchBefore(a, b *rankedMatch) bool {
	if a.grpc != nil && b.grpc != nil {
		// GRPCRoute: the most characters of service, then of method, then
		// the most header matches.
		if a.grpc.service != b.grpc.service {
			return a.grpc.service > b.grpc.service
		}
		if a.grpc.method != b.grpc.method {
			return a.grpc.method > b.grpc.method
		}
		if len(a.m.Headers) != len(b.m.Headers) {
			return len(a.m.Headers) > len(b.m.Headers)
		}
		return sameRankOrder(a, b)
	}
	ka, kb := pathRank(a.m), pathRank(b.m)
	if ka != kb {
		return ka > kb
	}
	if (a.m.Method != "") != (b.m.Method != "") {
		return a.m.Method != ""
	}
	if len(a.m.Headers) != len(b.m.Headers) {
		return len(a.m.Headers) > len(b.m.Headers)
	}
	if len(a.m.QueryParams) != len(b.m.QueryParams) {
		return len(a.m.QueryParams) > len(b.m.QueryParams)
	}
	return sameRankOrder(a, b)
}

// sameRankOrder orders matches of equal rank: the oldest route, then its
// namespace/name, then rule and match order.
func sameRankOrder(a, b *rankedMatch) bool {
	if a.route != b.route {
		return olderFirst(a.route, b.route)
	}
	if a.rule != b.rule {
		return a.rule < b.rule
	}
	return a.index < b.index
}

// pathRank: exact paths first, then regular expressions (longer first),
// then prefixes by length.
func pathRank(m ir.Match) int {
	switch {
	case m.PathExact != "":
		return 1 << 30
	case m.PathRegex != "":
		return 1<<20 + len(m.PathRegex)
	}
	return len(m.PathPrefix) + 1
}
