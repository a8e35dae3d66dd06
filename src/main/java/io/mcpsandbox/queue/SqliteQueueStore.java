package io.mcpsandbox.queue;

import io.mcpsandbox.callback.CallbackOutbox;
import io.mcpsandbox.callback.PendingCallback;
import io.mcpsandbox.record.ExecutionStoreException;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The queue in an embedded SQLite file, {@code <dataDir>/queue.db} (WAL; owner-only, since requests carry code
 * and environment): the default, beside the execution records' file. A batch is one transaction.
 */
public final class SqliteQueueStore implements QueueStore {
    public static final String FILE_NAME = "queue.db";

    private final Path file;
    private final Connection connection;
    private final ReentrantLock lock = new ReentrantLock();

    public SqliteQueueStore(Path file) {
        this.file = file.toAbsolutePath();
        createOwnerOnly(this.file);
        try {
            connection = DriverManager.getConnection("jdbc:sqlite:" + this.file);
            try (Statement st = connection.createStatement()) {
                st.execute("PRAGMA busy_timeout = 5000");
                st.execute("PRAGMA journal_mode = WAL");
                // As executions.db: a commit survives the process's death (kill -9); fsync at checkpoints only.
                st.execute("PRAGMA synchronous = NORMAL");
                st.execute("CREATE TABLE IF NOT EXISTS queue (execution_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
                        + "priority INTEGER NOT NULL, sequence INTEGER NOT NULL UNIQUE, queued_ms INTEGER NOT NULL, "
                        + "request BLOB NOT NULL)");
                st.execute("CREATE TABLE IF NOT EXISTS callbacks (execution_id TEXT PRIMARY KEY, url TEXT NOT NULL, "
                        + "attempts INTEGER NOT NULL, next_ms INTEGER NOT NULL)");
            }
        } catch (SQLException e) {
            throw new ExecutionStoreException("cannot open the queue " + this.file + ": " + e.getMessage(), e);
        }
    }

    private static void createOwnerOnly(Path file) {
        try {
            Files.createDirectories(file.getParent());
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (FileAlreadyExistsException e) {
            // made before (or by another process just now)
        } catch (IOException e) {
            throw new ExecutionStoreException("cannot create the queue " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void add(List<Entry> entries) {
        lock.lock();
        try (PreparedStatement insert = connection.prepareStatement("INSERT INTO queue (execution_id, user_id, "
                + "priority, sequence, queued_ms, request) VALUES (?, ?, ?, ?, ?, ?)")) {
            connection.setAutoCommit(false);
            try {
                for (Entry e : entries) {
                    QueuedItem i = e.item();
                    insert.setString(1, i.executionId());
                    insert.setString(2, i.userId());
                    insert.setInt(3, i.priority());
                    insert.setLong(4, i.sequence());
                    insert.setLong(5, i.queuedAt().toEpochMilli());
                    insert.setBytes(6, e.request());
                    insert.addBatch();
                }
                insert.executeBatch();
                connection.commit();
            } catch (SQLException e) {
                connection.rollback();
                throw e;
            } finally {
                connection.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw failure("add " + entries.size() + " queued executions", e);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<QueuedItem> items() {
        lock.lock();
        try (Statement st = connection.createStatement();
             ResultSet rs = st.executeQuery("SELECT execution_id, user_id, priority, sequence, queued_ms, "
                     + "length(request) FROM queue ORDER BY sequence")) {
            List<QueuedItem> items = new ArrayList<>();
            while (rs.next()) {
                items.add(new QueuedItem(rs.getString(1), rs.getString(2), rs.getInt(3), rs.getLong(4),
                        Instant.ofEpochMilli(rs.getLong(5)), rs.getLong(6)));
            }
            return items;
        } catch (SQLException e) {
            throw failure("list the queue", e);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<byte[]> request(String executionId) {
        lock.lock();
        try (PreparedStatement q = connection.prepareStatement("SELECT request FROM queue WHERE execution_id = ?")) {
            q.setString(1, executionId);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next() ? Optional.of(rs.getBytes(1)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw failure("read a queued request", e);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void remove(String executionId) {
        update("remove a queued execution", "DELETE FROM queue WHERE execution_id = ?", executionId);
    }

    @Override
    public CallbackOutbox callbacks() {
        return outbox;
    }

    private final CallbackOutbox outbox = new CallbackOutbox() {
        @Override
        public void save(PendingCallback p) {
            update("save a pending callback", "INSERT INTO callbacks (execution_id, url, attempts, next_ms) VALUES "
                    + "(?, ?, ?, ?) ON CONFLICT(execution_id) DO UPDATE SET url = excluded.url, attempts = "
                    + "excluded.attempts, next_ms = excluded.next_ms", p.executionId(), p.url(), p.attempts(),
                    p.nextAttemptAt().toEpochMilli());
        }

        @Override
        public void remove(String executionId) {
            update("forget a callback", "DELETE FROM callbacks WHERE execution_id = ?", executionId);
        }

        @Override
        public List<PendingCallback> pending() {
            lock.lock();
            try (Statement st = connection.createStatement();
                 ResultSet rs = st.executeQuery("SELECT execution_id, url, attempts, next_ms FROM callbacks")) {
                List<PendingCallback> all = new ArrayList<>();
                while (rs.next()) {
                    all.add(new PendingCallback(rs.getString(1), rs.getString(2), rs.getInt(3),
                            Instant.ofEpochMilli(rs.getLong(4))));
                }
                return all;
            } catch (SQLException e) {
                throw failure("list pending callbacks", e);
            } finally {
                lock.unlock();
            }
        }
    };

    private void update(String what, String sql, Object... values) {
        lock.lock();
        try (PreparedStatement st = connection.prepareStatement(sql)) {
            for (int i = 0; i < values.length; i++) {
                st.setObject(i + 1, values[i]);
            }
            st.executeUpdate();
        } catch (SQLException e) {
            throw failure(what, e);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String describe() {
        return "SQLite file " + file;
    }

    private ExecutionStoreException failure(String what, SQLException e) {
        return new ExecutionStoreException("the queue (" + file + ") cannot " + what + ": " + e.getMessage(), e);
    }

    @Override
    public void close() {
        lock.lock();
        try {
            connection.close();
        } catch (SQLException e) {
            // closing: nothing left to save
        } finally {
            lock.unlock();
        }
    }
}
