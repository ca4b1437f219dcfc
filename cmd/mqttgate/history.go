package main

import (
	"errors"

	"mqttgate/history"
	"mqttgate/sensors"
)

// hookHistory subscribes the recorder to the gateway's sensor states and
// the configured topics, and serves history requests. It runs before the
// broker loads its retained messages, so the recorder takes readings as
// they come, not old retained ones stamped with the time of the start.
// The returned func undoes it.
func (g *gateway) hookHistory() (func(), error) {
	var undo []func()
	unhook := func() {
		for _, f := range undo {
			f()
		}
	}
	if g.history == nil {
		return unhook, nil
	}
	record := func(topic string, payload []byte, _ bool, _ byte) { g.history.Record(topic, payload) }
	for _, f := range append([]string{sensors.StateFilter(g.cfg.GatewayID)}, g.cfg.History.Topics...) {
		u, err := g.broker.Subscribe(f, record)
		if err != nil {
			unhook()
			return nil, err
		}
		undo = append(undo, u)
	}
	stop, err := g.broker.Respond(history.RequestTopic(g.cfg.GatewayID), g.history.Handle)
	if err != nil {
		unhook()
		return nil, errors.Join(errors.New("history"), err)
	}
	return func() { stop(); unhook() }, nil
}
