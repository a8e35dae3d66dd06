// Validates an OpenAPI document with @apidevtools/swagger-parser (the official OpenAPI 3.1 schema plus its own
// checks: $refs resolve, operationIds unique, path parameters declared). Usage: node openapi-lint.mjs FILE
// Exit 0 and "valid" when it passes; exit 1 and the reasons when it does not.
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2];
try {
  const api = await SwaggerParser.validate(file);
  console.log(`valid: OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths`);
} catch (e) {
  console.error(`invalid: ${e.message}`);
  process.exit(1);
}
