package topics

import (
	"strings"
	"testing"
)

// refMatch is the plain reading of the rules, to check Match against:
// split into levels, '+' is one level, '#' the rest (even none).
func refMatch(f, t string) bool {
	if strings.HasPrefix(f, sharePrefix) {
		parts := strings.SplitN(f, "/", 3)
		if len(parts) < 3 {
			return false
		}
		f = parts[2]
	}
	if !ValidFilter(f) || !ValidTopic(t) {
		return false
	}
	fl, tl := strings.Split(f, "/"), strings.Split(t, "/")
	if strings.HasPrefix(t, "$") && (fl[0] == "+" || fl[0] == "#") {
		return false
	}
	for i, l := range fl {
		if l == "#" {
			return true
		}
		if i >= len(tl) || (l != "+" && l != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}

func addSeeds(f *testing.F) {
	for _, s := range [][2]string{
		{"#", "a"}, {"a/#", "a"}, {"+/+", "/x"}, {"a/+/c", "a/b/c"}, {"#", "$SYS/x"},
		{"$share/g/#", "a"}, {"a+/b", "a+/b"}, {"a/#/b", "a/x/b"}, {"#a", "#a"}, {"", ""}, {"a\x00", "a\xff"},
	} {
		f.Add(s[0], s[1])
	}
}

// FuzzMatch: Match never panics, agrees with refMatch, and is consistent
// with Covers and Overlaps.
func FuzzMatch(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := Match(filter, topic)
		if want := refMatch(filter, topic); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, topic, got, want)
		}
		if got && !ValidFilter(filter) {
			t.Fatalf("invalid filter %q matched %q", filter, topic)
		}
		if ValidTopic(topic) && Covers(filter, topic) != got {
			t.Fatalf("Covers(%q, %q) = %v, Match %v", filter, topic, !got, got)
		}
		if got && !Overlaps(filter, topic) {
			t.Fatalf("%q matches %q but Overlaps says no", filter, topic)
		}
	})
}

// FuzzValidFilter: a filter that Covers another matches every topic the
// other matches; overlapping filters share the topic they both match.
func FuzzValidFilter(f *testing.F) {
	for _, s := range [][3]string{
		{"#", "a/#", "a"}, {"a/+", "a/#", "a"}, {"+/+", "a/+", "a/b"}, {"$SYS/#", "#", "$SYS/x"}, {"a/#", "a", "a"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, topic string) {
		if !strings.HasPrefix(a, sharePrefix) && (CheckFilter(a) == nil) != refValid(a) {
			t.Fatalf("CheckFilter(%q) = %v, reference says otherwise", a, CheckFilter(a))
		}
		if Covers(a, b) && Match(b, topic) && !Match(a, topic) {
			t.Fatalf("Covers(%q, %q) but %q matches only the second", a, b, topic)
		}
		if Match(a, topic) && Match(b, topic) && !Overlaps(a, b) {
			t.Fatalf("%q matches %q and %q but Overlaps says no", topic, a, b)
		}
	})
}

// refValid is the filter rule read plainly: levels with '+' or '#' are
// exactly "+" or "#", and "#" only last.
func refValid(f string) bool {
	if f == "" || len(f) > MaxLen || strings.ContainsRune(f, 0) || !ValidTopic(strings.NewReplacer("+", "x", "#", "x").Replace(f)) {
		return false
	}
	ls := strings.Split(f, "/")
	for i, l := range ls {
		if strings.ContainsAny(l, "+#") && l != "+" && !(l == "#" && i == len(ls)-1) {
			return false
		}
	}
	return true
}
