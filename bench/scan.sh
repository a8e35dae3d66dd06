#!/usr/bin/env bash
# Output-scanner throughput (issue 6): scans ~10 MiB of realistic mixed output in report, redact and block
# mode and prints median / p95 milliseconds and MiB/s. Copy the table into docs/scanning.md by hand.
#
# usage: bench/scan.sh [--size-mib N] [--runs N] [--warmup N] [--stderr-share F] [--ansi]
# Needs a JDK >= 21 and Maven; no root, no runtimes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${JAVA_HOME:-}" ]; then
  if [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
  else
    JAVA_HOME=$(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -V | tail -n1)
    export JAVA_HOME=${JAVA_HOME%/}
  fi
fi

stage=
cleanup() { if [ -n "$stage" ]; then rm -rf "$stage"; fi; }
trap cleanup EXIT

echo "building (mvn test-compile)..." >&2
mvn -q -B test-compile
cp_file=target/scan-bench-classpath.txt
mvn -q -B dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$cp_file" >/dev/null

# Run from a private copy of the classes, so a concurrent build in this tree cannot pull them away mid-run.
stage=$(mktemp -d /tmp/mcp-scan-bench.XXXXXX)
cp -r target/classes "$stage/classes"
mkdir -p "$stage/test-classes/io/mcpsandbox/bench"
cp target/test-classes/io/mcpsandbox/bench/ScanBenchmark*.class "$stage/test-classes/io/mcpsandbox/bench/"

"$JAVA_HOME/bin/java" -Xms512m -Xmx2g -cp "$stage/test-classes:$stage/classes:$(cat "$cp_file")" \
  io.mcpsandbox.bench.ScanBenchmark "$@"
