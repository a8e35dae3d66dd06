package io.mcpsandbox.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The shipped logback.xml, text and JSON: user text cannot start a forged log line. */
class LogEscapingTest {
    private static final String FORGED =
            "/workspace/x\n12:00:00.000 ERROR Admin - user root granted\r\u001b[2Jdone\u2028more";

    private static String log(String format, boolean withException) throws Exception {
        PrintStream original = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        LoggerContext context = new LoggerContext();
        context.setMDCAdapter(new ch.qos.logback.classic.util.LogbackMDCAdapter());
        context.start();
        try {
            context.putProperty("MCP_SANDBOX_LOG_FORMAT", format);
            context.putProperty("MCP_SANDBOX_LOG_LEVEL", "INFO");
            JoranConfigurator configurator = new JoranConfigurator();
            configurator.setContext(context);
            configurator.doConfigure(LogEscapingTest.class.getResource("/logback.xml"));
            capture(context, captured);
            var logger = context.getLogger("io.mcpsandbox.execution.ExecutionService");
            if (withException) {
                logger.warn("execution failed: {}", FORGED, new IllegalStateException("bad workDir " + FORGED,
                        new RuntimeException("cause " + FORGED)));
            } else {
                logger.info("execution started: workDir={} image={}", FORGED, "alpine\nFAKE");
            }
        } finally {
            context.stop();
            System.setErr(original);
        }
        return captured.toString(StandardCharsets.UTF_8);
    }

    /** The shipped appender, writing to the test's buffer instead of the console. */
    private static void capture(LoggerContext context, ByteArrayOutputStream captured) {
        context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).iteratorForAppenders().forEachRemaining(a ->
                ((ch.qos.logback.core.OutputStreamAppender<?>) a).setOutputStream(captured));
    }

    @Test
    void textLinesEscapeControlCharactersInMessagesAndExceptions() throws Exception {
        String out = log("text", false);
        assertThat(out.lines().toList()).as(out).hasSize(1);
        assertThat(out).contains("workDir=/workspace/x\\n12:00:00.000 ERROR Admin").contains("\\r\\u001b[2J")
                .contains("\\u2028").contains("image=alpine\\nFAKE").doesNotContain("\u001b");

        String withException = log("text", true);
        // Without --debug: the message and each cause on one line, escaped, no stack frames.
        assertThat(withException.lines().toList()).as(withException).hasSize(1);
        assertThat(withException).contains("IllegalStateException: bad workDir /workspace/x\\n12:00")
                .contains("caused by java.lang.RuntimeException: cause /workspace/x\\n").doesNotContain("\tat ");
    }

    @Test
    void debugModeKeepsStacksButStillEscapesMessages() throws Exception {
        PrintStream original = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        LoggerContext context = new LoggerContext();
        context.setMDCAdapter(new ch.qos.logback.classic.util.LogbackMDCAdapter());
        context.start();
        try {
            context.putProperty("MCP_SANDBOX_LOG_FORMAT", "text");
            JoranConfigurator configurator = new JoranConfigurator();
            configurator.setContext(context);
            configurator.doConfigure(LogEscapingTest.class.getResource("/logback.xml"));
            capture(context, captured);
            context.putProperty(SafeThrowableConverter.STACKS, "true");
            context.getLogger("x").warn("failed", new IllegalStateException("bad " + FORGED));
        } finally {
            context.stop();
            System.setErr(original);
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        assertThat(out).contains("\tat ").contains("IllegalStateException: bad /workspace/x\\n12:00");
        assertThat(out.lines().filter(l -> l.contains("ERROR Admin")).toList()).allSatisfy(l ->
                assertThat(l).contains("\\n12:00:00.000 ERROR Admin"));
    }

    @Test
    void jsonLinesAreOneObjectEachWithTheTextIntact() throws Exception {
        String out = log("json", true);
        assertThat(out.lines().toList()).as(out).hasSize(1);
        JsonNode line = JsonMapper.builder().build().readTree(out);
        assertThat(line.get("formattedMessage").asString()).isEqualTo("execution failed: " + FORGED);
    }

    @Test
    void escapeIsUnambiguous() {
        assertThat(LogText.escape("plain text")).isEqualTo("plain text");
        assertThat(LogText.escape("a\\nb")).isEqualTo("a\\\\nb");
        assertThat(LogText.escape("a\nb\tc\u0085\u202e")).isEqualTo("a\\nb\\tc\\u0085\\u202e");
    }
}
