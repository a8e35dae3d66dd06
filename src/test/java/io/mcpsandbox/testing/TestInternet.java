package io.mcpsandbox.testing;

import static io.mcpsandbox.testing.HostCommands.run;
import static io.mcpsandbox.testing.HostCommands.runQuietly;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * "The internet" inside a test: a network namespace of its own (veth host {@code 198.18.N.1/30}, namespace
 * {@code 198.18.N.2/30}) where a python3 server answers HTTP on :80 and HTTPS on :443 for the names in
 * {@link #NAMES}, with a certificate from a CA made at start ({@link #caPem()}). It serves {@link #docroot()} (the
 * test fills it), {@code /bytes/<n>} (n bytes, byte i = i % 256), {@code /echo-headers} (the request as JSON),
 * {@code /echo} (the body back), and a PEP 503 index at {@code https://pypi.test/simple/} with one pure-python
 * wheel, {@value #PACKAGE} ({@code import mcp_hello; mcp_hello.hello()} returns {@value #HELLO}), whose link
 * points at {@code https://files.pypi.test/packages/...} as PyPI's point at its file host. Every request and every
 * connection is logged ({@link #requests()}, {@link #connections()}), connections with the exact bytes on the
 * wire (the TLS records for HTTPS), so that a relay's byte counts can be checked against them.
 *
 * <p>N is leased from 198.18.160 to 198.18.223 with a file lock under {@value #LEASES} (shared by every JVM on this
 * machine, released by the kernel if the JVM dies) and skipped when an interface already has an address in it;
 * {@link NetnsReceiver} users pick their own N below 160. Names resolve only through {@link #resolveSetting()}
 * (the {@code network.resolve} value), never through the machine's DNS. The route to the namespace is checked to
 * go through this fixture's own veth before start returns. {@link #close()} stops the server, removes the
 * namespace, the veth and the temporary directory, and checks that they are gone.
 */
public final class TestInternet implements AutoCloseable {
    /** Every name the certificate holds and {@link #resolveSetting()} maps to {@link #address()}. */
    public static final List<String> NAMES = List.of("pypi.test", "files.pypi.test", "allowed.test",
            "sub.allowed.test", "deep.sub.allowed.test", "blocked.test", "api.test", "secret.test", "rebind.test",
            "other.test");
    public static final String PACKAGE = "mcp-hello";
    public static final String HELLO = "hello from mcp-hello";
    public static final String WHEEL = "mcp_hello-0.1.0-py3-none-any.whl";
    static final String LEASES = "/tmp/mcp-sandbox-testinternet-leases";
    private static final int FIRST_SUBNET = 160;
    private static final int SUBNETS = 64;
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final Path directory;
    private final Path docroot;
    private final Path logs;
    private FileChannel leaseFile;
    private FileLock lease;
    private String network;
    private String namespace;
    private String hostVeth;
    private Process server;
    private byte[] caPem;
    private String wheelSha256;

    private TestInternet(Path directory) {
        this.directory = directory;
        this.docroot = directory.resolve("docroot");
        this.logs = directory.resolve("logs");
    }

    /** Leases a subnet, makes the CA and the index, creates the namespace and starts the servers. */
    public static TestInternet start() throws Exception {
        TestInternet internet = new TestInternet(Files.createTempDirectory("mcp-testinternet-"));
        try {
            internet.create();
        } catch (Exception | AssertionError e) {
            internet.close();
            throw e;
        }
        return internet;
    }

    private void create() throws Exception {
        Files.createDirectories(docroot);
        Files.createDirectories(logs);
        Files.createFile(logs.resolve("requests.jsonl"));
        Files.createFile(logs.resolve("connections.jsonl"));
        makeCertificates();
        makeIndex();
        leaseSubnet();
        String suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(4);
        String n = network.substring(network.lastIndexOf('.') + 1);
        namespace = "mcpti" + n + "-" + suffix;
        hostVeth = "ti" + n + "h" + suffix;
        String nsVeth = "ti" + n + "n" + suffix;
        HostCommands.namespaceWithVeth(namespace, hostVeth, nsVeth, hostAddress(), address());
        assertRouteIsOurs();

        Path script = directory.resolve("server.py");
        try (InputStream in = TestInternet.class.getResourceAsStream("/testinternet/server.py")) {
            Files.write(script, in.readAllBytes());
        }
        Path ready = directory.resolve("ready");
        Path output = directory.resolve("server.out");
        server = new ProcessBuilder("ip", "netns", "exec", namespace, "python3", script.toString(),
                docroot.toString(), directory.resolve("server.pem").toString(),
                directory.resolve("server.key").toString(), logs.toString(), ready.toString(), address())
                .redirectErrorStream(true).redirectOutput(output.toFile()).start();
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(ready) || !server.isAlive());
        assertThat(server.isAlive()).as("the test internet's server runs: " + Files.readString(output)).isTrue();
    }

    /** A /30 no other fixture on this machine holds (file lock) and no interface uses. */
    private void leaseSubnet() throws IOException, InterruptedException {
        Path leases = Files.createDirectories(Path.of(LEASES));
        String addresses = run("ip", "-o", "-4", "addr", "show");
        List<Integer> candidates = IntStream.range(FIRST_SUBNET, FIRST_SUBNET + SUBNETS).boxed()
                .collect(Collectors.toCollection(ArrayList::new));
        Collections.shuffle(candidates);
        for (int n : candidates) {
            String candidate = "198.18." + n;
            if (addresses.contains(" " + candidate + ".")) {
                continue;
            }
            FileChannel file = FileChannel.open(leases.resolve(n + ".lock"), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = file.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                file.close();
                continue;
            }
            leaseFile = file;
            lease = lock;
            network = candidate;
            return;
        }
        throw new IllegalStateException("no free subnet in 198.18." + FIRST_SUBNET + "-"
                + (FIRST_SUBNET + SUBNETS - 1) + " for the test internet");
    }

    private void makeCertificates() throws IOException, InterruptedException {
        Path ca = directory.resolve("ca.pem");
        Path caKey = directory.resolve("ca.key");
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", caKey.toString(), "-out", ca.toString(), "-days", "7", "-subj", "/CN=mcp-sandbox test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        Path csr = directory.resolve("server.csr");
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", directory.resolve("server.key").toString(), "-out", csr.toString(),
                "-subj", "/CN=" + NAMES.getFirst());
        Path extensions = directory.resolve("server.ext");
        Files.writeString(extensions, "basicConstraints=critical,CA:FALSE\n"
                + "keyUsage=critical,digitalSignature,keyEncipherment\n"
                + "extendedKeyUsage=serverAuth\n"
                + "subjectKeyIdentifier=hash\n"
                + "authorityKeyIdentifier=keyid,issuer\n"
                + "subjectAltName=" + NAMES.stream().map(name -> "DNS:" + name).collect(Collectors.joining(","))
                + "\n");
        run("openssl", "x509", "-req", "-in", csr.toString(), "-CA", ca.toString(), "-CAkey", caKey.toString(),
                "-CAcreateserial", "-out", directory.resolve("server.pem").toString(), "-days", "7",
                "-extfile", extensions.toString());
        caPem = Files.readAllBytes(ca);
    }

    /** The wheel (built here, by hand: a zip with the module and its dist-info) and its PEP 503 pages. */
    private void makeIndex() throws IOException {
        String distInfo = "mcp_hello-0.1.0.dist-info/";
        List<String[]> files = List.of(
                new String[] {"mcp_hello/__init__.py", "def hello():\n    return \"" + HELLO + "\"\n"},
                new String[] {distInfo + "METADATA", "Metadata-Version: 2.1\nName: " + PACKAGE
                        + "\nVersion: 0.1.0\nSummary: A tiny package for mcp-sandbox's network tests\n"},
                new String[] {distInfo + "WHEEL", "Wheel-Version: 1.0\nGenerator: mcp-sandbox TestInternet\n"
                        + "Root-Is-Purelib: true\nTag: py3-none-any\n"});
        ByteArrayOutputStream zipBytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(zipBytes)) {
            StringBuilder record = new StringBuilder();
            for (String[] file : files) {
                byte[] content = file[1].getBytes(StandardCharsets.UTF_8);
                zip.putNextEntry(new ZipEntry(file[0]));
                zip.write(content);
                zip.closeEntry();
                record.append(file[0]).append(",sha256=").append(Base64.getUrlEncoder().withoutPadding()
                        .encodeToString(sha256(content))).append(',').append(content.length).append('\n');
            }
            record.append(distInfo).append("RECORD,,\n");
            zip.putNextEntry(new ZipEntry(distInfo + "RECORD"));
            zip.write(record.toString().getBytes(StandardCharsets.UTF_8));
            zip.closeEntry();
        }
        byte[] wheel = zipBytes.toByteArray();
        wheelSha256 = HexFormat.of().formatHex(sha256(wheel));
        Files.write(Files.createDirectories(docroot.resolve("packages")).resolve(WHEEL), wheel);
        Files.writeString(Files.createDirectories(docroot.resolve("simple")).resolve("index.html"),
                "<!DOCTYPE html>\n<html><body>\n<a href=\"" + PACKAGE + "/\">" + PACKAGE + "</a>\n</body></html>\n");
        Files.writeString(Files.createDirectories(docroot.resolve("simple").resolve(PACKAGE)).resolve("index.html"),
                "<!DOCTYPE html>\n<html><body>\n<a href=\"https://files.pypi.test/packages/" + WHEEL + "#sha256="
                        + wheelSha256 + "\">" + WHEEL + "</a>\n</body></html>\n");
    }

    /** Fails unless the route to the namespace goes through this fixture's own veth (never the real network). */
    public void assertRouteIsOurs() throws IOException, InterruptedException {
        assertThat(run("ip", "route", "get", address())).as("the route to the test internet must be its own veth")
                .contains("dev " + hostVeth + " ");
    }

    /** The servers' address, in the namespace: {@code 198.18.N.2}. */
    public String address() {
        return network + ".2";
    }

    /** The host side's address on the veth: {@code 198.18.N.1}. */
    public String hostAddress() {
        return network + ".1";
    }

    /** The {@code network.resolve} value: every name in {@link #NAMES} answered with {@link #address()}. */
    public String resolveSetting() {
        return NAMES.stream().map(name -> name + "=" + address()).collect(Collectors.joining(","));
    }

    /** The CA that signed the servers' certificate, PEM. */
    public byte[] caPem() {
        return caPem.clone();
    }

    /** The CA's PEM file (inside {@link #directory()}): for {@code --cert}, SSL_CERT_FILE and the like. */
    public Path caFile() {
        return directory.resolve("ca.pem");
    }

    /** A client context that trusts only the CA. */
    public SSLContext sslContext() throws Exception {
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        trust.setCertificateEntry("test-ca", CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(caPem)));
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trust);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        return context;
    }

    /** {@code http://name/path} ({@code path} starts with a slash). */
    public static String httpUrl(String name, String path) {
        return "http://" + name + path;
    }

    /** {@code https://name/path} ({@code path} starts with a slash). */
    public static String httpsUrl(String name, String path) {
        return "https://" + name + path;
    }

    /** The index pip is pointed at: {@code https://pypi.test/simple/}. */
    public static String indexUrl() {
        return httpsUrl("pypi.test", "/simple/");
    }

    /** The directory the servers serve: the test may add files (the index and the wheel are there already). */
    public Path docroot() {
        return docroot;
    }

    /** The wheel's sha256 (hex), as the index's link fragment says. */
    public String wheelSha256() {
        return wheelSha256;
    }

    /** The fixture's temporary directory (certificates, docroot, logs); removed by {@link #close()}. */
    public Path directory() {
        return directory;
    }

    /** The server's process (python3 in the namespace): gone after {@link #close()}. */
    public Optional<ProcessHandle> serverProcess() {
        return Optional.ofNullable(server).map(Process::toHandle);
    }

    /** The namespace's name and the host side veth's name. */
    public String namespace() {
        return namespace;
    }

    public String hostVeth() {
        return hostVeth;
    }

    /** One header as the server received it. */
    public record Header(String name, String value) {
    }

    /**
     * One request as the server received it: {@code head} is the exact request line and headers (with the blank
     * line), {@code body} the body (its first MiB); {@code bytesReceived} and {@code bytesSent} count what the
     * server took and wrote for this request above TLS. {@code sni} is null over HTTP; {@code method} is null
     * when the request line could not be parsed.
     */
    public record Request(long connection, String scheme, String sni, String method, String path, String host,
            List<Header> headers, byte[] head, byte[] body, long bytesReceived, long bytesSent, int status,
            byte[] responseHead) {
        /** The first value of a header (case-insensitive name). */
        public Optional<String> header(String name) {
            return headers.stream().filter(h -> h.name().equalsIgnoreCase(name)).map(Header::value).findFirst();
        }

        /** Every value of a header (case-insensitive name), in order. */
        public List<String> headers(String name) {
            return headers.stream().filter(h -> h.name().equalsIgnoreCase(name)).map(Header::value).toList();
        }
    }

    /**
     * One connection, logged when it closed: the bytes on the wire each way (for HTTPS the TLS records, handshake
     * and close_notify included). {@code failure} says why it ended early (a failed handshake), else null.
     */
    public record Connection(long id, String scheme, String sni, int requests, long bytesReceived, long bytesSent,
            String failure) {
    }

    /** Every request so far, in the order they ended. */
    public List<Request> requests() {
        return readLog("requests.jsonl").map(TestInternet::request).toList();
    }

    /** Every connection closed so far, in the order they closed. */
    public List<Connection> connections() {
        return readLog("connections.jsonl").map(node -> new Connection(node.get("id").asLong(),
                node.get("scheme").asString(), text(node.get("sni")), node.get("requests").asInt(),
                node.get("bytesReceived").asLong(), node.get("bytesSent").asLong(), text(node.get("failure"))))
                .toList();
    }

    /** Waits (20 s at most) until at least {@code count} requests match; returns the matching ones. */
    public List<Request> awaitRequests(Predicate<Request> filter, int count) {
        await().atMost(Duration.ofSeconds(20)).until(() -> requests().stream().filter(filter).count() >= count);
        return requests().stream().filter(filter).toList();
    }

    /** Waits (20 s at most) until at least {@code count} closed connections match; returns the matching ones. */
    public List<Connection> awaitConnections(Predicate<Connection> filter, int count) {
        await().atMost(Duration.ofSeconds(20)).until(() -> connections().stream().filter(filter).count() >= count);
        return connections().stream().filter(filter).toList();
    }

    private static Request request(JsonNode node) {
        List<Header> headers = new ArrayList<>();
        node.get("headers").forEach(pair -> headers.add(new Header(pair.get(0).asString(), pair.get(1).asString())));
        Base64.Decoder base64 = Base64.getDecoder();
        return new Request(node.get("connection").asLong(), node.get("scheme").asString(), text(node.get("sni")),
                text(node.get("method")), text(node.get("path")), text(node.get("host")), List.copyOf(headers),
                base64.decode(node.get("head").asString()), base64.decode(node.get("body").asString()),
                node.get("bytesReceived").asLong(), node.get("bytesSent").asLong(),
                node.get("status").isNull() ? 0 : node.get("status").asInt(),
                base64.decode(node.get("responseHead").asString()));
    }

    private static String text(JsonNode node) {
        return node == null || node.isNull() ? null : node.asString();
    }

    private Stream<JsonNode> readLog(String name) {
        try {
            // A line still being written has no newline yet: only complete lines are read.
            String content = Files.readString(logs.resolve(name));
            String complete = content.substring(0, content.lastIndexOf('\n') + 1);
            return complete.lines().filter(line -> !line.isBlank()).map(JSON::readTree);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Stops the server, removes the veth pair, the namespace and the temporary directory, releases the subnet,
     * and checks that nothing is left.
     */
    @Override
    public void close() throws Exception {
        boolean serverEnded = true;
        if (server != null) {
            server.destroyForcibly();
            serverEnded = server.waitFor(10, TimeUnit.SECONDS);
        }
        if (namespace != null) {
            runQuietly("ip", "link", "del", hostVeth);
            runQuietly("ip", "netns", "del", namespace);
        }
        if (Files.exists(directory)) {
            try (Stream<Path> paths = Files.walk(directory)) {
                for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(path);
                }
            }
        }
        if (lease != null) {
            lease.release();
            leaseFile.close();
        }
        if (namespace != null) {
            assertThat(run("ip", "netns", "list")).doesNotContain(namespace);
            assertThat(run("ip", "link", "show")).doesNotContain(hostVeth);
        }
        assertThat(directory).doesNotExist();
        assertThat(serverEnded).as("the test internet's server ends").isTrue();
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
