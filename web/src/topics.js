// MQTT topic filters and the live topic tree of the explorer. Pure logic,
// no DOM: unit-tested in Node.

// The rules are those of the Go package mqttgate/topics; both are tested
// against topics/testdata/table.json (web/test/unit/topics.test.mjs).

const MAX_LEN = 65535; // bytes of UTF-8 [MQTT-4.7.3-3]
const MAX_NAME_LEN = 64;
const SHARE = '$share/';

/** Reports whether s has no lone surrogate (it encodes as UTF-8 [MQTT-1.5.4-1]). */
function wellFormed(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

/** What topic names and filters share: '' or what is wrong. */
function textError(s) {
  if (typeof s !== 'string' || s === '') return 'is empty';
  if (s.includes('\u0000')) return 'contains a NUL character';
  if (!wellFormed(s)) return 'is not valid UTF-8';
  if (s.length > MAX_LEN / 3 && utf8Length(s) > MAX_LEN) return 'is longer than 65535 bytes';
  return '';
}

/** The filter of a shared subscription $share/<group>/<filter>, f itself, or null if malformed [MQTT-4.8.2-1,-2]. */
function unshare(f) {
  if (!f.startsWith(SHARE)) return f;
  const rest = f.slice(SHARE.length);
  const i = rest.indexOf('/');
  if (i <= 0 || i === rest.length - 1 || /[+#]/.test(rest.slice(0, i))) return null;
  return rest.slice(i + 1);
}

/** Checks '+' and '#' stand alone in their level, '#' last [MQTT-4.7.1-2,-3]. */
function wildcardError(f) {
  const levels = f.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return "'#' must be the whole last level, e.g. a/b/#";
    if (l.includes('+') && l !== '+') return "'+' must be a whole level, e.g. a/+/c";
  }
  return '';
}

/** Checks a topic filter for subscribing; returns an error text or ''. */
export function filterError(filter) {
  if (filter === '') return 'enter a topic filter';
  const e = textError(filter);
  if (e) return `the filter ${e}`;
  const inner = unshare(filter);
  if (inner === null) return 'a shared subscription is $share/<group>/<filter>, the group without /, + or #';
  return wildcardError(inner);
}

/**
 * Reports whether an MQTT topic filter (with + and #) matches a topic name.
 * Wildcards at the first level do not match topics starting with '$'
 * [MQTT-4.7.2-1]; a shared subscription matches as its filter; an invalid
 * filter or topic name matches nothing.
 */
export function filterMatches(filter, topic) {
  if (typeof filter !== 'string' || filterError(filter) || topicNameError(topic)) return false;
  const f = unshare(filter).split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Reports whether a user with the given write filters may publish to topic.
 * writeFilters null means "unknown" (the gateway did not say): allowed, the
 * broker still decides.
 */
export function mayWrite(writeFilters, topic) {
  if (writeFilters == null) return true;
  return writeFilters.some((f) => filterMatches(f, topic));
}

/** Reports whether any topic at all may be written (enables the publish form). */
export function mayWriteAny(writeFilters) {
  return writeFilters == null || writeFilters.length > 0;
}

/** Checks a topic name for publishing; returns an error text or ''. */
export function topicNameError(topic) {
  if (!topic) return 'enter a topic';
  if (typeof topic !== 'string') return 'a topic is text';
  if (/[+#]/.test(topic)) return 'a topic to publish to cannot contain + or #';
  const e = textError(topic);
  return e ? `the topic ${e}` : '';
}

/**
 * Checks a user name (or gateway id, sensor or actuator name) by the
 * gateway's one name rule: 1 to 64 bytes, no '/', '+', '#', white space or
 * control characters, not starting with '$'. Returns an error text or ''.
 */
export function nameError(name) {
  if (typeof name !== 'string' || name === '') return 'enter a name';
  if (!wellFormed(name)) return 'a name must be valid text';
  if (utf8Length(name) > MAX_NAME_LEN) return 'a name is at most 64 bytes';
  if (name.startsWith('$')) return "a name cannot start with '$'";
  if (/[\/+#\p{White_Space}\p{Cc}]/u.test(name)) return 'a name cannot contain /, +, #, spaces or control characters';
  return '';
}

/**
 * Parses the CONNACK user property "write" (a JSON array of filters).
 * Returns null when missing or malformed.
 */
export function parseWriteProperty(value) {
  if (Array.isArray(value)) value = value[value.length - 1];
  if (typeof value !== 'string') return null;
  try {
    const v = JSON.parse(value);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    /* fall through */
  }
  return null;
}
