package io.mcpsandbox.host;

import com.sun.jna.LastErrorException;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The few system calls the server makes itself for every sandbox instead of spawning a tool for each
 * ({@code mount}, {@code umount}, {@code mkfifo}): a child process costs a fork, two execs and milliseconds of
 * CPU, several times per sandbox. Through JNA (the FFM API is still a preview in the Java 21 we build for). A
 * failure throws an IOException that names the call, its target and the errno text.
 */
public final class Libc {
    /** mount(2) flags (linux/mount.h). */
    public static final long MS_NOSUID = 2;
    public static final long MS_NODEV = 4;
    /** umount2(2) flags: detach lazily; never follow a symbolic link at the target. */
    public static final int MNT_DETACH = 2;
    public static final int UMOUNT_NOFOLLOW = 8;

    static {
        Native.register(Libc.class, "c");
    }

    private Libc() {
    }

    private static native int mount(String source, String target, String fsType, NativeLong flags, String data)
            throws LastErrorException;

    private static native int umount2(String target, int flags) throws LastErrorException;

    private static native int mkfifo(String path, int mode) throws LastErrorException;

    /** mount(2) of a new file system of {@code fsType} at {@code target}, with {@code data} as its options. */
    public static void mount(String source, Path target, String fsType, long flags, String data) throws IOException {
        try {
            mount(source, target.toString(), fsType, new NativeLong(flags), data);
        } catch (LastErrorException e) {
            throw failure("mount -t " + fsType + " -o " + data + " " + source + " " + target, e);
        }
    }

    /** umount2(2); {@link #UMOUNT_NOFOLLOW} is always added. */
    public static void umount(Path target, int flags) throws IOException {
        try {
            umount2(target.toString(), flags | UMOUNT_NOFOLLOW);
        } catch (LastErrorException e) {
            throw failure("umount " + target, e);
        }
    }

    /** mkfifo(3): a named pipe with {@code mode} (less the umask); fails if anything exists at {@code path}. */
    public static void mkfifo(Path path, int mode) throws IOException {
        try {
            mkfifo(path.toString(), mode);
        } catch (LastErrorException e) {
            throw failure("mkfifo " + path, e);
        }
    }

    /** JNA's message is "[errno] text"; the text is what a person needs, the number what a program checks. */
    private static IOException failure(String call, LastErrorException e) {
        String message = e.getMessage();
        String text = message.startsWith("[") && message.indexOf("] ") > 0
                ? message.substring(message.indexOf("] ") + 2) : message;
        return new IOException(call + " failed: " + text + " (errno " + e.getErrorCode() + ")", e);
    }
}
