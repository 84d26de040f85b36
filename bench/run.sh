#!/usr/bin/env bash
# bench/run.sh [--quick]: every comparison of bench/ in one invocation.
#
# Installs what it needs from Debian when missing, builds switchyard and the
# bench tools, runs bench/harness (servers pinned to core 0, load generators
# to core 1, alternated rounds) and turns its JSON into bench/RESULTS.md and
# bench/charts/*.png with bench/report. `make bench` / `make bench QUICK=1`.
set -euo pipefail

QUICK=""
for a in "$@"; do
	case "$a" in
	--quick) QUICK="--quick" ;;
	*) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# Debian packages, installed only when missing.
need=()
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need+=(libnginx-mod-http-lua)
dpkg -s lua-cjson >/dev/null 2>&1 || need+=(lua-cjson)
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server)
command -v taskset >/dev/null || need+=(util-linux)
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if [ ${#need[@]} -gt 0 ]; then
	echo "bench: installing ${need[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}"
fi
# perf only adds the CPU profiles to RESULTS.md: try, and go on without it.
if ! command -v perf >/dev/null; then
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y linux-perf ||
		echo "bench: perf is not available; RESULTS.md will have no perf profiles"
fi
if [ "$(nproc)" -lt 2 ]; then
	echo "bench: needs at least 2 cores (server on core 0, load generator on core 1)" >&2
	exit 1
fi

WORK=$(mktemp -d /tmp/switchyard-bench.XXXXXX)
chmod 755 "$WORK" # nginx workers run as nobody and write request bodies under it
HARNESS_PID=""
cleanup() {
	if [ -n "$HARNESS_PID" ] && kill -0 "$HARNESS_PID" 2>/dev/null; then
		kill -TERM "$HARNESS_PID" 2>/dev/null || true
		wait "$HARNESS_PID" 2>/dev/null || true
	fi
	# Every process group the harness started (it stops them itself; this
	# catches what a killed harness left behind).
	if [ -f "$WORK/pgids" ]; then
		while read -r g; do
			kill -KILL -- "-$g" 2>/dev/null || true
		done <"$WORK/pgids"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BIN="$WORK/bin"
mkdir -p "$BIN"
go build -o "$BIN/switchyard" ./cmd/switchyard
for t in gen check loadgen baseline harness report; do
	go build -o "$BIN/$t" "./bench/$t"
done

OUT="$ROOT/bench/results.json"
echo "bench: work folder $WORK; results in $OUT"
# The harness itself (and so wrk, loadgen and check) runs on core 1.
taskset -c 1 "$BIN/harness" $QUICK -work "$WORK" -root "$ROOT" -bin "$BIN" -out "$OUT" &
HARNESS_PID=$!
wait "$HARNESS_PID"
HARNESS_PID=""
"$BIN/report" -in "$OUT" -md "$ROOT/bench/RESULTS.md" -charts "$ROOT/bench/charts"
echo "bench: wrote bench/RESULTS.md and bench/charts/"
