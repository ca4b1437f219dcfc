package main

import (
	"context"
	"reflect"
	"slices"
	"strings"

	"mqttgate/config"
	"mqttgate/history"
	"mqttgate/systemd"
)

// reloadOnHangup re-reads what can change without a restart on SIGHUP.
func (g *gateway) reloadOnHangup(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-g.hup:
			g.reload()
		}
	}
}

func (g *gateway) reload() {
	systemd.Reloading()
	defer systemd.Ready()
	if g.flags.file != "" && g.reloadConfig != nil {
		cfg, err := g.reloadConfig()
		if err != nil {
			g.log.Error("reload refused: the configuration has problems; the running one is kept", "err", err)
			return
		}
		if err := g.sensors.Reload(cfg.Sensors); err != nil {
			g.log.Error("reload: sensors", "err", err)
		}
		if err := g.broker.SetRoles(cfg.Roles); err != nil {
			g.log.Error("reload: roles", "err", err)
		}
		if g.history != nil && !slices.Equal(g.cfg.History.Topics, cfg.History.Topics) {
			g.watchHistory(cfg.History.Topics)
			g.log.Info("reload: history topics", "topics", strings.Join(cfg.History.Topics, " "))
		}
		g.cfg.Sensors, g.cfg.Roles, g.cfg.History.Topics = cfg.Sensors, cfg.Roles, cfg.History.Topics
		if changed := restartNeeded(g.cfg, cfg); len(changed) > 0 {
			g.log.Warn("reload: these settings changed but apply only after a restart", "keys", strings.Join(changed, ", "))
		}
	}
	if err := g.logins.Users().Reload(); err != nil {
		g.log.Error("reload: users file", "err", err)
	}
	if err := g.http.Reload(); err != nil {
		g.log.Error("reload: TLS certificate", "err", err)
	}
	g.log.Info("reloaded")
}

// withoutTopics is c without what a reload applies (history.topics).
func withoutTopics(c history.Config) history.Config {
	c.Topics = nil
	return c
}

// restartNeeded names the top-level settings that differ between the
// running configuration and a new one but cannot change while running.
func restartNeeded(old, new config.Config) []string {
	var out []string
	for _, c := range []struct {
		key      string
		old, new any
	}{
		{"gateway_id", old.GatewayID, new.GatewayID}, {"data_dir", old.DataDir, new.DataDir},
		{"log", old.Log, new.Log}, {"mqtt", old.MQTT, new.MQTT}, {"http", old.HTTP, new.HTTP},
		{"auth", old.Auth, new.Auth}, {"uplinks", old.Uplinks, new.Uplinks}, {"runtime", old.Runtime, new.Runtime},
		{"history", withoutTopics(old.History), withoutTopics(new.History)},
	} {
		if !reflect.DeepEqual(c.old, c.new) {
			out = append(out, c.key)
		}
	}
	return out
}
