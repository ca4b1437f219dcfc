package field

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is a problem with one configuration field.
type Error struct {
	// Path is the field's YAML key path, e.g. "uplinks[1].topics[0].pattern";
	// map keys are path elements too ("roles.ops.read[2]"). Empty means the
	// value as a whole.
	Path string
	// Value is the bad value, shown in the message; nil shows none.
	Value any
	// Detail says what is wrong and what is accepted, e.g. "is not
	// HOST:PORT; use e.g. 0.0.0.0:1883".
	Detail string
}

// Invalid returns the error for value at path: "path: value detail".
func Invalid(path string, value any, detail string) *Error {
	return &Error{Path: path, Value: value, Detail: detail}
}

// Errorf returns an error at path whose detail is formatted as by
// fmt.Sprintf and shows no value of its own.
func Errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Detail: fmt.Sprintf(format, args...)}
}

// Field is the path of the key the error concerns.
func (e *Error) Field() string { return e.Path }

// Error reads "path: value detail": `addr: "nonsense" is not HOST:PORT`.
// Strings are quoted; other values print as with %v.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	switch v := e.Value.(type) {
	case nil:
	case string:
		b.WriteString(strconv.Quote(v))
		b.WriteByte(' ')
	default:
		fmt.Fprintf(&b, "%v ", v)
	}
	b.WriteString(e.Detail)
	return b.String()
}

// Index is the path of element i of the list at path: "topics[3]".
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// Child is the path of key under path: "queue" + "max_age" is
// "queue.max_age"; an index or an empty path joins without a dot.
func Child(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	case key[0] == '[':
		return path + key
	}
	return path + "." + key
}

// Prefix returns err with prefix put in front of the path of every *Error
// in it, through errors.Join trees; an error without a path becomes an
// *Error at prefix. It returns nil for nil.
func Prefix(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range Leaves(err) {
		var fe *Error
		if errors.As(e, &fe) {
			c := *fe
			c.Path = Child(prefix, fe.Path)
			out = append(out, &c)
			continue
		}
		out = append(out, &Error{Path: prefix, Detail: e.Error()})
	}
	return errors.Join(out...)
}

// Leaves returns the errors that err joins (errors.Join, or any error
// with an Unwrap() []error method), depth first; err itself if it joins
// none.
func Leaves(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Leaves(e)...)
	}
	return out
}
