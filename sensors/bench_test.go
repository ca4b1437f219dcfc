package sensors

import (
	"context"
	"fmt"
	"testing"

	"mqttgate/hw"
)

// BenchmarkReadPublish50 measures the read-publish path of 50 sim sensors
// into a real mochi broker: read, deadband check, JSON encoding, retained
// publish. One op is one round over all 50 sensors.
func BenchmarkReadPublish50(b *testing.B) {
	br := newTestBroker(b)
	s, err := New(Config{}, nil, br, "gw", nil)
	if err != nil {
		b.Fatal(err)
	}
	type sensor struct {
		dev   hw.Sensor
		topic string
		db    deadband
	}
	sensors := make([]*sensor, 50)
	for i := range sensors {
		name := fmt.Sprintf("sim%02d", i)
		sensors[i] = &sensor{dev: hw.NewSim(name), topic: s.topic("sensors", name, "state"), db: deadband{every: DefaultRepublishEvery}}
	}
	ctx := context.Background()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, x := range sensors {
			r, err := x.dev.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if x.db.publish(r) {
				buf = appendReading(buf[:0], r)
				s.publish(x.topic, buf)
			}
		}
	}
}
