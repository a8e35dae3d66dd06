package io.mcpsandbox.session;

import io.mcpsandbox.host.CpuPressure;
import java.util.OptionalDouble;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a session may start a spare interpreter now: only while the host's CPUs are not contended (CPU pressure
 * at most {@code session.spare-max-cpu-pressure}). A spare is CPU spent ahead on a guess; on a host where tasks
 * already wait for a CPU it would take that CPU from programs running now (docs/sessions.md, "A spare
 * interpreter").
 */
final class SpareGate {
    /** The setting's value that starts spares whatever the pressure (the kernel is not asked). */
    static final int ALWAYS = 100;
    private static final Logger log = LoggerFactory.getLogger(SpareGate.class);

    private final boolean enabled;
    private final int maxPressure;
    private final CpuPressure pressure;
    private final AtomicBoolean toldUnknown = new AtomicBoolean();

    /**
     * @param enabled     {@code session.spare-interpreters}
     * @param maxPressure {@code session.spare-max-cpu-pressure}: percent, 0-100
     */
    SpareGate(boolean enabled, int maxPressure, CpuPressure pressure) {
        this.enabled = enabled;
        this.maxPressure = maxPressure;
        this.pressure = pressure;
    }

    boolean open() {
        if (!enabled) {
            return false;
        }
        if (maxPressure >= ALWAYS) {
            return true;
        }
        OptionalDouble now = pressure.someAvg10();
        if (now.isEmpty()) {
            // Unknown is not "idle": no spare (the safe side), said once.
            if (toldUnknown.compareAndSet(false, true)) {
                log.info("no spare interpreters: this kernel does not report CPU pressure (/proc/pressure/cpu); "
                        + "set session.spare-max-cpu-pressure to {} to start them regardless", ALWAYS);
            }
            return false;
        }
        return now.getAsDouble() <= maxPressure;
    }
}
