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
trap bench_cleanup EXIT
bench_java_home
bench_build --agent

classpath=$bench_classpath
if [ ! -f "$bench_stage/classes/io/mcpsandbox/runtime/seccomp-default.json" ] && [ -d /tmp/seccomp-tmp ]; then
  echo "warning: seccomp-default.json is not in the build; using the temporary copy in /tmp/seccomp-tmp" >&2
  classpath="/tmp/seccomp-tmp:$classpath"
fi

if [ -n "$start_dockerd" ]; then bench_start_dockerd; fi

"$JAVA_HOME/bin/java" -cp "$classpath" io.mcpsandbox.bench.LatencyBenchmark "${args[@]+"${args[@]}"}"
