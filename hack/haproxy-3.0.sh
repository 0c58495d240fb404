#!/usr/bin/env bash
# Builds HAProxy 3.0 LTS into .local/haproxy-3.0/ from the upstream source
# tarball Debian trixie's package is made from, unless built already (the
# tests run every HAProxy test against it as well as Debian bookworm's 2.6:
# HAGATE_HAPROXY_BIN=.local/haproxy-3.0/haproxy). About two minutes on two
# cores. Build dependencies come from Debian's packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=3.0.11
sha256=a133e2d550c5fd9a849b5c7ab17bb945bcdad209ca140d41f45ebf31943ae783
url="http://deb.debian.org/debian/pool/main/h/haproxy/haproxy_${version}.orig.tar.gz"
out=.local/haproxy-3.0
bin="$out/haproxy"

if [[ -x "$bin" ]] && "$bin" -v 2>/dev/null | grep -q "version ${version}"; then
	echo "$bin: HAProxy ${version}, up to date"
	exit 0
fi

missing=()
for pkg in libssl-dev libpcre2-dev liblua5.4-dev make gcc libc6-dev curl; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
	sudo=()
	[[ "$(id -u)" -ne 0 ]] && sudo=(sudo)
	echo "haproxy-3.0: installing ${missing[*]} from Debian's packages"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "haproxy-3.0: downloading $url"
curl -fsSL -o "$work/src.tar.gz" "$url"
echo "$sha256  $work/src.tar.gz" | sha256sum -c --quiet -
tar -C "$work" -xzf "$work/src.tar.gz"
src="$work/haproxy-${version}"
echo "haproxy-3.0: building HAProxy ${version} (a few minutes)"
make -C "$src" -j"$(nproc)" TARGET=linux-glibc USE_OPENSSL=1 USE_PCRE2=1 USE_PCRE2_JIT=1 USE_PROMEX=1 USE_LUA=1 \
	LUA_INC=/usr/include/lua5.4 LUA_LIB_NAME=lua5.4 >"$work/build.log" 2>&1 || {
	tail -40 "$work/build.log" >&2
	exit 1
}
mkdir -p "$out"
install -m 0755 "$src/haproxy" "$bin"
"$bin" -v | head -1
