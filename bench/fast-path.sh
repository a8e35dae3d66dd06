#!/usr/bin/env bash
# The fast-path benchmark (issue 12): python print(1) and `true` through REST on a real `mcp-sandbox serve --http`
# with the warm pools on and then on a second server with pools off, beside bare python3/true, raw `runc run`
# and `docker run --rm` measured in the same rounds; throughput from concurrent clients; memory of the idle
# server and of each idle pooled sandbox. Prints the figures, ratios and issue 12's targets (met or not) and
# rewrites its section of docs/benchmarks.md.
#
# usage: sudo bench/fast-path.sh [--quick] [--start-dockerd] [FastPathBenchmark options...]
#   --quick            20 requests per workload after 3 warm-up rounds, 10 s of throughput: a smoke run
#   --start-dockerd    when no Docker daemon answers, start one for the run (and stop that one afterwards)
#   --requests N (200), --warmup N (20), --duration SECONDS (60), --clients N (8), --users N (1 API key),
#   --pool-sandboxes SPEC (MCP_SANDBOX_POOL_SANDBOXES of the pools-on server), --no-docker, --out FILE, --no-write
# Needs root, runc and runsc on PATH, a JDK >= 21 and Maven. Exit 1 on a failure, 3 if something was left behind
# (it is reaped then).
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
if [ -n "$start_dockerd" ]; then bench_start_dockerd; fi

"$JAVA_HOME/bin/java" -cp "$bench_classpath" io.mcpsandbox.bench.FastPathBenchmark "${args[@]+"${args[@]}"}"
