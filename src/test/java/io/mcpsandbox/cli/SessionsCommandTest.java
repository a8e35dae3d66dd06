package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/** The sessions commands and {@code exec --session} against a stub that speaks the REST contract. */
class SessionsCommandTest {
    @TempDir
    Path dir;

    private SessionsStub stub;

    record Run(int exitCode, String stdout, String stderr) {
    }

    @BeforeEach
    void start() throws Exception {
        stub = new SessionsStub();
    }

    @AfterEach
    void stop() {
        stub.close();
    }

    private Run cli(String... args) {
        List<String> argv = new ArrayList<>(List.of(args));
        // The server options go after the subcommand's own arguments: picocli takes them anywhere before --.
        int dashes = argv.indexOf("--");
        argv.addAll(dashes < 0 ? argv.size() : dashes, List.of("--url", stub.url(), "--api-key", SessionsStub.KEY));
        return raw(argv.toArray(String[]::new));
    }

    private static Run raw(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(code, out.toString(), err.toString());
    }

    private static byte[] allByteValues() {
        byte[] bytes = new byte[3 * 256];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) i;
        }
        return bytes;
    }

    @Test
    void createCopyExecListCloseShowAgainstTheContract() throws Exception {
        Run created = cli("sessions", "create", "--memory", "512m", "--cpus", "0.5", "--level", "HIGH",
                "--idle-timeout", "5m", "--lifetime", "2h", "--env", "A=1", "--env", "B=x=y", "--rootfs", "writable");
        assertThat(created.exitCode()).as(created.stderr()).isZero();
        String id = created.stdout().strip();
        assertThat(id).matches("[0-9a-f-]{36}");
        assertThat(created.stderr()).contains("runtime runc").contains("expires at 2030-01-01T11:00:00Z")
                .contains("idle at 2030-01-01T10:10:00Z");
        JsonNode sent = stub.bodies.get(0);
        assertThat(sent.path("limits").path("memoryBytes").asLong()).isEqualTo(512L << 20);
        assertThat(sent.path("limits").path("cpus").asDouble()).isEqualTo(0.5);
        assertThat(sent.path("securityLevel").asString()).isEqualTo("high");
        assertThat(sent.path("idleTimeoutSeconds").asLong()).isEqualTo(300);
        assertThat(sent.path("lifetimeSeconds").asLong()).isEqualTo(7200);
        assertThat(sent.path("env").path("B").asString()).isEqualTo("x=y");
        assertThat(sent.path("rootfs").asString()).isEqualTo("writable");
        assertThat(sent.has("image")).isFalse();

        Path local = Files.write(dir.resolve("in.bin"), allByteValues());
        Run in = cli("sessions", "cp", local.toString(), id + ":/workspace/dir with space/");
        assertThat(in.exitCode()).as(in.stderr()).isZero();
        assertThat(stub.paths).contains("PUT /v1/sessions/" + id + "/files/workspace/dir%20with%20space/in.bin");
        assertThat(stub.files.get(id + ":/workspace/dir with space/in.bin")).isEqualTo(allByteValues());

        Path stdin = Files.writeString(dir.resolve("stdin.txt"), "fed\n");
        Run exec = cli("sessions", "exec", id, "--timeout", "5s", "--stdin", stdin.toString(), "--",
                "cat", "/workspace/in.bin");
        assertThat(exec.exitCode()).isEqualTo(3);
        assertThat(exec.stdout()).isEqualTo("cat /workspace/in.bin\nfed\n");
        assertThat(exec.stderr()).isEqualTo("to stderr\n");
        JsonNode execBody = stub.bodies.get(1);
        assertThat(execBody.path("limits").path("timeoutMs").asLong()).isEqualTo(5000);
        assertThat(execBody.has("sessionId")).isFalse();

        Path out = dir.resolve("out.bin");
        Run back = cli("sessions", "cp", id + ":/workspace/dir with space/in.bin", out.toString());
        assertThat(back.exitCode()).as(back.stderr()).isZero();
        assertThat(Files.readAllBytes(out)).isEqualTo(allByteValues());
        Run intoDir = cli("sessions", "cp", id + ":/workspace/dir with space/in.bin", dir.toString());
        assertThat(intoDir.exitCode()).as(intoDir.stderr()).isZero();
        assertThat(Files.readAllBytes(dir.resolve("in.bin"))).isEqualTo(allByteValues());

        Run list = cli("sessions", "list");
        assertThat(list.exitCode()).isZero();
        assertThat(list.stdout()).startsWith("SESSION").contains(id).contains("2030-01-01T11:00:00");
        Run listJson = cli("sessions", "list", "--json");
        assertThat(listJson.stdout().strip()).startsWith("[").contains("\"sessionId\":\"" + id + "\"");

        Run closed = cli("sessions", "close", id);
        assertThat(closed.exitCode()).isZero();
        assertThat(closed.stdout()).isEqualTo("closed " + id + "\n");
        Run show = cli("sessions", "show", id);
        assertThat(show.exitCode()).isEqualTo(SessionsClient.GONE);
        assertThat(show.stderr())
                .isEqualTo("mcp-sandbox sessions show: session " + id + " is closed (reason: closed)\n");
        Run execClosed = cli("exec", "--session", id, "--", "true");
        assertThat(execClosed.exitCode()).isEqualTo(SessionsClient.GONE);
        assertThat(execClosed.stderr()).startsWith("mcp-sandbox exec: session " + id + " is closed");
    }

    @Test
    void execWithSessionSendsTheRequestToTheSessionAndPassesTheResultThrough() throws Exception {
        String id = cli("sessions", "create").stdout().strip();
        Run run = cli("exec", "--session", id, "--env", "X=1", "--workdir", "/tmp", "--", "echo", "hi");
        assertThat(run.exitCode()).as(run.stderr()).isEqualTo(3);
        assertThat(run.stdout()).isEqualTo("echo hi\n");
        assertThat(stub.paths).contains("POST /v1/sessions/" + id + "/executions");
        JsonNode body = stub.bodies.get(1);
        assertThat(body.path("command").get(0).asString()).isEqualTo("echo");
        assertThat(body.path("env").path("X").asString()).isEqualTo("1");
        assertThat(body.path("workDir").asString()).isEqualTo("/tmp");
        assertThat(body.has("userId")).isFalse();

        Run json = cli("exec", "--session", id, "--json", "--", "echo", "hi");
        assertThat(json.exitCode()).isZero();
        assertThat(json.stdout().strip().lines()).hasSize(1);
        assertThat(json.stdout()).contains("\"status\":\"completed\"");

        Run rejected = cli("exec", "--session", id, "--memory", "1g", "--", "reject");
        assertThat(rejected.exitCode()).isEqualTo(2);
        assertThat(rejected.stderr()).contains("rejected: limits: memory, CPUs and pids are the session's");
        assertThat(stub.bodies.get(3).path("limits").path("memoryBytes").asLong()).isEqualTo(1L << 30);

        Run asUser = cli("exec", "--session", id, "--user", "bob", "--", "true");
        assertThat(asUser.exitCode()).isEqualTo(2);
        assertThat(asUser.stderr()).contains("--user cannot go with --session");
    }

    @Test
    void withoutAServerEveryCommandSaysWhichOneItNeeds() {
        for (String[] args : List.of(new String[] {"sessions", "list"}, new String[] {"exec", "--session", "x", "--",
                "true"}, new String[] {"sessions", "cp", "./a", "x:/workspace/a"})) {
            Run r = raw(args);
            assertThat(r.exitCode()).as(String.join(" ", args)).isEqualTo(2);
            assertThat(r.stderr()).contains("--url URL or MCP_SANDBOX_URL");
        }
        Run unreachable = raw("sessions", "show", "x", "--url", "http://127.0.0.1:1");
        assertThat(unreachable.exitCode()).isEqualTo(SessionsClient.UNREACHABLE);
        assertThat(unreachable.stderr()).contains("cannot reach the server at http://127.0.0.1:1")
                .doesNotContain("Exception").doesNotContain("\tat ");
        Run badUrl = raw("sessions", "list", "--url", "ftp://host/");
        assertThat(badUrl.exitCode()).isEqualTo(2);
        assertThat(badUrl.stderr()).contains("--url: expected the server's base URL");
        Run localWithUrl = raw("exec", "--url", stub.url(), "--", "true");
        assertThat(localWithUrl.exitCode()).isEqualTo(2);
        assertThat(localWithUrl.stderr()).contains("--url and --api-key go with --session");
    }

    @Test
    void serverRefusalsBecomeTheirOwnExitCodesWithTheServersMessage() {
        Run badKey = raw("sessions", "list", "--url", stub.url(), "--api-key", "wrong-key-0123456789");
        assertThat(badKey.exitCode()).isEqualTo(SessionsClient.KEY_REFUSED);
        assertThat(badKey.stderr()).contains("refused the API key: missing or unknown API key");
        Run unknown = cli("sessions", "show", "no-such-session");
        assertThat(unknown.exitCode()).isEqualTo(SessionsClient.NOT_FOUND);
        assertThat(unknown.stderr()).isEqualTo("mcp-sandbox sessions show: no session no-such-session\n");
        cli("sessions", "create");
        cli("sessions", "create");
        Run third = cli("sessions", "create");
        assertThat(third.exitCode()).isEqualTo(SessionsClient.TOO_MANY);
        assertThat(third.stderr()).contains("too many open sessions: at most 2 per user").contains("retry after 5s");
    }

    @Test
    void copyRefusesLinksNonFilesAndAmbiguousPaths() throws Exception {
        String id = cli("sessions", "create").stdout().strip();
        Path local = Files.write(dir.resolve("f.bin"), new byte[] {1, 2, 3});
        assertThat(cli("sessions", "cp", local.toString(), id + ":/workspace/f.bin").exitCode()).isZero();

        Path victim = Files.writeString(dir.resolve("victim.txt"), "keep me");
        Path link = Files.createSymbolicLink(dir.resolve("link"), victim);
        Run throughLink = cli("sessions", "cp", id + ":/workspace/f.bin", link.toString());
        assertThat(throughLink.exitCode()).isEqualTo(2);
        assertThat(throughLink.stderr()).contains("is a symbolic link; refusing to write through it");
        assertThat(Files.readString(victim)).isEqualTo("keep me");
        Path linkedDir = Files.createDirectory(dir.resolve("sub"));
        Files.createSymbolicLink(linkedDir.resolve("f.bin"), victim);
        Run intoDirLink = cli("sessions", "cp", id + ":/workspace/f.bin", linkedDir.toString());
        assertThat(intoDirLink.exitCode()).isEqualTo(2);
        assertThat(Files.readString(victim)).isEqualTo("keep me");

        Run missing = cli("sessions", "cp", id + ":/workspace/nothing", dir.resolve("n").toString());
        assertThat(missing.exitCode()).isEqualTo(SessionsClient.NOT_FOUND);
        assertThat(missing.stderr()).contains("no such file: /workspace/nothing");
        try (var left = Files.list(dir)) {
            assertThat(left.map(p -> p.getFileName().toString())).as("no partial file left").noneMatch(
                    n -> n.endsWith(".part") || n.equals("n"));
        }

        assertThat(cli("sessions", "cp", local.toString(), dir.resolve("x").toString()).stderr())
                .contains("one of SRC and DST must be ID:/path");
        assertThat(cli("sessions", "cp", id + ":/a", id + ":/b").exitCode()).isEqualTo(2);
        Run relative = cli("sessions", "cp", local.toString(), id + ":workspace/f");
        assertThat(relative.exitCode()).isEqualTo(2);
        assertThat(relative.stderr()).contains("must be absolute");
        Run directory = cli("sessions", "cp", dir.toString(), id + ":/workspace/d");
        assertThat(directory.exitCode()).isEqualTo(2);
        assertThat(directory.stderr()).contains("is a directory");
        Run badText = cli("sessions", "exec", id, "--stdin", Files.write(dir.resolve("bin"),
                new byte[] {(byte) 0xff, (byte) 0xfe}).toString(), "--", "cat");
        assertThat(badText.exitCode()).isEqualTo(2);
        assertThat(badText.stderr()).contains("not UTF-8 text");
        assertThat(new String(Files.readAllBytes(victim), StandardCharsets.UTF_8)).isEqualTo("keep me");
    }

    @Test
    void helpNamesTheServerAndTheExitCodes() {
        for (String sub : List.of("create", "list", "show", "close", "exec", "cp")) {
            Run help = raw("sessions", sub, "--help");
            assertThat(help.exitCode()).isZero();
            String text = help.stdout().replaceAll("\\s+", " ");
            assertThat(text).as(sub).contains("MCP_SANDBOX_URL").contains("MCP_SANDBOX_API_KEY")
                    .contains("mcp-sandbox serve --http").contains("6 ");
        }
        assertThat(raw("exec", "--help").stdout().replaceAll("\\s+", " ")).contains("--session")
                .contains("MCP_SANDBOX_URL");
    }
}
