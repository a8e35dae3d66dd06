# Sourced by the bench/*.sh scripts: the JDK they run with, and the benchmark classes built and copied aside.
# Not a program of its own.

# JAVA_HOME: as set, else Temurin 25 where installed, else the newest JDK under /usr/lib/jvm.
bench_java_home() {
  if [ -z "${JAVA_HOME:-}" ]; then
    if [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ]; then
      export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
    else
      JAVA_HOME=$(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -V | tail -n1)
      export JAVA_HOME=${JAVA_HOME%/}
    fi
  fi
}

bench_stage=
bench_dockerd_pid=
bench_dockerd_log=/tmp/mcp-bench-dockerd.log

# For the caller's EXIT trap: stops the dockerd bench_start_dockerd started (its log is kept when the script
# failed) and removes the private copy of the classes.
bench_cleanup() {
  local rc=$?
  if [ -n "$bench_dockerd_pid" ]; then
    echo "stopping the dockerd this script started (pid $bench_dockerd_pid)" >&2
    kill "$bench_dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$bench_dockerd_pid" 2>/dev/null || break; sleep 1; done
    if [ "$rc" -eq 0 ]; then rm -f "$bench_dockerd_log"; fi
  fi
  if [ -n "$bench_stage" ]; then rm -rf "$bench_stage"; fi
}

# --start-dockerd: when no Docker daemon answers, starts one for the run (bench_cleanup stops that one).
bench_start_dockerd() {
  if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd for this run (log: $bench_dockerd_log)" >&2
    dockerd --iptables=false --bridge=none >"$bench_dockerd_log" 2>&1 &
    bench_dockerd_pid=$!
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
}

# Builds the test classes (and the agent with --agent: every sandbox's PID 1, bound from agent/build/mcp-agent)
# and copies them to a private directory, so that a concurrent build in this tree (mvn clean, a recompile)
# cannot pull them from under a running benchmark. Sets bench_stage (removed by bench_cleanup: the caller's
# EXIT trap) and bench_classpath.
bench_build() {
  if [ "${1:-}" = "--agent" ]; then
    echo "building (the agent, mvn test-compile)..." >&2
    make -s -C agent
  else
    echo "building (mvn test-compile)..." >&2
  fi
  mvn -q -B test-compile
  local cp_file=target/bench-classpath.txt
  mvn -q -B dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$cp_file" >/dev/null
  bench_stage=$(mktemp -d /tmp/mcp-bench-classes.XXXXXX)
  cp -r target/classes "$bench_stage/classes"
  mkdir -p "$bench_stage/test-classes/io/mcpsandbox"
  cp -r target/test-classes/io/mcpsandbox/bench "$bench_stage/test-classes/io/mcpsandbox/"
  # The test fixtures some benchmarks stand on (TestSandbox, TestInternet and its server script).
  cp -r target/test-classes/io/mcpsandbox/testing "$bench_stage/test-classes/io/mcpsandbox/"
  if [ -d target/test-classes/testinternet ]; then cp -r target/test-classes/testinternet "$bench_stage/test-classes/"; fi
  bench_classpath="$bench_stage/test-classes:$bench_stage/classes:$(cat "$cp_file")"
}
