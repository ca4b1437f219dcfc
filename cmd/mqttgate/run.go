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
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"mqttgate/config"
	"mqttgate/history"
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
	addrFile string
}

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f runFlags
	fs := newFlagSet("run", "run [-c FILE] [--data-dir DIR] [--mqtt-addr HOST:PORT] [--http-addr HOST:PORT] [--http-tls auto|on|off] [--addr-file FILE]")
	f.register(fs)
	fs.StringVar(&f.mqttAddr, "mqtt-addr", "", "MQTT TCP listener `HOST:PORT` (overrides mqtt.addr)")
	fs.StringVar(&f.httpAddr, "http-addr", "", "HTTP(S) listener `HOST:PORT` (overrides http.addr)")
	fs.StringVar(&f.httpTLS, "http-tls", "", "HTTP TLS `MODE`: auto, on or off (overrides http.tls)")
	fs.StringVar(&f.addrFile, "addr-file", "", "write the bound listener addresses as JSON to `FILE` once the gateway is ready (for port 0)")
	pos, err := parse(fs, args, stdout, stderr)
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
	// Bind first: a port in use stops the start before anything is created
	// in the data dir.
	ls, err := bindListeners(cfg)
	if err != nil {
		return err
	}
	defer ls.close()
	g, err := newGateway(cfg, f.common, log)
	if err != nil {
		return err
	}
	g.hup = hup
	g.reloadConfig = f.config
	g.addrFile = f.addrFile
	return g.run(ctx, ls)
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
	history *history.Recorder // nil when history is off
	opener  *hw.Opener
	reg     *prometheus.Registry
	hup     chan os.Signal
	// addrFile is --addr-file: where to write the bound addresses.
	addrFile string
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
	if cfg.History.On() {
		if g.history, err = history.New(cfg.History, log.With("component", "history"), cfg.DataDir); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Shutdown steps, in order, each with its own timeout; together they stay
// under the unit's TimeoutStopSec (30s).
const (
	frontStopTimeout  = 8 * time.Second  // http, sensors, pprof, watchdog
	brokerStopTimeout = 15 * time.Second // clients told, store committed
	uplinkStopTimeout = 5 * time.Second  // uplink queues are on disk; history writes its last interval
)

// run runs the parts on ls until ctx is cancelled or a part fails, then
// stops them in order: the parts that use the broker first, then the
// broker, so they can publish their last words, then the uplinks and the
// history recorder, so that every message the broker acknowledged reaches
// their queues and files.
func (g *gateway) run(ctx context.Context, ls *listeners) error {
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
	unhook, err := g.hookHistory()
	if err != nil {
		return err
	}
	defer unhook()
	eg, ectx := errgroup.WithContext(ctx)
	front := newStage(ectx, frontStopTimeout)
	broker := newStage(context.WithoutCancel(ctx), brokerStopTimeout)
	uplinks := newStage(context.WithoutCancel(ctx), uplinkStopTimeout)
	broker.goPart(eg, "broker", func(c context.Context) error {
		return g.broker.Serve(c, mqtt.Listeners{TCP: ls.mqtt, TLS: ls.mqttTLS})
	})
	for _, u := range g.uplinks {
		uplinks.goPart(eg, "uplink "+u.Origin(), u.Run)
	}
	if g.history != nil { // writes what the broker took until it stopped
		uplinks.goPart(eg, "history", g.history.Run)
	}
	front.goPart(eg, "start", func(c context.Context) error {
		select {
		case <-g.broker.Ready():
		case <-c.Done():
			return nil
		}
		g.startFront(eg, front, ls)
		return nil
	})
	eg.Go(func() error {
		<-ectx.Done()
		systemd.Stopping()
		front.stopAndWait()
		g.opener.Close()
		broker.stopAndWait()
		uplinks.stopAndWait()
		return nil
	})
	err = eg.Wait()
	if err != nil && ctx.Err() == nil {
		g.log.Error("gateway stopping after an error", "err", err)
	}
	if g.addrFile != "" {
		_ = os.Remove(g.addrFile) // the addresses are no longer served
	}
	if err == nil {
		g.log.Info("gateway stopped")
	}
	return err
}

// startFront starts the parts that need a serving broker, and says the
// gateway is ready once the HTTP server serves too.
func (g *gateway) startFront(eg *errgroup.Group, front *stage, ls *listeners) {
	front.goPart(eg, "http", func(c context.Context) error { return g.http.Serve(c, ls.http) })
	front.goPart(eg, "reload", g.reloadOnHangup)
	front.goPart(eg, "sensors", g.sensors.Run)
	if ls.pprof != nil {
		front.goPart(eg, "pprof", func(c context.Context) error { return servePprof(c, ls.pprof, g.log) })
	}
	front.goPart(eg, "ready", func(c context.Context) error {
		select {
		case <-g.http.Ready():
		case <-c.Done():
			return nil
		}
		addrs := ls.addrs()
		g.log.Info("gateway ready", append(append([]any{"gateway_id", g.cfg.GatewayID}, addrs.logAttrs()...), "data_dir", g.cfg.DataDir)...)
		if g.addrFile != "" {
			if err := addrs.writeFile(g.addrFile); err != nil {
				return err
			}
		}
		if err := systemd.Ready(); err != nil {
			g.log.Warn("sd_notify READY failed", "err", err)
		}
		return systemd.Watchdog(c, g.broker.Healthy)
	})
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
