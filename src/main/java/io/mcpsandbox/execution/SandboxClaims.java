package io.mcpsandbox.execution;

import io.mcpsandbox.runtime.PrivatePaths;
import io.mcpsandbox.runtime.SandboxSpec;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import java.util.UUID;

/**
 * Which execution runs in a sandbox whose name does not say it: one a warm pool started before the execution
 * existed ({@code mcp-exec-<uuid of the pool's>}). Written when the execution takes the sandbox, removed after
 * its teardown; after a crash, recovery reads it to close that execution's record with the sandbox it reaps.
 * One file per sandbox under {@code <state dir>/claims}, root's only, never written or read through a link.
 */
final class SandboxClaims {
    private static final int MAX_BYTES = 64;

    private final Path dir;
    private volatile boolean dirMade;

    SandboxClaims(Path stateDir) {
        this.dir = stateDir.resolve("claims");
    }

    /** Notes that {@code executionId} runs in sandbox {@code sandboxName}. */
    void claim(String sandboxName, String executionId) throws IOException {
        Path file = fileOf(sandboxName);
        if (!dirMade) {
            makeDir();
        }
        Files.deleteIfExists(file);
        try {
            write(file, executionId);
        } catch (NoSuchFileException dirGone) {
            makeDir(); // made once per process, on the request path only again when someone removed it
            write(file, executionId);
        }
    }

    private void makeDir() throws IOException {
        PrivatePaths.directory(dir, PrivatePaths.OWNER_ONLY_DIR);
        dirMade = true;
    }

    private static void write(Path file, String executionId) throws IOException {
        // CREATE_NEW never follows a link: a name that exists (even as a link) fails instead.
        Files.write(file, executionId.getBytes(StandardCharsets.US_ASCII), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(PrivatePaths.OWNER_ONLY_FILE));
    }

    /** The execution that ran in {@code sandboxName}: its claim, else the id its name carries (a cold sandbox). */
    Optional<String> executionIdOf(String sandboxName) {
        if (!isName(sandboxName)) {
            return SandboxSpec.executionIdOf(sandboxName);
        }
        Path file = fileOf(sandboxName);
        if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
                String id = new String(in.readNBytes(MAX_BYTES), StandardCharsets.US_ASCII).strip();
                UUID.fromString(id); // an id we wrote, or nothing
                return Optional.of(id);
            } catch (IOException | IllegalArgumentException unreadable) {
                // fall back to the name
            }
        }
        return SandboxSpec.executionIdOf(sandboxName);
    }

    /** Forgets the claim on {@code sandboxName} (its sandbox is gone). */
    void release(String sandboxName) {
        if (!isName(sandboxName)) {
            return;
        }
        try {
            Files.deleteIfExists(fileOf(sandboxName));
        } catch (NoSuchFileException gone) {
            // nothing to forget
        } catch (IOException e) {
            // a stale claim names a sandbox that no longer exists: recovery never meets it
        }
    }

    private static boolean isName(String sandboxName) {
        return sandboxName.matches("[A-Za-z0-9][A-Za-z0-9_.-]{0,200}");
    }

    /** The claim's file: {@code sandboxName} is one of ours (no separator, no dot-dot: a plain name). */
    private Path fileOf(String sandboxName) {
        if (!isName(sandboxName)) {
            throw new IllegalArgumentException("not a sandbox name: " + sandboxName);
        }
        return dir.resolve(sandboxName);
    }
}
