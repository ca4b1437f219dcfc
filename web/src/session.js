// The gateway connection: chap1 challenge, MQTT.js over WebSocket, and our
// own reconnect loop (every connect needs a fresh single-use nonce, so
// MQTT.js's built-in reconnect is off).

import { b64urlDecode, b64urlEncode, clientKey, passwordField, proof } from './chap1.js';
import { Backoff } from './backoff.js';
import { parseWriteProperty } from './topics.js';

const STORE_KEY = 'mqttgate.login';

/** A failed login attempt; kind is unauthorized, blocked, unreachable, relogin or protocol. */
export class LoginError extends Error {
  constructor(kind, message, retryAfter = 0) {
    super(message);
    this.kind = kind;
    this.retryAfter = retryAfter;
  }
}

/** ws(s)://host/mqtt for the page's own origin. */
export function brokerURL(loc) {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/mqtt`;
}

export function randomClientId() {
  const b = new Uint8Array(4);
  globalThis.crypto.getRandomValues(b);
  return 'dash-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Reads the user properties of a CONNACK: {role, write}. */
export function connackInfo(connack) {
  const up = (connack && connack.properties && connack.properties.userProperties) || {};
  const role = Array.isArray(up.role) ? up.role[up.role.length - 1] : up.role;
  return { role: typeof role === 'string' ? role : '', write: parseWriteProperty(up.write) };
}

/**
 * Asks for a chap1 challenge. Throws LoginError: unreachable (network),
 * blocked (429, with retryAfter seconds), protocol (anything else).
 */
export async function fetchChallenge(fetchFn, username) {
  let res;
  try {
    res = await fetchFn('/api/auth/challenge', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username }),
      cache: 'no-store',
    });
  } catch {
    throw new LoginError('unreachable', 'cannot reach the gateway');
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  if (res.status === 429) {
    let s = Number(body && body.retry_after);
    if (!Number.isFinite(s) || s <= 0) s = Number(res.headers.get('Retry-After')) || 60;
    const why = body && typeof body.message === 'string' ? body.message : 'too many failed attempts';
    throw new LoginError('blocked', `${why}, try again in ${Math.ceil(s)} s`, s);
  }
  if (res.status >= 500 && res.status !== 501) {
    throw new LoginError('unreachable', `the gateway answered ${res.status}; it may be starting or overloaded`);
  }
  if (!res.ok || !body || body.method !== 'chap1' || typeof body.nonce !== 'string') {
    const why = body && typeof body.error === 'string' ? `: ${body.error}` : '';
    throw new LoginError('protocol', `the gateway refused the login request (HTTP ${res.status})${why}`);
  }
  return body;
}

/**
 * Session keeps one MQTT connection to the gateway alive for a logged-in
 * user. deps: {mqttConnect, fetch, storage (sessionStorage), location,
 * backoff, setTimeout, clearTimeout, now}. Listeners: onState(state),
 * onConnect(client, info), onMessage(topic, payload, packet), onLogout(msg).
 * state: {phase: 'offline'|'connecting'|'connected'|'reconnecting', retryAt, message}.
 */
export class Session {
  constructor(deps) {
    this.d = {
      setTimeout: globalThis.setTimeout.bind(globalThis),
      clearTimeout: globalThis.clearTimeout.bind(globalThis),
      now: () => Date.now(),
      backoff: new Backoff(),
      ...deps,
    };
    this.client = null;
    this.timer = null;
    this.gen = 0; // bumps on logout so stale attempts give up
    this.state = { phase: 'offline', retryAt: 0, message: '' };
    this.detach = () => {};
    this.connects = 0; // successful connects, for the status bar and tests
    this.onState = () => {};
    this.onConnect = () => {};
    this.onMessage = () => {};
    this.onLogout = () => {};
  }

  saved() {
    try {
      const v = JSON.parse(this.d.storage.getItem(STORE_KEY) || 'null');
      if (v && v.username && v.key && v.salt && v.iterations) return v;
    } catch {
      /* ignore */
    }
    return null;
  }

  forget() {
    try {
      this.d.storage.removeItem(STORE_KEY);
    } catch {
      /* ignore */
    }
  }

  setState(phase, extra = {}) {
    this.state = { phase, retryAt: 0, message: '', ...extra };
    this.onState(this.state);
  }

  /** Logs in with a typed password; throws LoginError. */
  async login(username, password) {
    this.stop();
    const gen = this.gen;
    this.setState('connecting');
    try {
      await this.attempt(gen, username, password);
    } catch (e) {
      this.setState('offline', { message: e.message });
      throw e;
    }
  }

  /** Resumes with the saved key (after a reload); false if none is saved. */
  resume() {
    if (!this.saved()) return false;
    this.stop();
    this.setState('connecting');
    this.retry(this.gen);
    return true;
  }

  /** Logs out: closes the connection and forgets the saved key. */
  logout() {
    this.forget();
    this.stop();
    this.setState('offline');
  }

  /** Reconnects at once (the "retry now" button). */
  retryNow() {
    if (this.state.phase !== 'reconnecting') return;
    this.d.clearTimeout(this.timer);
    this.retry(this.gen);
  }

  stop() {
    this.gen++;
    this.d.clearTimeout(this.timer);
    this.timer = null;
    this.d.backoff.reset();
    if (this.client) {
      const c = this.client;
      this.client = null;
      this.detach();
      c.on('error', () => {});
      c.end(true);
    }
  }

  async retry(gen) {
    const saved = this.saved();
    if (!saved) return;
    this.setState('connecting');
    try {
      await this.attempt(gen, saved.username, null);
    } catch (e) {
      if (gen !== this.gen) return;
      if (e.kind === 'unauthorized' || e.kind === 'relogin') {
        this.stop();
        this.forget();
        this.setState('offline', { message: e.message });
        this.onLogout(e.message);
        return;
      }
      const delay = e.kind === 'blocked' ? e.retryAfter * 1000 : this.d.backoff.next();
      this.schedule(gen, delay, e.message);
    }
  }

  schedule(gen, delay, message) {
    if (gen !== this.gen) return;
    this.d.clearTimeout(this.timer);
    this.setState('reconnecting', { retryAt: this.d.now() + delay, message });
    this.timer = this.d.setTimeout(() => this.retry(gen), delay);
  }

  /** One connect: challenge, proof, MQTT CONNECT. password null: use the saved key. */
  async attempt(gen, username, password) {
    const ch = await fetchChallenge(this.d.fetch, username);
    let key;
    const saved = this.saved();
    if (password !== null) {
      key = await clientKey(password, b64urlDecode(ch.salt), ch.iterations);
    } else if (saved && saved.username === username && saved.salt === ch.salt && saved.iterations === ch.iterations) {
      key = b64urlDecode(saved.key);
    } else {
      throw new LoginError('relogin', 'your password was changed on the gateway; please sign in again');
    }
    if (gen !== this.gen) throw new LoginError('protocol', 'cancelled');
    const clientId = randomClientId();
    const pw = passwordField(ch.nonce, await proof(key, ch.nonce, username, clientId));
    const { client, connack } = await this.connect(username, pw, clientId);
    if (gen !== this.gen) {
      client.end(true);
      throw new LoginError('protocol', 'cancelled');
    }
    if (password !== null) {
      try {
        this.d.storage.setItem(
          STORE_KEY,
          JSON.stringify({ username, key: b64urlEncode(key), salt: ch.salt, iterations: ch.iterations }),
        );
      } catch {
        /* storage full or disabled: reconnects will ask again */
      }
    }
    this.d.backoff.reset();
    this.client = client;
    // Only our own listeners are ever removed: MQTT.js keeps internal ones
    // (ping timer, queues) on the same emitter.
    const onMessage = (t, p, pkt) => this.onMessage(t, p, pkt);
    const onError = () => {}; // close follows
    const onClose = () => {
      if (this.client !== client) return;
      this.client = null;
      this.detach();
      client.end(true);
      this.schedule(gen, this.d.backoff.next(), 'connection lost');
    };
    client.on('message', onMessage);
    client.on('close', onClose);
    client.on('error', onError);
    this.detach = () => {
      client.off('message', onMessage);
      client.off('close', onClose);
      // keep onError: a late socket error must not become an uncaught exception
      this.detach = () => {};
    };
    this.connects++;
    const info = connackInfo(connack);
    this.setState('connected', { username, role: info.role });
    this.onConnect(client, { ...info, username, clientId });
  }

  connect(username, password, clientId) {
    return new Promise((resolve, reject) => {
      const client = this.d.mqttConnect(brokerURL(this.d.location), {
        protocolVersion: 5,
        clientId,
        username,
        password,
        clean: true,
        keepalive: 20,
        reconnectPeriod: 0,
        connectTimeout: 10000,
        resubscribe: false,
      });
      let done = false;
      const off = () => {
        client.off('connect', onConnect);
        client.off('close', onClose);
        client.off('error', onError);
        client.on('error', () => {}); // late errors after we stopped listening
      };
      const fail = (err) => {
        if (done) return;
        done = true;
        off();
        client.end(true);
        reject(err);
      };
      const onConnect = (connack) => {
        if (done) return;
        done = true;
        off();
        resolve({ client, connack });
      };
      const onClose = () => fail(new LoginError('unreachable', 'the gateway closed the connection'));
      const onError = (err) => {
        const code = err && err.code;
        if (code === 135 || code === 134 || code === 5 || code === 4) {
          fail(new LoginError('unauthorized', 'wrong username or password'));
        } else if (code === 138 || code === 159) {
          fail(new LoginError('blocked', 'too many failed attempts, try again later', 60));
        } else {
          fail(new LoginError('unreachable', 'cannot reach the gateway'));
        }
      };
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('close', onClose);
    });
  }
}
