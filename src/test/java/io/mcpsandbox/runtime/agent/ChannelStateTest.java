package io.mcpsandbox.runtime.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/** The order rules, frame by frame, without threads: frames are built as bytes and parsed by the reader. */
class ChannelStateTest {
    private final ChannelState state = new ChannelState();
    private final FrameWriter writer = new FrameWriter(new ByteArrayOutputStream());
    private long frameNumber;

    @Test
    void aProcessRunsFromStartedThroughOutputToExitAndItsOutputIsCounted() throws IOException {
        assertThat(accept(Frames.ready("mcp-agent 1.0"))).isEqualTo("mcp-agent 1.0");
        RecordingListener listener = new RecordingListener();
        AgentProcess process = state.register(listener, writer);
        assertThat(process.id()).isEqualTo(1);

        accept(Frames.started(1, 42));
        accept(Frames.stdout(1, "hello".getBytes()));
        accept(Frames.stderr(1, "oops".getBytes()));
        accept(Frames.stdout(1, "!".getBytes()));
        assertThat(process.stdoutBytes()).isEqualTo(6);
        assertThat(process.stderrBytes()).isEqualTo(4);
        assertThat(process.pid()).isEqualTo(42);
        assertThat(process.hasEnded()).isFalse();
        accept(Frames.exit(1, 0, 3));

        assertThat(listener.events())
                .containsExactly("started 42", "stdout 5", "stderr 4", "stdout 1", "exited exit 3");
        assertThat(listener.stdout()).isEqualTo("hello!");
        assertThat(process.hasEnded()).isTrue();
        assertThat(state.liveCount()).isZero();
    }

    @Test
    void aKilledProcessAndAStartErrorEndTheirProcesses() throws IOException {
        accept(Frames.ready("a"));
        RecordingListener killed = new RecordingListener();
        RecordingListener missing = new RecordingListener();
        state.register(killed, writer);
        state.register(missing, writer);
        accept(Frames.started(1, 5));
        accept(Frames.error(2, "execvpe nope: No such file or directory\n\u001b[31m"));
        accept(Frames.exit(1, 1, 9));
        assertThat(killed.events()).containsExactly("started 5", "exited signal 9");
        assertThat(missing.events()).containsExactly("startFailed execvpe nope: No such file or directory??[31m");
    }

    @Test
    void processesInterleave() throws IOException {
        accept(Frames.ready("a"));
        RecordingListener one = new RecordingListener();
        RecordingListener two = new RecordingListener();
        state.register(one, writer);
        state.register(two, writer);
        accept(Frames.started(2, 20));
        accept(Frames.started(1, 10));
        accept(Frames.stdout(2, "b".getBytes()));
        accept(Frames.stdout(1, "a".getBytes()));
        accept(Frames.exit(2, 0, 0));
        accept(Frames.stdout(1, "c".getBytes()));
        accept(Frames.exit(1, 0, 1));
        assertThat(one.stdout()).isEqualTo("ac");
        assertThat(two.events()).containsExactly("started 20", "stdout 1", "exited exit 0");
    }

    @Test
    void readyComesFirstAndOnce() throws IOException {
        state.register(new RecordingListener(), writer);
        assertViolation(Frames.started(1, 5), "frame 1: started for stream 1 before ready");
        ChannelState fresh = new ChannelState();
        fresh.accept(1, frame(Frames.ready("a")));
        assertThatThrownBy(() -> fresh.accept(2, frame(Frames.ready("a")))).isInstanceOf(AgentProtocolException.class)
                .hasMessage("frame 2: a second ready");
    }

    @Test
    void framesForStreamsTheHostNeverStartedAreViolations() throws IOException {
        accept(Frames.ready("a"));
        assertViolation(Frames.started(1, 5), "frame 2: started for stream 1, which the host never started");
        assertViolation(Frames.stdout(0, new byte[1]), "frame 3: stdout for stream 0, which the host never started");
        assertViolation(Frames.exit(-2, 0, 0), "frame 4: exit for stream 4294967294, which the host never started");
        assertViolation(Frames.error(9, "x"), "frame 5: error for stream 9, which the host never started");
    }

    @Test
    void startedOrErrorOnceThenOutputOnlyUntilExit() throws IOException {
        accept(Frames.ready("a"));
        for (int i = 0; i < 2; i++) {
            state.register(new RecordingListener(), writer);
        }
        assertViolation(Frames.stdout(1, new byte[1]), "frame 2: stdout for stream 1 before its started");
        assertViolation(Frames.stderr(1, new byte[1]), "frame 3: stderr for stream 1 before its started");
        assertViolation(Frames.exit(1, 0, 0), "frame 4: exit for stream 1 before its started");
        accept(Frames.started(1, 5));
        assertViolation(Frames.started(1, 5), "frame 6: a second started for stream 1");
        assertViolation(Frames.error(1, "late"), "frame 7: error for stream 1 after its started");
        accept(Frames.exit(1, 0, 0));
        assertViolation(Frames.stdout(1, new byte[1]), "frame 9: stdout for stream 1 after its exit");
        assertViolation(Frames.exit(1, 0, 0), "frame 10: exit for stream 1 after its exit");
        assertViolation(Frames.started(1, 5), "frame 11: started for stream 1 after its exit");
        accept(Frames.error(2, "no"));
        assertViolation(Frames.started(2, 6), "frame 13: started for stream 2 after its start error");
        assertViolation(Frames.error(2, "again"), "frame 14: error for stream 2 after its start error");
    }

    @Test
    void anErrorOnStreamZeroIsTheAgentGivingUpEvenBeforeReady() {
        assertThatThrownBy(() -> accept(Frames.error(0, "bad frame\nfrom host")))
                .isInstanceOf(AgentGaveUpException.class).hasMessage("the agent gave up: bad frame?from host");
    }

    @Test
    void atMost64ProcessesArePendingOrRunning() throws IOException {
        accept(Frames.ready("a"));
        List<AgentProcess> processes = new ArrayList<>();
        for (int i = 0; i < AgentProtocol.MAX_PROCESSES; i++) {
            processes.add(state.register(new RecordingListener(), writer));
        }
        assertThatThrownBy(() -> state.register(new RecordingListener(), writer))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("64 processes are pending or running (the limit)");
        accept(Frames.error(64, "no"));
        assertThat(state.register(new RecordingListener(), writer).id()).isEqualTo(65);
    }

    @Test
    void theEndFailsEveryLiveProcessOnceAndLaterFramesReachNoOne() throws IOException {
        accept(Frames.ready("a"));
        RecordingListener running = new RecordingListener();
        RecordingListener pending = new RecordingListener();
        RecordingListener done = new RecordingListener();
        state.register(running, writer);
        state.register(pending, writer);
        state.register(done, writer);
        accept(Frames.started(1, 5));
        accept(Frames.started(3, 6));
        accept(Frames.exit(3, 0, 0));

        IOException cause = new IOException("gone");
        List<AgentProcess> orphans = state.end(cause);
        orphans.forEach(p -> p.fail(cause));
        orphans.forEach(p -> p.fail(cause));
        assertThat(state.end(new IOException("again"))).isNull();
        assertThat(state.endCause()).isSameAs(cause);
        accept(Frames.stdout(1, new byte[1]));

        assertThat(running.events()).containsExactly("started 5", "failed gone");
        assertThat(pending.events()).containsExactly("failed gone");
        assertThat(done.events()).containsExactly("started 6", "exited exit 0");
        assertThatThrownBy(() -> state.register(new RecordingListener(), writer)).isInstanceOf(IOException.class)
                .hasMessage("the agent channel has ended: gone");
    }

    @Test
    void aThrowingListenerDoesNotBreakTheRules() throws IOException {
        accept(Frames.ready("a"));
        AgentProcess process = state.register(new RecordingListener() {
            @Override
            public synchronized void stdout(byte[] chunk) {
                throw new IllegalStateException("listener bug");
            }
        }, writer);
        accept(Frames.started(1, 5));
        accept(Frames.stdout(1, new byte[7]));
        accept(Frames.exit(1, 0, 0));
        assertThat(process.stdoutBytes()).isEqualTo(7);
        assertThat(process.hasEnded()).isTrue();
    }

    @Test
    void aReadDeliversItsBytesAndEndsOnce() throws Exception {
        accept(Frames.ready("a"));
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        FileOperation read = state.registerFile(FileOperation.Kind.READ, 5, sink);
        accept(Frames.fileData(1, new byte[] {0, 1}));
        accept(Frames.fileData(1, new byte[] {2, 3, 4}));
        accept(Frames.fileDone(1, 2));
        assertThat(sink.toByteArray()).containsExactly(0, 1, 2, 3, 4);
        assertThat(read.await(System.nanoTime(), "reading")).isEqualTo(new FileOperation.Outcome(true, null));
        assertViolation(Frames.fileDone(1, 0), "frame 5: file_done for stream 1 after its file_done");
        assertViolation(Frames.fileData(1, new byte[1]), "frame 6: file_data for stream 1 after its file_done");
    }

    @Test
    void aReadNeverGetsMoreThanItsMaxBytesAndIsTruncatedOnlyAtIt() throws IOException {
        accept(Frames.ready("a"));
        state.registerFile(FileOperation.Kind.READ, 3, new ByteArrayOutputStream());
        accept(Frames.fileData(1, new byte[2]));
        assertViolation(Frames.fileData(1, new byte[2]),
                "frame 3: file_data for stream 1 beyond the 3 bytes the host asked for");
        state.registerFile(FileOperation.Kind.READ, 3, new ByteArrayOutputStream());
        assertViolation(Frames.fileDone(2, 2), "frame 4: file_done truncated for stream 2 after 0 of 3");
    }

    @Test
    void anAgentErrorIsTheOutcomeMadePrintable() throws Exception {
        accept(Frames.ready("a"));
        FileOperation delete = state.registerFile(FileOperation.Kind.DELETE, 0, null);
        accept(Frames.fileError(1, "/x\nis a \u202edirectory"));
        assertThat(delete.await(System.nanoTime(), "deleting").error()).isEqualTo("/x?is a ?directory");
    }

    @Test
    void aListingKeepsItsRules() throws Exception {
        accept(Frames.ready("a"));
        FileOperation list = state.registerFile(FileOperation.Kind.LIST, 2, null);
        accept(Frames.fileEntry(1, "a"));
        assertViolation(Frames.fileEntry(1, "a"), "frame 3: file_entry for stream 1 repeats a name");
        FileOperation other = state.registerFile(FileOperation.Kind.LIST, 2, null);
        accept(Frames.fileEntry(2, "a"));
        accept(Frames.fileEntry(2, "b"));
        assertViolation(Frames.fileEntry(2, "c"),
                "frame 6: file_entry for stream 2 beyond the 2 entries the host asked for");
        assertViolation(Frames.fileData(2, new byte[1]), "frame 7: file_data for stream 2, a list");
        accept(Frames.fileDone(2, 2));
        assertThat(other.entries()).extracting(FileEntry::name).containsExactly("a", "b");
        assertThat(list.isDone()).isFalse();
    }

    @Test
    void aWriteGetsOnlyItsFileDoneAndOkOnlyAfterItsEnd() throws Exception {
        accept(Frames.ready("a"));
        FileOperation write = state.registerFile(FileOperation.Kind.WRITE, 0, null);
        assertViolation(Frames.fileData(1, new byte[1]), "frame 2: file_data for stream 1, a write");
        assertViolation(Frames.fileEntry(1, "x"), "frame 3: file_entry for stream 1, a write");
        assertViolation(Frames.fileDone(1, 0), "frame 4: file_done ok for stream 1 before its file_end");
        assertViolation(Frames.fileDone(1, 2), "frame 5: file_done truncated for stream 1, a write");
        write.commit();
        accept(Frames.fileDone(1, 0));
        assertThat(write.await(System.nanoTime(), "writing")).isEqualTo(new FileOperation.Outcome(false, null));
        FileOperation early = state.registerFile(FileOperation.Kind.WRITE, 0, null);
        accept(Frames.fileError(2, "no parent"));  // an error may come before the end
        assertThat(early.await(System.nanoTime(), "writing").error()).isEqualTo("no parent");
    }

    @Test
    void processesAndFileOperationsShareIdsButNotFrames() throws IOException {
        accept(Frames.ready("a"));
        state.register(new RecordingListener(), writer);
        state.registerFile(FileOperation.Kind.DELETE, 0, null);
        assertThat(state.register(new RecordingListener(), writer).id()).isEqualTo(3);
        assertViolation(Frames.fileDone(1, 0), "frame 2: file_done for stream 1, which is a process");
        assertViolation(Frames.started(2, 5), "frame 3: started for stream 2, which is a file operation");
        assertViolation(Frames.fileDone(4, 0), "frame 4: file_done for stream 4, which the host never started");
        assertViolation(Frames.fileDone(0, 0), "frame 5: file_done for stream 0, which the host never started");
    }

    @Test
    void atMost8WritesAreOpenAndTheEndFailsEveryWaitingOperation() throws Exception {
        accept(Frames.ready("a"));
        List<FileOperation> writes = new ArrayList<>();
        for (int i = 0; i < AgentProtocol.MAX_OPEN_WRITES; i++) {
            writes.add(state.registerFile(FileOperation.Kind.WRITE, 0, null));
        }
        assertThatThrownBy(() -> state.registerFile(FileOperation.Kind.WRITE, 0, null))
                .isInstanceOf(IllegalStateException.class).hasMessage("8 file writes are open (the limit)");
        FileOperation read = state.registerFile(FileOperation.Kind.READ, 1, new ByteArrayOutputStream());
        accept(Frames.fileError(3, "no"));
        assertThat(state.registerFile(FileOperation.Kind.WRITE, 0, null).id()).isEqualTo(10);
        IOException cause = new IOException("gone");
        state.end(cause);
        assertThat(read.isDone()).isFalse();
        state.failFiles();
        assertThatThrownBy(() -> read.await(System.nanoTime() + 1_000_000_000L, "reading")).isSameAs(cause);
        assertThatThrownBy(() -> writes.getFirst().await(System.nanoTime(), "writing")).isSameAs(cause);
        assertThatThrownBy(() -> state.registerFile(FileOperation.Kind.READ, 1, null)).isInstanceOf(IOException.class)
                .hasMessage("the agent channel has ended: gone");
    }

    @Test
    void aTimedOutReadIsAbandonedButStillChecked() throws Exception {
        accept(Frames.ready("a"));
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        FileOperation read = state.registerFile(FileOperation.Kind.READ, 4, sink);
        assertThatThrownBy(() -> read.await(System.nanoTime(), "reading /x"))
                .isInstanceOf(TimeoutException.class).hasMessage("reading /x did not finish in time");
        accept(Frames.fileData(1, new byte[3]));
        assertThat(sink.size()).isZero();
        assertViolation(Frames.fileData(1, new byte[2]),
                "frame 3: file_data for stream 1 beyond the 4 bytes the host asked for");
    }

    @Test
    void printableReplacesControlAndFormatCharacters() {
        assertThat(ChannelState.printable("a\tb\r\nc\u0000\u007f\u009bé")).isEqualTo("a?b??c???é");
        assertThat(ChannelState.printable("x\u202egnp.exe\u2028y\u200b")).isEqualTo("x?gnp.exe?y?");
    }

    private String accept(byte[] bytes) throws IOException {
        return state.accept(++frameNumber, frame(bytes));
    }

    private void assertViolation(byte[] bytes, String message) {
        assertThatThrownBy(() -> accept(bytes)).isInstanceOf(AgentProtocolException.class).hasMessage(message);
    }

    private static AgentFrame frame(byte[] bytes) throws IOException {
        return new FrameReader(new ByteArrayInputStream(bytes)).next().orElseThrow();
    }
}
