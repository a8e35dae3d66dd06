package io.mcpsandbox.cli;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.model.ProductVersion;
import java.io.PrintWriter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code mcp-sandbox}: the command-line entry point. */
@Command(name = "mcp-sandbox", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Runs untrusted code inside real isolation (runc, gVisor) and reports what it did.",
        subcommands = {ExecCommand.class, RuntimesCommand.class, ServeCommand.class, ExecutionsCommand.class,
                ImagesCommand.class, ReapCommand.class, SessionsCommand.class},
        footer = {"", "Environment: MCP_SANDBOX_DATA_DIR (default /var/lib/mcp-sandbox), MCP_SANDBOX_CONFIG "
                + "(a properties file; default <data dir>/config.properties), MCP_SANDBOX_LOG_LEVEL (default WARN).",
                "See docs/configuration.md for every key."})
public final class Main implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(Main.class);

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print stack traces with errors, in log lines too, and log at DEBUG.")
    boolean debug;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        return run(new CommandLine(new Main()), args);
    }

    /** Runs with these writers as the commands' stdout and stderr (tests read them). */
    static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        return run(cli, args);
    }

    private static int run(CommandLine cli, String... args) {
        // Every failure a command throws is one line with what to do; the stack trace only with --debug.
        cli.setExecutionExceptionHandler((e, cmd, parsed) ->
                Failures.report(e, cmd.getCommandName(), debug(parsed), cmd.getErr()));
        cli.setExecutionStrategy(parsed -> {
            if (debug(parsed)) {
                DebugLogging.enable();
            }
            return new CommandLine.RunLast().execute(parsed);
        });
        return cli.execute(args);
    }

    /** Whether {@code --debug} was given at any level of the command line. */
    static boolean debug(CommandLine.ParseResult parsed) {
        for (CommandLine.ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--debug")) {
                return true;
            }
        }
        return false;
    }

    static SandboxConfig config() {
        return new ConfigLoader(System.getenv()).load();
    }

    /**
     * What every command that runs sandboxes does first: removes what dead owners left (a backstop for a
     * watchdog that was killed too). A failure here is logged and does not stop the command.
     */
    static void reapDeadOwners(SandboxServices services) {
        long t0 = System.nanoTime();
        try {
            services.recoverIfLeftovers(SandboxServices.OWNER_DIED);
            log.debug("dead-owner check: {} us", (System.nanoTime() - t0) / 1000);
        } catch (RuntimeException e) {
            log.warn("leftovers of dead processes not reaped: {}", e.getMessage());
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.err);
    }

    /** {@code --version}: the build's version (the pom's), not a copy of it. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {ProductVersion.nameAndVersion()};
        }
    }
}
