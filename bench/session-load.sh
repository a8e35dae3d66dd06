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

stage=
finish() {
  if [ -n "$stage" ]; then rm -rf "$stage"; fi
}
trap finish EXIT

if [ -z "${JAVA_HOME:-}" ]; then
  if [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
  else
    JAVA_HOME=$(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -V | tail -n1)
    export JAVA_HOME=${JAVA_HOME%/}
  fi
fi

echo "building (the agent, mvn test-compile)..." >&2
make -s -C agent   # every sandbox's PID 1: the benchmark binds agent/build/mcp-agent
mvn -q -B test-compile
cp_file=target/bench-classpath.txt
mvn -q -B dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$cp_file" >/dev/null

# Run from a private copy of the classes: a concurrent build in this tree (mvn clean, a recompile) must not
# pull them from under a running benchmark.
stage=$(mktemp -d /tmp/mcp-bench-classes.XXXXXX)
cp -r target/classes "$stage/classes"
mkdir -p "$stage/test-classes/io/mcpsandbox"
cp -r target/test-classes/io/mcpsandbox/bench "$stage/test-classes/io/mcpsandbox/"
classpath="$stage/test-classes:$stage/classes:$(cat "$cp_file")"

"$JAVA_HOME/bin/java" -cp "$classpath" io.mcpsandbox.bench.SessionLoadBenchmark "$@"
