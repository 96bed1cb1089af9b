// GraphQL-over-HTTP conformance audit: runs graphql-http's serverAudits
// against the server at GRAPHQL_URL and prints one line per audit.
// Exits non-zero when a MUST or SHOULD audit fails; MAY failures are
// reported but not fatal.
//
//   GRAPHQL_URL=http://127.0.0.1:8080/graphql node audit.mjs

import { serverAudits } from 'graphql-http';

const url = process.env.GRAPHQL_URL;
if (!url) {
  console.error('audit: set GRAPHQL_URL to the /graphql endpoint');
  process.exit(2);
}

// The audits call fetch without timeouts; one hung request must not hang CI.
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, signal: AbortSignal.timeout(15_000) });

// Each audit's name starts with its level: "MUST …", "SHOULD …", "MAY …".
const level = (name) => name.split(' ', 1)[0];

const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  // Sequential: one request at a time keeps the output in order and the
  // server's log readable.
  let result;
  try {
    result = await audit.fn();
  } catch (err) {
    // Not an assertion: the request itself failed (refused, reset, timed out).
    result = { status: 'error', reason: `request failed: ${err?.cause?.message ?? err?.message ?? err}` };
  }
  results.push({ id: audit.id, name: audit.name, result });
}

let passed = 0;
let failed = 0;
let fatal = 0;
for (const { id, name, result } of results) {
  if (result.status === 'ok') {
    passed += 1;
    console.log(`PASS ${id} ${name}`);
    continue;
  }
  failed += 1;
  const lvl = level(name);
  if (lvl !== 'MAY') fatal += 1;
  const reason = String(result.reason ?? 'unknown reason').replace(/\s+/g, ' ');
  console.log(`FAIL ${id} ${name}: ${reason}${lvl === 'MAY' ? ' (MAY: not fatal)' : ''}`);
}

console.log(`audit: ${passed} passed, ${failed} failed`);
process.exit(fatal > 0 ? 1 : 0);
