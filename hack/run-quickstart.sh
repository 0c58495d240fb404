#!/usr/bin/env bash
# The quickstart (make run): renders examples/quickstart with hagate and runs
# HAProxy on it in the foreground, with two demo backends behind it.
#   127.0.0.1:8080  HTTP, redirects to HTTPS
#   127.0.0.1:8443  HTTPS, www.example.com and *.example.com
#   127.0.0.1:9081  demo backend "web", 127.0.0.1:9082 demo backend "api"
# Stop it with Ctrl-C (or SIGTERM): the backends stop with it.
# HAGATE_HAPROXY_BIN picks the haproxy binary (default: haproxy from PATH,
# else /usr/sbin/haproxy).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

example=examples/quickstart
generated=$example/.generated
state=.local/quickstart
ca=$generated/ca.crt

haproxy="${HAGATE_HAPROXY_BIN:-}"
if [[ -z "$haproxy" ]]; then
	haproxy="$(command -v haproxy || true)"
	[[ -n "$haproxy" ]] || haproxy=/usr/sbin/haproxy
fi
if [[ ! -x "$haproxy" ]] && ! command -v "$haproxy" >/dev/null; then
	echo "run-quickstart: haproxy not found; install it with: make deps" >&2
	exit 1
fi

for port in 8080 8443 9081 9082 9090; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "run-quickstart: 127.0.0.1:$port is already in use; stop what listens there first" >&2
		exit 1
	fi
done

# hagate (make run builds it; build it here too when the script runs alone).
[[ -x bin/hagate ]] || go build -o bin/hagate ./cmd/hagate
go build -o bin/demo-backend ./hack/demo-backend
bash hack/quickstart-certs.sh

pids=()
cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bin/demo-backend -listen 127.0.0.1:9081 -name web &
pids+=($!)
bin/demo-backend -listen 127.0.0.1:9082 -name api &
pids+=($!)

cat <<TRY

hagate run serves $example (and its .generated/ Secrets): it starts HAProxy
on 127.0.0.1:8080 (HTTP) and 127.0.0.1:8443 (HTTPS), configuration and
sockets in $state/, metrics on http://127.0.0.1:9090/metrics. Try, from $root:

  # plain HTTP is redirected to HTTPS (301, Location: https://127.0.0.1:8443/)
  curl -i http://127.0.0.1:8080/

  # ... and followed: www.example.com/hello is served by "web"
  curl -L --cacert $ca --resolve www.example.com:8080:127.0.0.1 --resolve www.example.com:8443:127.0.0.1 http://www.example.com:8080/hello

  # www.example.com with its own certificate: / goes to "web", /api to "api"
  curl --cacert $ca --resolve www.example.com:8443:127.0.0.1 https://www.example.com:8443/
  curl --cacert $ca --resolve www.example.com:8443:127.0.0.1 https://www.example.com:8443/api

  # any other name under example.com gets the *.example.com certificate and "web"
  curl --cacert $ca --resolve shop.example.com:8443:127.0.0.1 https://shop.example.com:8443/cart

  # an SNI no listener covers is refused in the TLS handshake (curl exits with 35)
  curl --cacert $ca --resolve other.org:8443:127.0.0.1 https://other.org:8443/

  # a request whose Host belongs to another listener than its SNI: 421 Misdirected Request
  curl -i --cacert $ca --resolve www.example.com:8443:127.0.0.1 -H 'Host: shop.example.com' https://www.example.com:8443/

Edit a file in $example and watch the change go live, e.g. send /api
to "web" instead of "api":

  sed -i 's/name: api$/name: web/' $example/routes.yaml

(hagate logs "applied" with action runtime or reload; a certificate or an
endpoint change needs no reload). Press Ctrl-C to stop.

TRY

bin/hagate run --source-dir "$example" --state-dir "$state" --bind-address 127.0.0.1 \
	--haproxy-bin "$haproxy" --metrics-bind-address 127.0.0.1:9090 &
pids+=($!)
wait "${pids[-1]}"
