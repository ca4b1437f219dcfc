package sensors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"mqttgate/hw"
)

// maxCommand bounds the size of a command payload.
const maxCommand = 256

// Toggle is the command that inverts an actuator's state.
const toggle = "toggle"

// ParseCommand parses a payload sent to <gw>/actuators/<name>/set against
// the actuator's current state: "on", "off", "toggle" (any case, also
// true/false, 1/0) or JSON {"state":"on"|"off"|"toggle"|true|false}.
func ParseCommand(payload []byte, current hw.State) (hw.State, error) {
	if len(payload) > maxCommand {
		return current, fmt.Errorf("sensors: command of %d bytes is too long", len(payload))
	}
	p := bytes.TrimSpace(payload)
	word := string(p)
	if len(p) > 0 && p[0] == '{' {
		var v struct {
			State json.RawMessage `json:"state"`
		}
		if err := json.Unmarshal(p, &v); err != nil {
			return current, fmt.Errorf("sensors: command: bad JSON: %w", err)
		}
		var b bool
		switch {
		case len(v.State) == 0:
			return current, errors.New(`sensors: command: JSON without "state"`)
		case json.Unmarshal(v.State, &b) == nil:
			return hw.State(b), nil
		case json.Unmarshal(v.State, &word) != nil:
			return current, fmt.Errorf("sensors: command: \"state\" must be a string or boolean, not %s", v.State)
		}
	}
	if strings.EqualFold(strings.TrimSpace(word), toggle) {
		return !current, nil
	}
	s, err := hw.ParseState(word)
	if err != nil {
		return current, fmt.Errorf("sensors: command %q: use on, off, toggle or {\"state\":\"on\"}", truncate(word, 40))
	}
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

type actuator struct {
	cfg   ActuatorConfig
	dev   hw.Actuator
	cmds  chan []byte
	unsub func()
}

// startActuators opens the actuators, publishes their state and follows
// their set topics until ctx is done. Actuators that fail to open are
// logged and left out.
func (s *Runner) startActuators(ctx context.Context, wg *sync.WaitGroup, cfg Config) []*actuator {
	var acts []*actuator
	for _, c := range cfg.Actuators {
		log := s.log.With("actuator", c.Name, "driver", c.Driver)
		hc := c.ActuatorConfig
		s.mu.Lock()
		prev, ok := s.states[c.Name]
		s.mu.Unlock()
		if ok {
			hc.Initial = prev.String() // a reload keeps the state
		}
		dev, err := s.open.OpenActuator(hc)
		if err != nil {
			log.Error("actuator not available", "err", err)
			continue
		}
		a := &actuator{cfg: c, dev: dev, cmds: make(chan []byte, 16)}
		s.setState(a, dev.State())
		unsub, err := s.broker.Subscribe(s.topic("actuators", c.Name, "set"), func(_ string, payload []byte, retained bool, _ byte) {
			if retained {
				log.Info("ignoring a retained command; commands must not be retained", "payload", truncate(string(payload), 40))
				return
			}
			select {
			case a.cmds <- bytes.Clone(payload):
			default:
				log.Warn("command dropped: too many pending")
			}
		})
		if err != nil {
			log.Error("cannot follow commands", "err", err)
			_ = dev.Close()
			continue
		}
		a.unsub = unsub
		acts = append(acts, a)
		s.discoverActuator(c)
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case p := <-a.cmds:
					st, err := ParseCommand(p, dev.State())
					if err != nil {
						log.Warn("invalid command ignored", "err", err)
						continue
					}
					if err := dev.Set(ctx, st); err != nil {
						log.Error("set failed", "state", st.String(), "err", err)
						continue
					}
					log.Info("actuator set", "state", st.String())
					s.setState(a, st)
				}
			}
		})
	}
	return acts
}

func (s *Runner) setState(a *actuator, st hw.State) {
	s.mu.Lock()
	s.states[a.cfg.Name] = st
	s.mu.Unlock()
	s.publish(s.topic("actuators", a.cfg.Name, "state"), appendState(nil, st, time.Now()))
}

// stopActuators stops following commands and closes the devices; on a
// final stop it first applies on_shutdown.
func (s *Runner) stopActuators(acts []*actuator, final bool) {
	for _, a := range acts {
		a.unsub()
		if final && a.cfg.OnShutdown != "" {
			st, err := hw.ParseState(a.cfg.OnShutdown)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err = a.dev.Set(ctx, st)
				cancel()
			}
			if err != nil {
				s.log.Error("on_shutdown state not applied", "actuator", a.cfg.Name, "err", err)
			} else {
				s.setState(a, st)
			}
		}
		if err := a.dev.Close(); err != nil {
			s.log.Warn("close failed", "actuator", a.cfg.Name, "err", err)
		}
	}
}
