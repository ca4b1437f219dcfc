package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"mqttgate/config"
	"mqttgate/hw"
	"mqttgate/login"
	"mqttgate/mqtt"
	"mqttgate/sensors"
	"mqttgate/systemd"
	"mqttgate/uplink"
	"mqttgate/ws"
)

// runFlags are the flags of `mqttgate run`.
type runFlags struct {
	common
	mqttAddr string
	httpAddr string
	httpTLS  string
}

func runGateway(ctx context.Context, args []string, stderr io.Writer) error {
	var f runFlags
	fs := newFlagSet("run", "run [-c FILE] [--data-dir DIR] [--mqtt-addr HOST:PORT] [--http-addr HOST:PORT] [--http-tls auto|on|off]")
	f.register(fs)
	fs.StringVar(&f.mqttAddr, "mqtt-addr", "", "MQTT TCP listener `HOST:PORT` (overrides mqtt.addr)")
	fs.StringVar(&f.httpAddr, "http-addr", "", "HTTP(S) listener `HOST:PORT` (overrides http.addr)")
	fs.StringVar(&f.httpTLS, "http-tls", "", "HTTP TLS `MODE`: auto, on or off (overrides http.tls)")
	pos, err := parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	// SIGHUP means reload from now on, not the default "terminate": a
	// `systemctl reload` right after start must not end the gateway.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := newLogger(cfg.Log, stderr)
	// paho keeps its loggers in package variables: set them once, before
	// any uplink runs.
	uplink.RoutePahoLogs(log)
	g, err := newGateway(cfg, f.common, log)
	if err != nil {
		return err
	}
	g.hup = hup
	g.reloadConfig = f.config
	return g.run(ctx)
}

// config loads and validates the configuration with the flags over it.
// `config check` calls it too, so that it refuses exactly what run
// refuses.
func (f *runFlags) config() (config.Config, error) {
	var over []config.Override
	for _, o := range []config.Override{
		{Flag: "--mqtt-addr", Path: "mqtt.addr", Value: f.mqttAddr},
		{Flag: "--http-addr", Path: "http.addr", Value: f.httpAddr},
		{Flag: "--http-tls", Path: "http.tls", Value: f.httpTLS},
	} {
		if o.Value != "" {
			over = append(over, o)
		}
	}
	return f.load(over...)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// gateway is every part, constructed and checked before any socket opens.
type gateway struct {
	cfg     config.Config
	flags   common
	log     *slog.Logger
	logins  *login.Service
	broker  *mqtt.Broker
	http    *ws.Server
	sensors *sensors.Runner
	uplinks []*uplink.Link
	opener  *hw.Opener
	reg     *prometheus.Registry
	hup     chan os.Signal
	// reloadConfig reads the configuration again, flags applied.
	reloadConfig func() (config.Config, error)
}

func newGateway(cfg config.Config, flags common, log *slog.Logger) (*gateway, error) {
	tuneRuntime(cfg.Runtime, log)
	if err := mkdirData(cfg.DataDir); err != nil {
		return nil, err
	}
	users, err := login.OpenUsers(usersPath(cfg.DataDir))
	if err != nil {
		return nil, err
	}
	if err := firstAdmin(users, cfg, log); err != nil {
		return nil, err
	}
	secret, err := loadSecret(filepath.Join(cfg.DataDir, "secret"))
	if err != nil {
		return nil, err
	}
	logins, err := login.New(cfg.Auth, users, secret, log)
	if err != nil {
		return nil, err
	}
	bcfg := cfg.BrokerConfig()
	bcfg.Version = version // $SYS/broker/version
	broker, err := mqtt.New(bcfg, log, logins)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), logins, broker)
	g := &gateway{cfg: cfg, flags: flags, log: log, logins: logins, broker: broker, reg: reg}
	g.http, err = ws.New(cfg.HTTPConfig(), log, ws.Deps{
		Login:     logins,
		ServeConn: broker.ServeConn,
		Dashboard: dashboard(),
		Metrics:   promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Healthy:   broker.Healthy,
	})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(g.http)
	g.opener = &hw.Opener{DataDir: cfg.DataDir}
	g.sensors, err = sensors.New(cfg.Sensors, log, broker, cfg.GatewayID, g.opener)
	if err != nil {
		return nil, err
	}
	reg.MustRegister(g.sensors)
	for _, uc := range cfg.Uplinks {
		u, err := uplink.New(uc, log, broker, cfg.GatewayID, cfg.DataDir)
		if err != nil {
			return nil, err
		}
		reg.MustRegister(u)
		g.uplinks = append(g.uplinks, u)
	}
	return g, nil
}

// run runs the parts until ctx is cancelled. The broker starts first and
// stops last, so the other parts can publish their last words.
func (g *gateway) run(ctx context.Context) error {
	brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBroker()
	// The uplinks hook into the broker before it accepts connections, so
	// that every message acknowledged from the first one on reaches them.
	defer func() {
		for _, u := range g.uplinks {
			u.Close() // for a return before they ran; else a no-op
		}
	}()
	for _, u := range g.uplinks {
		if err := u.Open(); err != nil {
			return err
		}
	}
	brokerDone := make(chan error, 1)
	go func() { brokerDone <- g.broker.Run(brokerCtx) }()
	select {
	case <-g.broker.Ready():
	case err := <-brokerDone:
		return err
	case <-ctx.Done():
		stopBroker()
		return <-brokerDone
	}

	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error { return g.http.Run(ectx) })
	eg.Go(func() error { return g.reloadOnHangup(ectx) })
	eg.Go(func() error { return g.sensors.Run(ectx) })
	if a := g.cfg.Debug.PprofAddr; a != "" {
		eg.Go(func() error { return servePprof(ectx, a, g.log) })
	}
	// The uplinks stop after the broker: until then every message the
	// broker acknowledges must still reach their queues.
	upCtx, stopUplinks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUplinks()
	upDone := make(chan error, 1)
	go func() {
		ug := new(errgroup.Group)
		for _, u := range g.uplinks {
			ug.Go(func() error { return u.Run(upCtx) })
		}
		upDone <- ug.Wait()
	}()
	eg.Go(func() error {
		select {
		case err := <-upDone:
			upDone <- err
			return err
		case <-ectx.Done():
			return nil
		}
	})
	eg.Go(func() error {
		select {
		case <-g.http.Ready():
		case <-ectx.Done():
			return nil
		}
		g.log.Info("gateway ready", "gateway_id", g.cfg.GatewayID, "mqtt", g.broker.TCPAddr(), "http", g.http.Addr(), "data_dir", g.cfg.DataDir)
		if err := systemd.Ready(); err != nil {
			g.log.Warn("sd_notify READY failed", "err", err)
		}
		return systemd.Watchdog(ectx, g.broker.Healthy)
	})
	err := eg.Wait()
	if err != nil && ctx.Err() == nil {
		g.log.Error("gateway stopping after an error", "err", err)
	}
	systemd.Stopping()
	g.opener.Close()
	stopBroker()
	select {
	case berr := <-brokerDone:
		err = errors.Join(err, berr)
	case <-time.After(15 * time.Second):
		err = errors.Join(err, errors.New("broker did not stop within 15s"))
	}
	stopUplinks()
	select {
	case uerr := <-upDone:
		err = errors.Join(err, uerr)
	case <-time.After(15 * time.Second):
		err = errors.Join(err, errors.New("uplinks did not stop within 15s"))
	}
	if err == nil {
		g.log.Info("gateway stopped")
	}
	return err
}

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
		g.cfg.Sensors, g.cfg.Roles = cfg.Sensors, cfg.Roles
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

// firstAdmin creates the admin user with a random password on first start.
func firstAdmin(users *login.Users, cfg config.Config, log *slog.Logger) error {
	if users.Len() > 0 {
		return nil
	}
	b := make([]byte, 18)
	rand.Read(b)
	pw := base64.RawURLEncoding.EncodeToString(b)
	path := adminPasswordPath(cfg.DataDir)
	if err := login.WriteFileAtomic(path, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the initial admin password: %w", err)
	}
	if err := users.Add("admin", "admin", pw, cfg.Auth.Iterations); err != nil {
		return fmt.Errorf("create the admin user: %w", err)
	}
	log.Warn("created user admin; its password is in the file named here (change it with `mqttgate user passwd admin`)", "file", path)
	return nil
}

// loadSecret reads the server secret (fake salts for unknown users), or
// makes one.
func loadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := login.WriteFileAtomic(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	return b, nil
}

// tuneRuntime applies the GC settings unless the environment sets them.
func tuneRuntime(r config.Runtime, log *slog.Logger) {
	if r.GOGC > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(r.GOGC)
	}
	if r.MemoryLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(r.MemoryLimitMiB << 20)
		log.Debug("memory limit set", "mib", r.MemoryLimitMiB)
	}
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
	} {
		if !reflect.DeepEqual(c.old, c.new) {
			out = append(out, c.key)
		}
	}
	return out
}
