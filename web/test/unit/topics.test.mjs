import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  filterMatches, filterError, nameError, mayWrite, mayWriteAny, parseWriteProperty, topicNameError, TopicTree, RateMeter,
  formatPayload,
} from '../../src/topics.js';

// The table the Go package mqttgate/topics is tested against: the broker and
// the dashboard must agree on every row.
const table = JSON.parse(readFileSync(new URL('../../../topics/testdata/table.json', import.meta.url), 'utf8'));

test('filterMatches agrees with topics/testdata/table.json', () => {
  assert.ok(table.match.length > 0);
  for (const [f, t, want, why] of table.match) assert.equal(filterMatches(f, t), want, `${JSON.stringify(f)} vs ${JSON.stringify(t)} ${why ?? ''}`);
});

test('filterError, topicNameError and nameError agree with topics/testdata/table.json', () => {
  for (const [what, fn] of [['filters', filterError], ['topics', topicNameError], ['names', nameError]]) {
    for (const s of table[what].valid) assert.equal(fn(s), '', `${what}: ${JSON.stringify(s)} should be valid`);
    for (const s of table[what].invalid) assert.notEqual(fn(s), '', `${what}: ${JSON.stringify(s)} should be invalid`);
  }
});

test('what JSON cannot carry: lone surrogates and lengths', () => {
  assert.notEqual(topicNameError('a\ud800'), '');
  assert.notEqual(filterError('\udc00/#'), '');
  assert.notEqual(nameError('a\ud800'), '');
  assert.equal(topicNameError('a'.repeat(65535)), '');
  assert.match(topicNameError('a'.repeat(65536)), /65535/);
  assert.equal(topicNameError('ü'.repeat(32767)), '');
  assert.match(topicNameError('ü'.repeat(32768)), /65535/);
  assert.equal(nameError('ü'.repeat(32)), '');
  assert.notEqual(nameError('ü'.repeat(32) + 'x'), '');
  assert.match(filterError('a+/b'), /whole level/);
  assert.match(filterError('a/#/b'), /last level/);
});

test('filterMatches follows MQTT wildcard rules', () => {
  const cases = [
    ['#', 'a', true], ['#', 'a/b/c', true], ['a/#', 'a', true], ['a/#', 'a/b/c', true], ['a/#', 'b', false],
    ['+', 'a', true], ['+', 'a/b', false], ['+/+', 'a/b', true], ['a/+/c', 'a/b/c', true], ['a/+/c', 'a/b/d', false],
    ['+/actuators/+/set', 'gw-1/actuators/sim/set', true], ['+/actuators/+/set', 'gw-1/actuators/sim/state', false],
    ['a/b', 'a/b', true], ['a/b', 'a/b/c', false], ['a/b/c', 'a/b', false], ['a/+', 'a/', true], ['+/+', '/x', true],
    ['#', '$SYS/broker/uptime', false], ['+/broker/uptime', '$SYS/broker/uptime', false],
    ['$SYS/#', '$SYS/broker/uptime', true], ['a/#/b', 'a/x/b', false], ['', 'a', false], ['a', '', false],
  ];
  for (const [f, t, want] of cases) assert.equal(filterMatches(f, t), want, `${f} vs ${t}`);
});

test('mayWrite uses the CONNACK filters; null means unknown (allowed)', () => {
  const op = ['+/actuators/+/set'];
  assert.equal(mayWrite(op, 'gw-1/actuators/sim/set'), true);
  assert.equal(mayWrite(op, 'gw-1/sensors/sim/state'), false);
  assert.equal(mayWrite([], 'x'), false);
  assert.equal(mayWrite(null, 'x'), true);
  assert.equal(mayWriteAny([]), false);
  assert.equal(mayWriteAny(['#']), true);
  assert.equal(mayWriteAny(null), true);
});

test('parseWriteProperty', () => {
  assert.deepEqual(parseWriteProperty('["#"]'), ['#']);
  assert.deepEqual(parseWriteProperty('[]'), []);
  assert.deepEqual(parseWriteProperty(['["a"]', '["b/#"]']), ['b/#']);
  assert.equal(parseWriteProperty(undefined), null);
  assert.equal(parseWriteProperty('not json'), null);
  assert.equal(parseWriteProperty('{"a":1}'), null);
  assert.equal(parseWriteProperty('[1]'), null);
});

test('topicNameError', () => {
  assert.equal(topicNameError('a/b'), '');
  assert.match(topicNameError(''), /enter/);
  assert.match(topicNameError('a/+'), /\+ or #/);
  assert.match(topicNameError('a/#'), /\+ or #/);
});

test('TopicTree keeps the last message per topic, sorted, $ last', () => {
  const tr = new TopicTree();
  tr.add('gw/sensors/sim/state', '{"a":1}', { retain: true, qos: 0 }, 1000);
  tr.add('gw/status', 'online', { retain: true, qos: 1 }, 1000);
  tr.add('$SYS/broker/uptime', '5', {}, 1000);
  tr.add('a', 'x', {}, 1000);
  tr.add('gw/sensors/sim/state', '{"a":2}', { retain: false, qos: 2 }, 2000);
  assert.equal(tr.size, 4);
  const n = tr.get('gw/sensors/sim/state');
  assert.equal(n.msg.payload, '{"a":2}');
  assert.equal(n.msg.retain, false);
  assert.equal(n.msg.qos, 2);
  assert.equal(n.count, 2);
  assert.equal(tr.get('gw/sensors').msg, null);
  assert.equal(tr.get('gw/nope'), null);
  assert.deepEqual(tr.topics(), ['a', 'gw/sensors/sim/state', 'gw/status', '$SYS/broker/uptime']);
  assert.equal(tr.get('gw').topicCount(), 2);
  // Empty levels are topics too.
  tr.add('/x', '1');
  tr.add('y/', '2');
  assert.ok(tr.get('/x').msg);
  assert.equal(tr.get('y/').topic, 'y/');
});

test('RateMeter: steady 2/s reads 2/s; one message is not a burst; old ones expire', () => {
  const m = new RateMeter(60000, 10000);
  for (let t = 0; t < 30000; t += 500) m.add(t);
  assert.ok(Math.abs(m.rate(30000) - 2) < 0.1, String(m.rate(30000)));
  const one = new RateMeter(60000, 10000);
  one.add(0);
  assert.ok(one.rate(100) <= 0.1);
  assert.equal(m.rate(200000), 0);
});

test('formatPayload: pretty JSON, text, binary, empty', () => {
  assert.deepEqual(formatPayload(new TextEncoder().encode('{"a":1,"b":[1,2]}')), {
    text: '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}', kind: 'json',
  });
  assert.deepEqual(formatPayload('online'), { text: 'online', kind: 'text' });
  assert.deepEqual(formatPayload('{broken'), { text: '{broken', kind: 'text' });
  assert.equal(formatPayload(new Uint8Array([0xff, 0x00])).kind, 'binary');
  assert.match(formatPayload(new Uint8Array([0xff, 0x00])).text, /2 bytes: ff 00/);
  assert.deepEqual(formatPayload(new Uint8Array()), { text: '', kind: 'empty' });
  // Markup stays text (the page only ever sets textContent).
  assert.equal(formatPayload('<img src=x onerror=alert(1)>').text, '<img src=x onerror=alert(1)>');
  assert.ok(formatPayload('x'.repeat(10000), 100).text.length < 110);
});
