#!/usr/bin/env bash
# make conformance: runs the Gateway API conformance suite (v1.6.3,
# unmodified) against hagate on this machine and writes its report under
# conformance/reports/. The suite's full output goes to a log; this prints
# one line per test that ran and the summary.
#
# Environment (see conformance/conformance_test.go): HAGATE_CONFORMANCE_RUN_TEST,
# HAGATE_CONFORMANCE_SKIP, HAGATE_CONFORMANCE_PROFILES, HAGATE_CONFORMANCE_REPORT,
# HAGATE_CONFORMANCE_TIMEOUT (default 80m).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mkdir -p .local
log=.local/conformance-suite.log
echo "conformance: running the Gateway API conformance suite; full output in $log"
set +e
go test -tags conformance ./conformance/ -run '^TestConformance$' -count=1 \
	-timeout "${HAGATE_CONFORMANCE_TIMEOUT:-80m}" -v >"$log" 2>&1
rc=$?
set -e
# One line per top-level test that ran (skips are features hagate does
# not claim).
grep -E '^    --- (PASS|FAIL)' "$log" | sed 's/^    //' || true
pass=$(grep -cE '^    --- PASS' "$log" || true)
fail=$(grep -cE '^    --- FAIL' "$log" || true)
skip=$(grep -cE '^    --- SKIP' "$log" || true)
echo "conformance: $pass passed, $fail failed, $skip skipped (not claimed)"
grep -E 'conformance suite ran in|report written|Conformance report' "$log" || true
if [[ $rc -ne 0 ]]; then
	echo "conformance: FAILED (exit $rc); the failures' messages:"
	grep -E '^\s+(Error:|Messages:|Test:)' "$log" | head -60 || true
	tail -5 "$log"
fi
exit $rc
