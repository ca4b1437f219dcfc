// End to end: the real mqttgate binary over wss with its self-signed
// certificate, the real dashboard in headless Chromium (playwright-core),
// a real mosquitto_pub. Each test leaves a screenshot in web/test-results/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { Gateway, launchBrowser, removeDir, requireTool, which, until, resultsDir, GATEWAY_ID } from './harness.mjs';

let chromium;
let gw;
let ctx;
let profile;
let page;
let consoleLog;

async function shot(p, name) {
  await p.screenshot({ path: path.join(resultsDir, `${name}.png`), fullPage: true });
}

/** Runs body; on failure saves a screenshot named after the test before rethrowing. */
async function withShot(name, body, p = () => page) {
  try {
    await body();
  } finally {
    if (p()) await shot(p(), name).catch(() => {});
  }
}

const connText = () => page.locator('#conn').textContent();

async function login(p, user, password) {
  await p.goto(gw.url);
  await p.getByLabel('Username').fill(user);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

before(async () => {
  requireTool('/usr/bin/chromium', 'chromium');
  if (!which('mosquitto_pub')) throw new Error('mosquitto_pub is missing: install it with "apt-get install -y mosquitto-clients" (make test does this)');
  ({ chromium } = await import('playwright-core'));
  gw = new Gateway();
  await gw.setup();
  await gw.start();
  ({ ctx, profile } = await launchBrowser(chromium));
  page = ctx.pages()[0] || (await ctx.newPage());
  consoleLog = createWriteStream(path.join(resultsDir, 'browser.log'));
  page.on('console', (m) => consoleLog.write(`[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => consoleLog.write(`[pageerror] ${e.message}\n`));
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  if (profile) removeDir(profile);
  if (gw) {
    const r = await gw.stop();
    if (r) console.log(`mqttgate exit: ${JSON.stringify(r)}`);
    gw.cleanup();
  }
  if (consoleLog) consoleLog.end();
});

test('log in as admin over wss', { timeout: 60000 }, async () => {
  await withShot('01-login', async () => {
    await login(page, 'admin', gw.password);
    await until(async () => (await connText()) === 'connected', 'status bar "connected"');
    assert.equal(await page.locator('#login').isHidden(), true, 'login form still shown');
    assert.match(await page.locator('#who').textContent(), /^admin \(admin\)$/);
    await until(async () => /online/.test(await page.locator('#gw-status').textContent()), 'gateway status online');
    await until(async () => (await page.locator('#sys-clients').textContent()) !== '–', '$SYS clients figure');
    // The password is not kept anywhere in the page's storage.
    const stored = await page.evaluate(() => JSON.stringify(sessionStorage) + JSON.stringify(localStorage));
    assert.equal(stored.includes(gw.password), false, 'password found in web storage');
  });
});

test('the sim sensor value changes live and is charted', { timeout: 60000 }, async () => {
  await withShot('02-sensor', async () => {
    const tile = page.locator('[data-sensor="sim"]');
    await tile.waitFor({ timeout: 20000 });
    const value = tile.locator('[data-key="temperature_c"] .value');
    await value.waitFor({ timeout: 20000 });
    const first = await value.textContent();
    await until(async () => (await value.textContent()) !== first, `sim temperature_c to change from ${first}`, 30000);
    assert.match(await tile.locator('[data-key="temperature_c"] .unit').textContent(), /°C/);
    assert.equal(await tile.locator('.badge').textContent(), 'online');
    assert.match(await tile.locator('.age').textContent(), /ago$/);
    assert.ok((await tile.locator('canvas').count()) >= 1, 'no chart canvas in the sim tile');
  });
});

test('toggling the sim actuator shows the reported state', { timeout: 60000 }, async () => {
  await withShot('03-actuator', async () => {
    const sw = page.getByRole('switch', { name: 'sim' });
    await sw.waitFor({ timeout: 20000 });
    await until(async () => !(await sw.isDisabled()), 'the switch to be enabled for admin');
    for (let i = 0; i < 2; i++) {
      const before = await sw.getAttribute('aria-checked');
      const want = before === 'true' ? 'false' : 'true';
      await sw.click();
      await until(async () => (await sw.getAttribute('aria-checked')) === want, `aria-checked ${want}`, 20000);
      // It follows the actuator's retained state topic, which says the same.
      const topic = `${GATEWAY_ID}/actuators/sim/state`;
      const payload = page.locator(`li[data-topic="${topic}"] > details > .t-payload`);
      await until(async () => (await payload.textContent()).includes(want === 'true' ? '"on"' : '"off"'), `${topic} to report ${want}`);
    }
  });
});

test('a message from mosquitto_pub appears in the topic explorer', { timeout: 60000 }, async () => {
  await withShot('04-explorer', async () => {
    gw.mosquittoPub('e2e-test/hello', '{"greeting":"hi","markup":"<b id=injected>bold</b>"}', ['-r']);
    const node = page.locator('li[data-topic="e2e-test/hello"]');
    await node.waitFor({ timeout: 20000 });
    const pre = node.locator('> details > .t-payload');
    await until(async () => (await pre.textContent()).includes('"greeting": "hi"'), 'pretty-printed JSON payload');
    assert.match(await node.locator('> details > summary .t-meta').textContent(), /QoS 1/);
    assert.equal(await page.locator('#injected').count(), 0, 'payload markup was rendered as HTML');
    await node.scrollIntoViewIfNeeded();
  });
});

test('publish form sends a message the explorer receives back', { timeout: 60000 }, async () => {
  await withShot('05-publish', async () => {
    await page.getByLabel('Topic', { exact: true }).fill('e2e-test/from-page');
    await page.getByLabel('Payload', { exact: true }).fill('hello from the page');
    await page.getByRole('button', { name: 'Publish' }).click();
    await until(async () => /published to e2e-test\/from-page/.test(await page.locator('#pub-result').textContent()), 'publish acknowledged');
    const pre = page.locator('li[data-topic="e2e-test/from-page"] > details > .t-payload');
    await until(async () => (await pre.textContent()) === 'hello from the page', 'own message in the explorer');
  });
});

test('a reload resumes the session without retyping the password', { timeout: 60000 }, async () => {
  await withShot('06-reload', async () => {
    await page.reload();
    await until(async () => (await connText()) === 'connected', 'connected after reload');
    assert.equal(await page.locator('#login').isHidden(), true);
  });
});

test('the connection stays up past the keepalive interval', { timeout: 90000 }, async () => {
  await withShot('07-keepalive', async () => {
    const conn = page.locator('#conn');
    await until(async () => (await connText()) === 'connected', 'connected');
    const before = await conn.getAttribute('data-connects');
    // The page pings every 20 s; the broker drops a silent client after 30 s.
    await page.waitForTimeout(35000);
    assert.equal(await connText(), 'connected');
    assert.equal(await conn.getAttribute('data-connects'), before, 'the page reconnected during the wait');
  });
});

test('usable on a 360 px wide phone', { timeout: 60000 }, async () => {
  await page.setViewportSize({ width: 360, height: 780 });
  try {
    await withShot('08-phone', async () => {
      await page.locator('[data-sensor="sim"] canvas').first().waitFor({ timeout: 20000 });
      await page.waitForTimeout(300); // let ResizeObserver resize the charts
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow} px wider than the 360 px screen`);
    });
  } finally {
    await page.setViewportSize({ width: 1200, height: 900 });
  }
});

test('a wrong password shows a plain error', { timeout: 60000 }, async () => {
  const other = await ctx.newPage(); // a new tab: no saved login
  try {
    await withShot('09-wrong-password', async () => {
      await login(other, 'admin', 'not-the-password');
      const err = other.locator('#login-error');
      await until(async () => (await err.textContent()) === 'wrong username or password', 'the wrong-password message', 30000);
      assert.equal(await other.locator('#app').isHidden(), true);
    }, () => other);
  } finally {
    await other.close();
  }
});

test('killing and restarting the gateway shows reconnecting, then live again', { timeout: 120000 }, async () => {
  await withShot('10-reconnect', async () => {
    await until(async () => (await connText()) === 'connected', 'connected before the kill');
    await gw.kill();
    await until(async () => /^reconnecting in \d+ s/.test(await connText()), 'status "reconnecting in N s"', 30000);
    await shot(page, '10-reconnecting');
    assert.equal(await page.getByRole('switch', { name: 'sim' }).isDisabled(), true, 'switch enabled while offline');
    await gw.start();
    await until(async () => (await connText()) === 'connected', 'connected again after the restart', 60000);
    // Live again: the sim sensor keeps changing.
    const value = page.locator('[data-sensor="sim"] [data-key="temperature_c"] .value');
    const first = await value.textContent();
    await until(async () => (await value.textContent()) !== first, 'sim value changing after the restart', 30000);
  });
});
