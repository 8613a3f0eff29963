// TypeScript types of the partner API from its OpenAPI schema, with openapi-typescript (pinned in
// package.json). Usage: node generate-types.mjs <schema.json|yaml> <out.ts>
//
// `format: binary` (uploads) becomes `Blob`, as openapi-typescript's documentation does it with its
// `transform` option: its default type for binary is `string`, which no browser or Node form accepts.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const [schemaPath, outPath] = process.argv.slice(2);
if (!schemaPath || !outPath) {
  console.error("usage: node generate-types.mjs <schema> <out.ts>");
  process.exit(2);
}
const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const NULL = ts.factory.createLiteralTypeNode(ts.factory.createNull());

const ast = await openapiTS(pathToFileURL(path.resolve(schemaPath)), {
  transform(schemaObject, metadata) {
    if (schemaObject.format === "binary") {
      return metadata.path?.endsWith("nullable") ? ts.factory.createUnionTypeNode([BLOB, NULL]) : BLOB;
    }
    return undefined;
  },
});
fs.writeFileSync(outPath, astToString(ast));
