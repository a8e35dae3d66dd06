package io.mcpsandbox.session;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentExit;
import io.mcpsandbox.runtime.agent.AgentProcess;
import io.mcpsandbox.runtime.agent.ProcessListener;
import io.mcpsandbox.runtime.agent.ProgramRun;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A session's persistent interpreter for one language: a driver process started through the agent with its
 * stdin kept open, fed one cell at a time (a header line with a fresh random token, then the cell's working
 * directory and variables as JSON, then the code), its output split into cells by the driver's end markers.
 * Started on the first call; a call finding it ended, killed or broken starts a new one and says so in its
 * notice. One cell at a time: a call while a cell runs is refused ({@link InterpreterBusyException}).
 * The markers frame the session's own output only: the cell's code runs in the driver's process and can fake
 * or read them, which confuses nothing but its own results; every limit stays the caller's (kill).
 */
public final class Interpreter {
    private static final Logger log = LoggerFactory.getLogger(Interpreter.class);
    private static final int SIGKILL = 9;
    /** Output of a background thread between cells is dropped; this much of it ends the interpreter. */
    static final long MAX_BETWEEN_CELLS = 1 << 20;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final ObjectMapper JSON = new ObjectMapper();

    private final AgentChannel channel;
    private final KernelLanguage language;
    private final String executable;
    /** Read on the channel's reader thread (a broken protocol), written under this object's lock. */
    private volatile Driver driver;
    private CellRun current;
    private boolean closed;

    /**
     * @param executable the interpreter an ordinary snippet of the language runs (argv[0] of its configured
     *                   command, found on the PATH of the env it is started with)
     */
    Interpreter(AgentChannel channel, KernelLanguage language, String executable) {
        this.channel = channel;
        this.language = language;
        this.executable = executable;
    }

    public KernelLanguage language() {
        return language;
    }

    /**
     * Runs {@code code} as the next cell: in {@code workDir} (made if missing), with {@code env} set in the
     * interpreter's environment first (they stay set). The first call, or one after the interpreter ended, was
     * killed or broke, starts it with {@code env}.
     *
     * @throws InterpreterBusyException a cell of an earlier call still runs
     * @throws IOException the agent's channel failed while the interpreter was started
     */
    public synchronized CellRun run(String code, Map<String, String> env, String workDir,
                                    ProgramRun.OutputSink sink) throws InterpreterBusyException, IOException {
        if (closed) {
            throw new IllegalStateException("the session is closing");
        }
        if (current != null && !current.end().isDone()) {
            throw new InterpreterBusyException("the session's " + language.label() + " interpreter is still running "
                    + "an earlier call; persistent calls run one at a time");
        }
        String token = HexFormat.of().formatHex(randomBytes());
        String notice = null;
        Driver old = driver;
        boolean fresh = old == null || old.gone() != null;
        if (old != null && fresh) {
            notice = "the " + language.label() + " interpreter was restarted: the previous one " + old.gone();
            old.killQuietly();
        }
        CellRun cell = new CellRun(this, token, notice, sink);
        current = cell;
        if (fresh) {
            driver = new Driver(cell);
            try {
                driver.process = channel.start(language.argv(executable), env, SandboxSpec.WORKSPACE, driver);
            } catch (IllegalArgumentException | IllegalStateException e) {
                driver.startFailed(e.getMessage()); // too large a start frame, too many processes
                return cell;
            } catch (IOException e) {
                driver = null; // the channel ended: the session fails with it
                throw e;
            }
        } else {
            driver.begin(cell);
        }
        send(driver, cell, frame(token, code, env, workDir));
        return cell;
    }

    private static byte[] randomBytes() {
        byte[] token = new byte[16];
        RANDOM.nextBytes(token);
        return token;
    }

    /** The interpreter's protocol: "token metaBytes codeBytes\n", the meta JSON, the code. */
    private static byte[] frame(String token, String code, Map<String, String> env, String workDir)
            throws IOException {
        byte[] meta = JSON.writeValueAsBytes(Map.of("cwd", workDir, "env", env));
        byte[] body = code.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream frame = new ByteArrayOutputStream(meta.length + body.length + 64);
        frame.write((token + " " + meta.length + " " + body.length + "\n").getBytes(StandardCharsets.US_ASCII));
        frame.write(meta);
        frame.write(body);
        return frame.toByteArray();
    }

    /** Writes the cell from a thread of its own: stdin writes block while the interpreter does not read. */
    private static void send(Driver driver, CellRun cell, byte[] frame) {
        AgentProcess process = driver.process;
        Thread.ofPlatform().daemon().name("cell-" + process.id()).start(() -> {
            try {
                process.writeStdin(frame);
            } catch (IOException | IllegalStateException e) {
                // the interpreter or its channel ended: its listener ends the cell
                log.debug("sending a cell to interpreter {}: {}", process.id(), e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    synchronized void kill(CellRun cell, String why) {
        Driver d = driver;
        if (d != null && d.cell == cell && !cell.end().isDone()) {
            d.killedWhy = "was killed (" + why + ")";
            d.killQuietly();
        }
    }

    /** The cell's stream broke the protocol: the cell fails, the interpreter is killed and restarted next call. */
    void broken(CellRun cell, String reason) {
        Driver d = driver;
        if (d != null && d.cell == cell) {
            d.brokenReason = "broke its cell protocol (" + reason + ")";
            killLater(d);
        }
        cell.finish(new CellEnd.Failed("the " + language.label() + " interpreter broke its cell protocol ("
                + reason + "); it is restarted on the next call"));
    }

    /** Ends the interpreter with its session (the channel's close kills it anyway); later calls are refused. */
    public synchronized void close() {
        closed = true;
        if (driver != null) {
            driver.killQuietly();
        }
    }

    /** A kill from the channel's reader thread must not write to the channel there: it goes on a thread. */
    private static void killLater(Driver d) {
        Thread.ofPlatform().daemon().name("interpreter-kill").start(d::killQuietly);
    }

    /** One interpreter process: routes its output to the running cell, remembers why it is gone. */
    private final class Driver implements ProcessListener {
        volatile AgentProcess process;
        volatile CellRun cell;
        volatile String killedWhy;
        volatile String brokenReason;
        volatile String endedHow;
        private final AtomicLong betweenCells = new AtomicLong();

        Driver(CellRun first) {
            this.cell = first;
        }

        void begin(CellRun next) {
            betweenCells.set(0);
            cell = next;
        }

        /** Why it may not run another cell, or null while it can. */
        String gone() {
            if (killedWhy != null) {
                return killedWhy;
            }
            if (brokenReason != null) {
                return brokenReason;
            }
            return endedHow;
        }

        void killQuietly() {
            AgentProcess p = process;
            if (p != null) {
                try {
                    p.signal(SIGKILL);
                } catch (IOException | RuntimeException e) {
                    log.debug("killing interpreter {}: {}", p.id(), e.toString());
                }
            }
        }

        @Override
        public void started(long pid) {
            // output and the end are what count
        }

        @Override
        public void stdout(byte[] chunk) {
            CellRun c = cell;
            if (c.wants(true)) {
                c.stdout(chunk);
            } else {
                between(chunk.length);
            }
        }

        @Override
        public void stderr(byte[] chunk) {
            CellRun c = cell;
            if (c.wants(false)) {
                c.stderr(chunk);
            } else {
                between(chunk.length);
            }
        }

        private void between(int bytes) {
            if (betweenCells.addAndGet(bytes) > MAX_BETWEEN_CELLS && killedWhy == null) {
                killedWhy = "was killed (it printed more than " + MAX_BETWEEN_CELLS + " bytes while no call ran)";
                killLater(this);
            }
        }

        @Override
        public void exited(AgentExit exit) {
            endedHow = "ended (" + exit + ")";
            cell.finish(new CellEnd.Ended(exit));
        }

        @Override
        public void startFailed(String reason) {
            endedHow = "could not be started (" + reason + ")";
            cell.finish(new CellEnd.Failed("the " + language.label() + " interpreter could not be started: " + reason));
        }

        @Override
        public void failed(IOException cause) {
            endedHow = "was lost with the session's agent channel";
            cell.finish(new CellEnd.Lost(cause));
        }
    }
}
