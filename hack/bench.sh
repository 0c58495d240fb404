#!/usr/bin/env bash
# Runs every benchmark of the project, each with the command the README's
# Performance section names for its figures.
#
#   bash hack/bench.sh        the README's figures (about 40 minutes)
#   bash hack/bench.sh once   each benchmark once, small samples: that they
#                             still run, results not judged (CI, a few minutes)
#
# The cluster benchmarks need .local/bin/kube-apiserver (make kube-apiserver);
# the HAProxy ones haproxy, wrk, h2load (make deps).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

once=false
[[ "${1:-}" == once ]] && once=true

run() {
	echo "== $*"
	"$@"
}
bt() { # benchtime: the README's, or 1x
	if $once; then echo 1x; else echo "$1"; fi
}

if $once; then
	export HAGATE_PROPAGATION_SAMPLES=3 REQUESTCOST_DURATION=300ms REQUESTCOST_ROUNDS=1
fi
export HAGATE_REQUIRE_CLUSTER=1

run go test ./render ./templates ./controller/files ./render/report -run '^$' -bench . -benchmem -benchtime "$(bt 1s)"
run go test ./cmd/hagate -run '^$' -bench RenderProcess -benchtime "$(bt 5x)"
run go test ./test/e2e -run '^$' -bench 'CertRotation|Reload' -benchtime "$(bt 10x)" -timeout 30m
run go test ./test/e2e -run '^$' -bench Routing -benchtime "$(bt 20000x)" -timeout 30m
run go test ./test/e2e -run '^$' -bench Mirror -benchtime 1x -timeout 30m
run go test ./test/requestcost -run '^$' -bench 'RequestCost|MirrorCost' -benchtime 1x -timeout 30m
run go test ./test/kube -run '^$' -bench Convergence -benchtime 1x -timeout 30m
run go test ./test/propagation -run '^$' -bench Propagation -benchtime 1x -timeout 60m
