// Reads a kanaria.dev/compare judgement off the Kanaria dashboard in a real
// browser.
//
//   node judgement.mjs DASHBOARD_URL NAMESPACE ROLLOUT SCREENSHOT_DIR
//
// Opens the rollout page, waits until it shows a judgement table, and
// prints one JSON line per compared metric as the page shows it (name,
// class, p, interval) to stdout. Writes judgement.png (and failure.png on a
// failure) to SCREENSHOT_DIR. Exits 0 on success, 1 with a message on
// stderr otherwise, 2 on bad arguments. $CHROMIUM overrides the browser
// binary (default /usr/bin/chromium).
import path from 'node:path';
import { rolloutPage, withPage } from './browser.mjs';

const [url, namespace, rollout, outDir] = process.argv.slice(2);
if (!url || !namespace || !rollout || !outDir) {
  console.error('usage: node judgement.mjs DASHBOARD_URL NAMESPACE ROLLOUT SCREENSHOT_DIR');
  process.exit(2);
}

async function main() {
  await withPage(outDir, { width: 1280, height: 1400 }, async (page) => {
    await page.goto(rolloutPage(url, namespace, rollout), { waitUntil: 'domcontentloaded' });
    await page.locator('[data-testid="judgement"]').first().waitFor({ state: 'visible' }).catch(async (err) => {
      throw new Error(`the page never showed a judgement: ${err.message}; page text: ${(await page.locator('main').innerText()).slice(0, 500)}`);
    });
    const rows = await page.evaluate(() => [...document.querySelectorAll('[data-testid="judgement"] tr[data-metric]')].map((tr) => {
      const cells = [...tr.querySelectorAll('td')].map((td) => td.textContent.trim());
      return { name: tr.dataset.metric, class: cells[1], p: cells[2], interval: cells[3] };
    }));
    for (const r of rows) console.log(JSON.stringify(r));
    await page.screenshot({ path: path.join(outDir, 'judgement.png'), fullPage: true });
  });
}

main().catch((err) => {
  console.error(`judgement.mjs: ${err.message}`);
  process.exit(1);
});
