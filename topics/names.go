package topics

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest name in bytes (see CheckName).
const MaxNameLen = 64

var (
	errNameEmpty  = errors.New("is empty; use a short name such as gw-1")
	errNameLong   = errors.New("is longer than 64 bytes; use a short name such as gw-1")
	errNameUTF8   = errors.New("is not valid UTF-8")
	errNameDollar = errors.New("starts with '$', which MQTT reserves for the broker's own topics")
	errNameChar   = errors.New("contains '/', '+', '#', a space or a control character; use letters, digits, '-', '_', '.' or '@'")
)

// CheckName reports why s is not usable as a name the gateway puts into a
// topic level or an access rule (%u, %c): a gateway id, a sensor or
// actuator name, a user name. It returns nil if s is one.
//
// A name is 1 to 64 bytes of UTF-8 without '/' (it is one topic level),
// '+' or '#' (it must not become a wildcard in devices/%u/#), spaces or
// control characters (names are typed in shells and logged as they are),
// and does not start with '$' (such topics are the broker's and wildcards
// do not match them [MQTT-4.7.2-1]). Everything else is allowed: gw-1,
// pi.lan, bob@example.com, küche.
func CheckName(s string) error {
	switch {
	case s == "":
		return errNameEmpty
	case len(s) > MaxNameLen:
		return errNameLong
	case !utf8.ValidString(s):
		return errNameUTF8
	case s[0] == '$':
		return errNameDollar
	case strings.IndexFunc(s, badNameRune) >= 0:
		return errNameChar
	}
	return nil
}

// ValidName reports whether s is a valid name (see CheckName).
func ValidName(s string) bool { return CheckName(s) == nil }

func badNameRune(r rune) bool {
	return r == '/' || r == '+' || r == '#' || unicode.IsSpace(r) || unicode.IsControl(r)
}

// SafeName turns s, such as a host name, into a valid name for a default:
// every character but ASCII letters, digits, '-' and '_' becomes '-' (so
// pi.lan becomes pi-lan), leading and trailing '-' are dropped, and the
// result is cut to 64 bytes; if nothing is left, it is fallback.
func SafeName(s, fallback string) string {
	out := strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '-'
	}, s), "-")
	if len(out) > MaxNameLen {
		out = strings.TrimRight(out[:MaxNameLen], "-")
	}
	if out == "" {
		return fallback
	}
	return out
}
