import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HistoryClient, toColumns, mergeLive, toCSV, replyTopic, requestTopic, csvName, pointCount } from '../../src/history.js';
import { timeLabel } from '../../src/series.js';

// fakeMQTT records what the HistoryClient publishes and subscribes, as
// MQTT.js would see it.
function fakeMQTT(clientId) {
  return {
    options: { clientId },
    subs: [],
    pubs: [],
    subscribe(topic, opts, cb) { this.subs.push(topic); cb(null, [{ topic, qos: 0 }]); },
    publish(topic, payload, opts) { this.pubs.push({ topic, payload, opts }); },
  };
}

test('a query goes to the request topic with a response topic in the own reply space, and resolves with its answer', async () => {
  const c = fakeMQTT('dash-1');
  const h = new HistoryClient(c, 'gw');
  const p = h.query({ topic: 'gw/sensors/demo/state', field: 'temperature_c', range: '1h' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(c.subs, ['$reply/dash-1/history']);
  assert.equal(c.pubs.length, 1);
  const pub = c.pubs[0];
  assert.equal(pub.topic, requestTopic('gw'));
  assert.equal(pub.opts.properties.responseTopic, replyTopic('dash-1'));
  assert.deepEqual(JSON.parse(pub.payload), { topic: 'gw/sensors/demo/state', field: 'temperature_c', range: '1h' });
  // Another answer first (unknown correlation), then ours.
  const other = { properties: { correlationData: new TextEncoder().encode('999') } };
  assert.equal(h.onMessage('$reply/dash-1/history', new TextEncoder().encode('{}'), other), true);
  assert.equal(h.onMessage('gw/sensors/demo/state', new Uint8Array(), {}), false);
  const ans = { step: 0, t: [1000, 2000], v: [1, 2] };
  h.onMessage('$reply/dash-1/history', new TextEncoder().encode(JSON.stringify(ans)), { properties: { correlationData: pub.opts.properties.correlationData } });
  assert.deepEqual(await p, ans);
});

test('an answer with an error rejects; a missing answer times out', async () => {
  const c = fakeMQTT('d');
  const h = new HistoryClient(c, 'gw');
  const p = h.query({ topic: 'x', range: '2y' });
  await new Promise((r) => setImmediate(r));
  h.onMessage(replyTopic('d'), new TextEncoder().encode('{"error":"bad request: range"}'), { properties: { correlationData: c.pubs[0].opts.properties.correlationData } });
  await assert.rejects(p, /bad request/);
  // Short only now: a loaded machine must not time out the first query.
  h.timeoutMs = 20;
  await assert.rejects(h.query({ topic: 'x', range: '1h' }), /no answer/);
});

test('columns keep gaps as nulls and bands for aggregated answers; live points append', () => {
  const cols = toColumns({ step: 60, t: [60000, 120000, 180000], v: [1, null, 3], min: [0, null, 2], max: [2, null, 4] });
  assert.deepEqual(cols, [[60, 120, 180], [1, null, 3], [0, null, 2], [2, null, 4]]);
  mergeLive(cols, [[170, 9], [240, 5]]);
  assert.deepEqual(cols, [[60, 120, 180, 240], [1, null, 3, 5], [0, null, 2, 5], [2, null, 4, 5]]);
  assert.deepEqual(toColumns({ step: 0, t: [1000], v: [7] }), [[1], [7]]);
});

test('CSV has what the chart shows, gaps empty, labels quoted when needed', () => {
  const csv = toCSV([[0, 60], [1.5, null], [1, null], [2, null]], 'temperature, °C');
  assert.equal(csv, 'time,"temperature, °C",min,max\n1970-01-01T00:00:00.000Z,1.5,1,2\n1970-01-01T00:01:00.000Z,,,\n');
  assert.equal(toCSV([[0], [3]]), 'time,value\n1970-01-01T00:00:00.000Z,3\n');
});

test('csvName: <topic>-<field>-<range>.csv with nothing a file system could take as a path', () => {
  assert.equal(csvName('e2e/sensors/sim/state', 'temperature_c', '24h'), 'e2e_sensors_sim_state-temperature_c-24h.csv');
  assert.equal(csvName('devices/th1/state', 'env.temp', '1h'), 'devices_th1_state-env.temp-1h.csv');
  assert.equal(csvName('../../etc/passwd', '', '7d'), 'etc_passwd-7d.csv');
  assert.equal(csvName('a b:c*?"<>|', 'x\\y', '30d'), 'a_b_c-x_y-30d.csv');
  assert.equal(csvName('...', '', '1h'), 'value-1h.csv');
});

test('pointCount counts values, not gaps', () => {
  assert.equal(pointCount([[1, 2, 3, 4], [1, null, 3, undefined]]), 2);
  assert.equal(pointCount([[], []]), 0);
});

test('timeLabel: seconds under a minute apart, hours and minutes, then days', () => {
  const t = new Date(2026, 11, 2, 14, 5, 30).getTime() / 1000;
  assert.equal(timeLabel(t, 10), '14:05:30');
  assert.equal(timeLabel(t, 600), '14:05');
  assert.equal(timeLabel(t, 86400), '2 Dec');
});
