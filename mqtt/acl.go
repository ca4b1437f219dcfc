package mqtt

import (
	"encoding/json"
	"strings"
)

// access is one client's access rules, with %u and %c already substituted.
// It is built once at connect and read, never written, afterwards; the
// checks below do not allocate.
type access struct {
	user  string // authenticated username ("" for anonymous)
	role  string
	read  []string
	write []string
	deny  []string
	// writeJSON is the JSON array of write filters for the CONNACK.
	writeJSON string
}

// newAccess substitutes %u and %c in the role's filters. A filter whose
// substitution would be empty or contain '/', '+' or '#' is left out, so a
// crafted username cannot widen a pattern such as devices/%u/#.
func newAccess(role string, r Role, user, clientID string) *access {
	a := &access{user: user, role: role}
	a.read = substituteAll(r.Read, user, clientID)
	a.write = substituteAll(r.Write, user, clientID)
	a.deny = substituteAll(r.Deny, user, clientID)
	// A deny filter that cannot be substituted must still deny: fall back
	// to the unsubstituted filter with the placeholder replaced by '+'.
	for _, f := range r.Deny {
		if _, ok := substitute(f, user, clientID); !ok {
			a.deny = append(a.deny, strings.NewReplacer("%u", "+", "%c", "+").Replace(f))
		}
	}
	w := a.write
	if w == nil {
		w = []string{}
	}
	b, _ := json.Marshal(w)
	a.writeJSON = string(b)
	return a
}

func substituteAll(fs []string, user, clientID string) []string {
	var out []string
	for _, f := range fs {
		if s, ok := substitute(f, user, clientID); ok {
			out = append(out, s)
		}
	}
	return out
}

func substitute(f, user, clientID string) (string, bool) {
	if !strings.Contains(f, "%") {
		return f, true
	}
	if strings.Contains(f, "%u") && !safeLevel(user) {
		return "", false
	}
	if strings.Contains(f, "%c") && !safeLevel(clientID) {
		return "", false
	}
	return strings.NewReplacer("%u", user, "%c", clientID).Replace(f), true
}

// safeLevel reports whether s can stand for exactly one topic level.
func safeLevel(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/+#\x00")
}

// canRead reports whether the client may receive messages on topic, or,
// when topic is a subscription filter, whether it may subscribe to it. A
// filter is allowed if it overlaps a read filter and no deny filter covers
// it whole; deliveries are then checked per topic (Mosquitto-like).
func (a *access) canRead(topic string) bool {
	topic = stripShare(topic)
	for _, d := range a.deny {
		if covers(d, topic) {
			return false
		}
	}
	for _, r := range a.read {
		if overlaps(r, topic) {
			return true
		}
	}
	return false
}

// canWrite reports whether the client may publish to the topic name.
func (a *access) canWrite(topic string) bool {
	for _, d := range a.deny {
		if covers(d, topic) {
			return false
		}
	}
	for _, w := range a.write {
		if covers(w, topic) {
			return true
		}
	}
	return false
}

// stripShare removes a "$share/<group>/" prefix from a filter.
func stripShare(f string) string {
	const p = "$share/"
	if len(f) > len(p) && f[:len(p)] == p {
		if i := strings.IndexByte(f[len(p):], '/'); i >= 0 {
			return f[len(p)+i+1:]
		}
	}
	return f
}

// level returns the first level of s and the rest after the separator;
// more is false when s had no separator.
func level(s string) (head, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// covers reports whether every topic matched by filter s is matched by
// filter f. For a topic name s that is "f matches s". A wildcard in the
// first level of f does not match topics starting with '$' [MQTT-4.7.2-1].
func covers(f, s string) bool {
	first := true
	for {
		fh, fr, fm := level(f)
		sh, sr, sm := level(s)
		if fh == "#" {
			return !(first && strings.HasPrefix(sh, "$"))
		}
		switch {
		case fh == "+":
			if sh == "#" || (first && strings.HasPrefix(sh, "$")) {
				return false
			}
		case fh != sh:
			return false
		}
		first = false
		switch {
		case !fm && !sm:
			return true
		case !sm:
			return fr == "#" // a/# matches a
		case !fm:
			return false
		}
		f, s = fr, sr
	}
}

// overlaps reports whether some topic matches both filters.
func overlaps(f, s string) bool {
	first := true
	for {
		fh, fr, fm := level(f)
		sh, sr, sm := level(s)
		fw := fh == "#" || fh == "+"
		sw := sh == "#" || sh == "+"
		if first && ((fw && strings.HasPrefix(sh, "$")) || (sw && strings.HasPrefix(fh, "$"))) {
			return false
		}
		if fh == "#" || sh == "#" {
			return true
		}
		if !fw && !sw && fh != sh {
			return false
		}
		first = false
		switch {
		case !fm && !sm:
			return true
		case !fm:
			return sr == "#"
		case !sm:
			return fr == "#"
		}
		f, s = fr, sr
	}
}
