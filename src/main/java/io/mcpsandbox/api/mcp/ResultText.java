package io.mcpsandbox.api.mcp;

import io.mcpsandbox.model.ExecutionResult;

/** The short human-readable text that goes with a result's structured content. */
final class ResultText {
    /** Per stream: enough for an agent to read a typical answer, short enough not to flood its context. */
    static final int EXCERPT_CHARS = 4000;

    private ResultText() {
    }

    static String of(ExecutionResult r) {
        StringBuilder sb = new StringBuilder();
        sb.append(r.status().wireName());
        if (r.exitCode() != null) {
            sb.append(", exit code ").append(r.exitCode());
        }
        sb.append(", ").append(r.durationMs()).append(" ms");
        if (r.runtime() != null) {
            sb.append(", runtime ").append(r.runtime());
        }
        if (r.securityLevel() != null) {
            sb.append(", level ").append(r.securityLevel().wireName());
        }
        sb.append(" (executionId ").append(r.executionId()).append(')');
        if (r.reason() != null) {
            sb.append("\nreason: ").append(r.reason());
        }
        if (r.notice() != null) {
            sb.append("\nnotice: ").append(r.notice());
        }
        stream(sb, "stdout", r.stdout(), r.stdoutTruncated());
        stream(sb, "stderr", r.stderr(), r.stderrTruncated());
        if (r.result() != null) {
            stream(sb, "result", r.result(), false);
        }
        if (!r.securityEvents().isEmpty()) {
            sb.append("\nsecurity events: ").append(r.securityEvents().size()).append(" (see structuredContent)");
        }
        return sb.toString();
    }

    private static void stream(StringBuilder sb, String name, String text, boolean truncated) {
        if (text.isEmpty()) {
            return;
        }
        // Cut by the output cap, or by the record's stored-output cap (then a marker ends the text and says so).
        sb.append("\n--- ").append(name).append(truncated ? " (truncated)" : "").append(" ---\n");
        if (text.length() <= EXCERPT_CHARS) {
            sb.append(text);
        } else {
            sb.append(text, 0, EXCERPT_CHARS).append("\n... ").append(text.length() - EXCERPT_CHARS)
                    .append(" more characters in structuredContent.").append(name);
        }
    }
}
