import { test } from 'node:test';
import assert from 'node:assert/strict';
import { naturalCompare } from '../../src/natsort.js';
import { RateMeter, formatRate } from '../../src/rate.js';
import { parseFilter } from '../../src/filter.js';

test('natural sort: dev2 before dev10, $SYS last, case folded', () => {
  const names = ['dev10', '$SYS', 'dev2', 'Dev1', 'alpha', 'dev1a', 'dev1'];
  assert.deepEqual([...names].sort(naturalCompare), ['alpha', 'Dev1', 'dev1', 'dev1a', 'dev2', 'dev10', '$SYS']);
  assert.ok(naturalCompare('sensor-9', 'sensor-10') < 0);
  assert.ok(naturalCompare('a', 'a') === 0);
});

test('a 200 msg/s topic reads 200/s, not capped', () => {
  const m = new RateMeter();
  const t0 = 1_000_000;
  for (let i = 0; i < 200 * 60; i++) m.add(t0 + i * 5);
  const r = m.rate(t0 + 200 * 60 * 5);
  assert.ok(Math.abs(r - 200) < 2, `rate ${r}`);
  assert.equal(formatRate(r), '200/s');
});

test('rates: none for a topic seen once, true for slow topics, decay when quiet', () => {
  const m = new RateMeter();
  m.add(0);
  assert.equal(m.rate(5000), null);
  assert.equal(formatRate(m.rate(5000)), '');
  for (let i = 1; i <= 10; i++) m.add(i * 2000); // one every 2 s
  assert.ok(Math.abs(m.rate(20000) - 0.5) < 0.01, `rate ${m.rate(20000)}`);
  assert.equal(formatRate(m.rate(20000)), '0.5/s');
  assert.equal(m.rate(200000), 0, 'quiet for over a minute');
  const slow = new RateMeter();
  slow.add(0);
  slow.add(30000);
  assert.equal(formatRate(slow.rate(30000)), '2/min');
});

test('the filter: substring, MQTT wildcards, invalid filters', () => {
  const topics = ['home/dev2/temp', 'home/dev10/temp', 'home/dev10/humidity', 'office/DEV3/temp', '$SYS/broker/uptime'];
  const run = (s) => topics.filter(parseFilter(s).test);
  assert.deepEqual(run(''), topics);
  assert.deepEqual(run('dev1'), ['home/dev10/temp', 'home/dev10/humidity']);
  assert.deepEqual(run('dev3'), ['office/DEV3/temp'], 'case-insensitive');
  assert.deepEqual(run('+/+/temp'), ['home/dev2/temp', 'home/dev10/temp', 'office/DEV3/temp']);
  assert.deepEqual(run('home/#'), ['home/dev2/temp', 'home/dev10/temp', 'home/dev10/humidity']);
  assert.deepEqual(run('#'), topics.slice(0, 4), '# does not match $SYS');
  assert.deepEqual(run('$SYS/#'), ['$SYS/broker/uptime']);
  const bad = parseFilter('home/#/temp');
  assert.equal(bad.kind, 'invalid');
  assert.match(bad.error, /#/);
  assert.deepEqual(run('home/dev+'), []);
  assert.equal(parseFilter('  ').kind, 'all');
});

import { TopicStore } from '../../src/topicstore.js';

const enc = (s) => new TextEncoder().encode(s);

test('the store: collapsed below the first level, natural order, counts', () => {
  const s = new TopicStore();
  for (const t of ['b/dev10/x', 'b/dev2/x', 'a/1', '$SYS/broker/uptime', 'b/dev2/y']) s.add(t, enc('1'), {}, 0);
  assert.equal(s.size, 5);
  const names = () => s.rows().rows.map((r) => r.node.topic);
  assert.deepEqual(names(), ['a', 'b', '$SYS']);
  s.get('b').expanded = true;
  assert.deepEqual(names(), ['a', 'b', 'b/dev2', 'b/dev10', '$SYS']);
  assert.equal(s.get('b').topics, 3);
});

test('the store: filter rows keep the levels above a match; count matches', () => {
  const s = new TopicStore();
  for (let i = 1; i <= 12; i++) s.add(`home/dev${i}/temp`, enc(String(i)), {}, 0);
  s.add('home/dev1', enc('parent has a value'), {}, 0);
  const { rows, matches } = s.rows(parseFilter('dev1').test);
  assert.equal(matches, 5); // home/dev1, dev1/temp, dev10/temp, dev11/temp, dev12/temp
  assert.deepEqual(rows.map((r) => r.node.topic), ['home', 'home/dev1', 'home/dev1/temp', 'home/dev10', 'home/dev10/temp', 'home/dev11', 'home/dev11/temp', 'home/dev12', 'home/dev12/temp']);
  assert.deepEqual(rows.map((r) => r.depth).slice(0, 3), [0, 1, 2]);
  assert.equal(s.rows(parseFilter('+/dev7/temp').test).matches, 1);
  assert.equal(s.rows(parseFilter('nothing').test).rows.length, 0);
});

test('the store: retained stays marked after live updates; an empty retained payload removes the topic', () => {
  const s = new TopicStore();
  s.add('gw/actuators/lamp/state', enc('{"state":"on"}'), { retain: true, qos: 1 }, 0);
  const n = s.add('gw/actuators/lamp/state', enc('{"state":"off"}'), { retain: true, qos: 1 }, 10);
  assert.equal(n.retained, true);
  s.add('gw/actuators/lamp/state', enc('live only'), { retain: false, qos: 0 }, 20);
  assert.equal(n.retained, true, 'a live message does not clear the retained one');
  assert.deepEqual(n.history.map((m) => m.retain), [true, true, false]);
  assert.equal(s.add('gw/actuators/lamp/state', new Uint8Array(0), { retain: true }, 30), null);
  assert.equal(s.get('gw/actuators/lamp/state'), null);
  assert.equal(s.get('gw'), null, 'empty levels go too');
  assert.equal(s.size, 0);
  // An empty non-retained message is just a message.
  assert.ok(s.add('x', new Uint8Array(0), { retain: false }, 40));
  assert.equal(s.size, 1);
});

test('the store: a reconnect\'s copy of a retained message is not a new message', () => {
  const s = new TopicStore();
  const t = 'dev/th1/state';
  s.add(t, enc('21.5'), { retain: true, qos: 1, epoch: 1 }, 0);
  // Connection 2: the broker sends the retained message again on subscribe.
  const n = s.add(t, enc('21.5'), { retain: true, qos: 1, epoch: 2 }, 60_000);
  assert.equal(n.history.length, 1, 'no repeat entry');
  assert.equal(n.count, 1);
  assert.equal(formatRate(n.meter.rate(60_000)), '', 'a topic seen once still has no rate');
  // The next identical message on the same connection is a new one.
  s.add(t, enc('21.5'), { retain: true, qos: 1, epoch: 2 }, 70_000);
  assert.equal(n.history.length, 2);
  // So is a changed retained message after a reconnect, and a live one.
  s.add(t, enc('22.0'), { retain: true, qos: 1, epoch: 3 }, 80_000);
  s.add(t, enc('22.0'), { retain: false, qos: 1, epoch: 3 }, 81_000);
  assert.deepEqual(n.history.map((m) => new TextDecoder().decode(m.payload)), ['21.5', '21.5', '22.0', '22.0']);
  // Without connection numbers (the unit tests above) nothing is skipped.
  s.add('u', enc('x'), { retain: true }, 0);
  s.add('u', enc('x'), { retain: true }, 1);
  assert.equal(s.get('u').history.length, 2);
});

test('the store keeps a bounded history per topic', () => {
  const s = new TopicStore();
  for (let i = 0; i < 100; i++) s.add('t', enc(String(i)), {}, i);
  const n = s.get('t');
  assert.equal(n.history.length, 10);
  assert.equal(new TextDecoder().decode(n.msg.payload), '99');
  assert.equal(n.count, 100);
});

import { decode, oneLine, diff, numbers } from '../../src/preview.js';

test('previews: one line, JSON diff, numeric fields', () => {
  const m = (s) => ({ payload: enc(s) });
  assert.equal(oneLine(m('{\n  "a": 1,\n  "b": "x"\n}')), '{ "a": 1, "b": "x" }');
  assert.equal(oneLine(m('')), '(empty)');
  assert.equal(oneLine({ payload: new Uint8Array([0xff, 0, 1]) }), '(3 bytes, binary)');
  assert.equal(decode(m('[1,2]')).kind, 'json');
  assert.equal(decode(m('{bad')).kind, 'text');
  const d = diff(m('{"t":21,"h":40,"gone":1}'), m('{"t":22,"h":40,"new":{"x":true}}'));
  assert.deepEqual(d.map((x) => `${x.op} ${x.text}`), ['~ t: 21 → 22', '+ new.x: true', '- gone: 1']);
  assert.deepEqual(diff(m('on'), m('on')), []);
  assert.deepEqual(numbers(m('{"a":{"b":[1,"x",2.5]},"c":true}')), [['a.b[0]', 1], ['a.b[2]', 2.5]]);
  assert.deepEqual(numbers(m(' 21.5 ')), [['', 21.5]]);
});
