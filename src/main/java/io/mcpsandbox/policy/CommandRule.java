package io.mcpsandbox.policy;

import io.mcpsandbox.model.SecurityEvent.Severity;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One tripwire of the {@link CommandPolicy}: a name, a pattern, an action and a severity.
 *
 * <p>The pattern is a sequence of one or more regular expressions ("steps") that must match in order on the same
 * line: {@code wget} then {@code | sh}. Matching a sequence step by step, and only from the first match of the
 * first step on each line, keeps every rule linear in the input; a single regex with a {@code .*} gap between the
 * parts would be quadratic on a long line full of first parts. Each step itself uses bounded or possessive
 * quantifiers only.
 *
 * <p>{@code literals} is a cheap prefilter: the rule is only tried on a text that contains one of them (compared in
 * lower case); an empty list means always try. It must be implied by the pattern, never narrower.
 *
 * @param name        snake_case; the security event type is {@code policy.<name>}
 * @param literals    lower-case strings of which the text must contain one for the pattern to be tried
 * @param steps       the regular expressions, in order
 * @param action      what a match does
 * @param severity    the severity of the event a match raises
 * @param description what the rule catches, for people (never includes the matched text)
 */
public record CommandRule(String name, List<String> literals, List<Pattern> steps, Action action, Severity severity,
                          String description) {
    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_]{0,63}");

    /** What a match does: {@code REJECT} refuses the request before anything runs, {@code REPORT} only records it. */
    public enum Action {
        REJECT, REPORT;

        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public CommandRule {
        Objects.requireNonNull(name, "name");
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("rule name must be snake_case: '" + name + "'");
        }
        literals = List.copyOf(literals);
        for (String literal : literals) {
            if (literal.isEmpty() || !literal.equals(literal.toLowerCase(Locale.ROOT))) {
                throw new IllegalArgumentException("rule " + name + ": literals must be non-empty lower case");
            }
        }
        steps = List.copyOf(steps);
        if (steps.isEmpty()) {
            throw new IllegalArgumentException("rule " + name + " has no pattern");
        }
        Objects.requireNonNull(action, "action");
        Objects.requireNonNull(severity, "severity");
        Objects.requireNonNull(description, "description");
    }

    public static CommandRule of(String name, Action action, Severity severity, String description,
                                 List<String> literals, String... regexes) {
        List<Pattern> steps = new ArrayList<>(regexes.length);
        for (String regex : regexes) {
            steps.add(Pattern.compile(regex));
        }
        return new CommandRule(name, literals, steps, action, severity, description);
    }

    public CommandRule withAction(Action newAction) {
        return newAction == action ? this : new CommandRule(name, literals, steps, newAction, severity, description);
    }

    /**
     * The prefilter: {@code lowerCaseText} (the text in lower case) contains one of the literals, or there are none.
     */
    public boolean worthTrying(String lowerCaseText) {
        if (literals.isEmpty()) {
            return true;
        }
        for (String literal : literals) {
            if (lowerCaseText.contains(literal)) {
                return true;
            }
        }
        return false;
    }

    /** The security event type of a match: {@code policy.<name>}. */
    public String eventType() {
        return "policy." + name;
    }

    /** The steps for display, joined by {@code " … "} (then, later on the same line). */
    public String pattern() {
        StringBuilder sb = new StringBuilder();
        for (Pattern p : steps) {
            sb.append(sb.isEmpty() ? "" : " … ").append(p.pattern());
        }
        return sb.toString();
    }

    /**
     * Where the rule matches in {@code text}: {@code [start, end)} from the start of the first step to the end of
     * the last, or null. Linear in the text: each line is searched for the later steps at most once.
     */
    public int[] match(String text) {
        if (text == null || text.isEmpty() || !worthTrying(text.toLowerCase(Locale.ROOT))) {
            return null;
        }
        return matchTried(text);
    }

    /** {@link #match} without the prefilter (the caller has applied it). */
    int[] matchTried(String text) {
        Matcher first = steps.getFirst().matcher(text);
        if (steps.size() == 1) {
            return first.find() ? new int[] {first.start(), first.end()} : null;
        }
        int n = text.length();
        int from = 0;
        while (from <= n && first.find(from)) {
            int lineEnd = text.indexOf('\n', first.end());
            if (lineEnd < 0) {
                lineEnd = n;
            }
            int pos = first.end();
            boolean all = true;
            for (int k = 1; k < steps.size() && all; k++) {
                Matcher m = steps.get(k).matcher(text);
                m.useTransparentBounds(true).useAnchoringBounds(false).region(pos, lineEnd);
                if (m.find()) {
                    pos = m.end();
                } else {
                    all = false;
                }
            }
            if (all) {
                return new int[] {first.start(), pos};
            }
            // a later first-step match on this line could only find the later steps in less of the line
            from = lineEnd + 1;
        }
        return null;
    }
}
