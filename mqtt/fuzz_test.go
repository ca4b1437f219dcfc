package mqtt

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/topics"
)

// FuzzInBandAnswer feeds arbitrary AUTH packet bodies through the decoder
// and the answer check the in-band exchange uses.
func FuzzInBandAnswer(f *testing.F) {
	good := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Auth}, ProtocolVersion: 5, ReasonCode: 0x18,
		Properties: packets.Properties{AuthenticationMethod: "chap1", AuthenticationData: bytes.Repeat([]byte{1}, 32)}}
	var buf bytes.Buffer
	if err := good.AuthEncode(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes()[2:])
	f.Add([]byte{0x18, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Auth, Remaining: len(body)}, ProtocolVersion: 5}
		if err := pk.AuthDecode(body); err != nil {
			return
		}
		proof, reason := checkAnswer(pk)
		if reason == "" && len(proof) != 32 {
			t.Fatalf("accepted a %d-byte proof", len(proof))
		}
	})
}

// FuzzRoleFilter checks that every filter the config accepts behaves
// sanely in the ACL: it covers itself with placeholders substituted, and
// covers implies overlaps.
func FuzzRoleFilter(f *testing.F) {
	for _, s := range []string{"#", "devices/%u/#", "+/actuators/+/set", "$SYS/#", "a/#/b", "%x", "a//b", "/"} {
		f.Add(s, "a/b")
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if validateRoleFilter(filter) != nil {
			return
		}
		a := newAccess("r", Role{Read: []string{filter}, Write: []string{filter}}, "u", "c")
		for _, s := range a.read {
			if !topics.Covers(s, s) {
				t.Fatalf("%q does not cover itself", s)
			}
		}
		if topics.Covers(filter, topic) && !topics.Overlaps(filter, topic) {
			t.Fatalf("covers(%q, %q) without overlap", filter, topic)
		}
		if !strings.ContainsAny(topic, "+#") && topics.Covers(filter, topic) != topics.Overlaps(filter, topic) {
			t.Fatalf("for topic name %q covers and overlaps disagree with %q", topic, filter)
		}
	})
}

func BenchmarkStoreWrite(b *testing.B) {
	for _, c := range []struct {
		name     string
		interval time.Duration
	}{{"fsync-each", 0}, {"batched-1s", time.Second}} {
		b.Run(c.name, func(b *testing.B) {
			st, err := openStore(filepath.Join(b.TempDir(), "mqtt.db"), c.interval, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Stop()
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
				TopicName: "gw/sensors/t/state", Payload: []byte(`{"ts":"2026-11-23T10:00:00.123Z","temperature_c":21.43}`)}
			b.ReportAllocs()
			for b.Loop() {
				st.put(bucketRetained, pk.TopicName, message("RET", pk.TopicName, "c", pk, 0))
			}
		})
	}
}
