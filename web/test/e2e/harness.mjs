// Support for the end-to-end tests: builds and starts the real mqttgate
// binary on free loopback ports with its own data dir, and launches
// Debian's Chromium through playwright-core. Importing this file has no
// side effects (node --test also loads it as a test file).
//
// Environment (all optional):
//   MQTTGATE_BIN            use this binary instead of building ./cmd/mqttgate
//   MQTTGATE_E2E_DIR        work directory (default: a fresh temp dir)
//   MQTTGATE_E2E_HTTP_PORT  fixed ports (default: free ports)
//   MQTTGATE_E2E_MQTT_PORT
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, createWriteStream, accessSync, constants, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const repoDir = path.resolve(webDir, '..');
export const resultsDir = path.join(webDir, 'test-results');
export const CHROMIUM = '/usr/bin/chromium';
export const GATEWAY_ID = 'e2e';

export function requireTool(file, pkg) {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`${file} is missing: install it with "apt-get install -y ${pkg}" (make test does this)`);
  }
}

export function which(name) {
  for (const dir of (process.env.PATH || '').split(':')) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or the deadline passes. */
export async function until(fn, what, timeoutMs = 20000, everyMs = 200) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(everyMs);
  }
}

function httpsGet(url) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Builds the bundle and the binary (unless MQTTGATE_BIN is set); returns the binary path. */
export function buildBinary(workDir) {
  if (process.env.MQTTGATE_BIN) return path.resolve(process.env.MQTTGATE_BIN);
  execFileSync(process.execPath, [path.join(webDir, 'build.mjs')], { stdio: 'inherit' });
  const bin = path.join(workDir, 'mqttgate');
  execFileSync('go', ['build', '-o', bin, './cmd/mqttgate'], { cwd: repoDir, stdio: 'inherit', timeout: 600000 });
  return bin;
}

/** A gateway process under test; start() and kill() may be called repeatedly. */
export class Gateway {
  /**
   * mqttExtra: more lines for the config's mqtt: section, e.g. ['  max_queued: 20000'];
   * extra: more top-level lines, e.g. ['history:', '  flush_interval: 1s'].
   */
  constructor({ mqttExtra = [], extra = [] } = {}) {
    this.mqttExtra = mqttExtra;
    this.extra = extra;
    this.dir = process.env.MQTTGATE_E2E_DIR || mkdtempSync(path.join(tmpdir(), 'mqttgate-e2e-'));
    mkdirSync(this.dir, { recursive: true });
    mkdirSync(resultsDir, { recursive: true });
    this.dataDir = path.join(this.dir, 'data');
    this.config = path.join(this.dir, 'mqttgate.yaml');
    this.proc = null;
    this.starts = 0;
  }

  async setup() {
    this.bin = buildBinary(this.dir);
    // Port 0 lets the kernel pick; start() learns the ports from --addr-file
    // and a restart keeps them (the page reconnects to the same URL).
    this.httpPort = Number(process.env.MQTTGATE_E2E_HTTP_PORT) || 0;
    this.mqttPort = Number(process.env.MQTTGATE_E2E_MQTT_PORT) || 0;
    this.addrFile = path.join(this.dir, 'addrs.json');
    writeFileSync(
      this.config,
      [
        `gateway_id: ${GATEWAY_ID}`,
        'mqtt:',
        `  addr: 127.0.0.1:${this.mqttPort}`,
        ...this.mqttExtra,
        'http:',
        `  addr: 127.0.0.1:${this.httpPort}`,
        '  tls: auto',
        'sensors:',
        '  - {name: sim, driver: sim, interval: 1s}',
        'actuators:',
        '  - {name: sim, driver: sim}',
        ...this.extra,
        '',
      ].join('\n'),
    );
  }

  async start() {
    this.starts++;
    const log = createWriteStream(path.join(resultsDir, 'gateway.log'), { flags: this.starts === 1 ? 'w' : 'a' });
    log.write(`--- start ${this.starts}: ${this.bin} run -c ${this.config} --data-dir ${this.dataDir}\n`);
    rmSync(this.addrFile, { force: true });
    const args = ['run', '-c', this.config, '--data-dir', this.dataDir, '--addr-file', this.addrFile,
      '--mqtt-addr', `127.0.0.1:${this.mqttPort}`, '--http-addr', `127.0.0.1:${this.httpPort}`];
    const p = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.pipe(log, { end: false });
    p.stderr.pipe(log, { end: false });
    this.exited = new Promise((resolve) => p.on('exit', (code, sig) => resolve({ code, sig })));
    this.proc = p;
    let early = null;
    this.exited.then((r) => (early = r));
    const addrs = await until(() => {
      if (early) throw new Error(`mqttgate exited (${JSON.stringify(early)}); see ${path.join(resultsDir, 'gateway.log')}`);
      return existsSync(this.addrFile) && JSON.parse(readFileSync(this.addrFile, 'utf8'));
    }, 'mqttgate to write its addr file', 30000, 50);
    this.mqttPort = Number(addrs.mqtt.split(':').pop());
    this.httpPort = Number(addrs.http.split(':').pop());
    this.url = `https://127.0.0.1:${this.httpPort}/`;
    await until(async () => {
      if (early) throw new Error(`mqttgate exited (${JSON.stringify(early)}); see ${path.join(resultsDir, 'gateway.log')}`);
      const r = await httpsGet(`https://127.0.0.1:${this.httpPort}/healthz`);
      return r.status === 200;
    }, 'mqttgate /healthz to answer 200', 30000);
    this.password = await until(() => readFileSync(path.join(this.dataDir, 'initial-admin-password'), 'utf8').trim(), 'initial-admin-password', 10000);
  }

  /** SIGKILL: the gateway dies without a clean shutdown. */
  async kill() {
    if (!this.proc) return;
    this.proc.kill('SIGKILL');
    await this.exited;
    this.proc = null;
  }

  /** Removes the work dir unless the caller chose it (MQTTGATE_E2E_DIR). */
  cleanup() {
    if (!process.env.MQTTGATE_E2E_DIR) removeDir(this.dir);
  }

  /** SIGTERM and wait; returns the exit code. */
  async stop() {
    if (!this.proc) return null;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc && this.proc.kill('SIGKILL'), 15000);
    const r = await this.exited;
    clearTimeout(t);
    this.proc = null;
    return r;
  }

  /** Adds a user with the CLI (the running gateway picks it up within a second). */
  addUser(name, role, password) {
    execFileSync(this.bin, ['user', 'add', name, '--role', role, '--password-stdin', '-c', this.config, '--data-dir', this.dataDir], { input: password + '\n', timeout: 15000 });
  }

  /** An MQTT.js v5 client connected as admin over TCP. */
  async mqttClient(mqtt) {
    const c = mqtt.connect(`mqtt://127.0.0.1:${this.mqttPort}`, { protocolVersion: 5, username: 'admin', password: this.password, reconnectPeriod: 0, clientId: `e2e-pub-${process.pid}-${Date.now()}` });
    await new Promise((resolve, reject) => {
      c.once('connect', resolve);
      c.once('error', reject);
    });
    return c;
  }

  mosquittoPub(topic, message, extra = []) {
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(this.mqttPort), '-u', 'admin', '-P', this.password, '-V', 'mqttv5', '-q', '1', '-t', topic, '-m', message, ...extra], { timeout: 15000 });
  }
}

export async function launchBrowser(chromium) {
  requireTool(CHROMIUM, 'chromium');
  const profile = mkdtempSync(path.join(tmpdir(), 'mqttgate-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: true,
    viewport: { width: 1200, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { ctx, profile };
}

/** Removes a directory, tolerating a browser that is still letting go of it. */
export function removeDir(dir) {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  } catch (e) {
    console.log(`could not remove ${dir}: ${e.message}`);
  }
}

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/**
 * Runs axe-core (WCAG 2.1 A/AA rules) on the page as it is, in the given
 * colour scheme; returns the serious and critical violations as text.
 */
export async function axeViolations(page, scheme) {
  await page.emulateMedia({ colorScheme: scheme });
  // Evaluated, not injected as a <script>: the page's CSP allows only its own scripts.
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(readFileSync(axePath, 'utf8'));
  const r = await page.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, resultTypes: ['violations'] }));
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n` + v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n'));
}

/**
 * Records the main-thread tasks of a page with Chrome's tracing (category
 * "toplevel"): start() then stop() -> [{wallMs, cpuMs}] of the busiest
 * renderer main thread. cpuMs (thread time) is what the page itself
 * costs; wallMs also holds the time the thread waited for a CPU.
 */
export async function traceTasks(cdp) {
  await cdp.send('Tracing.start', { categories: 'toplevel,__metadata', transferMode: 'ReturnAsStream', options: 'record-as-much-as-possible' });
  return async () => {
    const done = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
    await cdp.send('Tracing.end');
    const { stream } = await done;
    let text = '';
    for (;;) {
      const r = await cdp.send('IO.read', { handle: stream, size: 1 << 20 });
      text += r.base64Encoded ? Buffer.from(r.data, 'base64').toString('utf8') : r.data;
      if (r.eof) break;
    }
    await cdp.send('IO.close', { handle: stream });
    const events = JSON.parse(text).traceEvents || JSON.parse(text);
    const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args && e.args.name === 'CrRendererMain').map((e) => `${e.pid}/${e.tid}`));
    const byThread = new Map();
    for (const e of events) {
      if (e.ph !== 'X' || !/RunTask/.test(e.name) || !mains.has(`${e.pid}/${e.tid}`)) continue;
      const k = `${e.pid}/${e.tid}`;
      if (!byThread.has(k)) byThread.set(k, []);
      byThread.get(k).push({ wallMs: (e.dur || 0) / 1000, cpuMs: (e.tdur ?? e.dur ?? 0) / 1000 });
    }
    return [...byThread.values()].sort((a, b) => b.length - a.length)[0] || [];
  };
}
