#!/usr/bin/env bash
# Session latency benchmark (issue 11): session create, an execution in an open session and a one-shot
# execution, through REST on a server started in-process, beside bare python3 and `runc exec` into a running
# runc container. Prints the figures (a markdown table) and whether issue 11's targets are met.
#
# usage: bench/sessions.sh [--iterations N] [--quick] [--warmup N] [--runtimes runc,runsc]
#   --iterations N     measured rounds (default 30)
#   --warmup N         unmeasured rounds first (default 50: a server runs warm, its JIT compiled)
#   --quick            5 rounds after 1 warm-up: a smoke run
#   --runtimes LIST    the session runtimes to measure (default runc,runsc)
# Needs root, runc and runsc on PATH, a JDK >= 21 and Maven. Leaves nothing behind (it checks, exit 3 if not).
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
trap bench_cleanup EXIT
bench_java_home
bench_build --agent

"$JAVA_HOME/bin/java" -cp "$bench_classpath" io.mcpsandbox.bench.SessionBenchmark "$@"
