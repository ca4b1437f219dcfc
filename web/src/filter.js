// The explorer's filter box: a plain substring (case-insensitive), or an
// MQTT filter when it has a + or # wildcard.

import { filterError, filterMatches } from './topics.js';

// A malformed MQTT filter's error text, by the rules the broker uses
// (topics.js, tested against topics/testdata/table.json).
export { filterError };

/**
 * Parses what was typed into the filter box: {kind, test(topic), error}.
 * kind is 'all' (empty), 'mqtt', 'text' or 'invalid' (matches nothing).
 */
export function parseFilter(input) {
  const s = String(input ?? '').trim();
  if (s === '') return { kind: 'all', test: () => true, error: '' };
  if (/[+#]/.test(s)) {
    const error = filterError(s);
    if (error) return { kind: 'invalid', test: () => false, error };
    return { kind: 'mqtt', test: (t) => filterMatches(s, t), error: '' };
  }
  const needle = s.toLowerCase();
  return { kind: 'text', test: (t) => t.toLowerCase().includes(needle), error: '' };
}
