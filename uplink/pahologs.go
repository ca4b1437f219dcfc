package uplink

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// pahoLog is where paho's own messages go (nil: nowhere). paho's loggers
// are package-wide variables, set once by the first RoutePahoLogs so that
// no paho goroutine ever reads them while they change; later calls only
// swap this pointer.
var (
	pahoLog  atomic.Pointer[slog.Logger]
	pahoOnce sync.Once
)

// RoutePahoLogs sends paho's own messages to log at debug level, one line
// each, with component=paho and paho's level. The links log each event a
// user needs (connected, lost, refused) themselves; paho's lines say the
// same in its own words, so they are there for debugging, not by default.
//
// paho keeps its loggers in package variables: call RoutePahoLogs once,
// before any Link runs (the gateway's main does). Later calls are safe at
// any time and only change where the lines go.
func RoutePahoLogs(log *slog.Logger) {
	pahoLog.Store(log.With("component", "paho"))
	pahoOnce.Do(func() {
		paho.CRITICAL = pahoLogger{"critical"}
		paho.ERROR = pahoLogger{"error"}
		paho.WARN = pahoLogger{"warn"}
	})
}

// pahoLogger is paho's Logger over slog.
type pahoLogger struct{ level string }

func (p pahoLogger) Println(v ...any) {
	if l := debugTarget(); l != nil {
		l.Debug(strings.TrimSpace(fmt.Sprintln(v...)), "paho_level", p.level)
	}
}

func (p pahoLogger) Printf(format string, v ...any) {
	if l := debugTarget(); l != nil {
		l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "paho_level", p.level)
	}
}

// debugTarget returns the logger for paho's messages if it logs at debug
// level (nil otherwise, before any text is formatted).
func debugTarget() *slog.Logger {
	if l := pahoLog.Load(); l != nil && l.Enabled(context.Background(), slog.LevelDebug) {
		return l
	}
	return nil
}
