// Shared by the browser tests: runs one test body on a page of a headless
// Chromium with a throwaway profile.
import { chromium } from 'playwright-core';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

// timeout bounds each wait of a test body.
export const timeout = 60_000;

// withPage opens a page, sized viewport, runs body(page) on it and always
// closes the browser. On a failure it writes failure.png to outDir; errors
// the page's own JavaScript threw fail the test too. $CHROMIUM overrides
// the browser binary (default /usr/bin/chromium).
export async function withPage(outDir, viewport, body) {
  await mkdir(outDir, { recursive: true });
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'kanaria-chromium-'));
  let context;
  let page;
  const pageErrors = [];
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      // Without the networking flags Chromium keeps calling home, which a
      // closed network turns into a flood of failing requests.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport,
      timeout,
    });
    page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(timeout);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => { if (msg.type() === 'error') console.log(`browser console: ${msg.text()}`); });
    await body(page);
    if (pageErrors.length) throw new Error(`JavaScript errors on the page: ${pageErrors.join('; ')}`);
  } catch (err) {
    if (page) await page.screenshot({ path: path.join(outDir, 'failure.png'), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    if (context) await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  }
}

// rolloutPage is the dashboard's page of one Rollout.
export function rolloutPage(url, namespace, rollout) {
  return `${url.replace(/\/$/, '')}/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(rollout)}`;
}
