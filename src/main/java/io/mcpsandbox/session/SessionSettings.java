package io.mcpsandbox.session;

import io.mcpsandbox.config.Settings;
import java.time.Duration;

/**
 * How long sessions live and how many may be open (docs/configuration.md, {@code session.*}).
 *
 * @param idleTimeout     closed after this long without an execution, unless the request says otherwise
 * @param lifetime        the hard lifetime a request gets when it does not ask
 * @param maxLifetime     the most a request may ask for (idle timeout and lifetime alike)
 * @param maxPerUser      open sessions one user may hold; beyond it a create is refused (429)
 * @param maxOpen         open sessions on this server; beyond it a create is refused (429)
 * @param expiryWarning   how long before an idle or lifetime end its owner is told (MCP log notification)
 * @param maxFileBytes    the largest file put into or read from a session at once (its /workspace size bounds
 *                        what it can hold in all)
 * @param rootfsBytes     what a session with a writable root ({@code rootfs: "writable"}) may write to its root
 *                        in all (docs/sessions.md, "Writable root")
 * @param spareInterpreters whether an idle session keeps a python or node interpreter started ahead for its next
 *                        snippet (docs/sessions.md, "A spare interpreter")
 * @param spareMaxCpuPressure a spare is started only while the host's CPU pressure (the share of the last 10 s some
 *                        task waited for a CPU, percent) is at most this; 100 starts them whatever it is
 */
public record SessionSettings(Duration idleTimeout, Duration lifetime, Duration maxLifetime, int maxPerUser,
                              int maxOpen, Duration expiryWarning, long maxFileBytes, long rootfsBytes,
                              boolean spareInterpreters, int spareMaxCpuPressure) {
    public SessionSettings {
        if (idleTimeout.isNegative() || lifetime.isNegative() || lifetime.isZero()
                || maxLifetime.compareTo(lifetime) < 0 || maxPerUser < 1 || maxOpen < 1 || maxFileBytes < 1
                || rootfsBytes < 1 || spareMaxCpuPressure < 0 || spareMaxCpuPressure > 100) {
            throw new IllegalArgumentException("session settings out of range: idle-timeout " + idleTimeout
                    + ", lifetime " + lifetime + ", max-lifetime " + maxLifetime + " (at least the lifetime), "
                    + "max-per-user " + maxPerUser + " and max-open " + maxOpen + " (at least 1), rootfs-bytes "
                    + rootfsBytes + " (at least 1), spare-max-cpu-pressure " + spareMaxCpuPressure
                    + " (a percentage, 0 to 100)");
        }
    }

    public static SessionSettings from(Settings s) {
        return new SessionSettings(s.duration("session.idle-timeout", "10m"), s.duration("session.lifetime", "1h"),
                s.duration("session.max-lifetime", "24h"), s.integer("session.max-per-user", "10"),
                s.integer("session.max-open", "64"), s.duration("session.expiry-warning", "1m"),
                s.bytes("session.max-file-bytes", "64m"), s.bytes("session.rootfs-bytes", "512m"),
                s.bool("session.spare-interpreters", "true"), s.integer("session.spare-max-cpu-pressure", "40"));
    }
}
