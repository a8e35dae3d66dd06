package io.mcpsandbox.cli;

import java.io.BufferedWriter;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;

/**
 * The plainest {@code exec} handed to a local server before picocli starts: {@code [--debug] exec [--json]
 * [--debug] -- ARGV...} and nothing else. Reading the command line's annotations makes picocli generate a proxy
 * class for each annotation type at every start, a large part of what a hand-off costs; these few forms need none
 * of it. The request, the output, the exit status and the --debug notes are those of {@link ExecCommand} with
 * {@link LocalHandOff}. Anything else (another option, no local server, one that did not take the request, not
 * root) goes the usual way, told not to try the hand-off again ({@link #tried}) when this one found no server.
 */
final class QuickHandOff {
    /** Set when this path tried the local server and it did not start the execution: exec runs it here then. */
    static volatile boolean tried;

    private QuickHandOff() {
    }

    /** exec's exit status when the request was handed off here; empty: run the command line the usual way. */
    static Optional<Integer> tryRun(String[] args) {
        int dashes = Arrays.asList(args).indexOf("--");
        if (dashes < 0 || dashes == args.length - 1) {
            return Optional.empty();
        }
        boolean exec = false;
        boolean json = false;
        boolean debug = false;
        for (int i = 0; i < dashes; i++) {
            String a = args[i];
            if (a.equals("exec") && !exec) {
                exec = true;
            } else if (a.equals("--json") && exec && !json) {
                json = true;
            } else if (a.equals("--debug") && !debug) {
                debug = true;
            } else {
                return Optional.empty();
            }
        }
        if (!exec || Preflight.effectiveUid() != 0) {
            return Optional.empty();
        }
        StringBuilder command = new StringBuilder("{\"command\":[");
        for (int i = dashes + 1; i < args.length; i++) {
            command.append(i > dashes + 1 ? "," : "").append(StreamJson.quote(args[i]));
        }
        byte[] body = command.append("]}").toString().getBytes(StandardCharsets.UTF_8);
        PrintWriter out = writer(System.out, "sun.stdout.encoding");
        PrintWriter err = writer(System.err, "sun.stderr.encoding");
        java.nio.file.Path stateDir;
        try {
            stateDir = Main.config().stateDir();
        } catch (RuntimeException e) {
            return Optional.empty(); // a configuration error: the usual way reports it
        }
        Optional<Integer> handedOff = LocalHandOff.tryRun(stateDir, body, json, out, err, debug);
        out.flush();
        err.flush();
        tried = handedOff.isEmpty();
        return handedOff;
    }

    /** A writer as picocli makes for its out and err (the stream's encoding, autoflush on println). */
    private static PrintWriter writer(OutputStream stream, String encodingProperty) {
        String name = System.getProperty(encodingProperty);
        Charset charset;
        try {
            charset = name == null ? Charset.defaultCharset()
                    : Charset.forName("cp65001".equalsIgnoreCase(name) ? "UTF-8" : name);
        } catch (RuntimeException e) {
            charset = Charset.defaultCharset();
        }
        return new PrintWriter(new BufferedWriter(new OutputStreamWriter(stream, charset)), true);
    }
}
