package topics

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// table is testdata/table.json, shared with web/test/unit/topics.test.mjs.
type table struct {
	Match    [][]any             `json:"match"`
	Filters  map[string][]string `json:"filters"`
	Topics   map[string][]string `json:"topics"`
	Names    map[string][]string `json:"names"`
	Safe     [][2]string         `json:"safe_names"`
	Covers   [][]any             `json:"covers"`
	Overlaps [][]any             `json:"overlaps"`
}

func readTable(t *testing.T) table {
	t.Helper()
	data, err := os.ReadFile("testdata/table.json")
	if err != nil {
		t.Fatal(err)
	}
	var tb table
	if err := json.Unmarshal(data, &tb); err != nil {
		t.Fatalf("testdata/table.json: %v", err)
	}
	if len(tb.Match) == 0 || len(tb.Names["valid"]) == 0 {
		t.Fatal("testdata/table.json: empty table")
	}
	return tb
}

// pairs runs fn on rows [a, b, want, optional comment].
func pairs(t *testing.T, name string, rows [][]any, fn func(a, b string) bool) {
	t.Helper()
	for _, r := range rows {
		a, b, want := r[0].(string), r[1].(string), r[2].(bool)
		if got := fn(a, b); got != want {
			t.Errorf("%s(%q, %q) = %v, want %v %v", name, a, b, got, want, r[3:])
		}
	}
}

func TestTable(t *testing.T) {
	tb := readTable(t)
	pairs(t, "Match", tb.Match, Match)
	pairs(t, "Covers", tb.Covers, Covers)
	pairs(t, "Overlaps", tb.Overlaps, Overlaps)
	for _, set := range []struct {
		what  string
		lists map[string][]string
		check func(string) error
	}{{"filter", tb.Filters, CheckFilter}, {"topic", tb.Topics, CheckTopic}, {"name", tb.Names, CheckName}} {
		for _, s := range set.lists["valid"] {
			if err := set.check(s); err != nil {
				t.Errorf("%s %q: %v, want valid", set.what, s, err)
			}
		}
		for _, s := range set.lists["invalid"] {
			if set.check(s) == nil {
				t.Errorf("%s %q is valid, want invalid", set.what, s)
			}
		}
	}
	for _, s := range tb.Safe {
		if got := SafeName(s[0], "mqttgate"); got != s[1] {
			t.Errorf("SafeName(%q) = %q, want %q", s[0], got, s[1])
		}
	}
}

// TestNotInJSON covers what JSON cannot carry: invalid UTF-8 and lengths.
func TestNotInJSON(t *testing.T) {
	long := strings.Repeat("a", MaxLen)
	if !ValidTopic(long) || !ValidFilter(long[:MaxLen-2]+"/#") || ValidTopic(long+"b") || ValidFilter(long+"b") {
		t.Error("the 65535-byte limit [MQTT-4.7.3-3] is not where it should be")
	}
	for _, bad := range []string{"a\xff", "\xed\xa0\x80", "a/\xc3"} {
		if ValidTopic(bad) || ValidFilter(bad) || ValidName(bad) || Match("#", bad) {
			t.Errorf("%q (not UTF-8) accepted [MQTT-1.5.4-1]", bad)
		}
	}
	if n := strings.Repeat("ü", 32); !ValidName(n) || ValidName(n+"x") {
		t.Error("the name limit is not 64 bytes")
	}
	if got := SafeName(strings.Repeat("ab.", 30), "x"); len(got) > MaxNameLen || !ValidName(got) || strings.HasSuffix(got, "-") {
		t.Errorf("SafeName of a long host: %q", got)
	}
	if got := SafeName("a\xffb", "x"); got != "a-b" {
		t.Errorf("SafeName of invalid UTF-8: %q", got)
	}
}

func TestUnshare(t *testing.T) {
	for _, c := range []struct{ in, filter, group string }{
		{"$share/g/a/#", "a/#", "g"},
		{"$share/grp/$share/x", "$share/x", "grp"},
		{"a/b", "a/b", ""},
		{"$share/g", "$share/g", ""},
		{"$share/g+/a", "$share/g+/a", ""},
	} {
		if f, g := Unshare(c.in); f != c.filter || g != c.group {
			t.Errorf("Unshare(%q) = %q, %q; want %q, %q", c.in, f, g, c.filter, c.group)
		}
	}
}

func TestErrorsCiteTheRule(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{CheckFilter("a+/b"), "[MQTT-4.7.1-3]"},
		{CheckFilter("a/#/b"), "[MQTT-4.7.1-2]"},
		{CheckFilter("#a"), "[MQTT-4.7.1-2]"},
		{CheckFilter("$share/g"), "[MQTT-4.8.2-1]"},
		{CheckTopic("a/+"), "[MQTT-3.3.2-2]"},
		{CheckTopic(""), "[MQTT-4.7.3-1]"},
		{CheckName("$SYS"), "'$'"},
		{CheckName("a/b"), "'/'"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want one saying %s", c.err, c.want)
		}
	}
}
