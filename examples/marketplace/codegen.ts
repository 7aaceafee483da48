// GraphQL Code Generator: typed documents for every `graphql(...)` call in src/, from the
// server's schema at the repository root. Runs as the first step of `npm run build`.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/**/*.ts", "!src/gql/**"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      config: {
        // Documents as plain strings (TypedDocumentString): fetch and graphql-ws send them
        // as they are, so no GraphQL parser ships in the bundle.
        documentMode: "string",
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: {
          CountryCode: "string",
          Currency: "string",
          DateTime: "string",
          Decimal: "string",
          JSON: "unknown",
          Metadata: "Record<string, string>",
          MinorUnits: "number",
        },
      },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
