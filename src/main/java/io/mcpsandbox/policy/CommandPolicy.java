package io.mcpsandbox.policy;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityEvent.Severity;
import io.mcpsandbox.policy.CommandRule.Action;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The seed's "malicious command" patterns and a few more, as a policy that rejects or reports. A TRIPWIRE, not the
 * boundary: the sandbox (namespaces, seccomp, no network, limits) is what contains a program, and every one of these
 * patterns is bypassed by trivial obfuscation. It exists to catch the lazy and the careless and to leave a record
 * (see docs/policy.md).
 *
 * <p>Immutable and thread-safe. Both the command line and the snippet code are checked.
 */
public final class CommandPolicy {
    /** {@code enforce} (default): rules act as configured; {@code report}: every rule only reports. */
    public static final String MODE_KEY = "policy.mode";
    /** Comma-separated rule names to turn off. */
    public static final String DISABLED_KEY = "policy.rules.disabled";
    /** Comma-separated rule names whose action becomes {@code report}. */
    public static final String REPORT_ONLY_KEY = "policy.rules.report-only";
    /** Comma-separated rule names whose action becomes {@code reject} (for rules that only report by default). */
    public static final String REJECT_KEY = "policy.rules.reject";

    private static final String SHELL = "(?:(?:ba|da|z|k|fi|a)?sh|python[0-9.]{0,5}|perl|ruby|node)\\b";
    private static final String PIPE_TO_SHELL = "\\|[ \\t]{0,16}+(?:sudo[ \\t]++)?(?:[^\\s|;&]{0,32}/)?" + SHELL;
    private static final String CMD = "(?<![\\w.-])";

    private final List<CommandRule> rules;

    public CommandPolicy(List<CommandRule> rules) {
        this.rules = List.copyOf(rules);
        Set<String> names = new LinkedHashSet<>();
        for (CommandRule rule : this.rules) {
            if (!names.add(rule.name())) {
                throw new IllegalArgumentException("duplicate rule name " + rule.name());
            }
        }
    }

    /** The built-in rules with their default actions. */
    public static CommandPolicy defaults() {
        return new CommandPolicy(defaultRules());
    }

    /** The built-in rules, in evaluation order (the first rejecting match names the rejection). */
    public static List<CommandRule> defaultRules() {
        Action reject = Action.REJECT;
        Action report = Action.REPORT;
        return List.of(
                // --- the seed's patterns (ContainerExecutor.ts), broadened where the seed was narrow -------------
                CommandRule.of("rm_rf_root", reject, Severity.CRITICAL,
                        "recursive delete of / or the home directory (rm -rf /)",
                        List.of("rm"),
                        CMD + "rm[ \\t]++(?:-{1,2}[A-Za-z-]{1,24}+[ \\t]++){1,4}+"
                                + "(?:/\\*?|~/?|\\$HOME/?)(?=$|[\\s;&|)'\"])"),
                CommandRule.of("fork_bomb", reject, Severity.HIGH,
                        "shell fork bomb: a function that pipes into itself in the background (:(){ :|:& };:)",
                        List.of("()"),
                        "(?<![\\w:.])([\\w:.]{1,32}+)[ \\t]{0,8}+\\(\\)[ \\t]{0,8}+\\{[ \\t]{0,8}+\\1[ \\t]{0,8}+\\|"
                                + "[ \\t]{0,8}+\\1[ \\t]{0,8}+&"),
                CommandRule.of("wget_pipe_shell", reject, Severity.HIGH,
                        "download with wget piped into a shell or interpreter (wget ... | sh)",
                        List.of("wget"),
                        CMD + "wget\\b", PIPE_TO_SHELL),
                CommandRule.of("curl_pipe_shell", reject, Severity.HIGH,
                        "download with curl piped into a shell or interpreter (curl ... | bash)",
                        List.of("curl"),
                        CMD + "curl\\b", PIPE_TO_SHELL),
                CommandRule.of("dev_tcp", reject, Severity.HIGH,
                        "bash /dev/tcp or /dev/udp socket redirection (reverse shells, exfiltration)",
                        List.of("/dev/"),
                        "/dev/(?:tcp|udp)/"),
                CommandRule.of("netcat_exec", reject, Severity.HIGH,
                        "netcat that executes a program for the peer (nc ... -e /bin/sh)",
                        List.of("nc", "netcat"),
                        CMD + "(?:nc|ncat|netcat)\\b", "(?<=\\s)(?:-[A-Za-z]{0,6}[ec]|--(?:sh-)?exec)\\b"),
                CommandRule.of("python_socket", reject, Severity.HIGH,
                        "python one-liner that uses sockets (python -c '...import socket...')",
                        List.of("python"),
                        CMD + "python[0-9.]{0,6}+", "(?<=\\s)-[A-Za-z]{0,4}c\\b", "\\bsocket\\b"),
                CommandRule.of("perl_socket", reject, Severity.HIGH,
                        "perl one-liner that uses sockets (perl -e '...socket...')",
                        List.of("perl"),
                        CMD + "perl\\b", "(?<=\\s)-[A-Za-z]{0,4}[eE]\\b", "(?i:socket)"),
                // --- more shells and escapes -------------------------------------------------------------------
                CommandRule.of("interpreter_socket_oneliner", reject, Severity.HIGH,
                        "ruby/php/node/lua one-liner that opens a socket (php -r '$s=fsockopen(...)')",
                        List.of("ruby", "php", "node", "lua"),
                        CMD + "(?:ruby|php|node|nodejs|lua)\\b", "(?<=\\s)-[A-Za-z]{0,4}[erE]\\b",
                        "(?i:fsockopen|tcpsocket|socket|require\\([ \\t]{0,4}+['\"]net['\"])"),
                CommandRule.of("interactive_shell_redirect", reject, Severity.HIGH,
                        "interactive shell with its input/output redirected (bash -i >& ..., sh -i | nc ...)",
                        List.of("-i"),
                        CMD + "(?:ba|z|da|k)?sh[ \\t]++-i\\b",
                        "(?:[0-9]?>&[ \\t]{0,4}+[0-9/]|&>|\\|[ \\t]{0,8}+(?:nc|ncat|netcat|telnet|openssl)\\b)"),
                CommandRule.of("download_exec_substitution", reject, Severity.HIGH,
                        "a shell running a download through process or command substitution (bash <(curl ...))",
                        List.of("<(", "$("),
                        CMD + "(?:ba|da|z|k)?sh[ \\t]++(?:-c[ \\t]++)?[\"']?"
                                + "(?:<\\(|\\$\\()[ \\t]{0,4}+(?:curl|wget)\\b"),
                CommandRule.of("base64_pipe_shell", reject, Severity.HIGH,
                        "base64-decoded text piped into a shell (echo ... | base64 -d | sh)",
                        List.of("base64"),
                        CMD + "base64\\b", "(?<=\\s)(?:-d|--decode|-D)\\b", PIPE_TO_SHELL),
                CommandRule.of("mkfifo_reverse_shell", reject, Severity.HIGH,
                        "named pipe wired to a network tool (mkfifo /tmp/f; ... | nc host port > /tmp/f)",
                        List.of("mkfifo", "mknod"),
                        CMD + "(?:mkfifo|mknod)\\b", "\\b(?:nc|ncat|netcat|telnet|openssl|socat)\\b"),
                CommandRule.of("socat_exec", reject, Severity.HIGH,
                        "socat that executes a program (socat ... exec:/bin/sh)",
                        List.of("socat"),
                        CMD + "socat\\b", "(?i:\\b(?:exec|system):)"),
                CommandRule.of("chmod_setuid", reject, Severity.HIGH,
                        "setting the setuid or setgid bit (chmod u+s, chmod 4755)",
                        List.of("chmod"),
                        CMD + "chmod\\b", "(?<=\\s)(?:[ugoa]{0,4}+[+=][rwxXt]{0,4}+s|0?[2-7][0-7]{3})\\b"),
                CommandRule.of("proc_mem_access", reject, Severity.CRITICAL,
                        "reading or writing a process's memory through /proc/<pid>/mem",
                        List.of("/proc/"),
                        "/proc/(?:self|thread-self|[0-9]{1,7}+|\\$\\$|\\$\\{?[A-Za-z_][A-Za-z0-9_]{0,30}+\\}?)"
                                + "/(?:task/[0-9]{1,7}+/)?mem\\b"),
                CommandRule.of("kernel_escape_paths", reject, Severity.CRITICAL,
                        "host-kernel hooks used in container escapes (core_pattern, release_agent, sysrq-trigger, ...)",
                        List.of("/proc/", "/sys/", "release_agent"),
                        "/proc/sysrq-trigger|/proc/sys/kernel/(?:core_pattern|modprobe|hotplug)"
                                + "|/sys/kernel/uevent_helper|\\brelease_agent\\b"),
                CommandRule.of("namespace_tools", reject, Severity.HIGH,
                        "entering or creating namespaces (nsenter, unshare, pivot_root)",
                        List.of("nsenter", "unshare", "pivot_root"),
                        CMD + "(?:nsenter|unshare|pivot_root)\\b"),
                CommandRule.of("kernel_module", reject, Severity.HIGH,
                        "loading or removing kernel modules (insmod, modprobe, rmmod)",
                        List.of("insmod", "rmmod", "modprobe"),
                        CMD + "(?:insmod|rmmod|modprobe)\\b"),
                CommandRule.of("container_socket", reject, Severity.CRITICAL,
                        "a container runtime's control socket (docker.sock, containerd.sock, crio.sock)",
                        List.of(".sock"),
                        "\\b(?:docker|containerd|crio)\\.sock\\b"),
                CommandRule.of("crypto_miner", reject, Severity.HIGH,
                        "cryptocurrency miner names or a stratum mining-pool URL",
                        List.of("xmr", "miner", "stratum+"),
                        "(?i:\\b(?:xmrig|xmr-stak|minerd|cpuminer|cgminer|bfgminer|ethminer|nbminer|lolminer"
                                + "|phoenixminer)\\b|stratum\\+(?:tcp|ssl|tls)://)"),
                // --- report-only by default: plausible in honest code, worth a record --------------------------
                CommandRule.of("python_exec_base64", report, Severity.MEDIUM,
                        "python exec/eval of base64-decoded code (a common obfuscation)",
                        List.of("exec", "eval"),
                        "\\b(?:exec|eval)[ \\t]{0,4}+\\([ \\t]{0,4}+"
                                + "(?:__import__\\([ \\t]{0,4}+['\"]base64['\"][ \\t]{0,4}+\\)"
                                + "|base64|codecs)\\.(?:b64decode|decode)\\b"),
                CommandRule.of("sensitive_files", report, Severity.MEDIUM,
                        "credential and account files (/etc/shadow, ~/.ssh/id_*, ~/.aws/credentials, kube config, ...)",
                        List.of("/etc/", ".ssh/", ".aws/", "/var/run/secrets/", ".kube/", ".docker/"),
                        "/etc/(?:shadow|gshadow|sudoers)\\b|\\.ssh/(?:id_(?:rsa|dsa|ecdsa|ed25519)|authorized_keys)\\b"
                                + "|\\.aws/credentials\\b|/var/run/secrets/kubernetes\\.io|\\.kube/config\\b"
                                + "|\\.docker/config\\.json\\b"),
                CommandRule.of("cloud_metadata", report, Severity.MEDIUM,
                        "cloud instance metadata endpoints (169.254.169.254, metadata.google.internal)",
                        List.of("169.254.169.254", "metadata.google.internal", "fd00:ec2::254"),
                        "\\b169\\.254\\.169\\.254\\b|\\bmetadata\\.google\\.internal\\b|\\bfd00:ec2::254\\b"),
                CommandRule.of("ld_preload", report, Severity.MEDIUM,
                        "library preloading (LD_PRELOAD, /etc/ld.so.preload)",
                        List.of("ld_preload", "/etc/ld.so.preload"),
                        "\\bLD_PRELOAD\\b|/etc/ld\\.so\\.preload\\b"));
    }

    /**
     * The built-in rules shaped by settings: {@value #DISABLED_KEY}, {@value #REPORT_ONLY_KEY}, {@value #REJECT_KEY}
     * (comma-separated rule names) and {@value #MODE_KEY} ({@code enforce} or {@code report}). Environment variables
     * {@code MCP_SANDBOX_POLICY_RULES_DISABLED} etc. win over the properties file. Unknown rule names are an error,
     * so a typo does not silently leave a rule on.
     */
    public static CommandPolicy fromSettings(Settings settings) {
        List<CommandRule> builtIn = defaultRules();
        Set<String> known = new LinkedHashSet<>();
        for (CommandRule rule : builtIn) {
            known.add(rule.name());
        }
        Set<String> disabled = names(settings, DISABLED_KEY, known);
        Set<String> reportOnly = names(settings, REPORT_ONLY_KEY, known);
        Set<String> rejectList = names(settings, REJECT_KEY, known);
        for (String name : reportOnly) {
            if (rejectList.contains(name)) {
                throw new IllegalArgumentException(
                        name + " is listed in both " + REPORT_ONLY_KEY + " and " + REJECT_KEY);
            }
        }
        String mode = settings.string(MODE_KEY, "enforce").trim().toLowerCase(Locale.ROOT);
        if (!mode.equals("enforce") && !mode.equals("report")) {
            throw new IllegalArgumentException(MODE_KEY + ": expected enforce or report; got '" + mode + "'");
        }
        List<CommandRule> rules = new ArrayList<>();
        for (CommandRule rule : builtIn) {
            if (disabled.contains(rule.name())) {
                continue;
            }
            CommandRule r = rule;
            if (rejectList.contains(r.name())) {
                r = r.withAction(Action.REJECT);
            }
            if (reportOnly.contains(r.name()) || mode.equals("report")) {
                r = r.withAction(Action.REPORT);
            }
            rules.add(r);
        }
        return new CommandPolicy(rules);
    }

    private static Set<String> names(Settings settings, String key, Set<String> known) {
        Set<String> names = new LinkedHashSet<>();
        for (String raw : settings.string(key, "").split(",")) {
            String name = raw.trim().toLowerCase(Locale.ROOT).replace('-', '_');
            if (name.isEmpty()) {
                continue;
            }
            if (!known.contains(name)) {
                throw new IllegalArgumentException(key + ": unknown rule '" + raw.trim() + "' (known: "
                        + String.join(", ", known) + ")");
            }
            names.add(name);
        }
        return names;
    }

    public List<CommandRule> rules() {
        return rules;
    }

    /** Checks an argv (joined with spaces) and snippet code. */
    public Verdict check(List<String> argv, String code) {
        return check(argv == null ? null : String.join(" ", argv), code);
    }

    /**
     * Checks the command line and the snippet code (either may be null). Every rule is evaluated, so the verdict
     * lists every report-only match even when a rule rejects.
     */
    public Verdict check(String command, String code) {
        CommandRule rejectedBy = null;
        String rejectedField = null;
        int[] rejectedAt = null;
        List<SecurityEvent> reports = new ArrayList<>();
        String commandLower = command == null ? "" : command.toLowerCase(Locale.ROOT);
        String codeLower = code == null ? "" : code.toLowerCase(Locale.ROOT);
        for (CommandRule rule : rules) {
            for (String field : new String[] {"command", "code"}) {
                boolean isCommand = field.equals("command");
                String text = isCommand ? command : code;
                if (text == null || text.isEmpty() || !rule.worthTrying(isCommand ? commandLower : codeLower)) {
                    continue;
                }
                int[] at = rule.matchTried(text);
                if (at == null) {
                    continue;
                }
                if (rule.action() == Action.REJECT) {
                    if (rejectedBy == null) {
                        rejectedBy = rule;
                        rejectedField = field;
                        rejectedAt = at;
                    }
                } else {
                    reports.add(event(rule, field, at));
                }
            }
        }
        return new Verdict(Optional.ofNullable(rejectedBy),
                rejectedBy == null ? Optional.empty() : Optional.of(event(rejectedBy, rejectedField, rejectedAt)),
                reports);
    }

    /** The first rule that rejects the command or the code, if any. */
    public Optional<CommandRule> firstRejecting(String command, String code) {
        return check(command, code).rejectedBy();
    }

    private static SecurityEvent event(CommandRule rule, String field, int[] at) {
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("rule", rule.name());
        details.put("action", rule.action().wireName());
        details.put("field", field);
        details.put("offsets", List.of(List.of(at[0], at[1])));
        String verb = rule.action() == Action.REJECT ? "rejected" : "reported";
        return SecurityEvent.now(rule.eventType(), rule.severity(),
                "policy rule " + rule.name() + " matched the " + field + " (" + verb + "): " + rule.description(),
                details);
    }

    /**
     * The outcome of a check.
     *
     * @param rejectedBy     the first rejecting rule that matched (evaluation order), if any
     * @param rejectionEvent the {@code policy.<rule>} event of that rejection (action {@code reject}), if any
     * @param events         one {@code policy.<rule>} event per report-only match (action {@code report}), per field
     */
    public record Verdict(Optional<CommandRule> rejectedBy, Optional<SecurityEvent> rejectionEvent,
                          List<SecurityEvent> events) {
        public Verdict {
            events = List.copyOf(events);
        }

        public boolean rejected() {
            return rejectedBy.isPresent();
        }

        /** A reason for the rejected status, e.g. {@code rejected by policy rule fork_bomb: shell fork bomb ...}. */
        public Optional<String> reason() {
            return rejectedBy.map(r -> "rejected by policy rule " + r.name() + ": " + r.description());
        }
    }
}
