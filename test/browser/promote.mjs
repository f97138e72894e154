// Promotes a paused Rollout from the Kanaria dashboard in a real browser.
//
//   node promote.mjs DASHBOARD_URL NAMESPACE ROLLOUT SCREENSHOT_DIR
//
// Opens the rollout page, waits until it shows the Rollout paused at a step,
// clicks Promote (confirming if asked) and waits, without reloading, until
// the page shows the Rollout past that step. Writes 1-paused.png and
// 2-promoted.png (and failure.png on a failure) to SCREENSHOT_DIR. Exits 0 on
// success, 1 with a message on stderr otherwise, 2 on bad arguments.
// $CHROMIUM overrides the browser binary (default /usr/bin/chromium).
import path from 'node:path';
import { rolloutPage, timeout, withPage } from './browser.mjs';

const [url, namespace, rollout, outDir] = process.argv.slice(2);
if (!url || !namespace || !rollout || !outDir) {
  console.error('usage: node promote.mjs DASHBOARD_URL NAMESPACE ROLLOUT SCREENSHOT_DIR');
  process.exit(2);
}

function log(msg) {
  console.log(`promote.mjs: ${msg}`);
}

// step reads what the page shows: the status badge and the step counter.
async function shown(page) {
  return page.evaluate(() => ({
    status: document.querySelector('[data-testid="status"]')?.textContent ?? null,
    step: document.querySelector('[data-testid="step"]')?.textContent ?? null,
  }));
}

async function main() {
  await withPage(outDir, { width: 1280, height: 1100 }, async (page) => {
    const target = rolloutPage(url, namespace, rollout);
    log(`opening ${target}`);
    await page.goto(target, { waitUntil: 'domcontentloaded' });
    await page.locator('[data-testid="status"]').waitFor({ state: 'visible' }).catch(async (err) => {
      throw new Error(`the page never showed the rollout's status: ${err.message}; page text: ${(await page.locator('main').innerText()).slice(0, 300)}`);
    });

    // Paused at a step: status Paused and a step counter n/N.
    await page.waitForFunction(() => {
      const status = document.querySelector('[data-testid="status"]')?.textContent;
      const step = document.querySelector('[data-testid="step"]')?.textContent;
      return status === 'Paused' && /^\d+\/\d+$/.test(step ?? '');
    }, null, { timeout }).catch(async () => {
      const s = await shown(page);
      throw new Error(`the page never showed the rollout paused at a step (shows status ${s.status}, step ${s.step})`);
    });
    const before = await shown(page);
    log(`paused: status ${before.status}, step ${before.step}`);
    await page.screenshot({ path: path.join(outDir, '1-paused.png'), fullPage: true });

    // A marker that a reload would wipe out.
    await page.evaluate(() => { window.__kanariaNotReloaded = true; });
    const promote = page.locator('button[data-action="promote"]');
    if (await promote.count() === 0) throw new Error('the page has no Promote button (is the dashboard read-only?)');
    await promote.click();
    const dialog = page.locator('dialog#confirm[open]');
    if (await dialog.waitFor({ state: 'visible', timeout: 1000 }).then(() => true, () => false)) {
      log('confirming');
      await page.locator('#confirm-ok').click();
    }

    await page.waitForFunction((prev) => {
      const status = document.querySelector('[data-testid="status"]')?.textContent;
      const step = document.querySelector('[data-testid="step"]')?.textContent;
      return step !== prev.step || status !== 'Paused';
    }, before, { timeout }).catch(async () => {
      const s = await shown(page);
      throw new Error(`the page still shows status ${s.status}, step ${s.step} ${timeout / 1000}s after Promote`);
    });
    const after = await shown(page);
    if (!(await page.evaluate(() => window.__kanariaNotReloaded === true))) {
      throw new Error('the page reloaded: the change must arrive live');
    }
    log(`after promote: status ${after.status}, step ${after.step}`);
    // Let the stream settle on the next pause, so the picture shows it.
    await page.waitForFunction(() => document.querySelector('[data-testid="status"]')?.textContent === 'Paused', null, { timeout: 15_000 })
      .catch(() => {});
    const settled = await shown(page);
    log(`settled: status ${settled.status}, step ${settled.step}`);
    await page.screenshot({ path: path.join(outDir, '2-promoted.png'), fullPage: true });
  });
}

const guard = setTimeout(() => {
  console.error('promote.mjs: FAIL: gave up after 4 minutes');
  process.exit(1);
}, 240_000);
guard.unref();

main().then(() => {
  log('OK');
  process.exit(0);
}, (err) => {
  console.error(`promote.mjs: FAIL: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
