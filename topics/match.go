package topics

import "strings"

// Match reports whether the topic name t matches the filter f: '+' matches
// one whole level, '#' the level it stands in (even when absent: a/#
// matches a) and every level below it [MQTT-4.7.1-2] [MQTT-4.7.1-3], and a
// filter starting with a wildcard does not match a topic starting with '$'
// [MQTT-4.7.2-1]. A shared subscription's filter matches as the filter
// after $share/<group>/. Match is false when f is not a valid filter or t
// not a valid topic name.
func Match(f, t string) bool {
	// The walk first: most pairs differ early, and only a match needs the
	// checks (the walk is safe on any non-empty strings).
	inner, _ := Unshare(f)
	return inner != "" && t != "" && covers(inner, t) && ValidFilter(f) && ValidTopic(t)
}

// Covers reports whether every topic name that filter g matches is also
// matched by filter f; for a topic name g it is Match(f, g). Access rules
// use it: a deny filter refuses a subscription it covers. Covers is false
// when f or g is not a valid filter.
func Covers(f, g string) bool {
	fi, _ := Unshare(f)
	gi, _ := Unshare(g)
	return fi != "" && gi != "" && covers(fi, gi) && ValidFilter(f) && ValidFilter(g)
}

// Overlaps reports whether some topic name matches both filters f and g
// (with the '$' rule of Match). Access rules use it: a subscription is
// allowed when it overlaps a readable filter. Overlaps is false when f or g
// is not a valid filter.
func Overlaps(f, g string) bool {
	fi, _ := Unshare(f)
	gi, _ := Unshare(g)
	return fi != "" && gi != "" && overlaps(fi, gi) && ValidFilter(f) && ValidFilter(g)
}

// level returns the first level of s, the rest after the separator, and
// whether there was a separator.
func level(s string) (head, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func wild(l string) bool { return l == "+" || l == "#" }

// covers is Covers for unshared filters, which must not be empty; it
// answers for invalid ones too, without meaning.
func covers(f, g string) bool {
	if wild(firstLevel(f)) && g[0] == '$' {
		return false // [MQTT-4.7.2-1]
	}
	for {
		fh, fr, fm := level(f)
		gh, gr, gm := level(g)
		switch {
		case fh == "#":
			return true
		case fh == "+":
			if gh == "#" {
				return false
			}
		case fh != gh:
			return false
		}
		switch {
		case !fm && !gm:
			return true
		case !gm:
			return fr == "#" // a/# matches a
		case !fm:
			return false
		}
		f, g = fr, gr
	}
}

// overlaps is Overlaps for unshared filters, which must not be empty; it
// answers for invalid ones too, without meaning.
func overlaps(f, g string) bool {
	if (wild(firstLevel(f)) && g[0] == '$') || (wild(firstLevel(g)) && f[0] == '$') {
		return false // [MQTT-4.7.2-1]
	}
	for {
		fh, fr, fm := level(f)
		gh, gr, gm := level(g)
		if fh == "#" || gh == "#" {
			return true
		}
		if !wild(fh) && !wild(gh) && fh != gh {
			return false
		}
		switch {
		case !fm && !gm:
			return true
		case !fm:
			return gr == "#"
		case !gm:
			return fr == "#"
		}
		f, g = fr, gr
	}
}

func firstLevel(s string) string {
	h, _, _ := level(s)
	return h
}
