package io.mcpsandbox.cli;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.model.ProductVersion;
import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code mcp-sandbox}: the command-line entry point. */
@Command(name = "mcp-sandbox", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Runs untrusted code inside real isolation (runc, gVisor) and reports what it did.",
        footer = {"", "Environment: MCP_SANDBOX_DATA_DIR (default /var/lib/mcp-sandbox), MCP_SANDBOX_CONFIG "
                + "(a properties file; default <data dir>/config.properties), MCP_SANDBOX_LOG_LEVEL (default WARN).",
                "See docs/configuration.md for every key."})
public final class Main implements Runnable {
    /**
     * The subcommands, registered by {@link #commandLine()}: picocli reads every registered command's
     * annotations by reflection at start, so a command line that names one gets only that one (start-up time).
     * In a class of their own: {@link QuickHandOff} runs before picocli and loads none of them.
     */
    private static final class Subcommands {
        static final List<Class<?>> ALL = List.of(ExecCommand.class, RuntimesCommand.class,
                ServeCommand.class, ExecutionsCommand.class, ImagesCommand.class, ReapCommand.class,
                SessionsCommand.class, ClusterCommand.class);
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print stack traces with errors, in log lines too, and log at DEBUG.")
    boolean debug;

    public static void main(String[] args) {
        // Answered before picocli and logging start: what picocli would print, in a fraction of the time.
        if (args.length == 1 && (args[0].equals("--version") || args[0].equals("-V"))) {
            System.out.println(ProductVersion.nameAndVersion());
            System.exit(0);
        }
        // The plainest exec, handed to a local server before picocli starts (start-up time).
        if (args.length > 2) {
            Optional<Integer> handedOff = QuickHandOff.tryRun(args);
            if (handedOff.isPresent()) {
                // Its output is flushed and it registered no shutdown hook (its own is removed): halt spares the
                // start of the JDK's logging that System.exit makes to log the exit (a tenth of this path).
                System.out.flush();
                System.err.flush();
                Runtime.getRuntime().halt(handedOff.get());
            }
        }
        System.exit(run(args));
    }

    public static int run(String... args) {
        return run(commandLine(args), args);
    }

    /** Runs with these writers as the commands' stdout and stderr (tests read them). */
    static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = commandLine(args);
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

    /**
     * The command line for these arguments: with only the subcommand they name (the first argument that is not
     * an option: the top level's options take no value), or with all of them when they name none or an unknown
     * one (usage and "did you mean" need them all).
     */
    static CommandLine commandLine(String... args) {
        CommandLine cli = new CommandLine(new Main());
        String named = null;
        for (String arg : args) {
            if (!arg.startsWith("-")) {
                named = arg;
                break;
            }
        }
        List<Class<?>> chosen = Subcommands.ALL;
        for (Class<?> type : Subcommands.ALL) {
            if (type.getAnnotation(Command.class).name().equals(named)) {
                chosen = List.of(type);
            }
        }
        chosen.forEach(cli::addSubcommand);
        return cli;
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
