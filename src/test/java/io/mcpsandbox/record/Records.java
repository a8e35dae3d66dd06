package io.mcpsandbox.record;

import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.NetworkIO;
import io.mcpsandbox.model.RequestSummary;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.ResourceUsage;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.SessionRecord;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

/** Realistic records for store tests: a started one, and its end with a full result and security events. */
final class Records {
    static final long MIB = 1L << 20;

    private Records() {
    }

    static ExecutionRecord started(String userId, Instant startedAt) {
        return started(UUID.randomUUID().toString(), userId, startedAt);
    }

    static ExecutionRecord started(String executionId, String userId, Instant startedAt) {
        return ExecutionRecord.started(executionId, userId, "session-" + userId, "host", "runc", SecurityLevel.MEDIUM,
                List.of("python3", "/workspace/main.py"), "python", startedAt);
    }

    /** An env value, stdin and file content that no store may keep. */
    static final String SECRET = "value-must-not-be-stored";

    /** A request with every field set, whose env value, stdin and file content are {@link #SECRET}. */
    static ExecutionRequest request(String code) {
        return ExecutionRequest.builder().language("python").code(code).env("SECRET_TOKEN", SECRET)
                .env("LANG", "C.UTF-8").stdin(SECRET + "\n").file("data/in.txt", SECRET).file("b.csv", "x,y\n")
                .limits(new LimitsRequest(5000L, 256L << 20, 0.5, 32, 1L << 20)).network(true)
                .networkAllow(List.of("pypi.org")).background(true).keepStdinOpen(true).workDir("/workspace/data2")
                .dlpMode(DlpMode.REDACT).priority(3).callbackUrl("https://example.test/hook?token=" + SECRET)
                .userId("alice").build();
    }

    /** {@link #started} with the summary of {@link #request} (code: a program that prints a marker). */
    static ExecutionRecord startedWithRequest(String userId, Instant startedAt) {
        return started(userId, startedAt).withRequest(RequestSummary.of(request("print('héllo ✓ <b>')\n")));
    }

    /** A session of {@code userId} that has just opened, every field set. */
    static SessionRecord session(String userId, Instant createdAt) {
        return SessionRecord.opened(UUID.randomUUID().toString(), userId, "python:3.12", "runc", SecurityLevel.HIGH,
                SessionRecord.WRITABLE,
                new ResourceLimits(Duration.ofSeconds(30), 512L << 20, 1.5, 64, 8L << 20, 64L << 20, 256),
                List.of("API_TOKEN", "LANG"), createdAt, createdAt.plusSeconds(3600), 600,
                "mcp-sandbox-session-" + userId, "server-1");
    }

    /** An execution of {@code user} in {@code sessionId} that ended. */
    static ExecutionRecord inSession(String sessionId, String user, Instant startedAt) {
        ExecutionRecord start = ExecutionRecord.started(UUID.randomUUID().toString(), user, sessionId, "host", "runc",
                SecurityLevel.MEDIUM, List.of("sh", "-c", "true"), "shell", startedAt);
        return ended(start);
    }

    /** The end of {@code start}: completed with exit 3, output, resource usage and two security events. */
    static ExecutionRecord ended(ExecutionRecord start) {
        Instant end = start.startedAt().plusMillis(1234).plusNanos(567_000);
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("count", 2);
        details.put("offsets", List.of(17, 4242));
        details.put("kind", "aws-access-key");
        details.put("nested", Map.of("entropy", 4.75, "redacted", true));
        List<SecurityEvent> events = List.of(
                new SecurityEvent(start.startedAt().plusMillis(5), "secret_in_output", SecurityEvent.Severity.HIGH,
                        "AWS access key in stdout", details),
                new SecurityEvent(end, "command_pattern", SecurityEvent.Severity.LOW, "curl seen", Map.of()));
        ExecutionResult result = new ExecutionResult(start.executionId(), ExecutionStatus.COMPLETED, 3,
                "héllo wörld\n", "warn: ✓\n", false, true, 1234, "runc", SecurityLevel.MEDIUM, "host",
                ResourceUsage.of(800, 1234, 64L << 20, new NetworkIO(10, 20)), events, null,
                        null, null, false, List.of(), List.of());
        return start.ended(result, end);
    }

    /** An execution of {@code user} that completed with exit 0 and printed exactly this. */
    static ExecutionRecord ended(String user, Instant startedAt, String stdout, String stderr) {
        ExecutionRecord start = started(user, startedAt);
        ExecutionResult result = new ExecutionResult(start.executionId(), ExecutionStatus.COMPLETED, 0, stdout, stderr,
                false, false, 12, "runc", SecurityLevel.MEDIUM, "host", ResourceUsage.NONE, List.of(), null,
                        null, null, false, List.of(), List.of());
        return start.ended(result, startedAt.plusMillis(12));
    }

    /** A flood of control bytes as the service would capture it (valid UTF-8, so kept as such). */
    static String controlFlood(int bytes, long seed) {
        Random random = new Random(seed);
        char[] chars = new char[bytes];
        for (int i = 0; i < bytes; i++) {
            chars[i] = (char) (1 + random.nextInt(31));
        }
        return new String(chars);
    }

    /** Text that does not compress: stored bytes then track the output's size. */
    static String noise(int bytes, long seed) {
        Random random = new Random(seed);
        char[] chars = new char[bytes];
        for (int i = 0; i < bytes; i++) {
            chars[i] = (char) ('!' + random.nextInt(90));
        }
        return new String(chars);
    }
}
