#!/usr/bin/env bash
# A local Kubernetes control plane for trying hagate against a real API
# server: etcd (Debian's etcd-server, 3.4) and kube-apiserver (built from the
# k8s.io/kubernetes module pinned in hack/tools), both on loopback only, with
# the Gateway API standard CRDs installed. There are no nodes: objects are
# stored and validated, nothing is scheduled.
#
#   hack/cluster.sh up       start it (idempotent: prints the status when up)
#   hack/cluster.sh down     stop it and delete its state (keeps .local/bin)
#   hack/cluster.sh status   say whether it runs and where
#   hack/cluster.sh env      print `export KUBECONFIG=...` (eval "$(hack/cluster.sh env)")
#
# State lives in .local/cluster (etcd data, certificates, keys, logs, PID
# files); the kubeconfig is .local/kubeconfig (the admin token is in
# system:masters). The tests do not use this cluster: they start their own
# (internal/testutil/kubetest).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

state=.local/cluster
pki=$state/pki
apiserver=.local/bin/kube-apiserver
etcd=/usr/bin/etcd
kubeconfig="$root/.local/kubeconfig"
kubectl=(kubectl --kubeconfig "$kubeconfig")

say() { echo "cluster: $*"; }
die() {
	echo "cluster: $*" >&2
	exit 1
}

# pid_of NAME prints the PID recorded for NAME when that process still runs
# (and is NAME, not a recycled PID).
pid_of() {
	local file=$state/$1.pid pid
	[[ -f $file ]] || return 1
	pid="$(<"$file")"
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1" ]] || return 1
	echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port PREFERRED FALLBACK prints PREFERRED when nothing listens there,
# else the first free port from FALLBACK on.
free_port() {
	local p
	for p in "$1" $(seq "$2" $(($2 + 200))); do
		port_in_use "$p" || {
			echo "$p"
			return 0
		}
	done
	die "no free port near $1 or $2"
}

load_ports() {
	# shellcheck disable=SC1091
	[[ -f $state/ports ]] && source "$state/ports"
	: "${etcd_port:=}" "${etcd_peer_port:=}" "${apiserver_port:=}"
}

stop_pid() { # NAME
	local pid i
	pid="$(pid_of "$1")" || {
		rm -f "$state/$1.pid"
		return 0
	}
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$1 (PID $pid) did not stop in 15s: killing it"
		kill -9 "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$state/$1.pid"
}

ready() {
	[[ -f $kubeconfig ]] && "${kubectl[@]}" get --raw /readyz >/dev/null 2>&1
}

status() {
	load_ports
	local e a
	e="$(pid_of etcd)" || e=
	a="$(pid_of kube-apiserver)" || a=
	if [[ -n $e && -n $a ]] && ready; then
		say "up: kube-apiserver https://127.0.0.1:$apiserver_port (PID $a), etcd http://127.0.0.1:$etcd_port (PID $e)"
		say "kubeconfig $kubeconfig (eval \"\$(hack/cluster.sh env)\")"
		return 0
	fi
	if [[ -z $e && -z $a ]]; then
		say "down"
	else
		say "not ready: etcd ${e:+PID }${e:-not running}, kube-apiserver ${a:+PID }${a:-not running} (logs in $state/*.log)"
	fi
	return 1
}

tail_log() {
	echo "--- last lines of $state/$1.log ---" >&2
	tail -n 30 "$state/$1.log" >&2 || true
}

# start NAME ARGS... runs NAME in its own session, detached from this shell,
# logging to $state/NAME.log.
start() {
	local name=$1
	shift
	local pidfile=$state/$name.pid i
	rm -f "$pidfile"
	# The process writes its own PID (setsid forks when it has to), then
	# becomes NAME.
	# shellcheck disable=SC2016
	setsid bash -c 'echo $$ >"$0" && exec "$@"' "$pidfile" "$@" >"$state/$name.log" 2>&1 </dev/null &
	# Wait for the exec, so that pid_of sees NAME and not the shell.
	for ((i = 0; i < 150; i++)); do
		pid_of "$name" >/dev/null && return 0
		sleep 0.02
	done
	tail_log "$name"
	die "$name did not start"
}

build_apiserver() {
	[[ -x $apiserver ]] && return 0
	say "building $apiserver from hack/tools (k8s.io/kubernetes; a few minutes the first time)"
	(cd hack/tools && go build -o ../../$apiserver k8s.io/kubernetes/cmd/kube-apiserver)
}

crd_files() {
	local dir
	dir="$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)"
	if [[ -z $dir ]]; then
		go mod download sigs.k8s.io/gateway-api
		dir="$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)"
	fi
	[[ -d $dir/config/crd/standard ]] || die "no Gateway API CRDs in ${dir:-the module cache}/config/crd/standard"
	local f
	for f in "$dir"/config/crd/standard/*.yaml; do
		[[ $(basename "$f") == kustomization.yaml ]] || echo "$f"
	done
}

up() {
	if status >/dev/null 2>&1; then
		status
		return 0
	fi
	build_apiserver
	[[ -x $etcd ]] || bash hack/deps.sh
	[[ -x $etcd ]] || die "$etcd missing after hack/deps.sh"
	command -v kubectl >/dev/null || die "kubectl not found on PATH"
	command -v openssl >/dev/null || die "openssl not found on PATH"

	# A half-started cluster: stop what is left, keep the data.
	stop_pid kube-apiserver
	stop_pid etcd
	local t0=$SECONDS
	mkdir -p "$state/etcd" "$pki"
	chmod 0700 "$state" "$state/etcd" "$pki"

	# The ports of the last start when they are free (etcd keeps its peer
	# URL in its data), else 2379, 2380 and 6443, else free ones near them.
	load_ports
	etcd_port="$(free_port "${etcd_port:-2379}" 23790)"
	etcd_peer_port="$(free_port "${etcd_peer_port:-2380}" 23800)"
	[[ $etcd_peer_port != "$etcd_port" ]] || etcd_peer_port="$(free_port $((etcd_port + 1)) $((etcd_port + 1)))"
	apiserver_port="$(free_port "${apiserver_port:-6443}" 16443)"
	printf 'etcd_port=%s\netcd_peer_port=%s\napiserver_port=%s\n' \
		"$etcd_port" "$etcd_peer_port" "$apiserver_port" >"$state/ports"

	# Service-account signing key and the admin token (system:masters).
	if [[ ! -f $pki/sa.key ]]; then
		(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/sa.key" 2>/dev/null)
		openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	fi
	if [[ ! -f $pki/tokens.csv ]]; then
		(umask 077 && echo "$(openssl rand -hex 24),admin,admin,\"system:masters\"" >"$pki/tokens.csv")
	fi
	local token
	token="$(cut -d, -f1 "$pki/tokens.csv")"

	local etcd_args=(
		--name default
		--data-dir "$state/etcd"
		--listen-client-urls "http://127.0.0.1:$etcd_port"
		--advertise-client-urls "http://127.0.0.1:$etcd_port"
		--listen-peer-urls "http://127.0.0.1:$etcd_peer_port"
		--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port"
		--initial-cluster "default=http://127.0.0.1:$etcd_peer_port"
		--logger zap --log-outputs stderr
	)
	# Not in 3.4's --help, but there since 3.4.10: no fsync, for speed (the
	# data is throwaway).
	if "$etcd" --unsafe-no-fsync --version >/dev/null 2>&1; then
		etcd_args+=(--unsafe-no-fsync)
	fi
	start etcd "$etcd" "${etcd_args[@]}"

	start kube-apiserver "$apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 \
		--advertise-address 127.0.0.1 \
		--secure-port "$apiserver_port" \
		--cert-dir "$pki" \
		--service-account-key-file "$pki/sa.pub" \
		--service-account-signing-key-file "$pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc \
		--token-auth-file "$pki/tokens.csv" \
		--authorization-mode RBAC \
		--service-cluster-ip-range 10.96.0.0/16 \
		--endpoint-reconciler-type none

	# The serving certificate is self-signed by a CA the API server makes in
	# --cert-dir; apiserver.crt holds both, so it serves as the CA file.
	local i
	for ((i = 0; i < 600; i++)); do
		pid_of etcd >/dev/null || {
			tail_log etcd
			die "etcd exited"
		}
		pid_of kube-apiserver >/dev/null || {
			tail_log kube-apiserver
			die "kube-apiserver exited"
		}
		[[ -s $pki/apiserver.crt ]] && break
		sleep 0.1
	done
	[[ -s $pki/apiserver.crt ]] || die "kube-apiserver wrote no $pki/apiserver.crt in 60s"
	local kc_tmp=$kubeconfig.tmp
	(umask 077 && cat >"$kc_tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: hagate-local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority-data: $(base64 -w0 <"$pki/apiserver.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: hagate-local
  context:
    cluster: hagate-local
    user: admin
current-context: hagate-local
EOF
	)
	mv "$kc_tmp" "$kubeconfig"

	for ((i = 0; i < 600; i++)); do
		ready && break
		pid_of kube-apiserver >/dev/null || {
			tail_log kube-apiserver
			die "kube-apiserver exited"
		}
		sleep 0.1
	done
	ready || {
		tail_log kube-apiserver
		die "kube-apiserver not ready after 60s"
	}
	say "kube-apiserver ready in $((SECONDS - t0))s; installing the Gateway API standard CRDs"

	local files=() f
	while IFS= read -r f; do files+=(-f "$f"); done < <(crd_files)
	"${kubectl[@]}" apply --server-side --force-conflicts "${files[@]}" >/dev/null
	"${kubectl[@]}" wait --for condition=Established --timeout 60s crd --all >/dev/null
	say "up in $((SECONDS - t0))s"
	status
}

down() {
	stop_pid kube-apiserver
	stop_pid etcd
	rm -rf "$state" "$kubeconfig"
	say "down"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
env) echo "export KUBECONFIG=$kubeconfig" ;;
*)
	echo "usage: hack/cluster.sh up|down|status|env" >&2
	exit 2
	;;
esac
