#!/usr/bin/env bash
# The cluster benchmark (issue 17), on this one machine: executions per second of 1, 2 and 3 real
# `serve --http --cluster` nodes sharing one redis-server, 8 clients spread over them, and with every client on
# node 1 of 3; Redis commands per execution (and which); the latency of python print(1) run where it was sent
# against one node 1 had to send elsewhere (its slots full); with --soak SECONDS, a mixed load over the three
# nodes sampling their memory, threads and descriptors. Prints the figures and rewrites its section of
# docs/benchmarks.md.
#
# usage: sudo bench/cluster.sh [--quick] [--seconds N] [--clients N] [--rounds N] [--soak SECONDS] [--no-write]
#   --seconds N   length of each throughput run (default 30)    --rounds N   latency rounds (default 20)
#   --quick       10 s runs, 8 latency rounds                      --soak S     S seconds of mixed load (600: the
#                                                                               issue's 10 minutes); default none
# Needs root, runc and redis-server on PATH, a JDK >= 21 and Maven. Exit 1 on a failed execution, 3 if something
# was left behind (it is reaped then).
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
trap bench_cleanup EXIT
bench_java_home
bench_build --agent

"$JAVA_HOME/bin/java" -cp "$bench_classpath" io.mcpsandbox.bench.ClusterBenchmark "$@"
