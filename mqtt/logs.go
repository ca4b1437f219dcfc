package mqtt

import (
	"context"
	"log/slog"
)

// quietHandler routes mochi's log lines into the gateway's logger: its
// chatty Info lines become Debug, and attributes that may hold packets
// (and so payloads or passwords) are dropped.
type quietHandler struct{ h slog.Handler }

func (q quietHandler) level(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return q.h.Enabled(ctx, q.level(l))
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, q.level(r.Level), r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "packet", "pk", "password":
		case "error":
			out.AddAttrs(slog.Any("err", a.Value))
		default:
			out.AddAttrs(a)
		}
		return true
	})
	return q.h.Handle(ctx, out)
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.h.WithAttrs(as)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.h.WithGroup(name)}
}
