package mqtt

import (
	"encoding/json"
	"strings"

	"mqttgate/topics"
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
	// to the filter with every level holding a placeholder replaced by '+'.
	for _, f := range r.Deny {
		if _, ok := substitute(f, user, clientID); !ok {
			a.deny = append(a.deny, widen(f))
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
	return topics.ValidTopic(s) && !strings.Contains(s, "/")
}

// widen replaces every level of f that holds %u or %c by '+'.
func widen(f string) string {
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "%u") || strings.Contains(l, "%c") {
			levels[i] = "+"
		}
	}
	return strings.Join(levels, "/")
}

// canRead reports whether the client may receive messages on topic, or,
// when topic is a subscription filter, whether it may subscribe to it. A
// filter is allowed if it overlaps a read filter and no deny filter covers
// it whole; deliveries are then checked per topic (Mosquitto-like).
func (a *access) canRead(topic string) bool {
	for _, d := range a.deny {
		if topics.Covers(d, topic) {
			return false
		}
	}
	for _, r := range a.read {
		if topics.Overlaps(r, topic) {
			return true
		}
	}
	return false
}

// canWrite reports whether the client may publish to the topic name.
func (a *access) canWrite(topic string) bool {
	for _, d := range a.deny {
		if topics.Covers(d, topic) {
			return false
		}
	}
	for _, w := range a.write {
		if topics.Match(w, topic) {
			return true
		}
	}
	return false
}
