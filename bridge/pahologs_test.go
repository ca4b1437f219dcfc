package bridge

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// paho's own messages come out through the uplink's slog logger, one line
// each, at debug level only.
func TestPahoLogsThroughSlog(t *testing.T) {
	prev := pahoLog.Load()
	t.Cleanup(func() { pahoLog.Store(prev) })

	var debug bytes.Buffer
	if _, err := NewUplink(outageConfig("tcp://127.0.0.1:1"),
		slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug})),
		startLocalBroker(t), "gw-1", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	paho.ERROR.Printf("[%s] %s", "client", "Connect comms goroutine - error triggered EOF\n")
	var got string
	for _, line := range strings.Split(debug.String(), "\n") {
		if strings.Contains(line, "component=paho") {
			got += line + "\n"
		}
	}
	if strings.Count(got, "\n") != 1 || !strings.Contains(got, `msg="[client] Connect comms goroutine - error triggered EOF"`) ||
		!strings.Contains(got, "paho_level=error") {
		t.Errorf("paho lines = %q, want one line with paho's message and paho_level=error", got)
	}

	var info bytes.Buffer
	routePahoLogs(slog.New(slog.NewTextHandler(&info, nil)))
	paho.WARN.Println("not shown")
	if info.Len() != 0 {
		t.Errorf("at info level paho logged %q, want nothing", info.String())
	}
}
