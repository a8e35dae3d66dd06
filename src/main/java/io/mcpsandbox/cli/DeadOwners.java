package io.mcpsandbox.cli;

import io.mcpsandbox.execution.SandboxServices;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The dead-owner check of the commands that run sandboxes (apart from Main: its start needs no logging). */
final class DeadOwners {
    private static final Logger log = LoggerFactory.getLogger(DeadOwners.class);

    private DeadOwners() {
    }

    /**
     * What every command that runs sandboxes does first: removes what dead owners left (a backstop for a
     * watchdog that was killed too). A failure here is logged and does not stop the command.
     */
    static void reap(SandboxServices services) {
        long t0 = System.nanoTime();
        try {
            services.recoverIfLeftovers(SandboxServices.OWNER_DIED);
            log.debug("dead-owner check: {} us", (System.nanoTime() - t0) / 1000);
        } catch (RuntimeException e) {
            log.warn("leftovers of dead processes not reaped: {}", e.getMessage());
        }
    }
}
