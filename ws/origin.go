package ws

import (
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// originAllowed reports whether a browser Origin may open /mqtt: one of
// Config.AllowedOrigins, or an origin that names this gateway: the
// server's scheme, its listening port, and as host one of its own names
// or addresses (ownHost). The Host header plays no part: with DNS
// rebinding an attacker's page sends Host and Origin both naming the
// attacker's domain, which resolves to the gateway. Behind a reverse
// proxy, list the proxy's public origin in allowed_origins.
func (s *Server) originAllowed(origin string) bool {
	o, err := normalizeOrigin(origin)
	if err != nil {
		return false
	}
	if s.origins[o] {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	scheme := "http"
	if s.certs != nil {
		scheme = "https"
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme == scheme && port == s.listenPort() && s.ownHost(u.Hostname())
}

// listenPort is the port the server listens on.
func (s *Server) listenPort() string {
	addr := s.cfg.Addr
	if a := s.Addr(); a != nil {
		addr = a.String()
	}
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// ownHost reports whether host (a name or an address) is this gateway: an
// address it listens on (any of the machine's when it listens on all), a
// loopback name or address when it listens there, the machine's host name
// (and NAME.local), or a name or address in the serving certificate.
func (s *Server) ownHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	listen, _, _ := net.SplitHostPort(s.cfg.Addr)
	lip, lerr := netip.ParseAddr(listen)
	all := listen == "" || (lerr == nil && lip.IsUnspecified())
	loop := all || isLoopbackHost(listen)
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap().WithZone("")
		switch {
		case ip.IsLoopback():
			return loop
		case lerr == nil && ip == lip.Unmap():
			return true
		case all && isInterfaceAddr(ip):
			return true
		}
		return s.inCertificate(host)
	}
	if host == "localhost" {
		return loop
	}
	if h, err := os.Hostname(); err == nil {
		h = strings.ToLower(h)
		if host == h || host == h+".local" {
			return true
		}
	}
	return s.inCertificate(host)
}

// inCertificate reports whether host is a DNS name or IP address of the
// serving certificate (exact names; wildcards are not trusted here).
func (s *Server) inCertificate(host string) bool {
	if s.certs == nil {
		return false
	}
	leaf := s.certs.current().Leaf
	if leaf == nil {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		for _, c := range leaf.IPAddresses {
			if a, ok := netip.AddrFromSlice(c); ok && a.Unmap() == ip.Unmap() {
				return true
			}
		}
		return false
	}
	for _, n := range leaf.DNSNames {
		if strings.EqualFold(n, host) {
			return true
		}
	}
	return false
}

// isInterfaceAddr reports whether ip is an address of one of the machine's
// network interfaces now (addresses come and go with DHCP, so this is not
// cached).
func isInterfaceAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
