package topics

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic name or filter in bytes [MQTT-4.7.3-3].
const MaxLen = 65535

// sharePrefix starts a shared subscription's filter [MQTT-4.8.2].
const sharePrefix = "$share/"

// The errors of CheckTopic and CheckFilter describe the problem as it
// follows the value, so that callers can write fmt.Errorf("%q %v", f, err).
var (
	errEmpty    = errors.New("is empty [MQTT-4.7.3-1]")
	errNUL      = errors.New("contains a NUL character [MQTT-4.7.3-2]")
	errLong     = errors.New("is longer than 65535 bytes [MQTT-4.7.3-3]")
	errUTF8     = errors.New("is not valid UTF-8 [MQTT-1.5.4-1]")
	errWildcard = errors.New("contains + or #, which only filters may have [MQTT-3.3.2-2]")
	errHash     = errors.New("has '#' that is not the whole last level; write e.g. a/b/# [MQTT-4.7.1-2]")
	errPlus     = errors.New("has '+' that is not a whole level; write e.g. a/+/c [MQTT-4.7.1-3]")
	errShare    = errors.New("is not a shared subscription $share/<group>/<filter> with a group free of '/', '+' and '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2]")
)

// CheckTopic reports why t is not a topic name a client may publish to, or
// nil if it is one.
func CheckTopic(t string) error { return scan(t, false) }

// ValidTopic reports whether t is a valid topic name (see CheckTopic).
func ValidTopic(t string) bool { return scan(t, false) == nil }

// CheckFilter reports why f is not a valid topic filter, or nil if it is
// one. The shared form $share/<group>/<filter> is accepted.
func CheckFilter(f string) error {
	if _, shared, ok := splitShare(f); shared && !ok {
		if err := scan(f, true); err != nil && err != errPlus && err != errHash {
			return err
		}
		return errShare
	}
	return scan(f, true)
}

// ValidFilter reports whether f is a valid topic filter (see CheckFilter).
func ValidFilter(f string) bool { return CheckFilter(f) == nil }

// Unshare returns the filter of a shared subscription
// ($share/<group>/<filter>) and its group, or f itself and "" when f is not
// a shared subscription.
func Unshare(f string) (filter, group string) {
	inner, shared, ok := splitShare(f)
	if !shared || !ok {
		return f, ""
	}
	return inner, f[len(sharePrefix) : len(f)-len(inner)-1]
}

// splitShare returns the filter part of a shared subscription. shared
// says whether f starts with $share/; ok whether the group and the
// filter after it are present and the group free of wildcards (the
// group cannot hold '/' [MQTT-4.8.2-2]: the first '/' ends it).
func splitShare(f string) (inner string, shared, ok bool) {
	if !strings.HasPrefix(f, sharePrefix) {
		return f, false, true
	}
	rest := f[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 || strings.ContainsAny(rest[:i], "+#") {
		return "", true, false
	}
	return rest[i+1:], true, true
}

// scan checks a topic name or, with filter, a topic filter: its length,
// NUL, UTF-8, and the place of '+' and '#'. A shared filter's group holds
// no wildcard (splitShare), so scanning all of it is scanning the filter
// proper. (IndexByte and ValidString take several bytes a step: this is
// the cost of every match, on the broker's delivery path.)
func scan(s string, filter bool) error {
	switch {
	case s == "":
		return errEmpty
	case len(s) > MaxLen:
		return errLong
	case strings.IndexByte(s, 0) >= 0:
		return errNUL
	case !utf8.ValidString(s):
		return errUTF8
	}
	for _, w := range [2]byte{'#', '+'} {
		for i, off := strings.IndexByte(s, w), 0; i >= 0; i = strings.IndexByte(s[off:], w) {
			i += off
			if !filter {
				return errWildcard
			}
			alone := (i == 0 || s[i-1] == '/') && (i == len(s)-1 || s[i+1] == '/')
			if w == '#' && (!alone || i != len(s)-1) {
				return errHash
			}
			if !alone {
				return errPlus
			}
			off = i + 1
		}
	}
	return nil
}
