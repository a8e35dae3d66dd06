#!/usr/bin/env bash
# Session latency benchmark (issue 11): session create, an execution in an open session and a one-shot
# execution, through REST on a server started in-process, beside bare python3 and `runc exec` into a running
# runc container. Prints the figures (a markdown table) and whether issue 11's targets are met.
#
# usage: bench/sessions.sh [--iterations N] [--quick] [--warmup N] [--runtimes runc,runsc]
#   --iterations N     measured rounds (default 30)
#   --quick            5 rounds after 1 warm-up: a smoke run
#   --runtimes LIST    the session runtimes to measure (default runc,runsc)
# Needs root, runc and runsc on PATH, a JDK >= 21 and Maven. Leaves nothing behind (it checks, exit 3 if not).
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

"$JAVA_HOME/bin/java" -cp "$classpath" io.mcpsandbox.bench.SessionBenchmark "$@"
