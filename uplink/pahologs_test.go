package uplink

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestMain routes paho's logs before any test starts a link, as the
// gateway's main does before any link runs.
func TestMain(m *testing.M) {
	RoutePahoLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// paho's own messages come out through the logger given to RoutePahoLogs,
// one line each, at debug level only.
func TestPahoLogsThroughSlog(t *testing.T) {
	prev := pahoLog.Load()
	t.Cleanup(func() { pahoLog.Store(prev) })

	var debug bytes.Buffer
	RoutePahoLogs(slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug})))
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
	RoutePahoLogs(slog.New(slog.NewTextHandler(&info, nil)))
	paho.WARN.Println("not shown")
	if info.Len() != 0 {
		t.Errorf("at info level paho logged %q, want nothing", info.String())
	}
}
