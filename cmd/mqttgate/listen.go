package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"mqttgate/config"
	"mqttgate/login"
)

// listeners are the gateway's sockets, bound before anything is created on
// disk: a port in use stops the start with nothing changed. A nil field is
// a listener the configuration leaves off.
type listeners struct {
	mqtt, mqttTLS, http, pprof net.Listener
}

// bindListeners binds every listener of cfg (port 0 picks a free port). An
// error names the listener, the address and the flag or key that moves it;
// the listeners bound so far are closed.
func bindListeners(cfg config.Config) (*listeners, error) {
	ls := &listeners{}
	for _, b := range []struct {
		name, addr, moveWith string
		dst                  *net.Listener
	}{
		{"mqtt", cfg.MQTT.TCPAddr, "--mqtt-addr or mqtt.addr", &ls.mqtt},
		{"mqtt tls", cfg.MQTT.TLSAddr, "mqtt.tls_addr", &ls.mqttTLS},
		{"http", cfg.HTTP.Addr, "--http-addr or http.addr", &ls.http},
		{"pprof", cfg.Debug.PprofAddr, "debug.pprof_addr", &ls.pprof},
	} {
		if b.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", b.addr)
		if err != nil {
			ls.close()
			return nil, listenError(b.name, b.addr, b.moveWith, err)
		}
		*b.dst = l
	}
	return ls, nil
}

// listenError is "mqtt listener 0.0.0.0:1883: address already in use (move
// it with --mqtt-addr or mqtt.addr)": the system's reason without Go's
// "listen tcp" prefix that repeats the address.
func listenError(name, addr, moveWith string, err error) error {
	var why error = err
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		why = sys.Err
	}
	return fmt.Errorf("%s listener %s: %w (move it with %s)", name, addr, why, moveWith)
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.mqtt, ls.mqttTLS, ls.http, ls.pprof} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// boundAddrs are the addresses the listeners got, as logged and as written
// to the --addr-file.
type boundAddrs struct {
	MQTT    string `json:"mqtt,omitempty"`
	MQTTTLS string `json:"mqtt_tls,omitempty"`
	HTTP    string `json:"http,omitempty"`
	Pprof   string `json:"pprof,omitempty"`
}

func (ls *listeners) addrs() boundAddrs {
	s := func(l net.Listener) string {
		if l == nil {
			return ""
		}
		return l.Addr().String()
	}
	return boundAddrs{MQTT: s(ls.mqtt), MQTTTLS: s(ls.mqttTLS), HTTP: s(ls.http), Pprof: s(ls.pprof)}
}

// logAttrs are the addresses as log fields, one per listener that is on.
func (a boundAddrs) logAttrs() []any {
	var out []any
	for _, f := range []struct{ k, v string }{{"mqtt", a.MQTT}, {"mqtt_tls", a.MQTTTLS}, {"http", a.HTTP}, {"pprof", a.Pprof}} {
		if f.v != "" {
			out = append(out, f.k, f.v)
		}
	}
	return out
}

// writeFile writes the addresses as one JSON object, atomically: a reader
// sees no file or the whole file.
func (a boundAddrs) writeFile(path string) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := login.WriteFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("addr file: %w", err)
	}
	return nil
}
