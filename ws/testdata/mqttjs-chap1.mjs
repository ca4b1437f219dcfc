// MQTT.js client for mqttgate's chap1 login over wss, run by
// TestMQTTJS (ws/mqttjs_test.go). Usage:
//
//   MQTTGATE_HTTP_URL=https://127.0.0.1:8443 MQTTGATE_WS_URL=wss://127.0.0.1:8443/mqtt \
//   MQTTGATE_CA_FILE=mqttgate-data/tls/cert.pem MQTTGATE_USER=alice MQTTGATE_PASSWORD=... \
//   NODE_PATH=web/node_modules node ws/testdata/mqttjs-chap1.mjs
//
// It logs in three ways -- two-step with protocolVersion 4 and 5, and
// in-band (MQTT 5 AUTH) through handleAuth -- publishes and receives one
// message each time, checks that a wrong password is refused, and prints
// one line per step. Exit status 0 means every step passed.
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), 'x.js'));
const mqtt = require('mqtt');

const env = (k) => {
  const v = process.env[k];
  if (!v) { console.error(`missing environment variable ${k}`); process.exit(2); }
  return v;
};
const httpURL = env('MQTTGATE_HTTP_URL');
const wsURL = env('MQTTGATE_WS_URL');
const ca = fs.readFileSync(env('MQTTGATE_CA_FILE'));
const user = env('MQTTGATE_USER');
const password = env('MQTTGATE_PASSWORD');

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const hmac = (key, msg) => crypto.createHmac('sha256', key).update(msg).digest();

// clientProof implements docs/chap1.md, "the proof", with Node's crypto.
function clientProof(pw, saltB64, iterations, nonce, username, clientId) {
  const salted = crypto.pbkdf2Sync(pw, Buffer.from(saltB64, 'base64url'), iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = crypto.createHash('sha256').update(clientKey).digest();
  const sig = hmac(storedKey, `chap1,${nonce},${username},${clientId}`);
  return Buffer.from(clientKey.map((b, i) => b ^ sig[i]));
}

// challenge POSTs to /api/auth/challenge, trusting only the pinned cert.
function challenge(username) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ username });
    const req = https.request(`${httpURL}/api/auth/challenge`, {
      method: 'POST', ca, headers: { 'Content-Type': 'application/json' },
    }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => res.statusCode === 200
        ? resolve(JSON.parse(data))
        : reject(new Error(`challenge: HTTP ${res.statusCode} ${data}`)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// roundTrip connects, subscribes, publishes and waits for its own message.
function roundTrip(name, opts, setup) {
  return new Promise((resolve, reject) => {
    const topic = `mqttjs/${name}`;
    const payload = `hello from MQTT.js ${name}`;
    const client = mqtt.connect(wsURL, {
      ca, reconnectPeriod: 0, connectTimeout: 20000, clean: true, ...opts,
    });
    if (setup) setup(client);
    const timer = setTimeout(() => { client.end(true); reject(new Error(`${name}: timed out`)); }, 30000);
    client.on('error', (err) => { clearTimeout(timer); client.end(true); reject(new Error(`${name}: ${err.message}`)); });
    client.on('connect', () => {
      client.subscribe(topic, { qos: 1 }, (err) => {
        if (err) { client.emit('error', err); return; }
        client.publish(topic, payload, { qos: 1 });
      });
    });
    client.on('message', (t, msg) => {
      if (t === topic && msg.toString() === payload) {
        clearTimeout(timer);
        client.end(false, () => resolve());
      }
    });
  });
}

async function twoStep(name, protocolVersion, pw = password) {
  const clientId = `mqttjs-${name}`;
  const ch = await challenge(user);
  if (ch.method !== 'chap1') throw new Error(`unexpected method ${ch.method}`);
  const proof = clientProof(pw, ch.salt, ch.iterations, ch.nonce, user, clientId);
  await roundTrip(name, {
    protocolVersion, clientId, username: user, password: `chap1:${ch.nonce}:${b64url(proof)}`,
  });
}

async function inBand(name, pw = password) {
  const clientId = `mqttjs-${name}`;
  await roundTrip(name, {
    protocolVersion: 5, clientId, username: user,
    properties: { authenticationMethod: 'chap1' },
  }, (client) => {
    // The server's AUTH (0x18) carries {"nonce","salt","iterations"}; the
    // answer is AUTH 0x18 with the raw 32-byte proof.
    client.handleAuth = (packet, cb) => {
      try {
        const ch = JSON.parse(packet.properties.authenticationData.toString());
        const proof = clientProof(pw, ch.salt, ch.iterations, ch.nonce, user, clientId);
        cb(null, {
          cmd: 'auth', reasonCode: 0x18,
          properties: { authenticationMethod: 'chap1', authenticationData: proof },
        });
      } catch (err) { cb(err); }
    };
  });
}

async function mustFail(name, fn) {
  try { await fn(); } catch (err) {
    console.log(`ok ${name} refused: ${err.message}`);
    return;
  }
  throw new Error(`${name}: wrong password accepted`);
}

try {
  await twoStep('two-step-v4', 4);
  console.log('ok two-step protocolVersion 4');
  await twoStep('two-step-v5', 5);
  console.log('ok two-step protocolVersion 5');
  await inBand('in-band-v5');
  console.log('ok in-band protocolVersion 5 (handleAuth)');
  await mustFail('two-step wrong password', () => twoStep('bad-v4', 4, 'wrong password'));
  await mustFail('in-band wrong password', () => inBand('bad-v5', 'wrong password'));
  console.log('PASS');
  process.exit(0);
} catch (err) {
  console.error(`FAIL ${err.message}`);
  process.exit(1);
}
