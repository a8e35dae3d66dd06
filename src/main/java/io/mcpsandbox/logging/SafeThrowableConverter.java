package io.mcpsandbox.logging;

import ch.qos.logback.classic.pattern.ThrowableProxyConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.StackTraceElementProxy;
import ch.qos.logback.core.CoreConstants;

/**
 * {@code %safeEx}: an exception attached to a log event. Its messages are escaped like {@link
 * SafeMessageConverter} (an exception message often quotes user text). The stack trace is printed only when
 * the logger context has the property {@value #STACKS} set to {@code true} ({@code --debug}) or the event is
 * DEBUG or finer; otherwise one line names each cause, so a failure is one readable line on a terminal.
 */
public final class SafeThrowableConverter extends ThrowableProxyConverter {
    /** Logger context property: print full stack traces. */
    public static final String STACKS = "mcp-sandbox.stacks";

    @Override
    public String convert(ILoggingEvent event) {
        IThrowableProxy proxy = event.getThrowableProxy();
        if (proxy == null) {
            return "";
        }
        boolean stacks = "true".equals(getContext() == null ? null : getContext().getProperty(STACKS))
                || !event.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.INFO);
        if (stacks) {
            String trace = super.throwableProxyToString(new Escaped(proxy)).stripTrailing();
            return CoreConstants.LINE_SEPARATOR + trace;
        }
        StringBuilder line = new StringBuilder(" [");
        int depth = 0;
        for (IThrowableProxy p = proxy; p != null && depth < 5; p = p.getCause(), depth++) {
            line.append(depth == 0 ? "" : "; caused by ").append(p.getClassName());
            if (p.getMessage() != null) {
                line.append(": ").append(LogText.escape(p.getMessage()));
            }
        }
        return line.append("] (stack trace with --debug)").toString();
    }

    /** The same throwable, with escaped messages. */
    private record Escaped(IThrowableProxy delegate) implements IThrowableProxy {
        @Override
        public String getMessage() {
            return LogText.escape(delegate.getMessage());
        }

        @Override
        public String getClassName() {
            return delegate.getClassName();
        }

        @Override
        public StackTraceElementProxy[] getStackTraceElementProxyArray() {
            return delegate.getStackTraceElementProxyArray();
        }

        @Override
        public int getCommonFrames() {
            return delegate.getCommonFrames();
        }

        @Override
        public IThrowableProxy getCause() {
            return delegate.getCause() == null ? null : new Escaped(delegate.getCause());
        }

        @Override
        public IThrowableProxy[] getSuppressed() {
            IThrowableProxy[] s = delegate.getSuppressed();
            if (s == null) {
                return null;
            }
            IThrowableProxy[] out = new IThrowableProxy[s.length];
            for (int i = 0; i < s.length; i++) {
                out[i] = new Escaped(s[i]);
            }
            return out;
        }

        @Override
        public boolean isCyclic() {
            return delegate.isCyclic();
        }
    }
}
