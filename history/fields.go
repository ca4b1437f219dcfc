package history

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// maxFields bounds the series one payload may give.
const maxFields = 64

// Fields calls fn for each numeric value in payload: every number of a
// JSON object, with nested objects one level deep as "outer.inner", or a
// plain number (field ""). Booleans, strings and arrays are not numbers
// here. It reports at most maxFields values.
func Fields(payload []byte, fn func(field string, v float64)) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 {
		return
	}
	if p[0] != '{' {
		if !startsNumber(p[0]) {
			return // most payloads that are not JSON: no conversion, no garbage
		}
		if v, err := strconv.ParseFloat(string(p), 64); err == nil && finite(v) {
			fn("", v)
		}
		return
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(p, &obj) != nil {
		return
	}
	n := 0
	emit := func(field string, raw json.RawMessage) {
		if n >= maxFields || len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
			return
		}
		if v, err := strconv.ParseFloat(string(raw), 64); err == nil && finite(v) {
			n++
			fn(field, v)
		}
	}
	for k, raw := range obj {
		if len(raw) > 0 && raw[0] == '{' {
			var inner map[string]json.RawMessage
			if json.Unmarshal(raw, &inner) == nil {
				for k2, r2 := range inner {
					emit(k+"."+k2, r2)
				}
			}
			continue
		}
		emit(k, raw)
	}
}

// startsNumber reports whether a plain number may start with c.
func startsNumber(c byte) bool { return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
