#!/usr/bin/env bash
# What one cold execution costs the host (issue 12, lean hot path): per runtime, the CPU of everything it
# runs (this JVM, the runtime binaries, their helpers, the sandbox and its program) and the tasks and
# programs it starts, counted by perf over the measured loop alone (SandboxCostBenchmark opens and closes
# perf's window), divided by the executions; then which programs each execution started.
#
# usage: bench/cost.sh [--iterations N] [--warmup N] [--runtimes runc,runsc] [--true]
# Needs root, runc and runsc on PATH, perf (linux-perf), a JDK >= 21 and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
work=
finish() {
  if [ -n "$work" ]; then rm -rf "$work"; fi
  bench_cleanup
}
trap finish EXIT
bench_java_home
bench_build --agent

iterations=40
runtimes=runc,runsc
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --iterations) iterations=$2; shift 2 ;;
    --runtimes) runtimes=$2; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
work=$(mktemp -d /tmp/mcp-cost.XXXXXX)
mkfifo "$work/ctl" "$work/ack"
for runtime in ${runtimes//,/ }; do
  bench=("$JAVA_HOME/bin/java" -cp "$bench_classpath" io.mcpsandbox.bench.SandboxCostBenchmark
    --perf-control "$work/ctl,$work/ack" --iterations "$iterations" --runtimes "$runtime" "${rest[@]+"${rest[@]}"}")
  perf stat -x, -o "$work/stat" -e task-clock,sched:sched_process_fork,sched:sched_process_exec \
    --control "fifo:$work/ctl,$work/ack" -D -1 -- "${bench[@]}"
  perf record -q -o "$work/data" -e sched:sched_process_exec --control "fifo:$work/ctl,$work/ack" -D -1 \
    -- "${bench[@]}" >/dev/null
  echo "$runtime, by perf over the measured loop, per execution:"
  awk -F, -v n="$iterations" '$3 == "task-clock" { printf "  %7.1f ms CPU (everything the executions ran)\n", $1 / n }
    $3 ~ /fork/ { printf "  %7.1f tasks created (processes and threads)\n", $1 / n }
    $3 ~ /exec/ { printf "  %7.1f programs started (execve)\n", $1 / n }' "$work/stat"
  echo "  programs started per execution:"
  perf script -i "$work/data" -F trace 2>/dev/null | sed -n 's/.*filename=\([^ ]*\).*/\1/p' | sort | uniq -c \
    | awk -v n="$iterations" '{ printf "  %7.2f  %s\n", $1 / n, $2 }' | sort -rn
done
