// The explorer's filter box: a plain substring (case-insensitive), or an
// MQTT filter when it has a + or # wildcard.

import { filterMatches } from './topics.js';

/** Returns an error text for a malformed MQTT topic filter, or ''. */
export function filterError(f) {
  const levels = f.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return '# must be a whole level, the last one';
    if (l.includes('+') && l !== '+') return '+ must be a whole level';
  }
  return '';
}

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
