package io.mcpsandbox.cli;

import io.mcpsandbox.config.RuntimeSettings;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.model.RuntimeAdvisory;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.runtime.RuntimeRegistry;
import io.mcpsandbox.model.SecurityLevel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

@Command(name = "runtimes", mixinStandardHelpOptions = true,
        description = {"Lists each runtime, whether it is usable here, its version, and why not where it is not.",
                "A runtime is usable only when a test sandbox running 'true' succeeded with it just now.",
                "A runtime the settings runtimes.allowed or security.minimum-level exclude is marked EXCLUDED",
                "(in --json: an 'excluded' field with the reason); requests for it are rejected.",
                "Each runtime's version is checked against a table of known vulnerabilities (runc, gVisor, Docker);",
                "for Debian packages the changelog says which CVEs were backported.",
                "Without --json, the last lines say whether images are scanned for vulnerabilities (trivy) and whether",
                "requests may ask for network (in --json: a 'network' field on each runtime)."})
final class RuntimesCommand implements Callable<Integer> {
    @Option(names = "--json", description = "Print a JSON array, one object per runtime.")
    boolean json;

    @Override
    public Integer call() {
        Preflight.requireRoot("runtimes");
        try (SandboxServices services = new SandboxServices(Main.config())) {
            DeadOwners.reap(services);
            List<RuntimeInfo> infos = services.verifyRuntimes();
            // What runtimes.allowed and security.minimum-level exclude: requests for these are rejected.
            Map<String, String> excluded = new LinkedHashMap<>();
            for (RuntimeInfo info : infos) {
                services.registry().find(info.name()).flatMap(services::exclusion)
                        .ifPresent(why -> excluded.put(info.name(), why));
            }
            if (json) {
                JsonMapper mapper = JsonMapper.builder().build();
                List<Map<String, Object>> out = new ArrayList<>();
                for (RuntimeInfo info : infos) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> entry = new LinkedHashMap<>(mapper.convertValue(info, Map.class));
                    if (excluded.containsKey(info.name())) {
                        entry.put("excluded", excluded.get(info.name()));
                    }
                    out.add(entry);
                }
                System.out.println(mapper.writeValueAsString(out));
            } else {
                System.out.printf("%-14s %-7s %-40s %s%n", "NAME", "USABLE", "VERSION", "LEVELS / REASON");
                for (RuntimeInfo info : infos) {
                    String levels = String.join(",", info.levels().stream().map(SecurityLevel::wireName).toList());
                    String what = info.usable() ? levels : info.reason();
                    if (excluded.containsKey(info.name())) {
                        what = "EXCLUDED by settings: " + excluded.get(info.name()) + "; " + what;
                    }
                    System.out.printf("%-14s %-7s %-40s %s%n", info.name(), info.usable() ? "yes" : "no",
                            info.version() == null ? "-" : abbreviate(info.version(), 40), what);
                }
                // A version too long for its column in full (microvm's names the guest kernel, and KVM or TCG
                // with the reason).
                for (RuntimeInfo info : infos) {
                    if (info.version() != null && info.version().length() > 40) {
                        System.out.println(info.name() + ": " + info.version());
                    }
                }
                boolean any = false;
                for (RuntimeInfo info : infos) {
                    for (RuntimeAdvisory a : info.advisories()) {
                        if (!any) {
                            System.out.println();
                            System.out.println("Known vulnerabilities of the runtime versions (WARN: refused when "
                                    + RuntimeRegistry.REFUSE_VULNERABLE_KEY + " is on):");
                            any = true;
                        }
                        System.out.printf("%-5s %-14s %-20s %-20s %s %s: %s; fixed in %s; %s%n",
                                a.blocking() ? "WARN" : "ok", info.name(), a.id(), a.status(), a.component(),
                                a.version(), a.summary(), a.fixedIn(), a.source());
                    }
                }
                System.out.println();
                RuntimeSettings settings = RuntimeSettings.from(services.config().settings());
                System.out.println("runtime settings: " + RuntimeSettings.KEY_ALLOWED + " = "
                        + (settings.allowed() == null ? "(all)" : String.join(",", settings.allowed())) + ", "
                        + RuntimeSettings.KEY_MINIMUM_LEVEL + " = " + settings.minimumLevel().wireName());
                if (!services.testSandboxAllowed()) {
                    System.out.println("test sandboxes: not run (the allowlist excludes the host image): "
                            + "'usable' rests on each runtime's probe alone");
                }
                System.out.println("security module: " + services.lsm().status());
                System.out.println("image scanning: " + services.imageScans().status());
                System.out.println("network: " + (services.network().available()
                        ? "on request, HTTP(S) through the egress policy point, on every usable runtime "
                                + "(docs/network.md)"
                        : "off (network.enabled is false): a request for it is rejected"));
            }
            return 0;
        }
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 1) + "…";
    }
}
