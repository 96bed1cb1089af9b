// Drives the GraphQL playground in the system Chromium: opens GET /graphql as a
// browser does, makes sure the Authorization header is in the headers editor,
// runs `{ me { email } }` and waits for the demo user's email in the result pane.
// Every request must stay on the server under test (the playground must work
// offline), and the page must raise no script errors or CSP violations.
//
// Environment: BASE_URL (http://127.0.0.1:PORT), AUTH_HEADERS (the JSON object
// text `serve --demo` prints after "Header:"), EXPECT_EMAIL (alice@example.com),
// SCREENSHOT (path of the PNG to write), CHROMIUM (/usr/bin/chromium).
// Prints `browser: 1 passed, 0 failed` or exits non-zero.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const authHeaders = process.env.AUTH_HEADERS;
const email = process.env.EXPECT_EMAIL || 'alice@example.com';
const screenshot = process.env.SCREENSHOT || 'test-output/playground.png';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const timeout = Number(process.env.TIMEOUT_MS || 30000);

if (!base || !authHeaders) {
  console.error('playground.mjs: set BASE_URL and AUTH_HEADERS');
  process.exit(2);
}
const token = JSON.parse(authHeaders).Authorization;
if (!/^Bearer \S+$/.test(token || '')) {
  console.error(`playground.mjs: AUTH_HEADERS has no bearer Authorization: ${authHeaders}`);
  process.exit(2);
}
const origin = new URL(base).origin;
mkdirSync(dirname(screenshot), { recursive: true });

const problems = [];
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

let page;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' || /Content Security Policy/i.test(text)) {
      problems.push(`console ${msg.type()}: ${text}`);
    }
  });
  page.on('requestfailed', (r) => {
    // Aborted below when off-origin; anything else failing is a problem too.
    problems.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  // Nothing may come from anywhere but the server under test.
  await page.route('**/*', (route) => {
    const request = route.request();
    const url = request.url();
    if (!url.startsWith('data:') && new URL(url).origin !== origin) {
      return route.abort('blockedbyclient');
    }
    if (request.isNavigationRequest()) {
      return route.continue({ headers: { ...request.headers(), accept: 'text/html' } });
    }
    return route.continue();
  });

  const response = await page.goto(`${base}/graphql`, { waitUntil: 'load' });
  const type = response.headers()['content-type'] || '';
  if (response.status() !== 200 || !type.startsWith('text/html')) {
    throw new Error(`GET /graphql answered ${response.status()} ${type}`);
  }

  await page.locator('.graphiql-container').waitFor();
  const queryEditor = '.graphiql-query-editor .CodeMirror';
  const headersEditor = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
  await page.locator(queryEditor).waitFor();
  // The headers editor is enabled and shown on load.
  await page.locator(headersEditor).waitFor({ state: 'visible' });
  const activeTool = (await page.locator('.graphiql-editor-tools button.active').innerText()).trim();
  if (activeTool !== 'Headers') {
    throw new Error(`the editor tool shown is ${JSON.stringify(activeTool)}, not Headers`);
  }

  const prefilled = await page.$eval(headersEditor, (el) => el.CodeMirror.getValue());
  let headersSource;
  if (prefilled.includes(token)) {
    headersSource = 'pre-filled by the server';
  } else {
    headersSource = 'filled in by the test';
    await page.$eval(
      headersEditor,
      (el, value) => el.CodeMirror.setValue(value),
      JSON.stringify({ Authorization: token }, null, 2),
    );
  }

  await page.$eval(queryEditor, (el) => el.CodeMirror.setValue('{ me { email } }'));
  await page.locator('.graphiql-execute-button').click();

  const result = '.graphiql-response .CodeMirror';
  await page.waitForFunction(
    ([selector, expected]) => {
      const el = document.querySelector(selector);
      return el && el.CodeMirror && el.CodeMirror.getValue().includes(expected);
    },
    [result, email],
  );
  const shown = JSON.parse(await page.$eval(result, (el) => el.CodeMirror.getValue()));
  if (shown?.data?.me?.email !== email) {
    throw new Error(`unexpected result: ${JSON.stringify(shown)}`);
  }
  // Let fonts and layout settle for the screenshot.
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: screenshot });

  if (headersSource.startsWith('pre-filled')) {
    // GraphiQL keeps its tabs in localStorage; the server's headers must still
    // win after a reload.
    await page.reload({ waitUntil: 'load' });
    await page.locator(headersEditor).waitFor({ state: 'visible' });
    const again = await page.$eval(headersEditor, (el) => el.CodeMirror.getValue());
    if (!again.includes(token)) throw new Error(`headers after a reload: ${again}`);
  }

  if (problems.length) {
    throw new Error(`the page misbehaved:\n  ${problems.join('\n  ')}`);
  }
  console.log(`headers: ${headersSource}`);
  console.log(`result: ${JSON.stringify(shown)}`);
  console.log(`screenshot: ${screenshot}`);
  console.log('browser: 1 passed, 0 failed');
} catch (e) {
  console.error(`playground: ${e.stack || e}`);
  if (problems.length) console.error(`  ${problems.join('\n  ')}`);
  if (page) {
    const failure = screenshot.replace(/\.png$/, '') + '-failure.png';
    await page.screenshot({ path: failure }).catch(() => {});
    console.error(`failure screenshot: ${failure}`);
  }
  console.log('browser: 0 passed, 1 failed');
  process.exitCode = 1;
} finally {
  await browser.close();
}
