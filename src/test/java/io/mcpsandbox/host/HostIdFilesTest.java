package io.mcpsandbox.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.runtime.UidRangeAllocator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 10 item 6: the sandbox uid span must not share an id with host users, groups or subordinate ranges. */
class HostIdFilesTest {
    private static final long BASE = 0x70000000L;
    private static final long LAST = BASE + 512L * 65536 - 1;

    @TempDir
    Path dir;

    private HostIdFiles files(String subuid, String subgid, String passwd, String group) throws IOException {
        return new HostIdFiles(write("subuid", subuid), write("subgid", subgid), write("passwd", passwd),
                write("group", group));
    }

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        if (text != null) {
            Files.writeString(p, text);
        } else {
            Files.deleteIfExists(p);
        }
        return p;
    }

    /** What useradd writes for the first users: 100000 + 65536 * n. */
    private static String debianSubordinates(int users) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < users; i++) {
            sb.append("user").append(i).append(':').append(100000L + 65536L * i).append(":65536\n");
        }
        return sb.toString();
    }

    @Test
    void debianAllocationsOverlapTheOldBaseButNotTheNewDefault() throws IOException {
        String subordinates = debianSubordinates(9000); // up to useradd's SUB_UID_MAX (600100000)
        HostIdFiles ids = files(subordinates, subordinates,
                "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
                "root:x:0:\nnogroup:x:65534:\n");
        assertThat(ids.conflictWith(BASE, LAST)).isEmpty();
        // The old default (200000, 512 slots) ran sandboxes as uids of the second user's rootless containers.
        assertThat(ids.conflictWith(200000, 200000 + 512L * 65536 - 1)).hasValueSatisfying(reason -> assertThat(reason)
                .contains("200000-33754431", dir.resolve("subuid").toString(), "line 2 'user1:165536:65536'"));
    }

    @Test
    void aSubordinateRangeInsideTheSpanIsNamedWithItsFileAndLine() throws IOException {
        HostIdFiles ids = files(null, "# ranges\nalice:100000:65536\n\nbob:" + (LAST - 10) + ":65536\n", null, null);
        assertThat(ids.conflictWith(BASE, LAST)).hasValue("the sandbox uid range " + BASE + "-" + LAST
                + " (sandbox.uid-base, sandbox.uid-slots) overlaps " + dir.resolve("subgid") + " line 4 'bob:"
                + (LAST - 10) + ":65536': set sandbox.uid-base to a range no user, group or subordinate id range uses");
    }

    @Test
    void rangesEndingJustBeforeOrStartingJustAfterDoNotOverlap() throws IOException {
        HostIdFiles ids = files("a:" + (BASE - 65536) + ":65536\nb:" + (LAST + 1) + ":65536\n", null, null, null);
        assertThat(ids.conflictWith(BASE, LAST)).isEmpty();
        HostIdFiles touching = files("a:" + (BASE - 65536) + ":65537\n", null, null, null);
        assertThat(touching.conflictWith(BASE, LAST)).hasValueSatisfying(r -> assertThat(r).contains("line 1"));
    }

    @Test
    void aUserOrGroupWithAnIdInTheSpanIsAConflict() throws IOException {
        assertThat(files(null, null, "svc:x:" + (BASE + 5) + ":100::/:/bin/false\n", null).conflictWith(BASE, LAST))
                .hasValueSatisfying(r -> assertThat(r).contains(dir.resolve("passwd") + " line 1 'svc:x:"));
        assertThat(files(null, null, "svc:x:100:" + LAST + "::/:/bin/false\n", null).conflictWith(BASE, LAST))
                .as("primary group").isPresent();
        assertThat(files(null, null, null, "root:x:0:\nteam:x:" + BASE + ":svc\n").conflictWith(BASE, LAST))
                .hasValueSatisfying(r -> assertThat(r).contains(dir.resolve("group") + " line 2 'team:x:"));
    }

    @Test
    void malformedLinesAllocateNothingAndMissingFilesHoldNothing() throws IOException {
        assertThat(files("x\nbad:abc:65536\nneg:-5:65536\nzero:" + BASE + ":0\n", null, null, null)
                .conflictWith(BASE, LAST)).isEmpty();
        assertThat(files(null, null, null, null).conflictWith(BASE, LAST)).isEmpty();
    }

    @Test
    void anAllocatorOverAConflictingSpanHandsOutNothing() throws IOException {
        HostIdFiles ids = files("bob:" + BASE + ":65536\n", null, null, null);
        UidRangeAllocator allocator = new UidRangeAllocator(BASE, 512, dir.resolve("slots"), ids);
        assertThat(allocator.conflict()).isPresent();
        assertThatThrownBy(allocator::acquire).hasMessageContaining("line 1 'bob:" + BASE + ":65536'");
        assertThat(dir.resolve("slots")).doesNotExist();

        UidRangeAllocator clear = new UidRangeAllocator(BASE, 512, dir.resolve("slots"), files(null, null, null, null));
        long first = clear.acquire();
        assertThat(first).isEqualTo(BASE);
        assertThat(dir.resolve("slots")).isDirectory();
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(dir.resolve("slots/slot-0")))).isEqualTo("rw-------");
        clear.release(first);
    }
}
