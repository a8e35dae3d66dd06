package io.mcpsandbox.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A record keeps at most 128 KiB of a command: a refused giant one is cut, a command that may run is kept whole. */
class ExecutionRecordCommandTest {

    private static ExecutionRecord recordOf(List<String> command) {
        return ExecutionRecord.started("exec-1", "alice", null, "host", "runc", SecurityLevel.MEDIUM, command, null,
                Instant.EPOCH);
    }

    private static long bytes(List<String> args) {
        return args.stream().mapToLong(a -> a.getBytes(StandardCharsets.UTF_8).length).sum();
    }

    @Test
    void aCommandWithinTheLimitIsKeptWhole() {
        List<String> command = Collections.nCopies(32, "x".repeat(4096)); // exactly 128 KiB
        assertThat(recordOf(command).command()).isEqualTo(command);
    }

    @Test
    void aGiantRefusedCommandIsCutWithANoteOfWhatWasCut() {
        List<String> command = Collections.nCopies(1000, "y".repeat(16 << 10)); // 16 MB, as a body may carry
        List<String> kept = recordOf(command).command();
        assertThat(bytes(kept)).isEqualTo(ExecutionRecord.MAX_COMMAND_BYTES);
        assertThat(kept.subList(0, kept.size() - 1)).hasSize(8).allSatisfy(a -> assertThat(a).matches("y+"));
        assertThat(kept.getLast()).isEqualTo("[cut: the command had 1000 arguments and 16384000 bytes; a record keeps "
                + "131072]");
        // A record made again from a kept one (as each later state of a record is) keeps it as it is.
        assertThat(recordOf(kept).command()).isEqualTo(kept);
    }

    @Test
    void theCutNeverSplitsACharacter() {
        // 3-byte characters: the cut ends on the last whole one that fits.
        List<String> kept = recordOf(List.of("€".repeat(50_000))).command();
        assertThat(kept).hasSize(2);
        assertThat(kept.getFirst()).matches("€+");
        long room = ExecutionRecord.MAX_COMMAND_BYTES - kept.getLast().length(); // the note is ASCII
        assertThat(kept.getFirst().getBytes(StandardCharsets.UTF_8).length).isEqualTo(room / 3 * 3);
    }
}
