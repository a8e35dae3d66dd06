package io.mcpsandbox.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import io.mcpsandbox.logging.SafeThrowableConverter;
import org.slf4j.LoggerFactory;

/** {@code --debug}: our loggers at DEBUG and full stack traces in log lines. */
final class DebugLogging {
    private DebugLogging() {
    }

    static void enable() {
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
            context.putProperty(SafeThrowableConverter.STACKS, "true");
            context.getLogger("io.mcpsandbox").setLevel(Level.DEBUG);
        }
    }
}
