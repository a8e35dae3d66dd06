#!/usr/bin/env bash
# Session load benchmark (issue 11): many sessions open at once (default 50 on runc), each running a short
# execution (python print(1)) once a second for a while (default 120 s), through REST on a real
# `mcp-sandbox serve --http` in a JVM of its own. Prints executions, errors, latency p50/p95/p99, memory per
# idle session (sandbox cgroup, its processes, its runc process, the server JVM, host MemAvailable) and what is
# left once every session is closed and the server stopped.
#
# usage: bench/session-load.sh [--sessions N] [--duration SECONDS] [--interval-ms MS] [--runtime runc|runsc]
#                              [--program python|true] [--users N]
# Needs root, runc (runsc for --runtime runsc), a JDK >= 21 and Maven. Exit 1 on an execution error, 3 if
# something was left behind (it is reaped then).
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
trap bench_cleanup EXIT
bench_java_home
bench_build --agent

"$JAVA_HOME/bin/java" -cp "$bench_classpath" io.mcpsandbox.bench.SessionLoadBenchmark "$@"
