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
  constructor() {
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
        'http:',
        `  addr: 127.0.0.1:${this.httpPort}`,
        '  tls: auto',
        'sensors:',
        '  - {name: sim, driver: sim, interval: 1s}',
        'actuators:',
        '  - {name: sim, driver: sim}',
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
