import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  filterMatches, filterError, nameError, mayWrite, mayWriteAny, parseWriteProperty, topicNameError,
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
