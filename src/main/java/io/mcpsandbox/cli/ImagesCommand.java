package io.mcpsandbox.cli;

import io.mcpsandbox.config.ImageSettings;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.image.CatalogImage;
import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageCatalog;
import io.mcpsandbox.image.ImageCatalogException;
import io.mcpsandbox.image.ImageReference;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.record.ExecutionStores;
import io.mcpsandbox.scan.ImageVulnerabilityPolicy;
import io.mcpsandbox.scan.ImageVulnerabilityScanner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import tools.jackson.databind.json.JsonMapper;

/** {@code images list|import|pull|rm}: the image catalog in the data directory (see docs/images.md). */
@Command(name = "images", mixinStandardHelpOptions = true,
        description = "Manages the image catalog: the built-in host image and OCI images (docs/images.md).",
        subcommands = {ImagesCommand.ListImages.class, ImagesCommand.ImportImage.class, ImagesCommand.PullImage.class,
                ImagesCommand.RemoveImage.class})
public final class ImagesCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        return new ListImages().call();
    }

    static ImageCatalog catalog() throws IOException {
        SandboxConfig config = Main.config();
        Files.createDirectories(config.imagesDir());
        return new ImageCatalog(config.imagesDir(), new HostImage(Path.of("/"), config.imagesDir()));
    }

    /**
     * Scans a newly stored image for vulnerabilities now (trivy, once per digest, cached in the data
     * directory), so that the first request for it does not wait; says plainly when nothing was scanned.
     */
    private static void scan(ImageCatalog catalog, CatalogImage image) throws IOException, ImageCatalogException {
        SandboxConfig config = Main.config();
        ImageVulnerabilityScanner scanner = ImageVulnerabilityPolicy.fromSettings(config.dataDir(),
                ImageSettings.from(config.settings())).scanner();
        if (!scanner.available()) {
            System.err.println("mcp-sandbox images: not scanned for vulnerabilities: " + scanner.status());
            return;
        }
        System.err.println("mcp-sandbox images: scanning " + image.name() + " with trivy...");
        var report = scanner.scan(image.digest(), catalog.rootfs(image.name(), image.digest()).rootDir());
        System.err.println("mcp-sandbox images: " + report.map(r -> r.critical() + " critical, " + r.high()
                + " high known vulnerabilities").orElse("the scan failed (see the log); requests will retry it"));
    }

    private static int fail(String message) {
        System.err.println("mcp-sandbox images: " + message);
        return 1;
    }

    @Command(name = "list", aliases = "ls", mixinStandardHelpOptions = true,
            description = "Lists every image: name, kind, digest (what an allowlist entry pins), size.")
    static final class ListImages implements Callable<Integer> {
        @Option(names = "--json", description = "Print a JSON array.")
        boolean json;

        @Override
        public Integer call() {
            try {
                List<CatalogImage> images = catalog().list();
                if (json) {
                    System.out.println(JsonMapper.builder().build().writeValueAsString(images));
                } else {
                    int width = Math.max(24, images.stream().mapToInt(i -> i.name().length()).max().orElse(0));
                    String row = "%-" + width + "s %-8s %-72s %s%n";
                    System.out.printf(row, "NAME", "KIND", "DIGEST", "SIZE");
                    for (CatalogImage i : images) {
                        System.out.printf(row, i.name(), i.kind(), i.digest(),
                                i.kind().equals(CatalogImage.BUILTIN) ? "-" : human(i.sizeBytes()));
                    }
                }
                return 0;
            } catch (IOException | RuntimeException e) {
                return fail(e.getMessage());
            }
        }
    }

    @Command(name = "import", mixinStandardHelpOptions = true,
            description = "Imports a `docker save` archive or an OCI archive under NAME (replacing an image of that "
                    + "name), then scans it with trivy where installed.")
    static final class ImportImage implements Callable<Integer> {
        @Option(names = "--name", required = true, description = "Catalog name: an image reference such as "
                + "alpine:3.19 or ghcr.io/org/tool:1.2 (a missing tag is latest; a @sha256: digest must match).")
        String name;

        @Parameters(index = "0", paramLabel = "ARCHIVE")
        Path archive;

        @Override
        public Integer call() {
            try {
                ImageCatalog catalog = catalog();
                CatalogImage i = catalog.importArchive(name, archive);
                System.out.println(i.name() + " " + i.digest());
                scan(catalog, i);
                return 0;
            } catch (ImageCatalogException | IOException e) {
                return fail(e.getMessage());
            }
        }
    }

    @Command(name = "pull", mixinStandardHelpOptions = true,
            description = "Pulls REF (e.g. python:3.11-slim, ghcr.io/org/tool:1.2) from its registry with skopeo, "
                    + "then scans it with trivy where installed.")
    static final class PullImage implements Callable<Integer> {
        @Option(names = "--name", description = "Catalog name; default: REF itself, normalised and without a "
                + "digest (python:3.11-slim stays python:3.11-slim).")
        String name;

        @Parameters(index = "0", paramLabel = "REF")
        String ref;

        @Override
        public Integer call() {
            try {
                ImageCatalog catalog = catalog();
                CatalogImage i = catalog.pull(ref, name);
                System.out.println(i.name() + " " + i.digest());
                scan(catalog, i);
                return 0;
            } catch (ImageCatalogException | IOException e) {
                return fail(e.getMessage());
            }
        }
    }

    @Command(name = "rm", aliases = "remove", mixinStandardHelpOptions = true,
            description = "Removes an OCI image, its unused blobs and its unpacked root filesystem; refused while "
                    + "an execution recorded as running uses it.")
    static final class RemoveImage implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--force", description = "Remove even while executions recorded as running use the image "
                + "(they may then fail).")
        boolean force;

        @Override
        public Integer call() {
            try {
                List<String> users = force ? List.of() : runningExecutionsOf(name);
                if (!users.isEmpty()) {
                    return fail("image '" + name + "' is in use by running execution(s) " + String.join(", ", users)
                            + ": let them end, stop them with `executions kill ID`, or use --force");
                }
                catalog().remove(name);
                System.out.println("removed " + name);
                return 0;
            } catch (ImageCatalogException | IOException e) {
                return fail(e.getMessage());
            }
        }
    }

    /**
     * Executions the store records as running on {@code image} (whichever server or CLI runs them), compared
     * by catalog name: {@code busy} is {@code busy:latest}.
     */
    private static List<String> runningExecutionsOf(String image) {
        String name = catalogName(image);
        SandboxConfig config = Main.config();
        try (ExecutionStore store = ExecutionStores.create(config, config.settings())) {
            return store.running().stream().filter(r -> r.image() != null && name.equals(catalogName(r.image())))
                    .map(ExecutionRecord::executionId).toList();
        }
    }

    private static String catalogName(String reference) {
        try {
            return ImageReference.parse("NAME", reference).name();
        } catch (IllegalArgumentException e) {
            return reference;
        }
    }

    private static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        if (bytes < 1 << 20) {
            return String.format("%.1f KiB", bytes / 1024.0);
        }
        return String.format("%.1f MiB", bytes / (1024.0 * 1024));
    }
}
