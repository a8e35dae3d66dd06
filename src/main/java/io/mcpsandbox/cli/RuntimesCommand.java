package io.mcpsandbox.cli;

import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

@Command(name = "runtimes", mixinStandardHelpOptions = true,
        description = {"Lists each runtime, whether it is usable here, its version, and why not where it is not.",
                "A runtime is usable only when a test sandbox running 'true' succeeded with it just now.",
                "Without --json, a last line says whether images are scanned for vulnerabilities (trivy)."})
final class RuntimesCommand implements Callable<Integer> {
    @Option(names = "--json", description = "Print a JSON array, one object per runtime.")
    boolean json;

    @Override
    public Integer call() {
        Preflight.requireRoot("runtimes");
        try (SandboxServices services = new SandboxServices(Main.config())) {
            List<RuntimeInfo> infos = services.verifyRuntimes();
            if (json) {
                System.out.println(JsonMapper.builder().build().writeValueAsString(infos));
            } else {
                System.out.printf("%-14s %-7s %-40s %s%n", "NAME", "USABLE", "VERSION", "LEVELS / REASON");
                for (RuntimeInfo info : infos) {
                    String levels = String.join(",", info.levels().stream().map(SecurityLevel::wireName).toList());
                    System.out.printf("%-14s %-7s %-40s %s%n", info.name(), info.usable() ? "yes" : "no",
                            info.version() == null ? "-" : abbreviate(info.version(), 40),
                            info.usable() ? levels : info.reason());
                }
                System.out.println();
                if (!services.testSandboxAllowed()) {
                    System.out.println("test sandboxes: not run (the allowlist excludes the host image): "
                            + "'usable' rests on each runtime's probe alone");
                }
                System.out.println("security module: " + services.lsm().status());
                System.out.println("image scanning: " + services.imageScans().status());
            }
            return 0;
        }
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 1) + "…";
    }
}
