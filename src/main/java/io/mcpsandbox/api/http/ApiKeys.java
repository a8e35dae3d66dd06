package io.mcpsandbox.api.http;

import io.mcpsandbox.config.ServerConfig.ApiKey;
import io.mcpsandbox.host.Sha256;
import java.security.MessageDigest;
import java.util.List;
import java.util.Optional;

/**
 * Checks an {@code Authorization: Bearer} header against the configured keys. Only SHA-256 digests of the
 * keys are kept; digests are compared with {@link MessageDigest#isEqual} (constant time, equal lengths), and
 * every key is compared every time, so timing tells neither whether nor which key matched.
 */
public final class ApiKeys {
    private record Entry(byte[] digest, String userId, boolean admin) {
    }

    /** Who a key belongs to, and whether it is an admin key ({@code TOKEN:USER:admin}: sees everyone's queue). */
    public record Caller(String userId, boolean admin) {
    }

    private final List<Entry> entries;
    private final String anonymousUser;

    private ApiKeys(List<Entry> entries, String anonymousUser) {
        this.entries = entries;
        this.anonymousUser = anonymousUser;
    }

    public static ApiKeys of(List<ApiKey> keys) {
        return new ApiKeys(keys.stream().map(k -> new Entry(Sha256.digest(k.token()), k.userId(), k.admin()))
                .toList(), null);
    }

    /** No authentication at all: every caller is {@code userId}. Only with {@code --insecure-no-auth}. */
    public static ApiKeys insecure(String userId) {
        return new ApiKeys(List.of(), userId);
    }

    /**
     * These keys and one more: the token a local {@code serve --http} makes at each start and offers to the CLI on
     * the same machine (cli/LocalEndpoint), as {@code userId}. It is checked like any key, also where the server
     * runs without keys (--insecure-no-auth), so that the local CLI runs as the user it records for a local run.
     */
    public ApiKeys withLocalKey(String token, String userId) {
        List<Entry> more = new java.util.ArrayList<>(entries);
        more.add(new Entry(Sha256.digest(token), userId, false));
        return new ApiKeys(List.copyOf(more), anonymousUser);
    }

    public boolean insecure() {
        return anonymousUser != null;
    }

    /** The user the header's key belongs to; empty for a missing, malformed or unknown key. */
    public Optional<String> authenticate(String authorizationHeader) {
        return caller(authorizationHeader).map(Caller::userId);
    }

    /** The caller the header's key stands for; empty for a missing, malformed or unknown key. */
    public Optional<Caller> caller(String authorizationHeader) {
        Optional<Caller> anonymous = Optional.ofNullable(anonymousUser).map(u -> new Caller(u, false));
        if (authorizationHeader == null || authorizationHeader.length() < 8
                || !authorizationHeader.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return anonymous;
        }
        byte[] presented = Sha256.digest(authorizationHeader.substring(7).strip());
        Entry match = null;
        for (Entry e : entries) {
            if (MessageDigest.isEqual(presented, e.digest())) {
                match = e;
            }
        }
        return match != null ? Optional.of(new Caller(match.userId(), match.admin())) : anonymous;
    }
}
