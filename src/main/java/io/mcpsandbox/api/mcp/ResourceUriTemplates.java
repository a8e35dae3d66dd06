package io.mcpsandbox.api.mcp;

import io.modelcontextprotocol.util.McpUriTemplateManager;
import io.modelcontextprotocol.util.McpUriTemplateManagerFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Matches resource URIs against templates with {@code {name}} (one path segment) and RFC 6570's reserved
 * expansion {@code {+name}} (any characters, "/" included). The SDK's default matcher takes every variable as
 * one segment, so {@code sandbox://sessions/{sessionId}/files/{+path}} would never match a nested path. Values
 * come back as they are in the URI (still percent-encoded).
 */
final class ResourceUriTemplates implements McpUriTemplateManagerFactory {
    private static final Pattern VARIABLE = Pattern.compile("\\{(\\+?)([A-Za-z0-9_]+)}");

    @Override
    public McpUriTemplateManager create(String template) {
        return new Template(template);
    }

    private static final class Template implements McpUriTemplateManager {
        private final String template;
        private final List<String> names = new ArrayList<>();
        private final Pattern pattern;

        Template(String template) {
            this.template = template;
            StringBuilder regex = new StringBuilder("^");
            Matcher m = VARIABLE.matcher(template);
            int at = 0;
            while (m.find()) {
                regex.append(Pattern.quote(template.substring(at, m.start())));
                regex.append(m.group(1).isEmpty() ? "([^/?#]+)" : "([^?#]+)");
                names.add(m.group(2));
                at = m.end();
            }
            regex.append(Pattern.quote(template.substring(at))).append('$');
            this.pattern = Pattern.compile(regex.toString());
        }

        @Override
        public List<String> getVariableNames() {
            return List.copyOf(names);
        }

        @Override
        public Map<String, String> extractVariableValues(String uri) {
            Map<String, String> values = new HashMap<>();
            Matcher m = uri == null ? null : pattern.matcher(uri);
            if (m != null && m.matches()) {
                for (int i = 0; i < names.size(); i++) {
                    values.put(names.get(i), m.group(i + 1));
                }
            }
            return values;
        }

        @Override
        public boolean matches(String uri) {
            return uri != null && (names.isEmpty() ? template.equals(uri) : pattern.matcher(uri).matches());
        }

        @Override
        public boolean isUriTemplate(String uri) {
            return uri != null && VARIABLE.matcher(uri).find();
        }
    }
}
