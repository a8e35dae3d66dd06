package io.mcpsandbox.runtime.agent;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * One entry of a directory listing, as the agent reported it (a claim about the sandbox's tree).
 *
 * @param name the entry's name: 1 .. 255 bytes without '/' or NUL, never "." or "..", as the sandbox made it
 *        (it may hold control characters: make it printable before it reaches a log or a terminal)
 * @param exactName false when the name's bytes are not UTF-8: {@code name} then has U+FFFD in their place and
 *        does not name the file
 * @param size its size in bytes (for a link: the length of its target)
 * @param mtimeSeconds its modification time, seconds since the epoch
 */
public record FileEntry(String name, boolean exactName, Kind kind, long size, long mtimeSeconds) {
    /** What an entry is, without following it. */
    public enum Kind { FILE, DIRECTORY, LINK, OTHER }

    /** From a file_entry frame that {@link FrameReader} has checked. */
    static FileEntry of(AgentFrame frame) {
        byte[] p = frame.payload();
        ByteBuffer name = ByteBuffer.wrap(p, AgentProtocol.ENTRY_HEADER, p.length - AgentProtocol.ENTRY_HEADER);
        String text;
        boolean exact = true;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(name.duplicate()).toString();
        } catch (CharacterCodingException e) {
            text = StandardCharsets.UTF_8.decode(name).toString();
            exact = false;
        }
        return new FileEntry(text, exact, Kind.values()[frame.u8(0)], frame.s64(1), frame.s64(9));
    }
}
