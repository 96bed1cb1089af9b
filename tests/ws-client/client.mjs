// Subscriptions over /graphql/ws with the reference client, graphql-ws
// (graphql-transport-ws protocol), against a running annograph.
//
//   BASE_URL=http://127.0.0.1:8080 AUTH_HEADERS='{"Authorization": "Bearer …"}' \
//     STRANGER_AUTH_HEADERS='{"Authorization": "Bearer …"}' node client.mjs
//
// AUTH_HEADERS signs in a workspace member (the demo user); STRANGER_AUTH_HEADERS
// another user, who must not see what that member creates. The import checks
// serve objects from a small HTTP server started here (FIXTURES: the
// repository's tests/fixtures, by default found beside this file).
//
// Prints `ws-client: N passed, M failed` and exits non-zero when a check fails.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = (process.env.BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const { Authorization } = JSON.parse(process.env.AUTH_HEADERS ?? '{}');
if (!Authorization) {
  console.error('client.mjs: AUTH_HEADERS must hold {"Authorization": "Bearer …"}');
  process.exit(2);
}
const stranger = JSON.parse(process.env.STRANGER_AUTH_HEADERS ?? '{}').Authorization;
const fixtures = process.env.FIXTURES ?? fileURLToPath(new URL('../fixtures/', import.meta.url));
const url = `${base.replace(/^http/, 'ws')}/graphql/ws`;

const CHANGED = `subscription($id: ID!) {
  datasetChanged(datasetId: $id) { change datasetId at dataset { title } }
}`;

let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(error?.stack ?? error).replace(/\n/g, '\n  ')}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** One GraphQL request over HTTP as the demo user; returns `data`. */
async function gql(query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', Authorization },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`HTTP GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

function connect(connectionParams) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
  });
}

/** Subscribes and queues what the sink receives; `next(ms)` takes the next item or null. */
function subscribe(client, query, variables) {
  const items = [];
  const waiting = [];
  const push = (item) => (waiting.length ? waiting.shift()(item) : items.push(item));
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (value) => push({ kind: 'next', value }),
      error: (error) => push({ kind: 'error', error }),
      complete: () => push({ kind: 'complete' }),
    },
  );
  const next = (ms = 5000) => {
    if (items.length) return Promise.resolve(items.shift());
    return new Promise((resolve) => {
      const take = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(take), 1);
        resolve(null);
      }, ms);
      waiting.push(take);
    });
  };
  return { next, unsubscribe };
}

/** The `datasetChanged` of a `next` item. */
function changed(item) {
  assert(item, 'no event arrived in time');
  assert(item.kind === 'next', `expected next, got ${JSON.stringify(item)}`);
  assert(!item.value.errors, `event with errors: ${JSON.stringify(item.value.errors)}`);
  return item.value.data.datasetChanged;
}

const UPDATE = `mutation($id: ID!, $title: String, $description: String) {
  updateDataset(input: { id: $id, title: $title, description: $description }) { id }
}`;

const client = connect({ Authorization });
const anonymous = connect({});
const overall = setTimeout(() => {
  console.log('not ok - the checks took longer than 60 s');
  console.log(`ws-client: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, 60_000);

let datasetId;
let subscription;

await check('subscribes to datasetChanged and receives a change made over HTTP', async () => {
  const created = await gql('mutation { createDataset(input: { title: "ws-client" }) { id } }');
  datasetId = created.createDataset.id;
  subscription = subscribe(client, CHANGED, { id: datasetId });
  // The protocol has no "subscribed" message: change the dataset until the
  // subscription reports it, then let stragglers arrive.
  let first = null;
  for (let i = 0; i < 50 && !first; i += 1) {
    await gql(UPDATE, { id: datasetId, description: `warm-up ${i}` });
    first = await subscription.next(300);
  }
  assert(changed(first).change === 'SETTINGS_CHANGED', `unexpected ${JSON.stringify(first)}`);
  while (await subscription.next(500)) {
    // drain
  }
  await gql(UPDATE, { id: datasetId, title: 'Renamed by ws-client' });
  const event = changed(await subscription.next());
  assert(event.change === 'SETTINGS_CHANGED', `change ${event.change}`);
  assert(event.datasetId === datasetId, `datasetId ${event.datasetId}`);
  assert(event.dataset?.title === 'Renamed by ws-client', `title ${JSON.stringify(event.dataset)}`);
  assert(!Number.isNaN(Date.parse(event.at)), `at ${event.at}`);
});

await check('sees the deletion, then the subscription completes', async () => {
  assert(subscription, 'no subscription');
  await gql('mutation($id: ID!) { deleteDataset(input: { id: $id, confirm: "delete" }) }', {
    id: datasetId,
  });
  const event = changed(await subscription.next());
  assert(event.change === 'DELETED', `change ${event.change}`);
  assert(event.dataset === null, `dataset ${JSON.stringify(event.dataset)}`);
  const end = await subscription.next();
  assert(end?.kind === 'complete', `expected complete, got ${JSON.stringify(end)}`);
});

await check('a dataset the caller cannot see is an error (NOT_FOUND)', async () => {
  const gone = subscribe(client, CHANGED, { id: datasetId });
  const item = await gone.next();
  assert(item?.kind === 'error', `expected error, got ${JSON.stringify(item)}`);
  const code = item.error?.[0]?.extensions?.code;
  assert(code === 'NOT_FOUND', `code ${code} in ${JSON.stringify(item.error)} (close code ${item.error?.code})`);
});

await check('without a token the subscription is an error (UNAUTHENTICATED)', async () => {
  const denied = subscribe(anonymous, CHANGED, { id: datasetId });
  const item = await denied.next();
  assert(item?.kind === 'error', `expected error, got ${JSON.stringify(item)}`);
  const code = item.error?.[0]?.extensions?.code;
  assert(code === 'UNAUTHENTICATED', `code ${code} in ${JSON.stringify(item.error)}`);
});

await check('a bad token is refused with close code 4403', async () => {
  const refused = connect({ Authorization: 'Bearer not-a-token' });
  const item = await subscribe(refused, CHANGED, { id: datasetId }).next();
  assert(item?.kind === 'error', `expected error, got ${JSON.stringify(item)}`);
  assert(item.error?.code === 4403, `close code ${item.error?.code}`);
  await refused.dispose();
});

const PROGRESS = `subscription($id: ID!) {
  importProgress(jobId: $id) { id status total processed succeeded failed }
}`;

/**
 * Object storage over HTTP: the PNG fixture at every path, each answer
 * `delay` ms late (so that an import takes a while), with HEAD and single
 * byte ranges as the server's HTTP integration reads them.
 */
async function objectServer(delay) {
  const png = await readFile(join(fixtures, 'media', 'image.png'));
  const answer = (request, response) => {
    const headers = { 'content-type': 'image/png', 'accept-ranges': 'bytes' };
    const body = (bytes) => response.end(request.method === 'HEAD' ? undefined : bytes);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405).end();
      return;
    }
    const range = /^bytes=(\d*)-(\d*)$/.exec(request.headers.range ?? '');
    if (!range) {
      response.writeHead(200, { ...headers, 'content-length': png.length });
      body(png);
      return;
    }
    const last = png.length - 1;
    const [start, end] =
      range[1] === ''
        ? [Math.max(0, png.length - Number(range[2])), last]
        : [Number(range[1]), range[2] === '' ? last : Math.min(Number(range[2]), last)];
    if ((range[1] === '' && range[2] === '') || start > end) {
      response.writeHead(416, { 'content-range': `bytes */${png.length}` }).end();
      return;
    }
    const part = png.subarray(start, end + 1);
    response.writeHead(206, {
      ...headers,
      'content-length': part.length,
      'content-range': `bytes ${start}-${end}/${png.length}`,
    });
    body(part);
  };
  const server = createServer((request, response) => {
    setTimeout(() => answer(request, response), delay);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

// 160 objects, each read with about two requests 100 ms late, 16 at a time
// (the server's default): about two seconds of progress.
const ENTRIES = 160;
let objects;
let importJobId;

await check('follows importProgress of an HTTP import until it succeeds', async () => {
  objects = await objectServer(100);
  const baseUrl = `http://127.0.0.1:${objects.address().port}/media/`;
  const { createIntegration } = await gql(
    `mutation($c: JSON!) {
      createIntegration(input: { title: "ws-client objects", provider: HTTP, config: $c }) { id }
    }`,
    { c: { baseUrl, allowHttp: true } },
  );
  const { createFolder } = await gql('mutation { createFolder(input: { name: "ws-client imports" }) { id } }');
  const { createDataset } = await gql(
    'mutation($f: ID!) { createDataset(input: { title: "ws-client imports", folderId: $f }) { id } }',
    { f: createFolder.id },
  );
  const names = Array.from({ length: ENTRIES }, (_, i) => `${String(i).padStart(5, '0')}.png`);
  const manifest = ['objectUrl,kind', ...names.map((name) => `${baseUrl}${name},IMAGE`)].join('\n');
  const { importFromCloud: submitted } = await gql(
    `mutation($d: ID!, $i: ID!, $m: String!) {
      importFromCloud(input: { datasetId: $d, integrationId: $i, manifest: $m, format: CSV }) { id status total }
    }`,
    { d: createDataset.id, i: createIntegration.id, m: manifest },
  );
  importJobId = submitted.id;
  assert(submitted.status === 'QUEUED', `submitted ${JSON.stringify(submitted)}`);
  assert(submitted.total === ENTRIES, `submitted ${JSON.stringify(submitted)}`);

  const progress = subscribe(client, PROGRESS, { id: submitted.id });
  const states = [];
  for (;;) {
    const item = await progress.next(15_000);
    assert(item, `nothing within 15 s after ${JSON.stringify(states)}`);
    if (item.kind === 'complete') break;
    assert(item.kind === 'next', `expected next, got ${JSON.stringify(item)}`);
    assert(!item.value.errors, `state with errors: ${JSON.stringify(item.value.errors)}`);
    states.push(item.value.data.importProgress);
  }
  const seen = JSON.stringify(states.map((s) => [s.status, s.processed]));
  assert(['QUEUED', 'RUNNING'].includes(states[0]?.status), `first state not before the end: ${seen}`);
  assert(states.every((s) => s.id === submitted.id && s.total === ENTRIES), `ids or totals: ${seen}`);
  for (let i = 1; i < states.length; i += 1) {
    assert(states[i].processed >= states[i - 1].processed, `processed went down: ${seen}`);
  }
  assert(
    states.some((s) => s.status === 'RUNNING' && s.processed > 0 && s.processed < ENTRIES),
    `no progress while running: ${seen}`,
  );
  // Coalesced: a few states, not one per object.
  assert(states.length > 2 && states.length <= ENTRIES / 4, `${states.length} states: ${seen}`);
  const last = states.at(-1);
  assert(last.status === 'SUCCEEDED', `last state: ${JSON.stringify(last)}`);
  assert(last.processed === ENTRIES && last.succeeded === ENTRIES, `last state: ${JSON.stringify(last)}`);
  assert(states.filter((s) => s.status === 'SUCCEEDED').length === 1, `terminal twice: ${seen}`);
});

await check('a user who cannot view the dataset may not follow its import (NOT_FOUND)', async () => {
  assert(stranger, 'STRANGER_AUTH_HEADERS must hold {"Authorization": "Bearer …"} of another user');
  assert(importJobId, 'no import job');
  const outsider = connect({ Authorization: stranger });
  try {
    const item = await subscribe(outsider, PROGRESS, { id: importJobId }).next();
    assert(item?.kind === 'error', `expected error, got ${JSON.stringify(item)}`);
    const code = item.error?.[0]?.extensions?.code;
    assert(code === 'NOT_FOUND', `code ${code} in ${JSON.stringify(item.error)} (close code ${item.error?.code})`);
  } finally {
    await outsider.dispose();
  }
});

await check('without a token importProgress is an error (UNAUTHENTICATED)', async () => {
  assert(importJobId, 'no import job');
  const item = await subscribe(anonymous, PROGRESS, { id: importJobId }).next();
  assert(item?.kind === 'error', `expected error, got ${JSON.stringify(item)}`);
  const code = item.error?.[0]?.extensions?.code;
  assert(code === 'UNAUTHENTICATED', `code ${code} in ${JSON.stringify(item.error)}`);
});

clearTimeout(overall);
objects?.closeAllConnections();
objects?.close();
await Promise.all([client.dispose(), anonymous.dispose()]);
console.log(`ws-client: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
