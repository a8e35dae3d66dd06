package io.mcpsandbox.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What an execution's record keeps of the request that started it: enough to show what was asked, bounded
 * whatever the request held (it is recorded even when policy refuses the request, before any validation).
 * Never a secret: the environment's names but not its values, the size of stdin and of each file but not
 * their contents, whether a callback was asked but not its URL (it may carry a token).
 *
 * @param code          the snippet's code, cut to at most {@link #MAX_CODE_BYTES} UTF-8 bytes on a character
 *                      boundary; null for a command
 * @param codeBytes     the whole code's size in UTF-8 bytes
 * @param codeTruncated whether {@code code} is shorter than what was asked
 * @param stdinBytes    the initial stdin's size in UTF-8 bytes (0 for none)
 * @param files         the extra files' paths (each cut to {@link #MAX_NAME_CHARS}) and sizes, by path, at
 *                      most {@link #MAX_ENTRIES}
 * @param fileCount     how many files were asked (may exceed the entries kept)
 * @param envNames      the environment variables' names, sorted (each cut, at most {@link #MAX_ENTRIES})
 * @param envCount      how many variables were asked
 * @param limits        the limits as asked (null fields: the configured default)
 * @param network       whether egress was asked
 * @param networkAllow  the names egress was asked for (each cut, at most {@link #MAX_ENTRIES})
 * @param workDir       the working directory asked, cut to {@link #MAX_WORKDIR_CHARS}; null for the default
 * @param dlpMode       the output scanner's mode asked; null for the configured one
 * @param callback      whether a callback URL was given
 */
public record RequestSummary(String code, long codeBytes, boolean codeTruncated, long stdinBytes,
                             List<FileEntry> files, int fileCount, List<String> envNames, int envCount,
                             LimitsRequest limits, boolean network, List<String> networkAllow, boolean persistent,
                             boolean background, boolean keepStdinOpen, String workDir, DlpMode dlpMode, int priority,
                             boolean callback) {
    /** The most code kept: 64 KiB. */
    public static final int MAX_CODE_BYTES = 64 << 10;
    /** The most files, variable names and network names kept. */
    public static final int MAX_ENTRIES = 100;
    /** The longest file path, variable name or network name kept, in characters. */
    public static final int MAX_NAME_CHARS = 256;
    public static final int MAX_WORKDIR_CHARS = 1024;

    /** One extra file: its path and its size in UTF-8 bytes. */
    public record FileEntry(String name, long bytes) {
        public FileEntry {
            name = cutChars(name, MAX_NAME_CHARS);
        }
    }

    /** Bounded whatever it is built from (a request, or a stored record read back). */
    public RequestSummary {
        if (code != null && utf8Length(code) > MAX_CODE_BYTES) {
            code = cutUtf8(code, MAX_CODE_BYTES);
            codeTruncated = true;
        }
        files = files == null ? List.of() : List.copyOf(files.subList(0, Math.min(files.size(), MAX_ENTRIES)));
        envNames = names(envNames);
        networkAllow = names(networkAllow);
        workDir = cutChars(workDir, MAX_WORKDIR_CHARS);
    }

    /** The summary of {@code request}: its code (cut), names and sizes; never env values, stdin or file contents. */
    public static RequestSummary of(ExecutionRequest request) {
        String code = request.code();
        long codeBytes = code == null ? 0 : utf8Length(code);
        boolean cut = codeBytes > MAX_CODE_BYTES;
        List<FileEntry> files = new ArrayList<>();
        // By name: a request's maps have no order of their own.
        for (Map.Entry<String, String> f : new TreeMap<>(request.files()).entrySet()) {
            if (files.size() == MAX_ENTRIES) {
                break;
            }
            files.add(new FileEntry(f.getKey(), f.getValue() == null ? 0 : utf8Length(f.getValue())));
        }
        List<String> envNames = new ArrayList<>();
        for (String name : new TreeSet<>(request.env().keySet())) {
            if (envNames.size() == MAX_ENTRIES) {
                break;
            }
            envNames.add(name);
        }
        return new RequestSummary(cut ? cutUtf8(code, MAX_CODE_BYTES) : code, codeBytes, cut,
                request.stdin() == null ? 0 : utf8Length(request.stdin()), files, request.files().size(), envNames,
                request.env().size(), request.limits(), request.network(), request.networkAllow(),
                request.persistent(), request.background(), request.keepStdinOpen(), request.workDir(),
                request.dlpMode(), request.priority(), request.callbackUrl() != null);
    }

    private static List<String> names(List<String> names) {
        if (names == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>(Math.min(names.size(), MAX_ENTRIES));
        for (String name : names) {
            if (out.size() == MAX_ENTRIES) {
                break;
            }
            out.add(name == null ? "" : cutChars(name, MAX_NAME_CHARS));
        }
        return List.copyOf(out);
    }

    /** At most {@code max} characters, never half of a surrogate pair. */
    static String cutChars(String s, int max) {
        if (s == null || s.length() <= max) {
            return s;
        }
        int end = Character.isHighSurrogate(s.charAt(max - 1)) ? max - 1 : max;
        return s.substring(0, end);
    }

    /** The UTF-8 size of {@code s} as Java encodes it (a lone surrogate becomes one '?' byte). */
    static long utf8Length(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            n += utf8Bytes(cp);
            i += Character.charCount(cp);
        }
        return n;
    }

    /** The longest prefix of {@code s} whose UTF-8 form takes at most {@code max} bytes; whole characters only. */
    static String cutUtf8(String s, int max) {
        long n = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            n += utf8Bytes(cp);
            if (n > max) {
                return s.substring(0, i);
            }
            i += Character.charCount(cp);
        }
        return s;
    }

    private static int utf8Bytes(int cp) {
        if (cp < 0x80 || (cp >= Character.MIN_SURROGATE && cp <= Character.MAX_SURROGATE)) {
            return 1; // ASCII, or a lone surrogate that the encoder replaces with '?'
        }
        return cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
}
