// End to end: the real mqttgate binary over wss with its self-signed
// certificate, the real dashboard in headless Chromium (playwright-core),
// a real mosquitto_pub. Each test leaves a screenshot in web/test-results/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { Gateway, launchBrowser, removeDir, requireTool, which, until, resultsDir, GATEWAY_ID, axeViolations } from './harness.mjs';

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

/** Filters the explorer down to a topic and returns its row. */
async function findTopic(p, topic) {
  await p.getByLabel('Filter topics').fill(topic);
  const row = p.locator(`.vl-row[data-topic="${topic}"]`);
  await row.waitFor({ timeout: 20000 });
  return row;
}

/** Opens a topic's detail pane; returns the pane. */
async function openTopic(p, topic) {
  const row = await findTopic(p, topic);
  await row.locator('.t-name').click();
  const pane = p.locator('#detail');
  await until(async () => (await pane.locator('.d-topic').textContent()) === topic, `the detail pane of ${topic}`);
  return pane;
}

async function noAxeViolations(p, what) {
  for (const scheme of ['light', 'dark']) {
    const v = await axeViolations(p, scheme);
    await shot(p, `axe-${what}-${scheme}`);
    assert.deepEqual(v, [], `axe-core on ${what} (${scheme}):\n${v.join('\n')}`);
  }
  await p.emulateMedia({ colorScheme: null });
}

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

test('the login page has no serious accessibility violations in either theme', { timeout: 60000 }, async () => {
  await page.goto(gw.url);
  await page.getByLabel('Username').waitFor();
  await noAxeViolations(page, 'login');
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
    assert.match(await value.textContent(), /^-?\d+\.\d$/, 'one decimal for a temperature');
    // The main quantity first; the counter is shown but not charted.
    assert.equal(await tile.locator('.quantity').first().getAttribute('data-key'), 'temperature_c');
    await tile.locator('[data-key="reads_count"]').waitFor();
    assert.equal(await tile.locator('[data-key="reads_count"] canvas').count(), 0, 'reads_count charted as a measurement');
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
      // It follows the actuator's retained state topic, which says the same,
      // and stays marked retained after the live update (Retain As Published).
      const topic = `${GATEWAY_ID}/actuators/sim/state`;
      const row = await findTopic(page, topic);
      await until(async () => (await row.locator('.t-value').textContent()).includes(want === 'true' ? '"on"' : '"off"'), `${topic} to report ${want}`);
      assert.equal(await row.locator('.t-retained').isVisible(), true, 'retained marker lost after a live update');
    }
    const pane = await openTopic(page, `${GATEWAY_ID}/actuators/sim/state`);
    assert.match(await pane.locator('.d-meta').textContent(), /· retained ·/);
    assert.equal(await pane.locator('tbody tr').first().locator('td').nth(3).textContent(), 'yes', 'the live message is not flagged retained');
  });
});

test('a message from mosquitto_pub appears in the topic explorer', { timeout: 60000 }, async () => {
  await withShot('04-explorer', async () => {
    gw.mosquittoPub('e2e-test/hello', '{"greeting":"hi","n":1,"markup":"<b id=injected>bold</b>"}', ['-r', '-D', 'publish', 'content-type', 'application/json', '-D', 'publish', 'user-property', 'origin', 'e2e']);
    const pane = await openTopic(page, 'e2e-test/hello');
    const tree = pane.locator('.jtree');
    await until(async () => (await tree.textContent()).includes('greeting: "hi"'), 'the JSON tree');
    assert.equal(await page.locator('#injected').count(), 0, 'payload markup was rendered as HTML');
    assert.match(await pane.locator('.d-meta').textContent(), /QoS 1 · retained/);
    assert.match(await pane.locator('.d-props').textContent(), /Content typeapplication\/json/);
    assert.match(await pane.locator('.d-props').textContent(), /User property origine2e/);
    // A second message: the diff and the chart of the numeric field.
    gw.mosquittoPub('e2e-test/hello', '{"greeting":"hi","n":2,"markup":"<b id=injected>bold</b>"}', ['-r']);
    await until(async () => (await pane.locator('.d-diff').textContent()).includes('~ n: 1 → 2'), 'the diff against the previous message');
    assert.equal(await pane.locator('tbody tr').count(), 2);
    assert.ok((await pane.locator('.d-chart canvas').count()) >= 1, 'no chart of the numeric field');
    await pane.getByRole('button', { name: 'Fill the publish form' }).click();
    assert.equal(await page.getByLabel('Topic', { exact: true }).inputValue(), 'e2e-test/hello');
    assert.match(await page.getByLabel('Payload', { exact: true }).inputValue(), /"n":2/);
    assert.equal(await page.getByLabel('Retain').isChecked(), true, 'a retained message fills the form with Retain ticked');
    await page.getByLabel('Retain').uncheck();
    await noAxeViolations(page, 'detail-pane');
  });
});

test('publish form sends a message the explorer receives back', { timeout: 60000 }, async () => {
  await withShot('05-publish', async () => {
    await page.getByLabel('Topic', { exact: true }).fill('e2e-test/from-page');
    await page.getByLabel('Payload', { exact: true }).fill('hello from the page');
    await page.getByLabel('Retain').check();
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await until(async () => /published to e2e-test\/from-page/.test(await page.locator('#pub-result').textContent()), 'publish acknowledged');
    assert.equal(await page.getByLabel('Retain').isChecked(), false, 'Retain still ticked after a publish');
    const row = await findTopic(page, 'e2e-test/from-page');
    await until(async () => (await row.locator('.t-value').textContent()) === 'hello from the page', 'own message in the explorer');
    await until(() => row.locator('.t-retained').isVisible(), 'the retained marker');
  });
});

test('a retained QoS 2 message published while watching is marked retained', { timeout: 60000 }, async () => {
  await withShot('05b-retained-qos2', async () => {
    gw.mosquittoPub('e2e-test/q2', 'kept', ['-r', '-q', '2']);
    const row = await findTopic(page, 'e2e-test/q2');
    await until(() => row.locator('.t-retained').isVisible(), 'the retained marker on a live retained QoS 2 message');
  });
});

test('deleting a retained message removes the topic from the tree', { timeout: 60000 }, async () => {
  await withShot('05c-delete-retained', async () => {
    const pane = await openTopic(page, 'e2e-test/from-page');
    await pane.getByRole('button', { name: 'Delete retained message' }).click();
    await until(async () => (await page.locator('.vl-row[data-topic="e2e-test/from-page"]').count()) === 0, 'the topic gone from the tree');
    await until(() => pane.isHidden(), 'the pane of the deleted topic to close');
    await page.getByLabel('Filter topics').fill('');
  });
});

test('a payload over 4 KB can be seen whole', { timeout: 60000 }, async () => {
  await withShot('05d-big-payload', async () => {
    const big = 'x'.repeat(6000) + 'THE-END';
    gw.mosquittoPub('e2e-test/big', big);
    const pane = await openTopic(page, 'e2e-test/big');
    assert.equal((await pane.locator('.d-pre').textContent()).includes('THE-END'), false);
    await pane.getByRole('button', { name: /^Show all/ }).click();
    await until(async () => (await pane.locator('.d-pre').textContent()).endsWith('THE-END'), 'the whole payload');
    await pane.getByRole('button', { name: 'Close' }).click();
    await page.getByLabel('Filter topics').fill('');
  });
});

test('a reload resumes the session without retyping the password', { timeout: 60000 }, async () => {
  await withShot('06-reload', async () => {
    await page.reload();
    await until(async () => (await connText()) === 'connected', 'connected after reload');
    assert.equal(await page.locator('#login').isHidden(), true);
  });
});

test('usable on a 360 px wide phone', { timeout: 60000 }, async () => {
  await page.setViewportSize({ width: 360, height: 780 });
  try {
    await withShot('08-phone', async () => {
      await page.locator('[data-sensor="sim"] canvas').first().waitFor({ timeout: 20000 });
      await until(async () => (await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, 'the page to fit the 360 px screen', 5000);
      // Actuators come before the long list of charts; "Log out" is one line.
      const sw = await page.getByRole('switch', { name: 'sim' }).boundingBox();
      const chart = await page.locator('[data-sensor="sim"] canvas').first().boundingBox();
      assert.ok(sw.y < chart.y, `the switch (y=${sw.y}) is below the first chart (y=${chart.y})`);
      const out = await page.getByRole('button', { name: 'Log out' }).boundingBox();
      assert.ok(out.height < 40, `"Log out" wraps: ${out.height} px tall`);
      for (const scheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: scheme });
        await shot(page, `08-phone-${scheme}`);
      }
      await page.emulateMedia({ colorScheme: null });
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

test('the topic tree works from the keyboard', { timeout: 60000 }, async () => {
  await until(async () => (await connText()) === 'connected', 'connected');
  await page.getByLabel('Filter topics').fill('');
  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    const row = el && el.closest('.vl-row');
    return row ? `${row.dataset.topic}|${el.className}` : `none:${el && el.tagName}`;
  });
  const top = page.locator('.vl-row[data-topic="e2e-test"] .t-name');
  await top.waitFor({ timeout: 20000 });
  await top.focus();
  const row = page.locator('.vl-row[data-topic="e2e-test"]');
  if ((await row.locator('.t-toggle').getAttribute('aria-expanded')) === 'true') await page.keyboard.press('ArrowLeft');
  assert.equal(await row.locator('.t-toggle').getAttribute('aria-expanded'), 'false', 'ArrowLeft collapses');
  await page.keyboard.press('ArrowRight');
  assert.equal(await row.locator('.t-toggle').getAttribute('aria-expanded'), 'true', 'ArrowRight expands');
  await page.keyboard.press('ArrowRight');
  assert.match(await focused(), /^e2e-test\/[^|]+\|t-name/, 'ArrowRight on an open level goes to its first child');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await focused(), 'e2e-test|t-name', 'ArrowLeft on a child goes to its parent');
  await page.keyboard.press('Home');
  const first = await focused();
  await page.keyboard.press('ArrowDown');
  assert.notEqual(await focused(), first, 'ArrowDown moves to the next row');
  await page.keyboard.press('ArrowUp');
  assert.equal(await focused(), first, 'ArrowUp moves back');
  await page.keyboard.press('End');
  assert.match(await focused(), /^\$SYS/, 'End goes to the last row ($SYS sorts last)');
  // Enter on a topic with messages opens it in the detail pane.
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowRight'); // open the first level if closed
  await page.keyboard.press('ArrowRight'); // its first child
  const topic = (await focused()).split('|')[0];
  if (await page.locator(`.vl-row[data-topic="${topic}"] .t-value`).textContent()) {
    await page.keyboard.press('Enter');
    await until(async () => (await page.locator('#detail .d-topic').textContent()) === topic, `the detail pane of ${topic}`);
  }
});

test('killing and restarting the gateway shows reconnecting, then live again', { timeout: 120000 }, async () => {
  await withShot('10-reconnect', async () => {
    await until(async () => (await connText()) === 'connected', 'connected before the kill');
    // A retained message seen once, open in the detail pane.
    gw.mosquittoPub('e2e-test/replay', 'seen once', ['-r']);
    const pane = await openTopic(page, 'e2e-test/replay');
    await until(async () => (await pane.locator('tbody tr').count()) === 1, 'the retained message in the pane');
    await gw.kill();
    await until(async () => /^reconnecting in \d+ s/.test(await connText()), 'status "reconnecting in N s"', 30000);
    assert.equal(await page.getByRole('switch', { name: 'sim' }).isDisabled(), true, 'switch enabled while offline');
    // Stale, said on the tile and under the switch.
    const badge = page.locator('[data-sensor="sim"] .badge');
    await until(async () => (await badge.textContent()) === 'stale: no connection', 'the sensor tile marked stale');
    assert.match(await page.locator('.act-why').first().textContent(), /Not connected/);
    assert.match(await page.locator('.actuator .act-state').first().textContent(), /last known/);
    await shot(page, '10-reconnecting');
    await gw.start();
    await until(async () => (await connText()) === 'connected', 'connected again after the restart', 60000);
    await until(async () => (await page.locator('#notice').textContent()) === 'reconnected', 'the "reconnected" notice');
    await until(async () => (await badge.textContent()) === 'online', 'the tile live again');
    // Live again: the sim sensor keeps changing.
    const value = page.locator('[data-sensor="sim"] [data-key="temperature_c"] .value');
    const first = await value.textContent();
    await until(async () => (await value.textContent()) !== first, 'sim value changing after the restart', 30000);
    // The broker sent the retained message again on subscribe: still one
    // message, not a repeat entry.
    assert.equal(await pane.locator('tbody tr').count(), 1, 'the retained message sent again after the reconnect added an entry');
    assert.match(await pane.locator('.d-meta').textContent(), /1 message seen/);
  });
});

test('the main view has no serious accessibility violations in either theme', { timeout: 60000 }, async () => {
  await until(async () => (await connText()) === 'connected', 'connected');
  await page.locator('[data-sensor="sim"] canvas').first().waitFor({ timeout: 20000 });
  await noAxeViolations(page, 'main');
});

test('a viewer reads why the switch and the publish form are disabled', { timeout: 60000 }, async () => {
  gw.addUser('watcher', 'viewer', 'viewer-password-1');
  const other = await ctx.newPage();
  try {
    await withShot('11-viewer', async () => {
      await until(async () => {
        await login(other, 'watcher', 'viewer-password-1');
        return until(async () => (await other.locator('#conn').textContent()) === 'connected', 'viewer connected', 5000).catch(() => false);
      }, 'the viewer to log in', 30000, 500);
      const sw = other.getByRole('switch', { name: 'sim' });
      await sw.waitFor({ timeout: 20000 });
      assert.equal(await sw.isDisabled(), true);
      assert.match(await other.locator('.act-why').first().textContent(), /Your role \(viewer\) may not switch this/);
      assert.match(await other.locator('#pub-why').textContent(), /Your role \(viewer\) may not publish/);
      assert.equal(await other.getByLabel('Topic', { exact: true }).isDisabled(), true);
      assert.equal(await other.locator('#pub-why').isVisible(), true);
    }, () => other);
  } finally {
    await other.close();
  }
});

test('an operator reads which topics it may publish to before submitting', { timeout: 60000 }, async () => {
  gw.addUser('op', 'operator', 'operator-password-1');
  const other = await ctx.newPage();
  try {
    await withShot('12-operator', async () => {
      await until(async () => {
        await login(other, 'op', 'operator-password-1');
        return until(async () => (await other.locator('#conn').textContent()) === 'connected', 'operator connected', 5000).catch(() => false);
      }, 'the operator to log in', 30000, 500);
      const why = other.locator('#pub-why');
      await until(async () => /Your role \(operator\) may publish to \+\/actuators\/\+\/set\./.test(await why.textContent()), 'the topics the operator may publish to');
      await other.getByLabel('Topic', { exact: true }).fill('e2e/sensors/sim/state');
      await until(async () => /may not publish to e2e\/sensors\/sim\/state/.test(await why.textContent()), 'the refusal before submitting');
      await other.getByLabel('Topic', { exact: true }).fill('e2e/actuators/sim/set');
      await until(async () => /may publish to \+\/actuators/.test(await why.textContent()), 'the allowed topic accepted');
      assert.equal(await other.getByRole('switch', { name: 'sim' }).isDisabled(), false);
    }, () => other);
  } finally {
    await other.close();
  }
});
