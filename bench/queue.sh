#!/usr/bin/env bash
# The queue benchmark (issue 18): sustained executions per second for N python print(1) through the durable
# queue (submitted async, timed until all have ended) against the sync path with as many concurrent clients as
# admission runs at once, on one real `mcp-sandbox serve --http`; the queue's overhead per execution (ms); on the
# idle server the time from an async submission to its start and to its result beside a sync request, with bare
# python3 and raw `runc run` measured in the same rounds. Prints the figures and rewrites its section of
# docs/benchmarks.md.
#
# usage: sudo bench/queue.sh [--quick] [QueueBenchmark options...]
#   --quick            100 executions per throughput run, 10 idle rounds after 2 warm-up rounds: a smoke run
#   --executions N (500), --rounds N (30), --warmup N (5), --clients N (admission's max-concurrent),
#   --singles (submit one async POST each instead of batches), --out FILE, --no-write
# Needs root, runc on PATH, a JDK >= 21 and Maven. Exit 1 on a failure, 3 if something was left behind (it is
# reaped then).
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
trap bench_cleanup EXIT
bench_java_home
bench_build --agent

"$JAVA_HOME/bin/java" -cp "$bench_classpath" io.mcpsandbox.bench.QueueBenchmark "$@"
