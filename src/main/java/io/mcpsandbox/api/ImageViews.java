package io.mcpsandbox.api;

import io.mcpsandbox.image.CatalogImage;
import io.mcpsandbox.scan.ImageVulnerabilityScanner;
import java.util.List;
import java.util.Map;

/** The catalog's images with their vulnerability reports, as {@code GET /v1/images} answers. */
public final class ImageViews {
    private ImageViews() {
    }

    /** @param scanner whether and how images are scanned here (trivy's path, or why not) */
    public record Images(String scanner, List<Image> images) {
    }

    /** @param scan the last finished scan's counts and first findings; null when none has finished */
    public record Image(String name, String kind, String digest, long sizeBytes, boolean unpacked, Scan scan) {
    }

    /** @param analysed false when trivy found nothing it could check: an empty report is then no clean bill */
    public record Scan(String scannedAt, int critical, int high, boolean analysed,
                       List<Map<String, Object>> findings) {
    }

    static Images of(List<CatalogImage> catalog, ImageVulnerabilityScanner scanner) {
        return new Images(scanner.status(), catalog.stream().map(i -> new Image(i.name(), i.kind(), i.digest(),
                i.sizeBytes(), i.unpacked(), scanner.cached(i.digest()).map(ImageViews::scan).orElse(null)))
                .toList());
    }

    private static Scan scan(ImageVulnerabilityScanner.Report r) {
        List<Map<String, Object>> findings = new java.util.ArrayList<>();
        r.criticalListed().forEach(f -> findings.add(finding("critical", f)));
        r.highListed().forEach(f -> findings.add(finding("high", f)));
        return new Scan(r.scannedAt(), r.critical(), r.high(), r.analysed(), findings);
    }

    private static Map<String, Object> finding(String severity, ImageVulnerabilityScanner.Finding f) {
        return Map.of("severity", severity, "id", f.id(), "package", f.pkg(),
                "installedVersion", f.installedVersion(), "fixedVersion", f.fixedVersion());
    }
}
