import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantityKey, parseReading, formatValue } from '../../src/quantity.js';
import { classifyTopic, parseActuatorState, formatDuration, SysStats } from '../../src/model.js';
import { Backoff } from '../../src/backoff.js';
import { connackInfo, brokerURL, fetchChallenge, LoginError } from '../../src/session.js';

test('parseQuantityKey: label and unit from the key', () => {
  const cases = [
    ['temperature_c', 'Temperature', '°C'], ['humidity_pct', 'Humidity', '%'], ['pressure_hpa', 'Pressure', 'hPa'],
    ['mem_used_pct', 'Mem used', '%'], ['disk_free_bytes', 'Disk free', 'B'], ['uptime_s', 'Uptime', 's'],
    ['load1', 'Load1', ''], ['co2_ppm', 'CO₂', 'ppm'], ['foo_baz', 'Foo baz', ''], ['_c', 'C', ''], ['x_', 'X ', ''],
    ['illuminance_lux', 'Illuminance', 'lx'], ['value', 'Value', ''],
  ];
  for (const [key, label, unit] of cases) {
    const q = parseQuantityKey(key);
    assert.equal(q.unit, unit, key);
    assert.equal(q.label.trim(), label.trim(), key);
  }
});

test('parseReading', () => {
  const r = parseReading('{"ts":"2026-11-23T10:00:00.123Z","temperature_c":21.43,"humidity_pct":40.2,"note":"x"}');
  assert.equal(r.ts, Date.parse('2026-11-23T10:00:00.123Z'));
  assert.deepEqual(r.quantities.map((q) => [q.key, q.value, q.unit]), [['temperature_c', 21.43, '°C'], ['humidity_pct', 40.2, '%']]);
  assert.equal(parseReading('nope'), null);
  assert.equal(parseReading('[1]'), null);
  assert.equal(parseReading('null'), null);
  assert.equal(parseReading('{"v_c":1}').ts, null);
});

test('formatValue', () => {
  assert.equal(formatValue(21.4321), '21.43');
  assert.equal(formatValue(1013.25), '1013');
  assert.equal(formatValue(5), '5');
  assert.equal(formatValue(123.456), '123.5');
});

test('classifyTopic', () => {
  assert.deepEqual(classifyTopic('gw-1/sensors/sim/state'), { kind: 'sensorState', gw: 'gw-1', name: 'sim' });
  assert.deepEqual(classifyTopic('gw-1/sensors/sim/availability'), { kind: 'sensorAvailability', gw: 'gw-1', name: 'sim' });
  assert.deepEqual(classifyTopic('gw-1/actuators/relay/state'), { kind: 'actuatorState', gw: 'gw-1', name: 'relay' });
  assert.deepEqual(classifyTopic('gw-1/actuators/relay/set'), { kind: 'actuatorSet', gw: 'gw-1', name: 'relay' });
  assert.deepEqual(classifyTopic('gw-1/status'), { kind: 'status', gw: 'gw-1', name: '' });
  assert.deepEqual(classifyTopic('gw-1/uplink/cloud/state'), { kind: 'uplinkState', gw: 'gw-1', name: 'cloud' });
  for (const t of ['gw-1/sensors/sim', 'gw-1/sensors//state', 'a/b/c/d/e', '$SYS/broker/uptime', '/status', 'x']) {
    assert.equal(classifyTopic(t), null, t);
  }
});

test('parseActuatorState', () => {
  for (const s of ['on', 'ON', 'true', '1', '"on"', 'true', '{"state":"on"}', '{"on":true}', '{"value":1}', '{"ts":"x","state":true}']) {
    assert.equal(parseActuatorState(s), true, s);
  }
  for (const s of ['off', 'false', '0', '"off"', '{"state":"off"}', '{"on":false}']) {
    assert.equal(parseActuatorState(s), false, s);
  }
  for (const s of ['', 'maybe', '{}', '[1]', '{"state":"broken"}']) {
    assert.equal(parseActuatorState(s), null, s);
  }
});

test('formatDuration', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(59.9), '59 s');
  assert.equal(formatDuration(185), '3 min 5 s');
  assert.equal(formatDuration(7500), '2 h 5 min');
  assert.equal(formatDuration(3 * 86400 + 4 * 3600 + 5), '3 d 4 h');
  assert.equal(formatDuration(-5), '0 s');
});

test('SysStats derives messages per second from received counter deltas', () => {
  const s = new SysStats();
  assert.equal(s.update('$SYS/broker/messages/received', '100', 0), false);
  assert.equal(s.msgRate, null);
  assert.equal(s.update('$SYS/broker/messages/received', '150', 10000), true);
  assert.equal(s.msgRate, 5);
  s.update('$SYS/broker/clients/connected', '3');
  s.update('$SYS/broker/uptime', '42');
  assert.equal(s.clients, 3);
  assert.equal(s.uptime, 42);
  assert.equal(s.update('$SYS/broker/uptime', 'garbage'), false);
  // A restart (counter goes down) does not show a negative rate.
  assert.equal(s.update('$SYS/broker/messages/received', '2', 20000), false);
  assert.equal(s.msgRate, 5);
});

test('Backoff grows exponentially with jitter, is capped, resets', () => {
  let r = 0;
  const b = new Backoff({ base: 1000, max: 8000, random: () => r });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [500, 1000, 2000, 4000, 4000]);
  r = 1;
  assert.equal(b.next(), 8000);
  b.reset();
  assert.equal(b.next(), 1000);
  const rnd = new Backoff({ base: 1000, max: 30000 });
  for (let i = 0; i < 100; i++) {
    const step = rnd.step();
    const d = rnd.next();
    assert.ok(d >= step / 2 && d <= step, `${d} outside [${step / 2}, ${step}]`);
  }
});

test('connackInfo reads role and write', () => {
  assert.deepEqual(connackInfo({ properties: { userProperties: { role: 'operator', write: '["+/actuators/+/set"]' } } }), {
    role: 'operator', write: ['+/actuators/+/set'],
  });
  assert.deepEqual(connackInfo({}), { role: '', write: null });
});

test('brokerURL follows the page scheme', () => {
  assert.equal(brokerURL({ protocol: 'https:', host: 'pi.local:8443' }), 'wss://pi.local:8443/mqtt');
  assert.equal(brokerURL({ protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/mqtt');
});

function fakeFetch(status, body, headers = {}) {
  return async () => ({
    status, ok: status >= 200 && status < 300,
    headers: { get: (k) => headers[k] ?? null },
    json: async () => (typeof body === 'string' ? JSON.parse(body) : body),
  });
}

test('fetchChallenge maps HTTP answers to plain messages', async () => {
  const ch = { method: 'chap1', nonce: 'n', salt: 's', iterations: 4096, expires_in: 30 };
  assert.deepEqual(await fetchChallenge(fakeFetch(200, ch), 'alice'), ch);
  await assert.rejects(fetchChallenge(fakeFetch(429, { error: 'blocked', retry_after: 42 }), 'a'), (e) =>
    e instanceof LoginError && e.kind === 'blocked' && e.retryAfter === 42 && e.message === 'too many failed attempts, try again in 42 s');
  await assert.rejects(fetchChallenge(fakeFetch(429, 'x', { 'Retry-After': '7' }), 'a'), /try again in 7 s/);
  await assert.rejects(
    fetchChallenge(fakeFetch(429, { error: 'blocked', retry_after: 60, message: 'too many failed logins for this user from your address' }), 'a'),
    /: too many failed logins for this user from your address, try again in 60 s$/);
  await assert.rejects(fetchChallenge(async () => { throw new TypeError('Failed to fetch'); }, 'a'), (e) => e.kind === 'unreachable');
  await assert.rejects(fetchChallenge(fakeFetch(400, { error: 'username: missing' }), ''), (e) => e.kind === 'protocol' && /username: missing/.test(e.message));
  await assert.rejects(fetchChallenge(fakeFetch(502, 'x'), 'a'), (e) => e.kind === 'unreachable');
});
