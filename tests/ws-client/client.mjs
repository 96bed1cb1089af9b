// Subscriptions over /graphql/ws with the reference client, graphql-ws
// (graphql-transport-ws protocol), against a running annograph.
//
//   BASE_URL=http://127.0.0.1:8080 AUTH_HEADERS='{"Authorization": "Bearer …"}' node client.mjs
//
// Prints `ws-client: N passed, M failed` and exits non-zero when a check fails.

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = (process.env.BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const { Authorization } = JSON.parse(process.env.AUTH_HEADERS ?? '{}');
if (!Authorization) {
  console.error('client.mjs: AUTH_HEADERS must hold {"Authorization": "Bearer …"}');
  process.exit(2);
}
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

clearTimeout(overall);
await Promise.all([client.dispose(), anonymous.dispose()]);
console.log(`ws-client: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
