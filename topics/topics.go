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
func CheckTopic(t string) error {
	if err := checkText(t); err != nil {
		return err
	}
	if strings.ContainsAny(t, "+#") {
		return errWildcard
	}
	return nil
}

// ValidTopic reports whether t is a valid topic name (see CheckTopic).
func ValidTopic(t string) bool { return CheckTopic(t) == nil }

// CheckFilter reports why f is not a valid topic filter, or nil if it is
// one. The shared form $share/<group>/<filter> is accepted.
func CheckFilter(f string) error {
	if err := checkText(f); err != nil {
		return err
	}
	inner, shared, ok := splitShare(f)
	if shared && !ok {
		return errShare
	}
	return checkWildcards(inner)
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
// filter after it are present and the group valid.
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

// checkText checks what topic names and filters share.
func checkText(s string) error {
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
	return nil
}

// checkWildcards checks that '+' and '#' stand alone in their level, and
// '#' only in the last one.
func checkWildcards(f string) error {
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '+' && c != '#' {
			continue
		}
		alone := (i == 0 || f[i-1] == '/') && (i == len(f)-1 || f[i+1] == '/')
		switch {
		case c == '#' && (!alone || i != len(f)-1):
			return errHash
		case c == '+' && !alone:
			return errPlus
		}
	}
	return nil
}
