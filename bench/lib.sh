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

# Removes the private copy of the classes; for the caller's EXIT trap.
bench_cleanup() {
  if [ -n "$bench_stage" ]; then rm -rf "$bench_stage"; fi
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
  bench_classpath="$bench_stage/test-classes:$bench_stage/classes:$(cat "$cp_file")"
}
