package ws

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mqttgate/login"

	"mqttgate/gatetest"
)

// adapterPeer is a loopback WebSocket server whose accepted connections are
// wrapped in Conn and handed to the test.
type adapterPeer struct {
	srv   *httptest.Server
	conns chan *Conn
}

func newAdapterPeer(tb testing.TB, o connOptions) *adapterPeer {
	p := &adapterPeer{conns: make(chan *Conn, 1)}
	up := websocket.Upgrader{Subprotocols: []string{"mqtt"}, WriteBufferPool: newPool()}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		p.conns <- newConn(wc, wc.RemoteAddr(), o)
	}))
	tb.Cleanup(p.srv.Close)
	return p
}

// dial returns the client end and the server's Conn.
func (p *adapterPeer) dial(tb testing.TB) (*websocket.Conn, *Conn) {
	tb.Helper()
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(p.srv.URL, "http"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	select {
	case sc := <-p.conns:
		return c, sc
	case <-time.After(20 * time.Second):
		tb.Fatal("no server conn")
		return nil, nil
	}
}

// FuzzConnStream sends data split into messages at arbitrary points (cut
// lengths, 0 = an empty message) and checks the Conn reads exactly data.
func FuzzConnStream(f *testing.F) {
	f.Add([]byte{0x10, 0x02, 0x00, 0x04}, []byte{1})
	f.Add(gatetest.PublishFrame("a/b", []byte("hello")), []byte{0, 3, 200})
	f.Add(bytes.Repeat(gatetest.PublishFrame("t", []byte("x")), 50), []byte{255})
	p := newAdapterPeer(f, connOptions{writeTimeout: 10 * time.Second, readLimit: 1 << 20})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		c, sc := p.dial(t)
		defer sc.Close()
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(sc) // a normal close reads as EOF
			got <- b
		}()
		// The cuts give the first messages' lengths (at most 64 of them,
		// so a list of zeros cannot loop forever); the rest goes in one.
		rest := data
		for i := 0; len(rest) > 0 || (i < len(cuts) && i < 8); i++ {
			n := len(rest)
			if len(cuts) > 0 && i < 64 {
				n = min(int(cuts[i%len(cuts)]), len(rest))
			}
			if err := c.WriteMessage(websocket.BinaryMessage, rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		select {
		case b := <-got:
			if !bytes.Equal(b, data) {
				t.Fatalf("read %x, sent %x", b, data)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("read did not finish")
		}
		c.Close()
	})
}

// FuzzParseChallengeRequest: the parser never panics and accepts only valid
// user names that the body really carries.
func FuzzParseChallengeRequest(f *testing.F) {
	f.Add("application/json", []byte(`{"username":"alice"}`))
	f.Add("application/json; charset=utf-8", []byte(`{"username":"bob@example"}`))
	f.Add("application/json", []byte(`{"username":"a/b"}`))
	f.Add("text/plain", []byte(`{"username":"alice"}`))
	f.Add("application/json", []byte(`{"username":"alice"} x`))
	f.Add("application/json", []byte(`{"username":"\u0061lice","x":[1,2]}`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		user, err := parseChallengeRequest(ctype, body)
		if err != nil {
			if user != "" || err.Error() == "" {
				t.Fatalf("error %v with user %q", err, user)
			}
			return
		}
		if verr := login.ValidateName(user); verr != nil {
			t.Fatalf("accepted invalid name %q: %v", user, verr)
		}
		var m struct{ Username string }
		if json.Unmarshal(body, &m) != nil && !strings.Contains(string(body), user) {
			t.Fatalf("accepted %q from %q", user, body)
		}
	})
}
