// Seeded random inputs for the page's parsers of untrusted text: the
// filter box, sensor readings, payload previews and diffs. None may
// throw; each keeps its invariants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFilter } from '../../src/filter.js';
import { parseReading, formatQuantity } from '../../src/quantity.js';
import { decode, oneLine, diff, numbers } from '../../src/preview.js';
import { TopicStore } from '../../src/topicstore.js';

function rng(seed) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const ALPHABET = ['a', 'b', '/', '+', '#', '$', ' ', '{', '}', '[', ']', '"', ':', ',', '1', '.', '-', 'e', 'true', 'null', '\u0000', 'é', '_c', '_bytes', 'temperature', 'contact'];

function randomText(r, max = 40) {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

test('fuzz: the filter box never throws and an MQTT filter never matches $ topics with a leading wildcard', () => {
  const r = rng(1);
  for (let i = 0; i < 3000; i++) {
    const f = parseFilter(randomText(r, 12));
    const t = randomText(r, 12);
    const m = f.test(t);
    assert.equal(typeof m, 'boolean');
    if (f.kind === 'invalid') assert.equal(m, false);
  }
});

test('fuzz: readings, previews and diffs of random payloads', () => {
  const r = rng(2);
  const enc = new TextEncoder();
  let prev = { payload: new Uint8Array(0) };
  for (let i = 0; i < 3000; i++) {
    const text = r() < 0.5 ? randomText(r) : JSON.stringify({ [randomText(r, 3) || 'k']: r() < 0.5 ? r() * 1e12 : r() < 0.5, ts: 'x' });
    const reading = parseReading(text);
    if (reading) for (const q of reading.quantities) assert.equal(typeof formatQuantity(q).text, 'string');
    const bytes = r() < 0.1 ? Uint8Array.from({ length: 20 }, () => Math.floor(r() * 256)) : enc.encode(text);
    const m = { payload: bytes };
    assert.ok(['empty', 'text', 'json', 'binary'].includes(decode(m).kind));
    assert.ok(oneLine(m).length <= 120);
    assert.ok(Array.isArray(diff(prev, m)));
    for (const [, v] of numbers(m)) assert.ok(Number.isFinite(v));
    prev = m;
  }
});

test('fuzz: the topic store stays consistent under random adds and deletes', () => {
  const r = rng(3);
  const s = new TopicStore();
  const live = new Set();
  for (let i = 0; i < 5000; i++) {
    const topic = ['a', 'b', 'c'].slice(0, 1 + Math.floor(r() * 3)).map((x) => x + Math.floor(r() * 4)).join('/');
    const del = r() < 0.3;
    s.add(topic, del ? new Uint8Array(0) : new Uint8Array([1]), { retain: del || r() < 0.5 }, i);
    if (del) live.delete(topic);
    else live.add(topic);
  }
  assert.equal(s.size, live.size);
  const shown = s.rows(() => true).rows.filter((x) => x.node.history.length).map((x) => x.node.topic);
  assert.deepEqual(new Set(shown), live);
});
