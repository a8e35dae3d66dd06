package io.mcpsandbox.scan;

import io.mcpsandbox.model.SecurityEvent.Severity;
import java.util.Locale;

/**
 * The kinds of finding the {@link OutputScanner} knows. The declaration order is also the precedence when two
 * findings overlap: the earlier, more specific kind keeps the text (a GitHub token is not also reported as a
 * high-entropy string; a private key block swallows everything inside it).
 */
public enum DetectorType {
    PRIVATE_KEY("private_key", Severity.CRITICAL, "private key block"),
    JWT("jwt", Severity.HIGH, "JSON Web Token"),
    AWS_ACCESS_KEY("aws_access_key", Severity.HIGH, "AWS access key id"),
    GITHUB_TOKEN("github_token", Severity.HIGH, "GitHub token"),
    GITLAB_TOKEN("gitlab_token", Severity.HIGH, "GitLab personal access token"),
    SLACK_TOKEN("slack_token", Severity.HIGH, "Slack token"),
    SLACK_WEBHOOK("slack_webhook", Severity.MEDIUM, "Slack webhook URL"),
    /** Severity is per finding: live keys are critical, test keys medium; the event carries the highest. */
    STRIPE_KEY("stripe_key", Severity.CRITICAL, "Stripe secret or restricted key"),
    AWS_SECRET_KEY("aws_secret_key", Severity.CRITICAL, "AWS secret access key"),
    SSN("ssn", Severity.HIGH, "US social security number"),
    CREDIT_CARD("credit_card", Severity.HIGH, "payment card number"),
    HIGH_ENTROPY("high_entropy", Severity.MEDIUM, "high-entropy string (possible API key)");

    private final String wireName;
    private final Severity severity;
    private final String label;

    DetectorType(String wireName, Severity severity, String label) {
        this.wireName = wireName;
        this.severity = severity;
        this.label = label;
    }

    /** The short name used in configuration and in redaction markers, e.g. {@code aws_access_key}. */
    public String wireName() {
        return wireName;
    }

    /** The security event type, e.g. {@code dlp.aws_access_key}. */
    public String eventType() {
        return "dlp." + wireName;
    }

    /** The default severity of a finding of this kind. */
    public Severity severity() {
        return severity;
    }

    /** A human description of the kind; never contains any of the matched text. */
    public String label() {
        return label;
    }

    /** What replaces a finding in redact mode, e.g. {@code [REDACTED:aws_access_key]}. */
    public String redactionMarker() {
        return "[REDACTED:" + wireName + "]";
    }

    /** Parses a wire name ({@code credit_card}) or an enum name ({@code CREDIT_CARD}), case-insensitively. */
    public static DetectorType parse(String name) {
        String wanted = name.trim().toLowerCase(Locale.ROOT).replace('-', '_');
        for (DetectorType type : values()) {
            if (type.wireName.equals(wanted)) {
                return type;
            }
        }
        StringBuilder known = new StringBuilder();
        for (DetectorType type : values()) {
            known.append(known.isEmpty() ? "" : ", ").append(type.wireName);
        }
        throw new IllegalArgumentException("unknown detector '" + name + "' (known: " + known + ")");
    }
}
