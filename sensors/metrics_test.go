package sensors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mqttgate/hw"
)

// Every quantity of an online sensor is a gauge on /metrics, as
// node_exporter does for hwmon; an offline sensor's values go away.
func TestSensorValueGauges(t *testing.T) {
	b := newTestBroker(t)
	w := newWatcher(t, b.addr, "gw/#")
	zone := t.TempDir()
	temp := filepath.Join(zone, "temp")
	if err := os.WriteFile(temp, []byte("48312\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Sensors: []SensorConfig{{
		SensorConfig:          hw.SensorConfig{Name: "cpu", Driver: "soc-temp", Path: zone},
		Interval:              100 * time.Millisecond,
		FailuresBeforeOffline: 1,
	}}}
	s, err := New(cfg, nil, b, "gw", &hw.Opener{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	runSensors(t, s)
	w.waitFor(t, 0, "gw/sensors/cpu/state", has("temperature_c"))

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	want := `
# HELP mqttgate_sensor_value The latest reading of each quantity of an online sensor.
# TYPE mqttgate_sensor_value gauge
mqttgate_sensor_value{quantity="temperature",sensor="cpu",unit="c"} 48.31
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mqttgate_sensor_value"); err != nil {
		t.Error(err)
	}

	if err := os.Remove(temp); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 0, "gw/sensors/cpu/availability", is("offline"))
	if n, err := testutil.GatherAndCount(reg, "mqttgate_sensor_value"); err != nil || n != 0 {
		t.Errorf("offline sensor: %d value gauges (%v), want none", n, err)
	}
}
