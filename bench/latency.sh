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

stage=
dockerd_pid=
finish() {
  if [ -n "$dockerd_pid" ]; then
    echo "stopping the dockerd this script started (pid $dockerd_pid)" >&2
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  fi
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
if [ ! -f "$stage/classes/io/mcpsandbox/runtime/seccomp-default.json" ] && [ -d /tmp/seccomp-tmp ]; then
  echo "warning: seccomp-default.json is not in the build; using the temporary copy in /tmp/seccomp-tmp" >&2
  classpath="/tmp/seccomp-tmp:$classpath"
fi

if [ -n "$start_dockerd" ] && ! docker info >/dev/null 2>&1; then
  echo "starting dockerd for this run (log: /tmp/mcp-bench-dockerd.log)" >&2
  dockerd --iptables=false --bridge=none >/tmp/mcp-bench-dockerd.log 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi

rc=0
"$JAVA_HOME/bin/java" -cp "$classpath" io.mcpsandbox.bench.LatencyBenchmark "${args[@]+"${args[@]}"}" || rc=$?
if [ "$rc" -eq 0 ] && [ -n "$dockerd_pid" ]; then rm -f /tmp/mcp-bench-dockerd.log; fi
exit "$rc"
