package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
)

func TestLoginOverTCP(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{})
	admin := g.AdminPassword()
	connectV3(t, g, "admin", admin, "good-1", true)

	_, err := dialV3(g, "admin", "wrong", "bad-1", true, nil)
	if err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Errorf("v3.1.1 wrong password: %v, want return code 5 (not authorized)", err)
	}
	_, ca, err := connectV5(t, g, "admin", "wrong", "bad-5", nil)
	if err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Errorf("v5 wrong password: connack %+v, %v; want reason 0x87", ca, err)
	}
	_, err = dialV3(g, "", "", "anon-1", true, nil)
	if err == nil {
		t.Error("anonymous client accepted while allow_anonymous is false")
	}
	if strings.Contains(g.Log(), admin) || strings.Contains(g.Log(), "wrong") && strings.Contains(g.Log(), "password=wrong") {
		t.Error("the log holds a password")
	}

	// The same with Mosquitto's own clients.
	mosq := needTool(t, "mosquitto_pub")
	host, port, _ := net.SplitHostPort(g.MQTTAddr)
	out, err := exec.Command(mosq, "-h", host, "-p", port, "-u", "admin", "-P", admin, "-t", "x/y", "-m", "hi", "-q", "1").CombinedOutput()
	if err != nil {
		t.Errorf("mosquitto_pub with the right password: %v\n%s", err, out)
	}
	out, err = exec.Command(mosq, "-h", host, "-p", port, "-u", "admin", "-P", "nope", "-t", "x/y", "-m", "hi").CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "not authori") {
		t.Errorf("mosquitto_pub with a wrong password: %v\n%s", err, out)
	}
}

func TestMosquittoClientsRoundTrip(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{})
	admin := g.AdminPassword()
	sub := needTool(t, "mosquitto_sub")
	pub := needTool(t, "mosquitto_pub")
	host, port, _ := net.SplitHostPort(g.MQTTAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := exec.CommandContext(ctx, sub, "-h", host, "-p", port, "-u", "admin", "-P", admin, "-t", "lab/#", "-C", "2", "-v", "-q", "2", "-i", "sub-1")
	var outBuf strings.Builder
	s.Stdout = &outBuf
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the subscription exists, then publish.
	gatetest.Eventually(t, "mosquitto_sub's subscription", func() bool {
		return strings.Contains(metrics(t, g), "\nmqttgate_mqtt_subscriptions 1\n")
	})
	for i, q := range []string{"1", "2"} {
		out, err := exec.Command(pub, "-h", host, "-p", port, "-u", "admin", "-P", admin, "-t", "lab/q"+q, "-m", fmt.Sprint("m", i), "-q", q).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
	if err := s.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v (got %q)", err, outBuf.String())
	}
	if got := outBuf.String(); got != "lab/q1 m0\nlab/q2 m1\n" {
		t.Errorf("mosquitto_sub got %q", got)
	}
}

func TestAccessRules(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{})
	g.AddUser("op", "operator", "op-pw")
	g.AddUser("view", "viewer", "view-pw")
	g.AddUser("dev1", "device", "dev1-pw")
	watch := new(gatetest.Recorder)
	admin := connectV3(t, g, "admin", g.AdminPassword(), "watcher", true)
	subscribe(t, admin, "#", 1, watch)

	op := connectV3(t, g, "op", "op-pw", "op-1", true)
	publish(t, op, "gw-test/actuators/lamp/set", 1, false, "on")
	publish(t, op, "gw-test/sensors/fake/state", 1, false, "forged") // acknowledged, dropped (3.1.1)
	view := connectV3(t, g, "view", "view-pw", "view-1", true)
	publish(t, view, "gw-test/actuators/lamp/set", 1, false, "off")
	dev := connectV3(t, g, "dev1", "dev1-pw", "dev1-a", true)
	publish(t, dev, "devices/dev1/temp", 1, false, "20")
	publish(t, dev, "devices/dev2/temp", 1, false, "spoofed")
	publish(t, admin, "end", 1, false, "")

	if _, ok := watch.Within(10*time.Second, topicIs("end")); !ok {
		t.Fatal("marker message not received")
	}
	got := map[string]string{}
	for _, m := range watch.All() {
		got[m.Topic] = m.Payload
	}
	if got["gw-test/actuators/lamp/set"] != "on" {
		t.Errorf("operator's set not delivered (or viewer's was): %v", got)
	}
	if got["devices/dev1/temp"] != "20" {
		t.Errorf("device's own topic not delivered: %v", got)
	}
	for _, denied := range []string{"gw-test/sensors/fake/state", "devices/dev2/temp"} {
		if _, ok := got[denied]; ok {
			t.Errorf("denied publish to %s was delivered", denied)
		}
	}
	if !strings.Contains(g.Log(), "denied") && !strings.Contains(g.Log(), "refused") {
		t.Error("refusals are not logged")
	}

	// A device may not read another device's topics: SUBACK failure.
	tok := dev.Subscribe("devices/dev2/#", 1, nil)
	tok.WaitTimeout(10 * time.Second)
	if st, ok := tok.(*paho.SubscribeToken); !ok || st.Result()["devices/dev2/#"] != 0x80 {
		t.Errorf("device subscribing to another device's topics: %v", tok.(*paho.SubscribeToken).Result())
	}

	// MQTT 5: a denied QoS 1 publish gets PUBACK 0x87.
	v5, _, err := connectV5(t, g, "view", "view-pw", "view-5", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := v5.Publish(ctx, &paho5.Publish{Topic: "gw-test/actuators/lamp/set", QoS: 1, Payload: []byte("on")})
	if pr == nil || pr.ReasonCode != 0x87 {
		t.Errorf("v5 viewer publish: %+v, %v; want PUBACK 0x87", pr, err)
	}
	sa, err := v5.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "gw-test/#", QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] != 1 {
		t.Errorf("v5 viewer subscribe to readable topics: %+v, %v", sa, err)
	}
}

func TestQoSDelivery(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{})
	pw := g.AdminPassword()
	for _, qos := range []byte{1, 2} {
		b := new(gatetest.Recorder)
		sub := connectV3(t, g, "admin", pw, fmt.Sprint("sub-q", qos), true)
		subscribe(t, sub, fmt.Sprint("q/", qos), qos, b)
		pub := connectV3(t, g, "admin", pw, fmt.Sprint("pub-q", qos), true)
		const n = 200
		for i := range n {
			pub.Publish(fmt.Sprint("q/", qos), qos, false, fmt.Sprint(i))
		}
		// A last message after them: once it is in, any extra copy of the
		// n (they come in order) is in too.
		pub.Publish(fmt.Sprint("q/", qos), qos, false, "end")
		if _, ok := b.Within(20*time.Second, func(m gatetest.Message) bool { return m.Payload == "end" }); !ok {
			t.Fatalf("QoS %d: got %d of %d", qos, len(b.All()), n+1)
		}
		msgs := b.All()
		msgs = msgs[:len(msgs)-1]
		if len(msgs) != n {
			t.Errorf("QoS %d: %d messages, want exactly %d", qos, len(msgs), n)
		}
		for i, m := range msgs {
			if m.Payload != fmt.Sprint(i) || m.QoS != qos {
				t.Fatalf("QoS %d: message %d is %q at QoS %d", qos, i, m.Payload, m.QoS)
			}
		}
	}
}

// TestSurvivesRestart checks that retained messages and a persistent
// session with a QoS 1 message waiting for it survive a clean stop and a
// SIGKILL.
func TestSurvivesRestart(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{})
	pw := g.AdminPassword()
	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) {
			b := new(gatetest.Recorder)
			sess := connectV3(t, g, "admin", pw, "persist-"+how, false)
			subscribe(t, sess, "keep/"+how, 1, b)
			sess.Disconnect(100)

			pub := connectV3(t, g, "admin", pw, "pub-"+how, true)
			publish(t, pub, "retained/"+how, 1, true, "kept")
			publish(t, pub, "keep/"+how, 1, false, "waiting")
			pub.Disconnect(50)
			if how == "kill" {
				g.Kill()
			} else if err := g.Stop(); err != nil {
				t.Fatalf("clean stop: %v", err)
			}
			g.StartAgain()

			again, err := dialV3(g, "admin", pw, "persist-"+how, false, func(o *paho.ClientOptions) {
				o.SetDefaultPublishHandler(b.Paho)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer again.Disconnect(50)
			if _, ok := b.Within(10*time.Second, topicIs("keep/"+how)); !ok {
				t.Errorf("after %s: the persistent session's QoS 1 message is lost", how)
			}
			r := new(gatetest.Recorder)
			c := connectV3(t, g, "admin", pw, "reader-"+how, true)
			subscribe(t, c, "retained/"+how, 1, r)
			if m, ok := r.Within(10*time.Second, topicIs("retained/"+how)); !ok || m.Payload != "kept" || !m.Retain {
				t.Errorf("after %s: retained message %+v, %v", how, m, ok)
			}
		})
	}
}

func TestConformance(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{})
	pw := g.AdminPassword()
	watch := new(gatetest.Recorder)
	w := connectV3(t, g, "admin", pw, "watch", true)
	subscribe(t, w, "will/#", 1, watch)

	t.Run("will on abnormal disconnect", func(t *testing.T) {
		conn := rawConnect(t, g, "admin", pw, "dies", 30, "will/dies", "gone")
		conn.Close() // no DISCONNECT
		if _, ok := watch.Within(10*time.Second, topicIs("will/dies")); !ok {
			t.Error("will not published")
		}
	})
	t.Run("no will on clean disconnect", func(t *testing.T) {
		conn := rawConnect(t, g, "admin", pw, "polite", 30, "will/polite", "gone")
		conn.Write([]byte{0xe0, 0})
		conn.Close()
		publish(t, w, "will/marker", 1, false, "")
		watch.Within(10*time.Second, topicIs("will/marker"))
		if _, ok := watch.Within(300*time.Millisecond, topicIs("will/polite")); ok {
			t.Error("will published after DISCONNECT")
		}
	})
	t.Run("keepalive timeout", func(t *testing.T) {
		conn := rawConnect(t, g, "admin", pw, "sleepy", 1, "will/sleepy", "timeout")
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 16)
		start := time.Now()
		_, err := conn.Read(buf)
		if err == nil || errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 9*time.Second {
			t.Errorf("silent client with keepalive 1s not dropped: %v after %s", err, time.Since(start))
		}
		if _, ok := watch.Within(10*time.Second, topicIs("will/sleepy")); !ok {
			t.Error("will not published after keepalive timeout")
		}
	})
	t.Run("dollar topics not matched by #", func(t *testing.T) {
		all, sys := new(gatetest.Recorder), new(gatetest.Recorder)
		// Two clients: paho routes a message to every handler whose filter
		// matches by its own rules, so one client would blur the result.
		subscribe(t, connectV3(t, g, "admin", pw, "hash", true), "#", 0, all)
		subscribe(t, connectV3(t, g, "admin", pw, "sys", true), "$SYS/#", 0, sys)
		if _, ok := sys.Within(10*time.Second, func(m gatetest.Message) bool { return strings.HasPrefix(m.Topic, "$SYS/") }); !ok {
			t.Fatal("no $SYS topics")
		}
		for _, m := range all.All() {
			if strings.HasPrefix(m.Topic, "$") {
				t.Fatalf("# matched %s", m.Topic)
			}
		}
	})
	t.Run("overlapping subscriptions", func(t *testing.T) {
		b := new(gatetest.Recorder)
		c := connectV3(t, g, "admin", pw, "overlap", true)
		subscribe(t, c, "ov/#", 0, b)
		subscribe(t, c, "ov/+/x", 1, b)
		publish(t, w, "ov/a/x", 1, false, "both")
		m, ok := b.Within(10*time.Second, topicIs("ov/a/x"))
		if !ok {
			t.Fatal("message matching two subscriptions not delivered")
		}
		// Neither subscription grants more than 1: wait for a copy at 1.
		if _, ok := b.Within(10*time.Second, func(m gatetest.Message) bool { return m.Topic == "ov/a/x" && m.QoS == 1 }); !ok {
			max := byte(0)
			for _, m := range b.All() {
				max = maxb(max, m.QoS)
			}
			t.Errorf("delivered at QoS %d (first %+v), want the maximum of the matching subscriptions (1)", max, m)
		}
	})
	t.Run("zero-length client id", func(t *testing.T) {
		c, err := dialV3(g, "admin", pw, "", true, nil)
		if err != nil {
			t.Fatalf("clean session with empty client id refused: %v", err)
		}
		c.Disconnect(50)
		// [MQTT-3.1.3-8]: empty id with clean session 0 gets return code 2.
		conn, err := net.DialTimeout("tcp", g.MQTTAddr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
		vh := append(str("MQTT"), 4, 0xc0, 0, 30) // user, password, clean session 0
		vh = append(vh, str("")...)
		vh = append(vh, str("admin")...)
		vh = append(vh, str(pw)...)
		conn.Write(append(append([]byte{0x10}, encLen(len(vh))...), vh...))
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		ack := make([]byte, 4)
		if _, err := ioReadFull(conn, ack); err != nil || ack[0] != 0x20 || ack[3] != 2 {
			t.Errorf("empty client id with clean session 0: CONNACK %x, %v; want return code 2", ack, err)
		}
	})
	t.Run("session takeover", func(t *testing.T) {
		lost := make(chan error, 1)
		first, err := dialV3(g, "admin", pw, "twin", true, func(o *paho.ClientOptions) {
			o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		})
		if err != nil {
			t.Fatal(err)
		}
		defer first.Disconnect(50)
		second := connectV3(t, g, "admin", pw, "twin", true)
		select {
		case <-lost:
		case <-time.After(10 * time.Second):
			t.Error("first client not disconnected by a second one with the same id")
		}
		if !second.IsConnectionOpen() {
			t.Error("second client not connected")
		}
	})
}

func maxb(a, b byte) byte {
	if a > b {
		return a
	}
	return b
}

// rawConnect opens a TCP connection and sends an MQTT 3.1.1 CONNECT with
// a will, then reads the CONNACK.
func rawConnect(t *testing.T, g *gatetest.Gateway, user, pass, id string, keepalive uint16, willTopic, willMsg string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.MQTTAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	var vh []byte
	vh = append(vh, str("MQTT")...)
	vh = append(vh, 4, 0xc0|0x04|0x08|0x02, byte(keepalive>>8), byte(keepalive)) // user, pass, will qos1, clean
	vh = append(vh, str(id)...)
	vh = append(vh, str(willTopic)...)
	vh = append(vh, str(willMsg)...)
	vh = append(vh, str(user)...)
	vh = append(vh, str(pass)...)
	pkt := append([]byte{0x10}, encLen(len(vh))...)
	conn.Write(append(pkt, vh...))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack := make([]byte, 4)
	if _, err := ioReadFull(conn, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK %x, %v", ack, err)
	}
	conn.SetReadDeadline(time.Time{})
	return conn
}

func encLen(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// needTool finds a tool the test needs; make test installs it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed; `make test` installs it (Debian package mosquitto-clients)", name)
	}
	return p
}
