// End to end, sensor history: the real gateway records its sim sensor and
// a third-party topic (devices/th1/state from an MQTT.js client here) for a
// while before the page is opened; then the charts must open full (within
// 1 s of login), switch range by asking again, and export what they show.
// Screenshots go to web/test-results/ (history-24h.png for the closing note).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Gateway, launchBrowser, removeDir, requireTool, until, resultsDir, repoDir, GATEWAY_ID } from './harness.mjs';

// How long the gateway records before the page opens; seconds.
const RUN_SECONDS = Number(process.env.MQTTGATE_E2E_HISTORY_SECONDS) || 10;
// MQTTGATE_E2E_HISTORY_SEED=1: before the gateway starts, a Go test helper
// (history/seed_test.go) writes a day of the sim temperature into its
// history file, so the 24 h screenshot shows a day with its bands and gap.
const SEED = process.env.MQTTGATE_E2E_HISTORY_SEED === '1';
const SIM_TOPIC = `${GATEWAY_ID}/sensors/sim/state`;
const TH1 = 'devices/th1/state';

let gw;
let ctx;
let profile;
let page;
let pub;
let published = 0;
let pubTimer;
const sentFrames = []; // request payloads the page sent over its WebSocket

before(async () => {
  requireTool('/usr/bin/chromium', 'chromium');
  const { chromium } = await import('playwright-core');
  const mqtt = (await import('mqtt')).default;
  gw = new Gateway({ extra: ['history:', '  topics: ["devices/+/state"]', '  flush_interval: 1s'] });
  await gw.setup();
  if (SEED) {
    const env = { ...process.env, MQTTGATE_HISTORY_SEED: gw.dataDir, MQTTGATE_HISTORY_SEED_TOPIC: SIM_TOPIC };
    execFileSync('go', ['test', '-count=1', '-run', '^TestSeed$', './history/'], { cwd: repoDir, env, stdio: 'inherit', timeout: 300000 });
  }
  await gw.start();
  pub = await gw.mqttClient(mqtt);
  // A third-party device: temperature moves, humidity stays at 40.
  const send = () => {
    const temperature = 21.5 + (published % 5) / 10;
    pub.publish(TH1, JSON.stringify({ temperature, humidity: 40 }), { qos: 1 }, (e) => e || published++);
  };
  send();
  pubTimer = setInterval(send, 1000);
  ({ ctx, profile } = await launchBrowser(chromium));
  page = ctx.pages()[0] || (await ctx.newPage());
  page.on('websocket', (ws) => ws.on('framesent', (f) => sentFrames.push(Buffer.from(f.payload).toString('latin1'))));
  // The gateway runs a while: counted in acknowledged publishes, one a second.
  await until(() => published >= RUN_SECONDS, `${RUN_SECONDS} readings of ${TH1}`, (RUN_SECONDS + 30) * 1000, 250);
});

after(async () => {
  clearInterval(pubTimer);
  if (pub) pub.end(true);
  if (ctx) await ctx.close().catch(() => {});
  if (profile) removeDir(profile);
  if (gw) {
    await gw.stop();
    gw.cleanup();
  }
});

const simChart = () => page.locator('[data-sensor="sim"] [data-key="temperature_c"] .chart');
const attr = async (loc, name) => Number(await loc.getAttribute(name));

async function shot(name, loc = page) {
  await loc.screenshot({ path: path.join(resultsDir, `${name}.png`) }).catch(() => {});
}

test('the charts open full within 1 s of login after the gateway ran a while', { timeout: 90000 }, async () => {
  const want = RUN_SECONDS - 3; // readings recorded before the page was opened, with slack (live alone: 1 or 2)
  await page.goto(gw.url);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(gw.password);
  // Timed in the page: from the app shown (logged in) to every chart of
  // the sim tile holding the recorded readings.
  const timing = page.evaluate((want) => {
    return new Promise((resolve) => {
      let shown = null;
      const end = performance.now() + 20000;
      const tick = () => {
        const now = performance.now();
        if (shown === null && !document.getElementById('app').hidden) shown = now;
        const charts = [...document.querySelectorAll('[data-sensor="sim"] .chart')];
        const full = charts.length > 0 && charts.every((c) => Number(c.dataset.points) >= want);
        if (shown !== null && full) return resolve({ loginToFullMs: now - shown, points: charts.map((c) => Number(c.dataset.points)) });
        if (now > end) return resolve({ timedOut: true, shown, points: charts.map((c) => c.dataset.points) });
        requestAnimationFrame(tick);
      };
      tick();
    });
  }, want);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const t = await timing;
  await shot('history-load');
  console.log(`history: charts full ${JSON.stringify(t)}`);
  assert.ok(!t.timedOut, `the sim charts never held ${want} readings: ${JSON.stringify(t)}`);
  assert.ok(t.loginToFullMs < 1000, `charts full ${t.loginToFullMs.toFixed(0)} ms after login (budget 1000 ms)`);
  assert.equal(await simChart().getAttribute('data-range'), '1h');
  // Live readings keep appending after the history.
  const n = await attr(simChart(), 'data-points');
  await until(async () => (await attr(simChart(), 'data-points')) > n, 'a live reading appended to the history');
});

test("a third-party topic's JSON field is recorded and charted from history", { timeout: 60000 }, async () => {
  const want = RUN_SECONDS - 3;
  await page.getByLabel('Filter topics').fill(TH1);
  const row = page.locator(`.vl-row[data-topic="${TH1}"]`);
  await row.waitFor({ timeout: 20000 });
  await row.locator('.t-name').click();
  const chart = page.locator('#detail .chart');
  await until(async () => (await attr(chart, 'data-points')) >= want, `the chart of ${TH1} temperature to hold ${want} readings`, 5000, 50);
  assert.equal(await page.locator('#detail-field').inputValue(), 'temperature');
  await page.locator('#detail-field').selectOption('humidity');
  await until(async () => (await attr(page.locator('#detail .chart'), 'data-points')) >= want, `the chart of ${TH1} humidity`, 5000, 50);
  // Its CSV: the humidity readings, all 40.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('#detail').getByRole('button', { name: /^Download CSV/ }).click()]);
  assert.equal(dl.suggestedFilename(), 'devices_th1_state-humidity-1h.csv');
  const lines = readFileSync(await dl.path(), 'utf8').trim().split('\n');
  assert.equal(lines[0], 'time,humidity');
  const values = lines.slice(1).map((l) => l.split(',')[1]).filter((v) => v !== '');
  assert.ok(values.length >= want, `${values.length} humidity rows`);
  assert.deepEqual([...new Set(values)], ['40']);
  await shot('history-detail', page.locator('#detail'));
  // A topic outside history.topics: said so, and charted from what the page received.
  pub.publish('other/th2', JSON.stringify({ v: 3 }), { qos: 1, retain: true });
  await page.getByLabel('Filter topics').fill('other/th2');
  await page.locator('.vl-row[data-topic="other/th2"] .t-name').click();
  await until(async () => (await page.locator('#detail .h-status').textContent()) === 'not recorded by the gateway', 'the note that other/th2 is not recorded');
  assert.equal(await attr(page.locator('#detail .chart'), 'data-points'), 1);
});

test('switching the range asks the gateway again and widens the chart', { timeout: 60000 }, async () => {
  const chart = simChart();
  const span = async () => (await attr(chart, 'data-xmax')) - (await attr(chart, 'data-xmin'));
  await until(async () => Math.abs((await span()) - 3600) < 1, 'the 1 h chart spanning an hour');
  const select = page.locator('[data-sensor="sim"] [data-key="temperature_c"]').getByLabel('Range');
  // Keyboard: focus the selector and pick the next range with the arrow key.
  await select.focus();
  await page.keyboard.press('ArrowDown');
  await until(async () => (await chart.getAttribute('data-range')) === '6h', 'the chart on 6h');
  await until(() => sentFrames.some((f) => f.includes('"range":"6h"') && f.includes(SIM_TOPIC)), 'a 6h history request');
  await until(async () => Math.abs((await span()) - 6 * 3600) < 1, 'the 6 h chart spanning six hours');
  await until(async () => (await chart.getAttribute('data-step')) === '60', 'a 6 h answer in 1-minute steps');
  await select.selectOption('1h');
  await until(async () => Math.abs((await span()) - 3600) < 1, 'back to one hour');
});

test('Download CSV saves what the chart shows', { timeout: 60000 }, async () => {
  const chart = simChart();
  await until(async () => (await chart.getAttribute('data-step')) === '0', 'the 1 h chart of raw readings');
  const before = await attr(chart, 'data-points');
  const q = page.locator('[data-sensor="sim"] [data-key="temperature_c"]');
  const [dl] = await Promise.all([page.waitForEvent('download'), q.getByRole('button', { name: /^Download CSV/ }).click()]);
  assert.equal(dl.suggestedFilename(), `${GATEWAY_ID}_sensors_sim_state-temperature_c-1h.csv`);
  const lines = readFileSync(await dl.path(), 'utf8').trim().split('\n');
  assert.equal(lines[0], 'time,temperature_c');
  const rows = lines.slice(1).map((l) => l.split(','));
  const values = rows.filter((r) => r[1] !== '').map((r) => Number(r[1]));
  assert.ok(values.length >= before, `${values.length} rows in the CSV, the chart showed ${before}`);
  for (const [time] of rows) assert.ok(Number.isFinite(Date.parse(time)), `bad time ${time}`);
  // The sim sensor: 21 ± 3 °C.
  for (const v of values) assert.ok(v >= 17.9 && v <= 24.1, `temperature ${v} out of the sim's range`);
});

// axe-core checks the range selectors and CSV buttons in dashboard.test.mjs
// (main view and detail pane, both themes); here, the phone layout.
test('the range selector and CSV button fit a 360 px phone', { timeout: 60000 }, async () => {
  await page.setViewportSize({ width: 360, height: 780 });
  try {
    await until(async () => (await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, 'the page to fit the 360 px screen', 5000);
    await shot('history-phone', page.locator('[data-sensor="sim"]'));
  } finally {
    await page.setViewportSize({ width: 1200, height: 900 });
  }
});

test('a 24 h chart (screenshot for the closing note)', { timeout: 60000 }, async () => {
  const chart = simChart();
  await page.locator('[data-sensor="sim"] [data-key="temperature_c"]').getByLabel('Range').selectOption('24h');
  await until(async () => Math.abs((await attr(chart, 'data-xmax')) - (await attr(chart, 'data-xmin')) - 86400) < 1, 'the 24 h chart');
  await until(async () => (await chart.getAttribute('data-step')) === '60', 'a 24 h answer in 1-minute steps');
  // Seeded: a day of minutes (less the outage's gap), with bands.
  if (SEED) await until(async () => (await attr(chart, 'data-points')) > 1000, 'the seeded day on the 24 h chart');
  await shot('history-24h', page.locator('[data-sensor="sim"]'));
  // The same day, wider, in the explorer's detail pane.
  await page.getByLabel('Filter topics').fill(SIM_TOPIC);
  const row = page.locator(`.vl-row[data-topic="${SIM_TOPIC}"]`);
  await row.waitFor({ timeout: 20000 });
  await row.locator('.t-name').click();
  await page.locator('#detail-field').selectOption('temperature_c');
  await page.locator('#detail').getByLabel('Range').selectOption('24h');
  const wide = page.locator('#detail .chart');
  await until(async () => (await wide.getAttribute('data-step')) === '60' && (await wide.getAttribute('data-range')) === '24h', 'the 24 h chart in the detail pane');
  await shot('history-24h-detail', page.locator('#detail .d-chart'));
});
