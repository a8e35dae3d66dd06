package io.mcpsandbox.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SqliteQueueStoreTest extends QueueStoreContract {
    @TempDir
    Path dir;

    @Override
    QueueStore open() {
        return new SqliteQueueStore(dir.resolve(SqliteQueueStore.FILE_NAME));
    }

    @Override
    QueueStore reopen() {
        return open();
    }

    @Test
    void theFileIsOwnerOnly() throws Exception {
        try (QueueStore store = open()) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(
                    dir.resolve(SqliteQueueStore.FILE_NAME)))).isEqualTo("rw-------");
        }
    }

    @Test
    void theQueueIdIsMadeOnceAndAPlantedLinkIsRefused() throws Exception {
        String id = QueueStores.queueId(dir);
        assertThat(QueueStores.queueId(dir)).isEqualTo(id).matches("[A-Za-z0-9-]+");
        Path other = Files.createTempDirectory(dir, "other");
        Files.createSymbolicLink(other.resolve(QueueStores.ID_FILE), dir.resolve(QueueStores.ID_FILE));
        assertThatThrownBy(() -> QueueStores.queueId(other)).hasMessageContaining("not a regular file");
    }

    @Test
    void onlyOneHolderOfTheQueueLock() throws Exception {
        try (QueueLock first = QueueLock.tryTake(dir).orElseThrow()) {
            assertThat(QueueLock.tryTake(dir)).isEmpty();
        }
        QueueLock.tryTake(dir).orElseThrow().close();
    }
}
