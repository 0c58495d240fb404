#!/usr/bin/env bash
# Installs what the tests and the quickstart need, when missing, from
# Debian's packages: haproxy (2.6 on bookworm), openssl, curl, and etcd
# (etcd-server, 3.4 on bookworm: /usr/bin/etcd, for hack/cluster.sh and the
# tests that run a kube-apiserver), wrk, h2load and taskset (benchmarks).
# Quiet and quick when all is there. Runs apt-get as root, or through sudo.
set -euo pipefail

missing=()
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[[ -x /usr/bin/etcd ]] || missing+=(etcd-server)
command -v ip >/dev/null 2>&1 || [[ -x /usr/sbin/ip ]] || missing+=(iproute2)
[[ -x /usr/bin/kubectl ]] || command -v kubectl >/dev/null 2>&1 || missing+=(kubectl)
# The benchmarks' load generators and CPU pinning (make bench, bench-once).
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "deps: ${missing[*]} missing, and installing needs root (or sudo)" >&2
		exit 1
	fi
fi
command -v apt-get >/dev/null 2>&1 || {
	echo "deps: ${missing[*]} missing and there is no apt-get; install them by hand" >&2
	exit 1
}

echo "deps: installing ${missing[*]} from Debian's packages"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for pkg in "${missing[@]}"; do
	bin="$pkg"
	[[ "$pkg" == etcd-server ]] && bin=/usr/bin/etcd
	[[ "$pkg" == iproute2 ]] && bin=ip
	[[ "$pkg" == nghttp2-client ]] && bin=h2load
	[[ "$pkg" == util-linux ]] && bin=taskset
	command -v "$bin" >/dev/null 2>&1 || [[ -x "/usr/sbin/$bin" ]] || {
		echo "deps: $bin still missing after apt-get install" >&2
		exit 1
	}
done
