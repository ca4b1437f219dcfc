package uplink

import (
	"strings"
	"time"
)

// matchFilter reports whether topic matches the MQTT topic filter. As MQTT
// requires, wildcards in the first level do not match topics starting
// with '$'.
func matchFilter(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a".
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// mapOut returns the remote topic and the rule for a local topic, using
// the first out or both rule that matches.
func mapOut(rules []Topic, local string) (remote string, rule Topic, ok bool) {
	for _, r := range rules {
		if r.Direction == "in" || !strings.HasPrefix(local, r.LocalPrefix) {
			continue
		}
		m := local[len(r.LocalPrefix):]
		if m != "" && matchFilter(r.Pattern, m) {
			return r.RemotePrefix + m, r, true
		}
	}
	return "", Topic{}, false
}

// mapIn returns the local topic and the rule for a remote topic, using
// the first in or both rule that matches.
func mapIn(rules []Topic, remote string) (local string, rule Topic, ok bool) {
	for _, r := range rules {
		if r.Direction == "out" || !strings.HasPrefix(remote, r.RemotePrefix) {
			continue
		}
		m := remote[len(r.RemotePrefix):]
		if m != "" && matchFilter(r.Pattern, m) {
			return r.LocalPrefix + m, r, true
		}
	}
	return "", Topic{}, false
}

// backoffDelay is the wait before connection attempt number attempt
// (0-based) after a failure: min doubled per attempt, capped at max, with
// "equal jitter" (a random point in the upper half) from rnd in [0,1).
func backoffDelay(attempt int, min, max time.Duration, rnd func() float64) time.Duration {
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}

// pacer spaces events at a fixed rate, without bursts.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func newPacer(perSecond float64) *pacer {
	return &pacer{interval: time.Duration(float64(time.Second) / perSecond)}
}

// delay returns how long to wait before the next event and books it.
func (p *pacer) delay(now time.Time) time.Duration {
	if p.next.Before(now) {
		p.next = now
	}
	d := p.next.Sub(now)
	p.next = p.next.Add(p.interval)
	return d
}
