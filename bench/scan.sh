#!/usr/bin/env bash
# Output-scanner throughput (issue 6): scans ~10 MiB of realistic mixed output in report, redact and block
# mode and prints median / p95 milliseconds and MiB/s. Copy the table into docs/scanning.md by hand.
#
# usage: bench/scan.sh [--size-mib N] [--runs N] [--warmup N] [--stderr-share F] [--ansi]
# Needs a JDK >= 21 and Maven; no root, no runtimes.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
trap bench_cleanup EXIT
bench_java_home
bench_build

"$JAVA_HOME/bin/java" -Xms512m -Xmx2g -cp "$bench_classpath" io.mcpsandbox.bench.ScanBenchmark "$@"
