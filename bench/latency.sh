#!/usr/bin/env bash
# End-to-end latency benchmark (issue 2, item 9): ours (in-process API) vs bare exec, raw runc/runsc on an
# equivalent bundle, and docker run --rm. Prints the figures and writes them to docs/benchmarks.md.
#
# usage: bench/latency.sh [--iterations N] [--quick] [--start-dockerd] [LatencyBenchmark options...]
#   --iterations N     measured rounds (default 30)
#   --quick            5 rounds, 2 warm-ups, 3 profiled runs: a smoke run
#   --start-dockerd    when no Docker daemon answers, start one for the run (and stop that one afterwards)
#   --no-docker, --no-phases, --warmup N, --phase-iterations N, --runtimes runc,runsc, --out FILE, --no-write
# Needs root, runc and runsc on PATH, a JDK >= 21 and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

start_dockerd=
args=()
for a in "$@"; do
  case "$a" in
    --start-dockerd) start_dockerd=1 ;;
    *) args+=("$a") ;;
  esac
done

source bench/lib.sh
dockerd_pid=
finish() {
  if [ -n "$dockerd_pid" ]; then
    echo "stopping the dockerd this script started (pid $dockerd_pid)" >&2
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  fi
  bench_cleanup
}
trap finish EXIT
bench_java_home
bench_build --agent

classpath=$bench_classpath
if [ ! -f "$bench_stage/classes/io/mcpsandbox/runtime/seccomp-default.json" ] && [ -d /tmp/seccomp-tmp ]; then
  echo "warning: seccomp-default.json is not in the build; using the temporary copy in /tmp/seccomp-tmp" >&2
  classpath="/tmp/seccomp-tmp:$classpath"
fi

if [ -n "$start_dockerd" ] && ! docker info >/dev/null 2>&1; then
  echo "starting dockerd for this run (log: /tmp/mcp-bench-dockerd.log)" >&2
  dockerd --iptables=false --bridge=none >/tmp/mcp-bench-dockerd.log 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi

rc=0
"$JAVA_HOME/bin/java" -cp "$classpath" io.mcpsandbox.bench.LatencyBenchmark "${args[@]+"${args[@]}"}" || rc=$?
if [ "$rc" -eq 0 ] && [ -n "$dockerd_pid" ]; then rm -f /tmp/mcp-bench-dockerd.log; fi
exit "$rc"
