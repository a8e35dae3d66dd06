#!/usr/bin/env bash
# The CLI's start-up as a user sees it from a shell (issue 12 item 4), side by side in one run: the median wall
# time of N runs each of
#   bin/mcp-sandbox --version
#   bin/mcp-sandbox exec --local -- true       (in this process)
#   bin/mcp-sandbox exec -- true               (handed to a local `serve --http` this script starts)
#   docker run --rm IMAGE /bin/true            (IMAGE imported from a tiny root: /bin/true and its libraries)
# and the ratios to docker. Prints the figures only (docs/benchmarks.md is written by the lead).
# Needs root (exec and serve do); uses the start archive when bin/setup made one (see docs/cli.md).
#
# usage: bench/cli.sh [-n N]      (default N=21)
set -euo pipefail
cd "$(dirname "$0")/.."

n=21
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n="$2"; shift ;;
    *) echo "usage: bench/cli.sh [-n N]" >&2; exit 2 ;;
  esac
  shift
done

cli=bin/mcp-sandbox
work=$(mktemp -d /tmp/mcp-bench-cli.XXXXXX)
chmod 755 "$work"   # sandboxes run as unprivileged uids and must reach the data directory
state=/run/mcp-bench-cli.$$
export MCP_SANDBOX_DATA_DIR="$work/data" MCP_SANDBOX_STATE_DIR="$state"
mkdir -p "$MCP_SANDBOX_DATA_DIR"
server_pid=
image=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
  fi
  if [ -n "$image" ]; then docker rmi -f "$image" >/dev/null 2>&1 || true; fi
  rm -rf "$work" "$state"
}
trap cleanup EXIT

# Median wall milliseconds of n runs of "$@" (output discarded; a failing run fails the benchmark).
median_ms() {
  local times=() s e i
  for ((i = 0; i < n; i++)); do
    s=$(date +%s%N)
    "$@" >/dev/null 2>"$work/err" || { echo "failed: $* ($(head -c 500 "$work/err"))" >&2; exit 1; }
    e=$(date +%s%N)
    times+=($(((e - s) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $n runs each" >&2
"$cli" --version >/dev/null   # builds the jar when missing, outside the timing
archive="none (run bin/setup)"
[ -r target/mcp-sandbox.archive ] && archive="$(cut -d' ' -f1,3 target/mcp-sandbox.archive)"
[ -r target/mcp-sandbox.archive ] && [ target/mcp-sandbox.jar -nt "$(cut -d' ' -f3 target/mcp-sandbox.archive)" ] \
  && archive="stale (the jar is newer: run bin/setup)"
echo "start archive: $archive" >&2

version_ms=$(median_ms "$cli" --version)
"$cli" exec --local -- true >/dev/null   # first run: image and data directory set up, outside the timing
local_ms=$(median_ms "$cli" exec --local -- true)

echo "starting a local server (serve --http 127.0.0.1:0, a random API key)..." >&2
MCP_SANDBOX_API_KEYS="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'):bench" \
  setsid "$cli" serve --http 127.0.0.1:0 </dev/null >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
  [ -f "$state/local-endpoint" ] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "the server died:" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 0.5
done
[ -f "$state/local-endpoint" ] || { echo "the server did not start within 120 s" >&2; exit 1; }
"$cli" --debug exec -- true 2>&1 | grep -q "handed to the local server" \
  || { echo "exec did not hand off to the local server" >&2; exit 1; }
handoff_ms=$(median_ms "$cli" exec -- true)

docker_ms=
if docker info >/dev/null 2>&1; then
  root="$work/root"
  mkdir -p "$root/bin"
  cp /bin/true "$root/bin/true"
  for lib in $(ldd /bin/true | grep -o '/[^ ]*'); do mkdir -p "$root$(dirname "$lib")"; cp "$lib" "$root$lib"; done
  image="mcp-bench-cli-true:$$"
  tar -C "$root" -c . | docker import - "$image" >/dev/null
  docker run --rm --network none "$image" /bin/true
  docker_ms=$(median_ms docker run --rm --network none "$image" /bin/true)
else
  echo "no Docker daemon answers: docker run is left out" >&2
fi

printf '%-48s %8s %10s\n' "command (median of $n)" "wall ms" "vs docker"
printf '%-48s %8s %10s\n' "mcp-sandbox --version" "$version_ms" "$([ -n "$docker_ms" ] && ratio "$version_ms" "$docker_ms")"
printf '%-48s %8s %10s\n' "mcp-sandbox exec --local -- true (in-process)" "$local_ms" \
  "$([ -n "$docker_ms" ] && ratio "$local_ms" "$docker_ms")"
printf '%-48s %8s %10s\n' "mcp-sandbox exec -- true (local server)" "$handoff_ms" \
  "$([ -n "$docker_ms" ] && ratio "$handoff_ms" "$docker_ms")"
[ -n "$docker_ms" ] && printf '%-48s %8s %10s\n' "docker run --rm (tiny image) /bin/true" "$docker_ms" "1.00x"
echo "hand-off vs in-process: $(ratio "$handoff_ms" "$local_ms")"
