package io.mcpsandbox.api.ui;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.SystemTest;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import tools.jackson.databind.JsonNode;

/**
 * The console in a real browser: Debian's chromium, headless, driven through chromedriver, against a real
 * server with real runc sandboxes. Signs in, runs code in a session and watches its output stream, watches a
 * security event arrive, terminates a running execution from the live view, checks who sees whose executions,
 * and feeds every page hostile text (markup, ANSI, bidi controls) that must stay text: no script runs, and the
 * CSP violation counter only moves for the control injection that proves the policy reports. Every page is
 * saved as a screenshot under target/console-screenshots/.
 */
@SystemTest
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsoleBrowserTest {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path SHOTS = Path.of("target/console-screenshots");
    private static final Path DOWNLOADS = Path.of("target/console-downloads").toAbsolutePath();
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String CSP_METER = "mcp_sandbox_console_csp_reports_total";

    /** On a failure: the page as it was (screenshot, text, the browser's console) next to the screenshots. */
    @RegisterExtension
    static final TestWatcher KEEP_FAILURES = new TestWatcher() {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
            if (browser == null) {
                return;
            }
            String name = "failed-" + context.getRequiredTestMethod().getName();
            try {
                shot(name);
                StringBuilder log = new StringBuilder(browser.getCurrentUrl()).append("\n\n");
                for (LogEntry e : browser.manage().logs().get(LogType.BROWSER)) {
                    log.append(e).append('\n');
                }
                log.append("\n").append(content("body"));
                Files.writeString(SHOTS.resolve(name + ".txt"), log);
            } catch (Exception e) {
                cause.addSuppressed(e);
            }
        }
    };

    private static ConsoleServer server;
    private static ChromeDriver browser;
    /** alice's execution that bob must not see and the admin must. */
    private static String aliceExecution;

    @BeforeAll
    static void start() throws Exception {
        assertThat(CHROMIUM).as("Debian's chromium (.ci/run installs it)").isExecutable();
        assertThat(CHROMEDRIVER).as("Debian's chromium-driver (.ci/run installs it)").isExecutable();
        Files.createDirectories(SHOTS);
        DeleteTree.delete(DOWNLOADS);
        Files.createDirectories(DOWNLOADS);
        server = ConsoleServer.start();
        // The driver and the browser named outright: Selenium Manager never looks for (or downloads) either.
        System.setProperty("webdriver.chrome.driver", CHROMEDRIVER.toString());
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort()
                .withLogFile(new File("target/console-chromedriver.log")).build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--lang=en-US");
        options.setCapability("goog:loggingPrefs", Map.of(LogType.BROWSER, "ALL"));
        options.setExperimentalOption("prefs", Map.of("download.default_directory", DOWNLOADS.toString(),
                "download.prompt_for_download", false));
        browser = new ChromeDriver(service, options);
        browser.manage().timeouts().scriptTimeout(Duration.ofSeconds(20));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (browser != null) {
                browser.quit();
            }
        } finally {
            if (server != null) {
                server.close();
            }
        }
    }

    // ---- helpers

    private static JavascriptExecutor js() {
        return browser;
    }

    /** Moves to a route the way the console's own links do (a hash change) and waits until it is drawn. */
    private static void go(String route) {
        js().executeScript("location.hash = arguments[0]", route);
        await().atMost(WAIT).ignoreExceptions().until(() -> {
            WebElement main = browser.findElement(By.id("main"));
            return route.equals(main.getDomAttribute("data-route")) && "true".equals(main.getDomAttribute(
                    "data-ready"));
        });
    }

    private static WebElement find(String css) {
        return await().atMost(WAIT).ignoreExceptions().until(() -> browser.findElement(By.cssSelector(css)),
                e -> e.isDisplayed());
    }

    private static List<WebElement> all(String css) {
        return browser.findElements(By.cssSelector(css));
    }

    private static String text(String css) {
        List<WebElement> found = all(css);
        return found.isEmpty() ? "" : found.get(0).getText();
    }

    /** The raw text of an element (textContent: what was put there, markers included). */
    private static String content(String css) {
        Object v = js().executeScript("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''",
                css);
        return v == null ? "" : v.toString();
    }

    private static void awaitPage(String page) {
        await().atMost(WAIT).ignoreExceptions().until(() -> page.equals(
                browser.findElement(By.id("main")).getDomAttribute("data-page")));
    }

    private static void shot(String name) throws Exception {
        Files.write(SHOTS.resolve(name + ".png"), browser.getScreenshotAs(OutputType.BYTES));
    }

    private static void signIn(String key, String user) {
        browser.get(server.url("/ui/#/executions"));
        await().atMost(WAIT).ignoreExceptions().until(() -> browser.findElement(By.id("signout")).isDisplayed()
                || browser.findElement(By.id("signin-key")).isDisplayed());
        if (browser.findElement(By.id("signout")).isDisplayed()) {
            browser.findElement(By.id("signout")).click();
        }
        WebElement input = find("#signin-key");
        input.clear();
        input.sendKeys(key);
        browser.findElement(By.id("signin-submit")).click();
        await().atMost(WAIT).ignoreExceptions().until(() -> browser.findElement(By.id("whoami")).getText()
                .startsWith(user));
    }

    /** The files table's row of the file named name. */
    private static WebElement fileRow(String name) {
        return browser.findElements(By.cssSelector("[data-test=files-table] tbody tr")).stream()
                .filter(r -> r.findElements(By.cssSelector("td")).get(0).getText().equals(name)).findFirst()
                .orElseThrow();
    }

    private static Object xss() {
        return js().executeScript("return typeof window.__xss === 'undefined' ? null : window.__xss");
    }

    private static String createSession(String key) throws Exception {
        JsonNode s = server.post("/v1/sessions", key, Map.of());
        assertThat(s.has("sessionId")).as(s.toString()).isTrue();
        return s.get("sessionId").asString();
    }

    // ---- the cases

    @Test
    @Order(1)
    void signInChecksTheKeyAndKeepsItOutOfUrlsAndCookies() throws Exception {
        browser.get(server.url("/ui/"));
        find("#signin-key");
        shot("signin");
        find("#signin-key").sendKeys("not-a-key-0123456789abcdef");
        browser.findElement(By.id("signin-submit")).click();
        await().atMost(WAIT).until(() -> !text("#signin-error").isEmpty());
        assertThat(browser.findElement(By.id("topbar")).isDisplayed()).isFalse();

        signIn(ConsoleServer.KEY_ALICE, "alice");
        assertThat(browser.getCurrentUrl()).doesNotContain(ConsoleServer.KEY_ALICE);
        assertThat(browser.manage().getCookies()).isEmpty();
        assertThat(js().executeScript("return document.cookie")).isEqualTo("");
        assertThat(js().executeScript("return sessionStorage.getItem('mcp-sandbox.apiKey')"))
                .isEqualTo(ConsoleServer.KEY_ALICE);
        assertThat(js().executeScript("return localStorage.length")).isEqualTo(0L);
        awaitPage("executions");

        browser.findElement(By.id("signout")).click();
        find("#signin-key");
        assertThat(js().executeScript("return sessionStorage.getItem('mcp-sandbox.apiKey')")).isNull();
    }

    @Test
    @Order(2)
    void codeRunFromASessionPageStreamsItsOutput() throws Exception {
        signIn(ConsoleServer.KEY_ALICE, "alice");
        go("#/sessions");
        awaitPage("sessions");
        find("#session-new").click();
        await().atMost(Duration.ofSeconds(60)).until(() -> browser.getCurrentUrl().contains("#/sessions/"));
        awaitPage("sessions");
        find("#run-code");
        new org.openqa.selenium.support.ui.Select(find("#run-language")).selectByValue("python");
        find("#run-code").sendKeys("import time\nprint('first line', flush=True)\ntime.sleep(4)\n"
                + "print('second line', flush=True)\n");
        browser.findElement(By.id("run-submit")).click();
        // The first line shows while the program still sleeps: streamed, not delivered at the end.
        await().atMost(WAIT).until(() -> content("#run-stdout").contains("first line"));
        assertThat(content("#run-stdout")).doesNotContain("second line");
        assertThat(browser.findElement(By.id("run-form")).getDomAttribute("data-status")).isEqualTo("running");
        shot("session-running");
        await().atMost(WAIT).until(() -> "completed".equals(
                browser.findElement(By.id("run-form")).getDomAttribute("data-status")));
        assertThat(content("#run-stdout")).isEqualTo("first line\nsecond line\n");
        assertThat(text("#run-state")).contains("completed", "exit 0");

        // The files browser: a program's file is listed and downloadable; the page's own upload is not tested
        // here (a file chooser), the REST upload path is.
        find("#run-code").clear();
        find("#run-code").sendKeys("open('/workspace/report.txt', 'w').write('made in the session')\n"
                + "print('wrote report.txt')\n");
        browser.findElement(By.id("run-submit")).click();
        await().atMost(WAIT).until(() -> "completed".equals(
                browser.findElement(By.id("run-form")).getDomAttribute("data-status")));
        await().atMost(WAIT).until(() -> content("[data-test=files-table]").contains("report.txt"));
        shot("session");

        // Upload (a PUT of the raw file), download (fetched with the key, saved from a blob) and delete.
        Path upload = Files.writeString(DOWNLOADS.resolveSibling("console-upload.txt"), "uploaded from the browser");
        find("#files-upload").sendKeys(upload.toString());
        browser.findElement(By.id("files-upload-submit")).click();
        await().atMost(WAIT).until(() -> content("[data-test=files-table]").contains("console-upload.txt"));
        String session = browser.findElement(By.cssSelector("[data-test=session-id]")).getText();
        String uploaded = server.text("/v1/sessions/" + session + "/files/workspace/console-upload.txt",
                ConsoleServer.KEY_ALICE);
        assertThat(uploaded).isEqualTo("uploaded from the browser");
        fileRow("report.txt").findElement(By.cssSelector("[data-test=file-download]")).click();
        Path downloaded = DOWNLOADS.resolve("report.txt");
        await().atMost(WAIT).until(() -> Files.isRegularFile(downloaded)
                && "made in the session".equals(Files.readString(downloaded)));
        fileRow("console-upload.txt").findElement(By.cssSelector("[data-test=file-delete]")).click();
        await().atMost(WAIT).until(() -> !content("[data-test=files-table]").contains("console-upload.txt"));
        assertThat(server.status("/v1/sessions/" + session + "/files/workspace/console-upload.txt",
                ConsoleServer.KEY_ALICE)).isEqualTo(404);
        find("#session-close").click();
        await().atMost(WAIT).until(() -> content("[data-test=session-facts]").contains("closed"));
    }

    @Test
    @Order(3)
    void aSecurityEventAppearsAfterAProgramPrintsAnAwsKey() throws Exception {
        signIn(ConsoleServer.KEY_ALICE, "alice");
        go("#/security");
        awaitPage("security");
        find("#sec-count");
        String fakeKey = "AKIA" + "IOSFODNN7EXAMPLE";
        JsonNode result = server.post("/v1/executions", ConsoleServer.KEY_ALICE,
                Map.of("language", "python", "code", "print('key: " + fakeKey + "')"));
        assertThat(result.get("status").asString()).as(result.toString()).isEqualTo("completed");
        assertThat(result.get("securityEvents").size()).as(result.toString()).isPositive();
        String id = result.get("executionId").asString();
        aliceExecution = id;
        // The page polls: the event arrives without a reload.
        String eventLink = "[data-test=sec-table] a[href='#/executions/" + id + "']";
        await().atMost(WAIT).until(() -> !all(eventLink).isEmpty());
        String type = result.get("securityEvents").get(0).get("type").asString();
        assertThat(content("[data-test=sec-table]")).contains(type);
        assertThat(all("#sec-chart canvas")).isNotEmpty();
        shot("security");
        go("#/executions/" + id);
        await().atMost(WAIT).until(() -> content("[data-test=exec-events]").contains(type));
        shot("execution-detail");
    }

    @Test
    @Order(4)
    void aRunningExecutionIsTerminatedFromTheLiveView() throws Exception {
        signIn(ConsoleServer.KEY_ALICE, "alice");
        go("#/live");
        awaitPage("live");
        CompletableFuture<JsonNode> running = server.postAsync("/v1/executions", ConsoleServer.KEY_ALICE,
                Map.of("command", List.of("sh", "-c", "echo live-start; while true; do echo tick; sleep 1; done"),
                        "limits", Map.of("timeoutMs", 120_000)));
        WebElement card = find("[data-test=live-card]");
        String id = card.getDomAttribute("data-id");
        await().atMost(WAIT).until(() -> content("[data-test=live-card][data-id='" + id + "'] pre.stdout")
                .contains("live-start\ntick\n"));
        shot("live");
        browser.findElement(By.cssSelector("[data-test=terminate][data-id='" + id + "']")).click();
        JsonNode result = running.get(60, TimeUnit.SECONDS);
        assertThat(result.get("executionId").asString()).isEqualTo(id);
        assertThat(result.get("status").asString()).isIn("terminated", "killed");
        await().atMost(WAIT).until(() -> List.of("terminated", "killed").contains(browser.findElement(
                By.cssSelector("[data-test=live-card][data-id='" + id + "']")).getDomAttribute("data-status")));
    }

    @Test
    @Order(5)
    void bobDoesNotSeeAlicesExecutionAndTheAdminDoes() throws Exception {
        if (aliceExecution == null) {
            aliceExecution = server.post("/v1/executions", ConsoleServer.KEY_ALICE,
                    Map.of("command", List.of("echo", "alice's"))).get("executionId").asString();
        }
        String link = "[data-test=exec-link][data-id='" + aliceExecution + "']";
        signIn(ConsoleServer.KEY_BOB, "bob");
        go("#/executions");
        awaitPage("executions");
        find("[data-test=exec-count]");
        assertThat(all(link)).isEmpty();
        go("#/executions/" + aliceExecution);
        find("[data-test=error]");
        assertThat(text("[data-test=error]")).startsWith("404");
        assertThat(content("#main")).doesNotContain("AKIA");

        signIn(ConsoleServer.KEY_ADMIN, "admin");
        assertThat(all("[data-test=admin]")).isNotEmpty();
        go("#/executions");
        awaitPage("executions");
        find(link);
        assertThat(all("#f-user")).as("the user filter is an admin's").isNotEmpty();
        shot("executions");
        go("#/executions?user=bob");
        find("[data-test=exec-count]");
        assertThat(all(link)).as("filtered to bob").isEmpty();
        go("#/executions/" + aliceExecution);
        await().atMost(WAIT).until(() -> content("[data-test=exec-facts]").contains("alice"));
    }

    @Test
    @Order(6)
    void hostileOutputAndFileNamesStayText() throws Exception {
        double reportsBefore = server.meter(CSP_METER);
        signIn(ConsoleServer.KEY_ALICE, "alice");
        String session = createSession(ConsoleServer.KEY_ALICE);
        String fileName = "<img src=x onerror=window.__xss=3>.txt";
        assertThat(server.putFile(session, "/workspace/" + fileName, "hostile name", ConsoleServer.KEY_ALICE))
                .isEqualTo(204);
        String script = "<script>window.__xss=1</script>";
        String img = "<img src=x onerror=\"window.__xss=2\">";
        // Python writes the escapes: ESC [31m and U+202E (right-to-left override).
        JsonNode result = server.post("/v1/sessions/" + session + "/executions", ConsoleServer.KEY_ALICE,
                Map.of("language", "python", "code", "print('" + script + "')\nprint('" + img.replace("\"", "\\\"")
                        + "')\nprint('\\x1b[31mred\\x1b[0m plain')\nprint('abc\\u202edef')\n"));
        assertThat(result.get("status").asString()).as(result.toString()).isEqualTo("completed");
        String id = result.get("executionId").asString();

        go("#/executions/" + id);
        await().atMost(WAIT).until(() -> content("#exec-stdout").contains("plain"));
        String out = content("#exec-stdout");
        assertThat(out).contains(script, img, "ESC[31mred", "ESC[0m plain", "abcU+202Edef");
        assertThat(out).doesNotContain("\u001b", "\u202e");
        assertThat(browser.findElement(By.id("exec-stdout")).getText()).contains(script, img);
        assertThat(all("#exec-stdout script, #exec-stdout img, #main img")).isEmpty();
        assertThat(all("#exec-stdout .ctl")).hasSize(3);
        // The code that ran, from the record, shown as it was sent: its markup is text too.
        String code = content("[data-test=request-code]");
        String imgInCode = img.replace("\"", "\\\"");
        assertThat(code).contains("print('" + script + "')", "print('" + imgInCode + "')", "print('abc\\u202edef')");
        assertThat(browser.findElement(By.cssSelector("[data-test=request-code]")).getText()).contains(script,
                imgInCode);
        assertThat(all("[data-test=request-code] script, [data-test=request-code] img")).isEmpty();
        assertThat(content("[data-test=exec-request]")).contains("code");
        shot("xss-execution");

        go("#/sessions/" + session);
        await().atMost(WAIT).until(() -> content("[data-test=files-table]").contains(fileName));
        assertThat(all("#files img, #files script")).isEmpty();
        shot("xss-session");

        go("#/executions");
        find("[data-test=exec-link][data-id='" + id + "']");
        go("#/performance");
        find("[data-test=perf-runtimes]");
        assertThat(content("[data-test=perf-runtimes]")).contains("runc");
        shot("performance");
        go("#/runtimes");
        find("[data-test=runtime-table]");
        WebElement runc = browser.findElements(By.cssSelector("[data-test=runtime-table] tbody tr")).stream()
                .filter(r -> r.getText().startsWith("runc")).findFirst().orElseThrow();
        assertThat(runc.findElements(By.cssSelector("[data-test=usable]"))).isNotEmpty();
        find("[data-test=image-table]");
        shot("runtimes");
        go("#/sessions");
        find("[data-test=session-link][data-id='" + session + "']");
        shot("sessions");
        assertThat(xss()).as("no injected script ran").isNull();

        // The control: an inline script injected into the page is refused by the policy and reported, so a
        // counter that did not move above means no violation happened, not that none could be seen.
        js().executeScript("const s = document.createElement('script'); s.textContent = 'window.__xss = 99';"
                + "document.body.appendChild(s);");
        await().atMost(WAIT).until(() -> server.meter(CSP_METER) > reportsBefore);
        assertThat(xss()).as("the policy refused the injected inline script").isNull();
        assertThat(server.meter(CSP_METER)).as("one report: the control's, none from the hostile pages")
                .isEqualTo(reportsBefore + 1);
        assertThat(server.delete("/v1/sessions/" + session, ConsoleServer.KEY_ALICE)).isEqualTo(200);
    }
}
