#!/usr/bin/env bash
# The microVM benchmark (issue 14): the critical level on a QEMU microVM (runtime microvm) side by side with runc
# and runsc in one run, in-process: cold boot to the agent's ready through the runtime SPI; python print(1) at
# critical (and on runc, runsc) cold and with a warm pool (refilled before each request), with bare python3 and
# raw `runc run` of python in the same rounds; the memory of one idle pooled VM (QEMU's VmRSS, its cgroup) beside
# an idle pooled runc and runsc sandbox; the probe's acceleration line and what KVM would change. Prints the
# figures, the ratios and the aim (warm critical python p50 <= 1 s under TCG) and rewrites its section of
# docs/benchmarks.md.
#
# usage: sudo bench/microvm.sh [--vm-runs N (8)] [--runs N (20)] [--warmup N (1)] [--quick] [--out FILE | --no-write]
#   --vm-runs N   VM samples per measurement (a boot under TCG costs ~5 s of a core), spread over the rounds
#   --runs N      rounds: runc, runsc and the yardsticks run once in each
#   --quick       2 VM samples in 4 rounds: a smoke run
# About 5 minutes on 2 CPUs with the defaults (about 30 VM boots). Needs root, runc, runsc, QEMU and the microVM
# guest (bin/setup) holding the agent this checkout builds, a JDK >= 21 and Maven. Exit 1 on a failure, 3 if
# something was left behind.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
trap bench_cleanup EXIT
bench_java_home
bench_build --agent

"$JAVA_HOME/bin/java" -cp "$bench_classpath" io.mcpsandbox.bench.MicrovmBenchmark "$@"
