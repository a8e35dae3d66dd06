package io.mcpsandbox.runtime.oci;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The inotify limits runc's createContainer hook writes before the program starts (BundleWriter): in place
 * when the program runs, and out of its reach: a hostile program tries to raise them and to reset them.
 */
@SystemTest
class InotifyLimitSystemTest {
    private static final String RAISE = """
            import sys
            def read(name):
                with open('/proc/sys/user/' + name) as f:
                    return f.read().strip()
            print('before', read('max_inotify_instances'), read('max_inotify_watches'))
            for name, value in (('max_inotify_instances', '100000'), ('max_inotify_watches', '10000000'),
                                ('max_user_namespaces', '100')):
                try:
                    with open('/proc/sys/user/' + name, 'w') as f:
                        f.write(value)
                    print('raised', name)
                except OSError as e:
                    print('refused', name, e.errno)
            print('after', read('max_inotify_instances'), read('max_inotify_watches'))
            """;

    private static TestSandbox sandbox;

    @BeforeAll
    static void start() {
        sandbox = TestSandbox.start();
    }

    @AfterAll
    static void stop() throws IOException {
        sandbox.close();
    }

    @Test
    void theLimitsAreSetBeforeTheProgramAndItCannotRaiseThem() throws IOException {
        ExecutionResult r = sandbox.run(ExecutionRequest.builder().runtime("runc")
                .command(List.of("python3", "-c", RAISE)).build());
        assertThat(r.status()).as(r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        String limits = BundleWriter.MAX_INOTIFY_INSTANCES + " " + BundleWriter.MAX_INOTIFY_WATCHES;
        assertThat(r.stdout()).startsWith("before " + limits + "\n").endsWith("after " + limits + "\n")
                .doesNotContain("raised");
        assertThat(r.stdout().lines().filter(l -> l.startsWith("refused"))).hasSize(3);
        sandbox.assertNothingLeftBehind();
    }
}
