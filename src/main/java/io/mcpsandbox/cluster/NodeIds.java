package io.mcpsandbox.cluster;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Locale;

/**
 * A node's id: {@code cluster.node-id} when configured; else generated once ({@code <host name>-<8 hex>}) and kept
 * in {@code <state dir>/cluster-node-id}, so a node that restarts is the same node.
 */
public final class NodeIds {
    public static final String FILE_NAME = "cluster-node-id";
    private static final int MAX_FILE = 256;

    private NodeIds() {
    }

    public static String resolve(ClusterSettings settings, Path stateDir) throws IOException {
        if (settings.nodeId() != null) {
            return settings.nodeId();
        }
        Path file = stateDir.resolve(FILE_NAME);
        try {
            if (Files.size(file) > MAX_FILE) {
                throw new IOException(file + " is not a node id (too large): remove it to generate a new one");
            }
            String id = Files.readString(file, StandardCharsets.UTF_8).strip();
            if (!ClusterSettings.NODE_ID_PATTERN.matcher(id).matches()) {
                throw new IOException(file + " does not hold a node id ('" + ClusterSettings.printable(id)
                        + "'): remove it to generate a new one, or set " + ClusterSettings.NODE_ID);
            }
            return id;
        } catch (NoSuchFileException absent) {
            String id = generate();
            Files.createDirectories(stateDir);
            Path tmp = Files.createTempFile(stateDir, FILE_NAME, ".tmp");
            try {
                Files.writeString(tmp, id + "\n", StandardCharsets.UTF_8);
                try {
                    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
            return id;
        }
    }

    /** The host's name (what an operator recognises), cut and cleaned, and 32 random bits (two nodes on a host). */
    static String generate() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "node";
        }
        host = host.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9.-]", "-").replaceAll("^[^a-z0-9]+", "");
        if (host.length() > 40) {
            host = host.substring(0, 40);
        }
        byte[] random = new byte[4];
        new SecureRandom().nextBytes(random);
        return (host.isEmpty() ? "node" : host) + "-" + HexFormat.of().formatHex(random);
    }
}
