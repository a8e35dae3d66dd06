package io.mcpsandbox.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a record keeps of a request: bounded whatever was asked, and never a value, stdin or file content. */
class RequestSummaryTest {
    private static final String SECRET = "value-must-not-be-stored";

    @Test
    void keepsTheCodeNamesSizesAndFlagsButNoValueOrContent() {
        ExecutionRequest request = ExecutionRequest.builder().language("python").code("print(1)\n")
                .env("SECRET_TOKEN", SECRET).stdin("héllo").file("in.txt", SECRET)
                .limits(new LimitsRequest(1000L, null, 0.5, null, 4096L)).network(true)
                .networkAllow(List.of("pypi.org")).persistent(true).background(true).keepStdinOpen(true)
                .workDir("/tmp/w").dlpMode(DlpMode.BLOCK).priority(-2).callbackUrl("https://h/x?t=" + SECRET)
                .build();
        RequestSummary s = RequestSummary.of(request);
        assertThat(s.code()).isEqualTo("print(1)\n");
        assertThat(s.codeBytes()).isEqualTo(9);
        assertThat(s.codeTruncated()).isFalse();
        assertThat(s.stdinBytes()).isEqualTo(6);
        assertThat(s.files()).containsExactly(new RequestSummary.FileEntry("in.txt", SECRET.length()));
        assertThat(s.fileCount()).isEqualTo(1);
        assertThat(s.envNames()).containsExactly("SECRET_TOKEN");
        assertThat(s.envCount()).isEqualTo(1);
        assertThat(s.limits()).isEqualTo(new LimitsRequest(1000L, null, 0.5, null, 4096L));
        assertThat(s.network()).isTrue();
        assertThat(s.networkAllow()).containsExactly("pypi.org");
        assertThat(s.persistent()).isTrue();
        assertThat(s.background()).isTrue();
        assertThat(s.keepStdinOpen()).isTrue();
        assertThat(s.workDir()).isEqualTo("/tmp/w");
        assertThat(s.dlpMode()).isEqualTo(DlpMode.BLOCK);
        assertThat(s.priority()).isEqualTo(-2);
        assertThat(s.callback()).isTrue();
        assertThat(s.toString()).doesNotContain(SECRET);
    }

    @Test
    void aCommandHasNoCode() {
        RequestSummary s = RequestSummary.of(ExecutionRequest.builder().command("true").build());
        assertThat(s.code()).isNull();
        assertThat(s.codeBytes()).isZero();
        assertThat(s.codeTruncated()).isFalse();
        assertThat(s.stdinBytes()).isZero();
        assertThat(s.files()).isEmpty();
        assertThat(s.envNames()).isEmpty();
        assertThat(s.limits()).isEqualTo(LimitsRequest.DEFAULTS);
        assertThat(s.callback()).isFalse();
    }

    @Test
    void longCodeIsCutOnACharacterBoundary() {
        // 'a' then 4-byte characters: the cap falls inside one, which is left out whole.
        String code = "a" + "😀".repeat(20_000);
        RequestSummary s = RequestSummary.of(ExecutionRequest.builder().language("python").code(code).build());
        assertThat(s.codeTruncated()).isTrue();
        assertThat(s.codeBytes()).isEqualTo(80_001);
        assertThat(s.code().getBytes(StandardCharsets.UTF_8)).hasSize(1 + 4 * 16_383);
        assertThat(code).startsWith(s.code());
        assertThat(Character.isHighSurrogate(s.code().charAt(s.code().length() - 1))).isFalse();

        String exact = "x".repeat(RequestSummary.MAX_CODE_BYTES);
        RequestSummary whole = RequestSummary.of(ExecutionRequest.builder().language("python").code(exact).build());
        assertThat(whole.codeTruncated()).isFalse();
        assertThat(whole.code()).isEqualTo(exact);
    }

    @Test
    void namesAndEntriesAreBoundedWhateverWasAsked() {
        Map<String, String> env = new LinkedHashMap<>();
        Map<String, String> files = new LinkedHashMap<>();
        for (int i = 0; i < 500; i++) {
            env.put(String.format("V%03d", i) + "x".repeat(1000), "v");
            files.put(String.format("f%03d", i) + "y".repeat(1000), "z");
        }
        String longName = "n".repeat(255) + "😀";
        RequestSummary s = RequestSummary.of(ExecutionRequest.builder().command("true").env(env).files(files)
                .networkAllow(java.util.Collections.nCopies(300, longName)).workDir("/w".repeat(2000)).build());
        assertThat(s.envNames()).hasSize(RequestSummary.MAX_ENTRIES).allMatch(n -> n.length() == 256);
        assertThat(s.envNames().get(0)).startsWith("V000");
        assertThat(s.envCount()).isEqualTo(500);
        assertThat(s.files()).hasSize(RequestSummary.MAX_ENTRIES).allMatch(f -> f.name().length() == 256);
        assertThat(s.fileCount()).isEqualTo(500);
        assertThat(s.networkAllow()).hasSize(RequestSummary.MAX_ENTRIES)
                .allMatch(n -> n.equals("n".repeat(255)), "never half of a surrogate pair");
        assertThat(s.workDir()).hasSize(RequestSummary.MAX_WORKDIR_CHARS);
    }

    @Test
    void aRecordKeepsItsRequestThroughItsEndAndCutOffButNotInAListing() {
        RequestSummary s = RequestSummary.of(ExecutionRequest.builder().language("python").code("1").build());
        ExecutionRecord start = ExecutionRecord.started("id", "u", null, "img", "runc", SecurityLevel.MEDIUM,
                List.of("python3"), "python", java.time.Instant.now(), s);
        ExecutionRecord cut = start.cutOff("gone", java.time.Instant.now());
        assertThat(cut.request()).isEqualTo(s);
        assertThat(cut.withoutResult().request()).isEqualTo(s);
        assertThat(cut.summary().request()).isNull();
        assertThat(cut.summary().result()).isNull();
    }
}
