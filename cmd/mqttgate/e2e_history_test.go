package main

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"

	paho5 "github.com/eclipse/paho.golang/paho"

	"mqttgate/gatetest"
	"mqttgate/history"
)

// askHistory asks the gateway's history for topic's field over the last
// hour, as a dashboard does (MQTT 5 request/response on its own session),
// and returns the answer.
func askHistory(t *testing.T, c *paho5.Client, b *gatetest.Recorder, clientID, topic, field string) history.Answer {
	t.Helper()
	from := mark(b)
	req, _ := json.Marshal(history.Request{Topic: topic, Field: field, Range: "1h"})
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	if _, err := c.Publish(ctx, &paho5.Publish{Topic: history.RequestTopic("gw-test"), QoS: 1, Payload: req,
		Properties: &paho5.PublishProperties{ResponseTopic: "$reply/" + clientID + "/history", CorrelationData: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	waitAfter(t, b, from, "the history answer", func(m gatetest.Message) bool { return m.Topic == "$reply/"+clientID+"/history" })
	var a history.Answer
	for _, m := range b.All()[from:] {
		if m.Topic == "$reply/"+clientID+"/history" {
			if err := json.Unmarshal([]byte(m.Payload), &a); err != nil {
				t.Fatalf("answer %q: %v", m.Payload, err)
			}
		}
	}
	return a
}

// TestHistoryTopicsReload: SIGHUP applies a changed history.topics to the
// messages that follow, without a restart; the other history keys are
// named in the log as needing one.
func TestHistoryTopicsReload(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{YAML: gatetest.BaseYAML})
	b := new(gatetest.Recorder)
	c, _, err := connectV5(t, g, "admin", g.AdminPassword(), "hist-1", b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "$reply/hist-1/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	publish := func(v string) {
		t.Helper()
		if _, err := c.Publish(ctx, &paho5.Publish{Topic: "devices/th1/state", QoS: 1, Payload: []byte(`{"temperature":` + v + `}`)}); err != nil {
			t.Fatal(err)
		}
	}
	publish("21.5")
	if a := askHistory(t, c, b, "hist-1", "devices/th1/state", "temperature"); len(a.V) != 0 {
		t.Fatalf("recorded before history.topics named it: %+v", a)
	}

	writeFile(t, g.Config, gatetest.BaseYAML+"history:\n  topics: [devices/+/state]\n")
	g.Signal(syscall.SIGHUP)
	if !g.WaitLog(`msg=reloaded`, e2eWait) {
		t.Fatal("the reload is not logged")
	}
	publish("22.5") // recorded as the broker takes it, before the PUBACK
	if a := askHistory(t, c, b, "hist-1", "devices/th1/state", "temperature"); len(a.V) != 1 || a.V[0] == nil || *a.V[0] != 22.5 {
		t.Fatalf("history after the reload: %+v, want the one reading 22.5", a)
	}

	writeFile(t, g.Config, gatetest.BaseYAML+"history:\n  topics: [devices/+/state]\n  retention: 10d\n")
	g.Signal(syscall.SIGHUP)
	if !g.WaitLog(`apply only after a restart" keys=history`, e2eWait) {
		t.Errorf("a changed history.retention is not named as needing a restart:\n%s", g.Log())
	}
}
