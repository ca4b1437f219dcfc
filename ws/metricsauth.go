package ws

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"mqttgate/field"
	"mqttgate/login"
)

// MetricsAuth guards /metrics. With no token and no roles (the default)
// /metrics is open: it holds counts only, and its login failures do not
// tell unknown user names from known ones. Set it when the HTTP port is
// reachable from networks you do not trust.
type MetricsAuth struct {
	// BearerToken, or the first line of BearerTokenFile, is a token a
	// scraper sends as "Authorization: Bearer TOKEN" (Prometheus:
	// authorization: {credentials_file: ...}). At least 16 characters.
	BearerToken     string `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// Roles lets users with one of these roles scrape with HTTP Basic
	// authentication and their password (Prometheus: basic_auth). Failed
	// attempts count for the blocked list like any login.
	Roles []string `yaml:"roles"`
}

// minTokenLen is the shortest bearer token accepted.
const minTokenLen = 16

// enabled reports whether /metrics asks for credentials.
func (m MetricsAuth) enabled() bool {
	return m.BearerToken != "" || m.BearerTokenFile != "" || len(m.Roles) > 0
}

// validate reports problems that need no file access.
func (m MetricsAuth) validate() []error {
	var errs []error
	if m.BearerToken != "" && m.BearerTokenFile != "" {
		errs = append(errs, field.Errorf("metrics_auth.bearer_token_file", "set bearer_token or bearer_token_file, not both"))
	}
	if m.BearerToken != "" && len(m.BearerToken) < minTokenLen {
		errs = append(errs, field.Errorf("metrics_auth.bearer_token", "%d characters is too short; use at least %d (e.g. openssl rand -hex 24)", len(m.BearerToken), minTokenLen))
	}
	for i, r := range m.Roles {
		if strings.TrimSpace(r) == "" {
			errs = append(errs, field.Errorf(field.Index("metrics_auth.roles", i), "is an empty role name; name a role such as admin"))
		}
	}
	return errs
}

// token returns the configured bearer token ("" for none).
func (m MetricsAuth) token() (string, error) {
	if m.BearerTokenFile == "" {
		return m.BearerToken, nil
	}
	b, err := os.ReadFile(m.BearerTokenFile)
	if err != nil {
		return "", fmt.Errorf("ws: metrics_auth.bearer_token_file: %w", err)
	}
	t, _, _ := strings.Cut(string(b), "\n")
	t = strings.TrimSpace(t)
	if len(t) < minTokenLen {
		return "", fmt.Errorf("ws: metrics_auth.bearer_token_file %s: the token is %d characters; use at least %d", m.BearerTokenFile, len(t), minTokenLen)
	}
	return t, nil
}

// metricsGuard wraps h with the checks of MetricsAuth. New has checked
// that the token file reads; if it no longer does, only users get in.
func (s *Server) metricsGuard(h http.Handler) http.Handler {
	ma := s.cfg.MetricsAuth
	if !ma.enabled() {
		return h
	}
	var tokenSum []byte // SHA-256 of the bearer token; nil for none
	if tok, err := ma.token(); err != nil {
		s.log.Error("metrics bearer token unreadable; only users may scrape", "err", err)
	} else if tok != "" {
		sum := sha256.Sum256([]byte(tok))
		tokenSum = sum[:]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tokenSum != nil {
			sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			if subtle.ConstantTimeCompare(sum[:], tokenSum) == 1 {
				h.ServeHTTP(w, r)
				return
			}
			s.metricsRefused(w, r, http.StatusUnauthorized, "wrong bearer token")
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok || len(ma.Roles) == 0 {
			s.metricsRefused(w, r, http.StatusUnauthorized, "credentials required")
			return
		}
		addr := s.clientAddr(r)
		u, err := s.deps.Login.CheckPassword(user, "metrics", pass, addr, true)
		var be *login.BlockedError
		switch {
		case errors.As(err, &be):
			w.Header().Set("Retry-After", retryAfter(be.RetryAfter))
			s.metricsRefused(w, r, http.StatusTooManyRequests, be.Error())
		case errors.Is(err, login.ErrBusy):
			w.Header().Set("Retry-After", "5")
			s.metricsRefused(w, r, http.StatusServiceUnavailable, "busy; try again")
		case err != nil:
			s.metricsRefused(w, r, http.StatusUnauthorized, "authentication failed")
		case !slices.Contains(ma.Roles, u.Role):
			s.metricsRefused(w, r, http.StatusForbidden, "role "+u.Role+" may not read /metrics")
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func (s *Server) metricsRefused(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.log.Info("metrics request refused", "addr", s.clientAddr(r), "status", status, "reason", msg)
	if status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `Bearer realm="mqttgate metrics"`)
		if len(s.cfg.MetricsAuth.Roles) > 0 {
			w.Header().Add("WWW-Authenticate", `Basic realm="mqttgate metrics", charset="UTF-8"`)
		}
	}
	httpError(w, status, msg)
}
