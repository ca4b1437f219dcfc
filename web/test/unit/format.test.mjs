import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, scaleBytes, fixed, compact, ago } from '../../src/format.js';
import { parseQuantityKey, parseReading, formatQuantity, charted, axisValue } from '../../src/quantity.js';

test('bytes scale in binary units', () => {
  assert.equal(formatBytes(83041312768), '77.3 GiB');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(0), '0 B');
  assert.deepEqual(scaleBytes(3 * 1024 ** 4), { text: '3.0', unit: 'TiB' });
  assert.equal(formatBytes(500 * 1024 ** 2), '500 MiB');
});

test('fixed decimals and compact axis labels', () => {
  assert.equal(fixed(21.43, 1), '21.4');
  assert.equal(fixed(21, 1), '21.0');
  assert.equal(fixed(12345.6, 1), '12,345.6');
  assert.equal(fixed(-0.01, 1), '0.0');
  assert.equal(compact(83041312768), '83G');
  assert.equal(compact(1234567), '1.2M');
  assert.equal(compact(12345), '12.3k');
  assert.equal(compact(21.5), '21.5');
  assert.equal(compact(0.004), '0.004');
  assert.equal(compact(0), '0');
  for (const v of [1e15, 123456789012, 99999, 150, 1.23456, -5e9]) assert.ok(compact(v).length <= 6, `${v} -> ${compact(v)}`);
});

test('ago', () => {
  assert.equal(ago(1000, 1500), 'just now');
  assert.equal(ago(0, 42000), '42 s ago');
  assert.equal(ago(0, 3 * 60000), '3 min ago');
});

test('tile values are readable: bytes, durations, fixed decimals, states', () => {
  const r = parseReading('{"disk_free_bytes":83041312768,"disk_free_pct":41.23456,"uptime_s":695,"cpu_load":0.5,"mem_used_pct":40,"reads_count":7,"temperature_c":21.456}');
  const by = Object.fromEntries(r.quantities.map((q) => [q.key, q]));
  const show = (k) => { const f = formatQuantity(by[k]); return `${f.text}${f.unit ? ' ' + f.unit : ''}`; };
  assert.equal(show('disk_free_bytes'), '77.3 GiB');
  assert.equal(show('uptime_s'), '11 min 35 s');
  assert.equal(show('disk_free_pct'), '41.2 %');
  assert.equal(show('mem_used_pct'), '40.0 %');
  assert.equal(show('temperature_c'), '21.5 °C');
  assert.equal(show('reads_count'), '7');
  assert.equal(show('cpu_load'), '0.50');
  // Distinct labels for the two "Disk free" quantities.
  const labels = r.quantities.map((q) => q.label);
  assert.equal(new Set(labels).size, labels.length, labels.join(', '));
  assert.equal(by.disk_free_bytes.label, 'Disk free (bytes)');
  assert.equal(by.disk_free_pct.label, 'Disk free (percent)');
  // Main quantity first, counters and uptime last.
  assert.equal(r.quantities[0].key, 'temperature_c');
  assert.deepEqual(r.quantities.slice(-2).map((q) => q.key).sort(), ['reads_count', 'uptime_s']);
  // Counters and durations are not charted as measurements.
  assert.equal(charted(by.reads_count), false);
  assert.equal(charted(by.uptime_s), false);
  assert.equal(charted(by.temperature_c), true);
  assert.equal(axisValue(by.disk_free_bytes, 83041312768), '77.3 GiB');
});

test('third-party keys get their usual units; booleans are states', () => {
  const r = parseReading('{"battery":97,"contact":false,"humidity":55.27,"linkquality":120,"occupancy":true,"temperature":21.5,"voltage":2995,"state":"ON"}');
  const by = Object.fromEntries(r.quantities.map((q) => [q.key, q]));
  assert.equal(by.temperature.unit, '°C');
  assert.equal(by.humidity.unit, '%');
  assert.equal(by.battery.unit, '%');
  assert.equal(formatQuantity(by.battery).text, '97');
  assert.equal(formatQuantity(by.humidity).text, '55.3');
  assert.equal(by.voltage.unit, 'mV');
  assert.equal(formatQuantity(by.contact).text, 'open');
  assert.equal(formatQuantity(by.occupancy).text, 'occupied');
  assert.equal(formatQuantity(by.state).text, 'on');
  assert.equal(charted(by.contact), false);
  assert.equal(r.quantities[0].key, 'temperature');
  assert.equal(parseQuantityKey('temperature').label, 'Temperature');
});

import { gapBefore, countValues } from '../../src/series.js';

test('charts: an outage is a gap; a single value is counted as one', () => {
  assert.equal(gapBefore([0, 1, 2], 3), false);
  assert.equal(gapBefore([0, 1, 2], 40), true, '38 s after 1 s steps');
  assert.equal(gapBefore([0, 10, 20], 45), false, '25 s after 10 s steps is within 3 intervals');
  assert.equal(gapBefore([0], 30), false);
  assert.equal(gapBefore([0], 120), true);
  assert.equal(countValues([1, null, 2], 0, 2), 2);
  assert.equal(countValues([5], 0, 0), 1);
});

import { timeRange } from '../../src/series.js';

test('a single point charts the last minute, not a day of 00:00 ticks', () => {
  // uPlot passes [x, x + 86400] for a single point on a time scale.
  assert.deepEqual(timeRange({ data: [[1000]] }, 1000, 1000 + 86400), [940, 1000]);
  assert.deepEqual(timeRange({ data: [[1000, 1010]] }, 1000, 1010), [950, 1010]);
  assert.deepEqual(timeRange({ data: [[0, 500]] }, 0, 500), [0, 500]);
});

import { valueRange } from '../../src/series.js';

test('a single value gets a band around it on the y axis', () => {
  const r = valueRange(() => 'padded');
  assert.deepEqual(r(null, 24, 24).map((x) => +x.toFixed(1)), [21.6, 26.4]);
  assert.deepEqual(r(null, 0, 0), [-1, 1]);
  assert.equal(r(null, 1, 2), 'padded');
});
