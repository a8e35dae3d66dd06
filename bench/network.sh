#!/usr/bin/env bash
# The network benchmark (issue 13): the latency that network adds to python print(1) on runc (p50, network off
# and on side by side, both cold), with bare python3 and raw `runc run` of python measured in the same rounds;
# and an HTTP GET of 1 MiB from a test server in a network namespace of its own, through the agent's relay and
# the egress policy point, against the same GET from the host directly (throughput ratio). Prints the figures and
# rewrites its section of docs/benchmarks.md.
#
# usage: sudo bench/network.sh [--quick] [--rounds N (30)] [--downloads N (20)] [--out FILE | --no-write]
# Needs root, runc, python3, openssl, ip, a JDK >= 21 and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
trap bench_cleanup EXIT
bench_java_home
bench_build --agent

"$JAVA_HOME/bin/java" -cp "$bench_classpath" io.mcpsandbox.bench.NetworkBenchmark "$@"
