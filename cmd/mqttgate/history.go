package main

import (
	"errors"

	"mqttgate/history"
	"mqttgate/sensors"
)

// hookHistory has the recorder take every message the broker accepts on
// the gateway's sensor states and the configured topics, and serves
// history requests. Messages are taken as the broker accepts them (an
// interceptor), not through subscriptions: a message is recorded once
// however many filters match it, and retained messages replayed on a
// subscription are never taken as new readings. It runs before the broker
// listens. The returned func undoes it.
func (g *gateway) hookHistory() (func(), error) {
	if g.history == nil {
		return func() {}, nil
	}
	g.watchHistory(g.cfg.History.Topics)
	unhook := g.broker.Intercept(func(_, topic string, payload []byte, _ bool, _ byte) error {
		g.history.Take(topic, payload)
		return nil
	})
	stop, err := g.broker.Respond(history.RequestTopic(g.cfg.GatewayID), g.history.Handle)
	if err != nil {
		unhook()
		return nil, errors.Join(errors.New("history"), err)
	}
	return func() { stop(); unhook() }, nil
}

// watchHistory has the recorder take the gateway's sensor states and
// topics (history.topics); a reload calls it again.
func (g *gateway) watchHistory(topics []string) {
	g.history.Watch(append([]string{sensors.StateFilter(g.cfg.GatewayID)}, topics...)...)
}
