// The GraphQL-over-HTTP specification's conformance audit (graphql-http's auditServer)
// against a running tollgate. Exits non-zero on any error or warning; notices (MAY) are
// printed only.
import { auditServer } from 'graphql-http';

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error('usage: node audit.mjs URL SECRET_KEY');
  process.exit(2);
}
// Every audit request is a platform's: tollgate refuses requests without a key.
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};
const results = await auditServer({ url, fetchFn });
const counts = {};
let failed = 0;
for (const result of results) {
  counts[result.status] = (counts[result.status] || 0) + 1;
  if (result.status === 'ok') continue;
  if (result.status === 'error' || result.status === 'warn') failed++;
  console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}`);
}
console.log(`graphql-http audit: ${JSON.stringify(counts)}`);
process.exit(failed ? 1 : 0);
