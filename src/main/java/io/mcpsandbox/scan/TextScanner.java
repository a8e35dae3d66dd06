package io.mcpsandbox.scan;

import io.mcpsandbox.model.SecurityEvent.Severity;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * One scan of one text. Not thread-safe and used once: {@link OutputScanner} makes one per stream per call.
 *
 * <p>Design for speed (10 MiB in well under 100 ms): no regular expressions at all. Two rare markers
 * ({@code -----BEGIN }, {@code hooks.slack.com/}) are found with {@link String#indexOf}, which the JIT turns into
 * a vectorised search. Everything else comes from ONE pass over the characters with a 128-entry class table:
 * <ul>
 *   <li>at each <em>word start</em> (an ASCII letter or digit after a non-alphanumeric) the first character
 *       dispatches to at most one cheap prefix check ({@code AKIA}, {@code ghp_}, {@code eyJ}, ...) or, for a
 *       digit, to the number scanner (SSN, cards);</li>
 *   <li>maximal runs of token characters {@code [A-Za-z0-9+/_-]} of 32 or more are candidates for the AWS secret
 *       and high-entropy checks, which only then pay for counting.</li>
 * </ul>
 * Every look-ahead is bounded or advances the cursor past what it consumed, so the cost is linear in the input.
 */
final class TextScanner {
    // character classes (ASCII only; everything >= 128 is "other")
    private static final int UPPER = 1;
    private static final int LOWER = 2;
    private static final int DIGIT = 4;
    private static final int TOKEN = 8;      // [A-Za-z0-9+/_-]: what an API key is made of
    private static final int B64 = 16;       // [A-Za-z0-9+/]: AWS secret keys
    private static final int B64URL = 32;    // [A-Za-z0-9_-]: JWT segments, GitLab tokens
    private static final int URL_ONLY = 64;   // '_' and '-'
    private static final int PLUS_SLASH = 128; // '+' and '/'
    private static final int ALNUM = UPPER | LOWER | DIGIT;
    private static final int[] CLS = new int[128];

    static {
        for (int c = 0; c < 128; c++) {
            int k = 0;
            if (c >= 'A' && c <= 'Z') {
                k = UPPER | TOKEN | B64 | B64URL;
            } else if (c >= 'a' && c <= 'z') {
                k = LOWER | TOKEN | B64 | B64URL;
            } else if (c >= '0' && c <= '9') {
                k = DIGIT | TOKEN | B64 | B64URL;
            } else if (c == '+' || c == '/') {
                k = TOKEN | B64 | PLUS_SLASH;
            } else if (c == '_' || c == '-') {
                k = TOKEN | B64URL | URL_ONLY;
            }
            CLS[c] = k;
        }
    }

    /** High-entropy candidates: shorter is too short for an API key, longer is a data blob, not a key. */
    static final int ENTROPY_MIN_LENGTH = 32;
    static final int ENTROPY_MAX_LENGTH = 256;
    /** Threshold factor: a token must carry more than this times log2(min(length, 64)) bits per character. */
    static final double ENTROPY_FACTOR = 0.8;
    /** A token whose characters are mostly in runs of 3+ lower-case letters reads as words, not as a key. */
    static final double WORDINESS_LIMIT = 0.6;
    /** How far before an AWS secret candidate a context word (aws, secret) may be. */
    static final int AWS_CONTEXT_BEFORE = 100;
    /** How far from an AWS secret candidate an access key id (AKIA..., ASIA...) may be. */
    static final int AWS_KEY_ID_DISTANCE = 300;
    /** The main pass copies the text into a buffer of this many chars at a time (cheaper than charAt). */
    private static final int CHUNK = 1 << 14;

    private final String s;
    private final int n;
    private final Set<DetectorType> on;
    // the set, flattened for the hot loop
    private final boolean wantNumbers;
    private final boolean wantSsn;
    private final boolean wantCard;
    private final boolean wantAwsKeyId;
    private final boolean wantAwsSecret;
    private final boolean wantGitHub;
    private final boolean wantGitLab;
    private final boolean wantSlack;
    private final boolean wantStripe;
    private final boolean wantJwt;
    private final boolean wantHighEntropy;
    private final List<Finding> found = new ArrayList<>();
    /** Non-private PEM blocks (certificates, public keys): exempt from the high-entropy check. */
    private final List<int[]> pemExempt = new ArrayList<>();
    private final List<int[]> awsSecretCandidates = new ArrayList<>();
    // the number scanner's reusable group buffers
    private int[] groupStart = new int[16];
    private int[] groupEnd = new int[16];
    private final int[] counts = new int[128];

    TextScanner(String text, Set<DetectorType> enabled) {
        this.s = text;
        this.n = text.length();
        this.on = enabled;
        this.wantNumbers = enabled.contains(DetectorType.SSN) || enabled.contains(DetectorType.CREDIT_CARD);
        this.wantSsn = enabled.contains(DetectorType.SSN);
        this.wantCard = enabled.contains(DetectorType.CREDIT_CARD);
        this.wantAwsKeyId = enabled.contains(DetectorType.AWS_ACCESS_KEY);
        this.wantAwsSecret = enabled.contains(DetectorType.AWS_SECRET_KEY);
        this.wantGitHub = enabled.contains(DetectorType.GITHUB_TOKEN);
        this.wantGitLab = enabled.contains(DetectorType.GITLAB_TOKEN);
        this.wantSlack = enabled.contains(DetectorType.SLACK_TOKEN);
        this.wantStripe = enabled.contains(DetectorType.STRIPE_KEY);
        this.wantJwt = enabled.contains(DetectorType.JWT);
        this.wantHighEntropy = enabled.contains(DetectorType.HIGH_ENTROPY);
    }

    /** All findings, overlaps resolved by precedence, sorted by start offset. */
    List<Finding> scan() {
        if (on.contains(DetectorType.PRIVATE_KEY) || on.contains(DetectorType.HIGH_ENTROPY)) {
            pemBlocks();
        }
        if (on.contains(DetectorType.SLACK_WEBHOOK)) {
            slackWebhooks();
        }
        mainPass();
        if (!awsSecretCandidates.isEmpty()) {
            awsSecrets();
        }
        return resolveOverlaps(found);
    }

    // ---------------------------------------------------------------------------------------------------------
    // the single pass

    private void mainPass() {
        final int n = this.n;
        final boolean wantTokens = wantHighEntropy || wantAwsSecret;
        final int[] cls = CLS;
        final char[] chunk = new char[Math.min(n, CHUNK)];
        int tokenStart = -1;
        int tokenClasses = 0;
        boolean prevAlnum = false;
        int skipUntil = 0;
        for (int base = 0; base < n; base += CHUNK) {
            int len = Math.min(CHUNK, n - base);
            s.getChars(base, base + len, chunk, 0);
            for (int j = 0; j < len; j++) {
                char c = chunk[j];
                int k = c < 128 ? cls[c] : 0;
                if ((k & TOKEN) != 0) {
                    if (tokenStart < 0) {
                        tokenStart = base + j;
                        tokenClasses = 0;
                    }
                    tokenClasses |= k;
                } else if (tokenStart >= 0) {
                    // only tokens that mix upper case, lower case and digits are worth a closer look: this drops
                    // UUIDs, hex digests and words without touching their characters again
                    if (wantTokens && (tokenClasses & ALNUM) == ALNUM && base + j - tokenStart >= ENTROPY_MIN_LENGTH) {
                        token(tokenStart, base + j, tokenClasses);
                    }
                    tokenStart = -1;
                }
                boolean alnum = (k & ALNUM) != 0;
                if (alnum && !prevAlnum && base + j >= skipUntil) {
                    int end = wordStart(base + j, c);
                    if (end > base + j) {
                        skipUntil = end;
                    }
                }
                prevAlnum = alnum;
            }
        }
        if (wantTokens && tokenStart >= 0 && (tokenClasses & ALNUM) == ALNUM && n - tokenStart >= ENTROPY_MIN_LENGTH) {
            token(tokenStart, n, tokenClasses);
        }
    }

    /** A word starts at {@code i}. Returns the end of what a detector consumed there, or -1. */
    private int wordStart(int i, char c) {
        switch (c) {
            case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9' -> {
                return wantNumbers ? number(i) : -1;
            }
            case 'A' -> {
                return wantAwsKeyId ? awsAccessKey(i) : -1;
            }
            case 'g' -> {
                return gitTokens(i);
            }
            case 'x' -> {
                return wantSlack ? slackToken(i) : -1;
            }
            case 's', 'r' -> {
                return wantStripe ? stripeKey(i) : -1;
            }
            case 'e' -> {
                return wantJwt ? jwt(i) : -1;
            }
            default -> {
                return -1;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // prefix detectors

    private int awsAccessKey(int i) {
        if (!(s.startsWith("AKIA", i) || s.startsWith("ASIA", i))) {
            return -1;
        }
        int j = i + 4;
        int end = Math.min(n, j + 17);
        while (j < end) {
            char c = s.charAt(j);
            if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
                j++;
            } else {
                break;
            }
        }
        if (j - i != 20 || isAlnum(j)) {
            return -1;
        }
        found.add(new Finding(DetectorType.AWS_ACCESS_KEY, i, j));
        return j;
    }

    private int gitTokens(int i) {
        if (wantGitHub && s.startsWith("gh", i) && i + 4 <= n && s.charAt(i + 3) == '_'
                && "pousr".indexOf(s.charAt(i + 2)) >= 0) {
            // classic: gh[pousr]_ + 36 alphanumerics (a little slack for longer future formats)
            int j = runOf(i + 4, ALNUM, 252);
            if (j - (i + 4) >= 36 && j - (i + 4) <= 251) {
                found.add(new Finding(DetectorType.GITHUB_TOKEN, i, j));
                return j;
            }
            return -1;
        }
        if (wantGitHub && s.startsWith("github_pat_", i)) {
            int j = runOfAlnumUnderscore(i + 11, 256);
            if (j - (i + 11) >= 22 && j - (i + 11) <= 255) {
                found.add(new Finding(DetectorType.GITHUB_TOKEN, i, j));
                return j;
            }
            return -1;
        }
        if (wantGitLab && s.startsWith("glpat-", i)) {
            int j = runOf(i + 6, B64URL, 256);
            if (j - (i + 6) < 20 || j - (i + 6) > 255) {
                return -1;
            }
            // newer tokens carry a ".xx.yyyyyyyy" suffix
            while (j + 1 < n && s.charAt(j) == '.' && isClass(j + 1, ALNUM) && j - i < 320) {
                j = runOf(j + 1, B64URL, 64);
            }
            found.add(new Finding(DetectorType.GITLAB_TOKEN, i, j));
            return j;
        }
        return -1;
    }

    private int slackToken(int i) {
        if (!s.startsWith("xox", i) || i + 5 > n || "abprs".indexOf(s.charAt(i + 3)) < 0 || s.charAt(i + 4) != '-') {
            return -1;
        }
        int from = i + 5;
        int j = from;
        boolean digit = false;
        int limit = Math.min(n, from + 256);
        while (j < limit) {
            char c = s.charAt(j);
            if (c < 128 && (CLS[c] & ALNUM) != 0) {
                digit |= c <= '9' && c >= '0';
                j++;
            } else if (c == '-') {
                j++;
            } else {
                break;
            }
        }
        int len = j - from;
        if (len < 10 || len > 255 || !digit || isAlnum(j)) {
            return -1;
        }
        found.add(new Finding(DetectorType.SLACK_TOKEN, i, j));
        return j;
    }

    private int stripeKey(int i) {
        // (sk|rk)_(live|test)_ + 10..247 alphanumerics
        if (i + 8 > n || s.charAt(i + 1) != 'k' || s.charAt(i + 2) != '_' || s.charAt(i + 7) != '_') {
            return -1;
        }
        boolean live = s.startsWith("live", i + 3);
        if (!live && !s.startsWith("test", i + 3)) {
            return -1;
        }
        int j = runOf(i + 8, ALNUM, 248);
        int len = j - (i + 8);
        if (len < 10 || len > 247 || isClass(j, B64URL)) {
            return -1;
        }
        found.add(new Finding(DetectorType.STRIPE_KEY, i, j, live ? Severity.CRITICAL : Severity.MEDIUM));
        return j;
    }

    private int jwt(int i) {
        // eyJ<header>.<payload>.<signature>, base64url; the header must decode to a JSON object with "alg"
        if (!s.startsWith("eyJ", i)) {
            return -1;
        }
        int h = runOf(i, B64URL, 8192);
        if (h - i < 10 || h >= n || s.charAt(h) != '.') {
            return -1;
        }
        int p = runOf(h + 1, B64URL, 65536);
        if (p - (h + 1) < 2 || p >= n || s.charAt(p) != '.') {
            return -1;
        }
        int sig = runOf(p + 1, B64URL, 8192);
        if (isClass(sig, B64URL)) {
            return -1;
        }
        if (!headerHasAlg(i, h)) {
            return -1;
        }
        found.add(new Finding(DetectorType.JWT, i, sig));
        return sig;
    }

    private boolean headerHasAlg(int from, int to) {
        byte[] json = Base64Text.decode(s, from, to);
        if (json == null) {
            return false;
        }
        String header = new String(json, StandardCharsets.UTF_8).strip();
        return header.startsWith("{") && header.endsWith("}") && header.contains("\"alg\"");
    }

    // ---------------------------------------------------------------------------------------------------------
    // numbers: SSN (ddd-dd-dddd) and payment cards (13-19 digits, single spaces or dashes between groups)

    private int number(int i) {
        int groups = 0;
        int pos = i;
        while (true) {
            int gs = pos;
            while (pos < n && isDigitAt(pos)) {
                pos++;
            }
            if (groups == groupStart.length) {
                groupStart = Arrays.copyOf(groupStart, groups * 2);
                groupEnd = Arrays.copyOf(groupEnd, groups * 2);
            }
            groupStart[groups] = gs;
            groupEnd[groups] = pos;
            groups++;
            if (pos + 1 < n && (s.charAt(pos) == ' ' || s.charAt(pos) == '-') && isDigitAt(pos + 1)) {
                pos++;
            } else {
                break;
            }
        }
        int runEnd = pos;
        if (runEnd - i < 11) {
            return runEnd; // fewer than 9 digits plus 2 separators: neither an SSN nor a card (the common case)
        }
        // the run must not be glued to a word, nor be the fraction or the integer part of a decimal number
        if (isClass(runEnd, UPPER | LOWER) || (runEnd < n && s.charAt(runEnd) == '_')) {
            return runEnd;
        }
        boolean decimalBefore = i >= 2 && (s.charAt(i - 1) == '.' || s.charAt(i - 1) == ',') && isDigitAt(i - 2);
        boolean decimalAfter = runEnd + 1 < n && (s.charAt(runEnd) == '.' || s.charAt(runEnd) == ',')
                && isDigitAt(runEnd + 1);
        int g = 0;
        while (g < groups) {
            int matched = -1;
            if (!(g == 0 && decimalBefore)) {
                matched = ssnAt(g, groups, decimalAfter);
                if (matched < 0) {
                    matched = cardAt(g, groups, decimalAfter);
                }
            }
            g = matched >= 0 ? matched + 1 : g + 1;
        }
        return runEnd;
    }

    /** An SSN in groups g..g+2; returns the last group used, or -1. */
    private int ssnAt(int g, int groups, boolean decimalAfter) {
        if (!wantSsn || g + 2 >= groups) {
            return -1;
        }
        int a = groupStart[g];
        if (groupEnd[g] - a != 3 || groupEnd[g + 1] - groupStart[g + 1] != 2
                || groupEnd[g + 2] - groupStart[g + 2] != 4
                || s.charAt(groupEnd[g]) != '-' || s.charAt(groupEnd[g + 1]) != '-') {
            return -1;
        }
        // not part of a longer dash-separated id (123-45-6789-01, 1-123-45-6789)
        if ((g > 0 && s.charAt(groupEnd[g - 1]) == '-') || (g + 3 < groups && s.charAt(groupEnd[g + 2]) == '-')
                || (g + 3 == groups && decimalAfter)) {
            return -1;
        }
        int area = num(a, 3);
        int group = num(groupStart[g + 1], 2);
        int serial = num(groupStart[g + 2], 4);
        if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) {
            return -1;
        }
        found.add(new Finding(DetectorType.SSN, a, groupEnd[g + 2]));
        return g + 2;
    }

    /** A card number starting at group g (the longest that fits); returns the last group used, or -1. */
    private int cardAt(int g, int groups, boolean decimalAfter) {
        if (!wantCard) {
            return -1;
        }
        int maxLast = Math.min(groups - 1, g + 4);
        for (int last = maxLast; last >= g; last--) {
            if (last == groups - 1 && decimalAfter) {
                continue;
            }
            if (!cardShape(g, last)) {
                continue;
            }
            int start = groupStart[g];
            int end = groupEnd[last];
            if (Cards.plausible(s, start, end)) {
                found.add(new Finding(DetectorType.CREDIT_CARD, start, end));
                return last;
            }
        }
        return -1;
    }

    /** 13-19 digits, either contiguous or grouped as printed on cards (4-4-4-4[-1..4], 4-6-5, 4-6-4), one separator. */
    private boolean cardShape(int g, int last) {
        int digits = 0;
        for (int k = g; k <= last; k++) {
            digits += groupEnd[k] - groupStart[k];
        }
        if (digits < 13 || digits > 19) {
            return false;
        }
        if (g == last) {
            return true;
        }
        char sep = s.charAt(groupEnd[g]);
        for (int k = g + 1; k < last; k++) {
            if (s.charAt(groupEnd[k]) != sep) {
                return false;
            }
        }
        int count = last - g + 1;
        if (count == 3 && len(g) == 4 && len(g + 1) == 6 && (len(g + 2) == 5 || len(g + 2) == 4)) {
            return true; // Amex 4-6-5, Diners 4-6-4
        }
        for (int k = g; k < last; k++) {
            if (len(k) != 4) {
                return false;
            }
        }
        return len(last) >= 1 && len(last) <= 4;
    }

    private int len(int group) {
        return groupEnd[group] - groupStart[group];
    }

    private int num(int from, int digits) {
        int v = 0;
        for (int k = 0; k < digits; k++) {
            v = v * 10 + (s.charAt(from + k) - '0');
        }
        return v;
    }

    // ---------------------------------------------------------------------------------------------------------
    // token runs: AWS secret keys and generic high-entropy strings

    /** A run of token characters that mixes upper case, lower case and digits ({@code classes}: their union). */
    private void token(int start, int end, int classes) {
        int len = end - start;
        if (len > ENTROPY_MAX_LENGTH) {
            return;
        }
        boolean onlyB64 = (classes & URL_ONLY) == 0;
        if ((classes & PLUS_SLASH) == 0 && allHex(start, end)) {
            return; // mixed-case hex: still a digest
        }
        if (len == 40 && onlyB64 && wantAwsSecret) {
            awsSecretCandidates.add(new int[] {start, end});
        }
        if (wantHighEntropy && highEntropy(start, end)) {
            int e = end;
            while (e < n && e < end + 2 && s.charAt(e) == '=') {
                e++;
            }
            found.add(new Finding(DetectorType.HIGH_ENTROPY, start, e));
        }
    }

    private boolean highEntropy(int start, int end) {
        int len = end - start;
        if (s.charAt(start) == '/' || s.charAt(start) == '~' || count(start, end, '/') >= 3) {
            return false; // a path
        }
        if (digestPrefix(start)) {
            return false; // sha256-<base64>: an integrity digest, public by design
        }
        if (wordiness(start, end) >= WORDINESS_LIMIT) {
            return false;
        }
        if (entropy(start, end) <= threshold(len)) {
            return false;
        }
        if (insidePemExempt(start)) {
            return false;
        }
        return !Base64Text.isEncodedText(s, start, end);
    }

    /** Bits per character a random-looking token of this length must exceed. */
    static double threshold(int length) {
        return ENTROPY_FACTOR * (Math.log(Math.min(length, 64)) / Math.log(2));
    }

    /** Shannon entropy of s[start, end) in bits per character (all chars here are ASCII token chars). */
    private double entropy(int start, int end) {
        int[] counts = this.counts;
        Arrays.fill(counts, 0);
        for (int k = start; k < end; k++) {
            counts[s.charAt(k)]++;
        }
        return Entropy.shannonSmall(counts, end - start);
    }

    /** Fraction of the characters that sit in runs of 3 or more lower-case letters. */
    private double wordiness(int start, int end) {
        int inWords = 0;
        int run = 0;
        for (int k = start; k < end; k++) {
            char c = s.charAt(k);
            if (c >= 'a' && c <= 'z') {
                run++;
            } else {
                if (run >= 3) {
                    inWords += run;
                }
                run = 0;
            }
        }
        if (run >= 3) {
            inWords += run;
        }
        return (double) inWords / (end - start);
    }

    private boolean digestPrefix(int start) {
        for (String p : new String[] {"sha1-", "sha256-", "sha384-", "sha512-", "md5-"}) {
            if (s.startsWith(p, start)) {
                return true;
            }
        }
        return false;
    }

    private void awsSecrets() {
        List<int[]> keyIds = new ArrayList<>();
        for (Finding f : found) {
            if (f.type() == DetectorType.AWS_ACCESS_KEY) {
                keyIds.add(new int[] {f.start(), f.end()});
            }
        }
        for (int[] c : awsSecretCandidates) {
            if (awsContext(c[0], c[1], keyIds)) {
                found.add(new Finding(DetectorType.AWS_SECRET_KEY, c[0], c[1]));
            }
        }
    }

    private boolean awsContext(int start, int end, List<int[]> keyIds) {
        int from = Math.max(0, start - AWS_CONTEXT_BEFORE);
        for (int p = from; p < start; p++) {
            char c = s.charAt(p);
            // "key" alone is too common ("api_key", "key=") to mark a 40-character string as an AWS secret:
            // real AWS output names it aws_secret_access_key, SecretAccessKey or AWS_SECRET_ACCESS_KEY
            if ((c == 'a' || c == 'A') && s.regionMatches(true, p, "aws", 0, 3)
                    || (c == 's' || c == 'S') && s.regionMatches(true, p, "secret", 0, 6)) {
                return true;
            }
        }
        // an access key id nearby, found by the detector or (when that detector is off) by a plain look
        for (int[] id : keyIds) {
            if (id[1] > start - AWS_KEY_ID_DISTANCE && id[0] < end + AWS_KEY_ID_DISTANCE) {
                return true;
            }
        }
        if (!wantAwsKeyId) {
            int lo = Math.max(0, start - AWS_KEY_ID_DISTANCE);
            int hi = Math.min(n, end + AWS_KEY_ID_DISTANCE);
            String window = s.substring(lo, hi);
            return window.contains("AKIA") || window.contains("ASIA");
        }
        return false;
    }

    // ---------------------------------------------------------------------------------------------------------
    // indexOf-driven detectors

    private void pemBlocks() {
        int from = 0;
        while (from < n) {
            int p = s.indexOf("-----BEGIN ", from);
            if (p < 0) {
                return;
            }
            int labelStart = p + 11;
            int q = labelStart;
            int limit = Math.min(n, labelStart + 48);
            while (q < limit) {
                char c = s.charAt(q);
                if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ') {
                    q++;
                } else {
                    break;
                }
            }
            if (q == labelStart || !s.startsWith("-----", q)) {
                from = labelStart;
                continue;
            }
            String label = s.substring(labelStart, q);
            boolean privateKey = label.endsWith("PRIVATE KEY") || label.endsWith("PRIVATE KEY BLOCK");
            int afterHeader = q + 5;
            int endMarker = s.indexOf("-----END " + label + "-----", afterHeader);
            int blockEnd = endMarker < 0 ? -1 : endMarker + 9 + label.length() + 5;
            if (privateKey) {
                if (on.contains(DetectorType.PRIVATE_KEY)) {
                    // no END marker (truncated output): everything after BEGIN may be key material
                    found.add(new Finding(DetectorType.PRIVATE_KEY, p, blockEnd < 0 ? n : blockEnd));
                }
                if (blockEnd < 0) {
                    return;
                }
                from = blockEnd;
            } else {
                if (blockEnd >= 0) {
                    pemExempt.add(new int[] {p, blockEnd});
                    from = blockEnd;
                } else {
                    from = afterHeader;
                }
            }
        }
    }

    private boolean insidePemExempt(int pos) {
        for (int[] r : pemExempt) {
            if (pos >= r[0] && pos < r[1]) {
                return true;
            }
        }
        return false;
    }

    private void slackWebhooks() {
        int from = 0;
        while (from < n) {
            int p = s.indexOf("hooks.slack.com/", from);
            if (p < 0) {
                return;
            }
            int path = p + 16;
            int q = -1;
            for (String kind : new String[] {"services/", "workflows/", "triggers/"}) {
                if (s.startsWith(kind, path)) {
                    q = path + kind.length();
                    break;
                }
            }
            if (q < 0) {
                from = path;
                continue;
            }
            int j = q;
            int limit = Math.min(n, q + 300);
            while (j < limit && (isClass(j, ALNUM) || s.charAt(j) == '/' || s.charAt(j) == '_' || s.charAt(j) == '-')) {
                j++;
            }
            if (j - q < 20) {
                from = j;
                continue;
            }
            int start = p;
            if (p >= 8 && s.startsWith("https://", p - 8)) {
                start = p - 8;
            } else if (p >= 7 && s.startsWith("http://", p - 7)) {
                start = p - 7;
            }
            found.add(new Finding(DetectorType.SLACK_WEBHOOK, start, j));
            from = j;
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // overlaps

    static List<Finding> resolveOverlaps(List<Finding> all) {
        if (all.size() <= 1) {
            return List.copyOf(all);
        }
        List<Finding> byPrecedence = new ArrayList<>(all);
        byPrecedence.sort(Comparator.comparingInt((Finding f) -> f.type().ordinal()).thenComparingInt(Finding::start));
        TreeMap<Integer, Finding> kept = new TreeMap<>();
        for (Finding f : byPrecedence) {
            Map.Entry<Integer, Finding> before = kept.floorEntry(f.start());
            if (before != null && before.getValue().end() > f.start()) {
                continue;
            }
            Map.Entry<Integer, Finding> after = kept.ceilingEntry(f.start());
            if (after != null && after.getKey() < f.end()) {
                continue;
            }
            kept.put(f.start(), f);
        }
        return List.copyOf(kept.values());
    }

    // ---------------------------------------------------------------------------------------------------------
    // small helpers

    private boolean isDigitAt(int p) {
        char c = s.charAt(p);
        return c >= '0' && c <= '9';
    }

    private boolean isAlnum(int p) {
        return isClass(p, ALNUM);
    }

    private boolean isClass(int p, int mask) {
        if (p >= n) {
            return false;
        }
        char c = s.charAt(p);
        return c < 128 && (CLS[c] & mask) != 0;
    }

    /** End of the run of characters of class {@code mask} starting at {@code from}, looking at most max+1 chars. */
    private int runOf(int from, int mask, int max) {
        int limit = (int) Math.min(n, (long) from + max + 1);
        int j = from;
        while (j < limit) {
            char c = s.charAt(j);
            if (c < 128 && (CLS[c] & mask) != 0) {
                j++;
            } else {
                break;
            }
        }
        return j;
    }

    private int runOfAlnumUnderscore(int from, int max) {
        int limit = (int) Math.min(n, (long) from + max + 1);
        int j = from;
        while (j < limit) {
            char c = s.charAt(j);
            if (c == '_' || (c < 128 && (CLS[c] & ALNUM) != 0)) {
                j++;
            } else {
                break;
            }
        }
        return j;
    }

    private boolean allHex(int start, int end) {
        for (int k = start; k < end; k++) {
            char c = s.charAt(k);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
                return false;
            }
        }
        return true;
    }

    private int count(int start, int end, char wanted) {
        int c = 0;
        for (int k = start; k < end; k++) {
            if (s.charAt(k) == wanted) {
                c++;
            }
        }
        return c;
    }
}
