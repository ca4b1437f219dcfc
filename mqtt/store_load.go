package mqtt

import (
	"encoding/json"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
)

// What the store gives mochi back when the broker starts (mochi's Stored*
// hooks, called once by Server.Serve).

func (s *store) clientIDs() map[string]bool {
	ids := map[string]bool{}
	_ = s.each(bucketClients, func(k, _ []byte) error { ids[string(k)] = true; return nil })
	return ids
}

func (s *store) StoredClients() ([]storage.Client, error) {
	var out []storage.Client
	err := s.each(bucketClients, func(k, v []byte) error {
		var rec storedClient
		if err := json.Unmarshal(v, &rec); err != nil {
			s.log.Warn("store: skipping unreadable session", "client", string(k), "err", err)
			return nil
		}
		if s.sessions != nil {
			s.sessions.restore(rec.ID, rec.User, rec.Role)
		}
		out = append(out, rec.Client)
		return nil
	})
	return out, err
}

func (s *store) StoredSubscriptions() ([]storage.Subscription, error) {
	ids := s.clientIDs()
	var out []storage.Subscription
	err := s.each(bucketSubs, func(k, v []byte) error {
		var sub storage.Subscription
		if err := json.Unmarshal(v, &sub); err != nil || !ids[sub.Client] {
			return nil // orphaned or unreadable: ignore
		}
		out = append(out, sub)
		return nil
	})
	return out, err
}

func (s *store) StoredInflightMessages() ([]storage.Message, error) {
	ids := s.clientIDs()
	var out []storage.Message
	err := s.each(bucketInflight, func(k, v []byte) error {
		var m storedInflight
		if err := json.Unmarshal(v, &m); err != nil || !ids[m.Client] {
			return nil
		}
		if m.ClientPacketID != 0 && s.packetIDs != nil {
			s.packetIDs.restored(m.Client, m.PacketID, m.ClientPacketID)
		}
		out = append(out, m.Message)
		return nil
	})
	return out, err
}

func (s *store) StoredRetainedMessages() ([]storage.Message, error) {
	var out []storage.Message
	err := s.each(bucketRetained, func(k, v []byte) error {
		var m storage.Message
		if err := json.Unmarshal(v, &m); err != nil {
			s.log.Warn("store: skipping unreadable retained message", "topic", string(k), "err", err)
			return nil
		}
		out = append(out, m)
		return nil
	})
	return out, err
}
