package mqtt

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
)

// mq is a small MQTT 3.1.1/5 client for load tests: unlike raw it returns
// errors instead of failing the test, so goroutines may use it, and it
// gives full control over reading (a subscriber can stall).
type mq struct {
	conn net.Conn
	r    *bufio.Reader
	v    byte
	wmu  sync.Mutex
}

// dialMQ connects as user (password "pw-"+user) and waits for CONNACK 0.
// rcvbuf > 0 shrinks the socket's receive buffer first.
func dialMQ(addr, id, user string, v byte, clean bool, rcvbuf int) (*mq, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if rcvbuf > 0 {
		_ = c.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	m := &mq{conn: c, r: bufio.NewReader(c), v: v}
	pk := connectPacket(id, user, "pw-"+user, v)
	pk.Connect.Clean = clean
	pk.Connect.Keepalive = 60
	if v == 5 && !clean {
		pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 3600, true
	}
	if err := m.write(pk); err != nil {
		c.Close()
		return nil, err
	}
	ack, err := m.read(10 * time.Second)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connack: %w", err)
	}
	if ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		c.Close()
		return nil, fmt.Errorf("connect refused: type %d code %#x", ack.FixedHeader.Type, ack.ReasonCode)
	}
	return m, nil
}

func (m *mq) close() { _ = m.conn.Close() }

func (m *mq) write(pk packets.Packet) error {
	pk.ProtocolVersion = m.v
	b, err := gatetest.Encode(pk)
	if err != nil {
		return err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	_ = m.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	_, err = m.conn.Write(b)
	return err
}

// read reads one packet within timeout.
func (m *mq) read(timeout time.Duration) (packets.Packet, error) {
	_ = m.conn.SetReadDeadline(time.Now().Add(timeout))
	return gatetest.ReadPacket(m.r, m.v)
}

func (m *mq) subscribe(filter string, qos byte) error {
	err := m.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}},
	})
	if err != nil {
		return err
	}
	pk, err := m.read(10 * time.Second)
	if err != nil {
		return err
	}
	if pk.FixedHeader.Type != packets.Suback || len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] != qos {
		return fmt.Errorf("subscribe %s: got type %d codes %v", filter, pk.FixedHeader.Type, pk.ReasonCodes)
	}
	return nil
}

// errRefused is a PUBACK with a failure reason code.
var errRefused = errors.New("publish refused")

// publish1 sends a QoS 1 message and waits for its PUBACK. The connection
// carries nothing else (publishers do not subscribe).
func (m *mq) publish1(topic string, payload []byte, id uint16) error {
	err := m.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: id,
		TopicName: topic, Payload: payload,
	})
	if err != nil {
		return err
	}
	pk, err := m.read(60 * time.Second)
	if err != nil {
		return err
	}
	if pk.FixedHeader.Type != packets.Puback || pk.PacketID != id {
		return fmt.Errorf("want PUBACK %d, got type %d id %d", id, pk.FixedHeader.Type, pk.PacketID)
	}
	if pk.ReasonCode >= 0x80 {
		return fmt.Errorf("%w: reason %#x", errRefused, pk.ReasonCode)
	}
	return nil
}

func (m *mq) publish0(topic string, payload []byte) error {
	return m.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: payload})
}

func (m *mq) puback(id uint16) error {
	return m.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 10*time.Second) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
