// The explorer at scale, against the real gateway: 10,000 retained topics
// (one MQTT.js publisher in this process), the filter finding one, and a
// minute of 1,000 msg/s with the page's longest main-thread task and JS
// heap measured. Figures go to test-results/scale.json.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Gateway, launchBrowser, removeDir, requireTool, until, resultsDir, axeViolations, traceTasks } from './harness.mjs';

const TOPICS = 10000;
const LOAD_SECONDS = Number(process.env.MQTTGATE_E2E_LOAD_SECONDS) || 60;
let mqtt;
let gw;
let ctx;
let profile;
let page;
let pub;
const figures = {};

const shot = (name) => page.screenshot({ path: path.join(resultsDir, `${name}.png`) });
const topicOf = (i) => `scale/area${Math.floor(i / 100)}/dev${i}`;

function publishAsync(topic, payload, opts) {
  return new Promise((resolve, reject) => pub.publish(topic, payload, opts, (e) => (e ? reject(e) : resolve())));
}

before(async () => {
  requireTool('/usr/bin/chromium', 'chromium');
  const { chromium } = await import('playwright-core');
  mqtt = (await import('mqtt')).default;
  // 10,000 retained messages reach the page in one burst on subscribe:
  // the gateway's per-client write queue (default 128) must hold them.
  gw = new Gateway({ mqttExtra: ['  max_queued: 16384'] });
  await gw.setup();
  await gw.start();
  ({ ctx, profile } = await launchBrowser(chromium));
  page = ctx.pages()[0] || (await ctx.newPage());
  pub = await gw.mqttClient(mqtt);
});

after(async () => {
  writeFileSync(path.join(resultsDir, 'scale.json'), JSON.stringify(figures, null, 2) + '\n');
  console.log(`scale figures: ${JSON.stringify(figures)}`);
  if (pub) pub.end(true);
  if (ctx) await ctx.close().catch(() => {});
  if (profile) removeDir(profile);
  if (gw) {
    await gw.stop();
    gw.cleanup();
  }
});

test('10,000 retained topics load, collapsed, and the filter finds one', { timeout: 120000 }, async () => {
  for (let i = 0; i < TOPICS; i++) pub.publish(topicOf(i), JSON.stringify({ temperature: 20 + (i % 50) / 10, battery: i % 100 }), { qos: 0, retain: true });
  await publishAsync('scale/done', 'yes', { qos: 1, retain: true });
  const t0 = Date.now();
  await page.goto(gw.url);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(gw.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const count = page.locator('#topic-count');
  await until(async () => Number((await count.textContent()).replace(/\D/g, '')) >= TOPICS + 1, `${TOPICS} topics counted`, 60000, 250);
  figures.load10kMs = Date.now() - t0;
  // Collapsed below the first level, rendered virtually: a short page.
  const rows = await page.locator('.vl-row').count();
  assert.ok(rows < 60, `${rows} rows in the DOM`);
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  figures.pageHeightPx = height;
  assert.ok(height < 4000, `the page is ${height} px tall`);
  // Natural order once opened: area2 before area10.
  await page.locator('.vl-row[data-topic="scale"] .t-toggle').click();
  const order = await page.locator('.vl-row').evaluateAll((els) => els.map((e) => e.dataset.topic).filter((t) => t.startsWith('scale/area')));
  assert.deepEqual(order.slice(0, 3), ['scale/area0', 'scale/area1', 'scale/area2']);
  assert.ok(order.indexOf('scale/area2') < order.indexOf('scale/area10'), order.slice(0, 12).join(' '));
  // The filter finds one topic among 10,000.
  await page.getByLabel('Filter topics').fill('dev4217');
  await until(async () => (await page.locator('#filter-note').textContent()) === `1 of ${(await count.textContent()).replace(/ topics?$/, '')} topics match`, 'the match count');
  await page.locator('.vl-row[data-topic="scale/area42/dev4217"]').waitFor();
  await page.getByLabel('Filter topics').fill('scale/+/dev42+');
  await page.getByLabel('Filter topics').fill('scale/area42/+');
  await until(async () => /^100 of /.test(await page.locator('#filter-note').textContent()), '100 matches for scale/area42/+');
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.locator('.vl-row[data-topic="scale/area42/dev4217"] .t-name').click();
    await page.locator('#detail .d-topic').waitFor();
    await page.locator('.explorer').scrollIntoViewIfNeeded();
    await shot(`scale-10k-filter-desktop-${scheme}`);
    await page.setViewportSize({ width: 360, height: 780 });
    await page.locator('.explorer').scrollIntoViewIfNeeded();
    await shot(`scale-10k-filter-phone-${scheme}`);
    const v = await axeViolations(page, scheme);
    assert.deepEqual(v, [], v.join('\n'));
  }
  await page.emulateMedia({ colorScheme: null });
  await page.setViewportSize({ width: 1200, height: 900 });
});

/**
 * Publishes 1,000 msg/s for LOAD_SECONDS (a fifth to scale/hot, the rest
 * over 1,000 topics) and fills figures: long tasks (observer, wall
 * clock), main-thread task CPU time (trace), heap after full collections
 * at the end of the warm-up and at the end, the hot topic's shown rate.
 */
async function loadAndMeasure() {
  const cdp = await ctx.newCDPSession(page);
  const heap = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  let sent = 0;
  let n = 0;
  const start = Date.now();
  const timer = setInterval(() => {
    // Catch up to 1,000 msg/s by the wall clock, in 20 ms ticks.
    const due = Math.floor(((Date.now() - start) / 1000) * 1000);
    for (; sent < due; sent++, n++) {
      if (sent % 5 === 0) pub.publish('scale/hot', JSON.stringify({ value: n % 100, seq: n }), { qos: 0 });
      else pub.publish(topicOf(n % 1000), JSON.stringify({ temperature: 20 + (n % 70) / 10, seq: n }), { qos: 0 });
    }
  }, 20);
  const heapAt = [];
  // The heap as it is (no forced collection) every 2 s over the whole minute.
  const heapSeen = [];
  const sampler = setInterval(() => cdp.send('Runtime.getHeapUsage').then((h) => heapSeen.push(h.usedSize), () => {}), 2000);
  let stopTrace = null;
  let tasks = [];
  let long = [];
  let measuredMs = 0;
  try {
    // Warm-up: every loaded topic has its full history by 15 s. Then the
    // heap after a full collection (the test's own long task, before the
    // measurement starts), and the long-task observer and a trace.
    await until(() => Date.now() - start > 15000, 'warm-up', 20000, 500);
    heapAt.push(await heap());
    await page.evaluate(() => {
      window.__longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longTasks.push(e.duration);
      }).observe({ type: 'longtask', buffered: false });
    });
    stopTrace = await traceTasks(cdp);
    const from = Date.now();
    await until(() => Date.now() - start > LOAD_SECONDS * 1000, 'the load to run', LOAD_SECONDS * 1000, 500);
    measuredMs = Date.now() - from;
    long = await page.evaluate(() => window.__longTasks);
  } finally {
    clearInterval(timer);
    clearInterval(sampler);
  }
  figures.heapMaxMiB = +(Math.max(...heapSeen) / 1048576).toFixed(1);
  const secs = (Date.now() - start) / 1000;
  figures.loadSeconds = Math.round(secs);
  figures.loadMsgPerSec = Math.round(sent / secs);
  figures.hotRateShown = await page.locator('.vl-row[data-topic="scale/hot"] .t-meta').textContent();
  tasks = await stopTrace();
  heapAt.push(await heap());
  long.sort((a, b) => a - b);
  figures.measuredSeconds = Math.round(measuredMs / 1000);
  figures.longTasks = long.length;
  figures.longestTaskMs = Math.round(long.length ? long[long.length - 1] : 0);
  figures.longTaskP90Ms = Math.round(long.length ? long[Math.floor(long.length * 0.9)] : 0);
  const cpu = tasks.map((t) => t.cpuMs).sort((a, b) => a - b);
  figures.tracedTasks = tasks.length;
  figures.longestTaskCpuMs = Math.round(cpu.length ? cpu[cpu.length - 1] : 0);
  figures.tasksOver50msCpu = cpu.filter((x) => x > 50).length;
  figures.mainThreadCpuShare = +(cpu.reduce((a, b) => a + b, 0) / measuredMs).toFixed(3);
  figures.heapMiB = heapAt.map((v) => +(v / 1048576).toFixed(1));
  figures.heapGrowthMiB = +((heapAt[1] - heapAt[0]) / 1048576).toFixed(2);
  figures.loadAverage = os.loadavg().map((x) => +x.toFixed(1));
  figures.cpus = os.cpus().length;
}

test(`1,000 msg/s for ${LOAD_SECONDS} s: no long task over 200 ms, bounded heap, true rates`, { timeout: (LOAD_SECONDS + 60) * 1000 }, async () => {
  // A hot topic at 200 msg/s (its detail pane open and charting) and
  // 800 msg/s over 1,000 others.
  await publishAsync('scale/hot', JSON.stringify({ value: 0 }), { qos: 0 });
  await page.getByLabel('Filter topics').fill('scale/hot');
  await page.locator('.vl-row[data-topic="scale/hot"] .t-name').click();
  const connects = await page.locator('#conn').getAttribute('data-connects');
  await loadAndMeasure();
  await shot('scale-1000-per-second');
  assert.ok(figures.loadMsgPerSec >= 950, `published only ${figures.loadMsgPerSec} msg/s`);
  // What the page costs: no main-thread task over 200 ms of CPU time.
  assert.ok(figures.longestTaskCpuMs < 200, `longest main-thread task ${figures.longestTaskCpuMs} ms of CPU time`);
  // The long-task observer measures wall-clock time, which also counts
  // the time the renderer waited for a CPU: on a machine with several
  // times more runnable threads than cores (other test runs), that
  // measures the machine, and the assertion is skipped with a note.
  const overloaded = figures.loadAverage[0] > 4 * figures.cpus;
  if (!overloaded) assert.ok(figures.longestTaskMs < 200, `longest task ${figures.longestTaskMs} ms (wall clock)`);
  else console.log(`load average ${figures.loadAverage[0]} on ${figures.cpus} CPUs: the wall-clock long task (${figures.longestTaskMs} ms) is reported, not asserted`);
  assert.ok(figures.heapMaxMiB < 64, `JS heap reached ${figures.heapMaxMiB} MiB during the load`);
  assert.ok(figures.heapGrowthMiB < 8, `JS heap grew ${figures.heapGrowthMiB} MiB over the load: ${figures.heapMiB.join(', ')}`);
  const rate = Number(figures.hotRateShown.replace(/\/s$/, ''));
  assert.ok(rate >= 180 && rate <= 220, `scale/hot at 200 msg/s reads "${figures.hotRateShown}"`);
  // The page kept its one connection past the 30 s keepalive, under load.
  assert.equal(await page.locator('#conn').textContent(), 'connected');
  assert.equal(await page.locator('#conn').getAttribute('data-connects'), connects, 'the page reconnected under load');
});
