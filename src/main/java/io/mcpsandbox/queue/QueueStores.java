package io.mcpsandbox.queue;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.record.ExecutionStores;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.UUID;

/** Opens the queue where the records are: Redis when {@code redis.url} is set, else {@code <dataDir>/queue.db}. */
public final class QueueStores {
    /** The file that names this data directory's queue in a shared Redis. */
    static final String ID_FILE = "queue.id";

    private QueueStores() {
    }

    public static QueueStore open(Path dataDir, Settings settings) {
        String url = settings.string(ExecutionStores.REDIS_URL, "").trim();
        if (url.isEmpty()) {
            return new SqliteQueueStore(dataDir.resolve(SqliteQueueStore.FILE_NAME));
        }
        return new RedisQueueStore(url, queueId(dataDir),
                settings.duration(ExecutionStores.REDIS_TIMEOUT, ExecutionStores.DEFAULT_REDIS_TIMEOUT),
                settings.integer(ExecutionStores.REDIS_POOL_SIZE, ExecutionStores.DEFAULT_REDIS_POOL_SIZE));
    }

    /** This data directory's queue id, made once (a random id in {@code queue.id}, owner-only). */
    static String queueId(Path dataDir) {
        Path file = dataDir.resolve(ID_FILE);
        try {
            if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectories(dataDir);
                Path temp = Files.createTempFile(dataDir, ID_FILE, ".tmp",
                        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                Files.writeString(temp, UUID.randomUUID() + "\n");
                try {
                    Files.createLink(file, temp); // fails if another process made it first: theirs wins
                } catch (FileAlreadyExistsException e) {
                    // made by another process just now
                } finally {
                    Files.delete(temp);
                }
            }
            if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                throw new IllegalStateException(file + " is not a regular file");
            }
            String id = new String(Files.readAllBytes(file), StandardCharsets.US_ASCII).strip();
            if (!id.matches("[A-Za-z0-9-]{1,64}")) {
                throw new IllegalStateException(file + " does not hold a queue id (letters, digits, dashes)");
            }
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or make the queue id " + file + ": " + e.getMessage(), e);
        }
    }
}
