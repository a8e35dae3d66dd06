package io.mcpsandbox.pool;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.runtime.agent.ProgramRun;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The output of an interpreter started ahead: the ready byte never reaches its owner, whenever the owner came. */
class HeldOutputTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private final ProgramRun.OutputSink sink = new ProgramRun.OutputSink() {
        @Override
        public void stdout(byte[] chunk) {
            out.writeBytes(chunk);
        }

        @Override
        public void stderr(byte[] chunk) {
            err.writeBytes(chunk);
        }
    };

    @Test
    void theReadyByteIsTakenBeforeTheOwnerCame() {
        HeldOutput held = new HeldOutput();
        held.stderr(bytes("warning\n\u0001"));
        held.stdout(bytes("early"));
        assertThat(held.ready()).isDone();
        held.attach(sink);
        held.stderr(bytes("\u0001program's own\n"));
        assertThat(text(err)).isEqualTo("warning\n\u0001program's own\n");
        assertThat(text(out)).isEqualTo("early");
    }

    @Test
    void theReadyByteIsTakenAfterTheOwnerCame() {
        HeldOutput held = new HeldOutput();
        held.attach(sink);
        assertThat(held.ready()).isNotDone();
        held.stderr(bytes("\u0001"));
        assertThat(held.ready()).isDone();
        held.stderr(bytes("a\u0001b"));
        assertThat(text(err)).isEqualTo("a\u0001b");
    }

    @Test
    void whatIsKeptBeforeTheOwnerIsBounded() {
        HeldOutput held = new HeldOutput();
        held.stdout(new byte[HeldOutput.MAX_HELD + 1000]);
        held.attach(sink);
        held.stdout(bytes("after"));
        assertThat(out.size()).isEqualTo(HeldOutput.MAX_HELD + "after".length());
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(ByteArrayOutputStream b) {
        return b.toString(StandardCharsets.UTF_8);
    }
}
