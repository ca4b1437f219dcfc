package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Buckets of the store file.
var (
	bucketClients  = []byte("clients")  // client id -> storedClient JSON
	bucketSubs     = []byte("subs")     // client id NUL filter -> storage.Subscription JSON
	bucketInflight = []byte("inflight") // client id NUL packet id -> storage.Message JSON
	bucketRetained = []byte("retained") // topic -> storage.Message JSON
	allBuckets     = [][]byte{bucketClients, bucketSubs, bucketInflight, bucketRetained}
)

// storedClient is a session record: mochi's, plus who logged in and with
// which role, so that the session's access rules hold after a restart.
type storedClient struct {
	storage.Client
	User string `json:"mqttgate_user"`
	Role string `json:"mqttgate_role"`
}

// restoredAccess is what a stored session brings back for the ACL.
type restoredAccess struct{ user, role string }

// change is one pending write; a nil value deletes the key.
type change struct {
	bucket []byte
	key    string
	value  []byte
}

// store is a mochi storage hook on bbolt. With interval 0 every change is
// committed (fsynced) before the call that made it returns; the changes of
// concurrent callers are committed together (group commit: one committer
// goroutine takes everything pending whenever it is idle, so a lone
// change waits for nothing but its own fsync). Otherwise changes are
// gathered in memory and committed together once per interval (and at
// Stop). Only persistent sessions are stored: a clean session ends with
// its connection, so its subscriptions and in-flight messages cost no
// write.
type store struct {
	mochi.HookBase
	db       *bbolt.DB
	interval time.Duration
	log      *slog.Logger
	roleOf   func(cl *mochi.Client) (user, role string)

	mu      sync.Mutex
	pending map[string]change // bucket NUL key -> change
	synced  chan struct{}     // closed when pending is committed (interval 0)
	closed  bool
	kick    chan struct{} // wakes the committer (interval 0)
	stop    chan struct{}
	done    chan struct{}

	restored map[string]restoredAccess // filled by StoredClients

	commits atomic.Int64
	errs    atomic.Int64
}

var _ mochi.Hook = (*store)(nil)

func openStore(path string, interval time.Duration, log *slog.Logger) (*store, error) {
	// NoFreelistSync: the free list is rebuilt at open instead of being
	// written at every commit (one page write less per message).
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("mqtt: open store %s: file is locked (is another mqttgate running on this data dir?)", path)
		}
		return nil, fmt.Errorf("mqtt: open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("mqtt: init store %s: %w", path, err)
	}
	s := &store{db: db, interval: interval, log: log, pending: map[string]change{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		restored: map[string]restoredAccess{}}
	if interval > 0 {
		go s.flushLoop()
	} else {
		go s.commitLoop()
	}
	return s, nil
}

func (s *store) ID() string { return "mqttgate-store" }

// Provides is asked by mochi at every hook call (a switch: no allocation).
func (s *store) Provides(b byte) bool {
	switch b {
	case mochi.OnSessionEstablished, mochi.OnDisconnect, mochi.OnSubscribed, mochi.OnUnsubscribed,
		mochi.OnRetainMessage, mochi.OnWillSent, mochi.OnQosPublish, mochi.OnQosComplete,
		mochi.OnQosDropped, mochi.OnClientExpired, mochi.OnRetainedExpired,
		mochi.StoredClients, mochi.StoredInflightMessages, mochi.StoredRetainedMessages,
		mochi.StoredSubscriptions:
		return true
	}
	return false
}

func (s *store) Init(any) error { return nil }

// Stop commits what is pending and closes the file.
func (s *store) Stop() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	err := s.flush(true)
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *store) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.flush(false); err != nil {
				s.log.Error("store commit failed", "err", err)
			}
		}
	}
}

// commitLoop is the group committer of interval 0.
func (s *store) commitLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		if err := s.flush(false); err != nil {
			s.log.Error("store commit failed", "err", err)
		}
	}
}

// flush commits the pending changes in one transaction and releases the
// callers waiting for them; final marks the store closed in the same step,
// so that no later change waits for a commit that never comes.
func (s *store) flush(final bool) error {
	s.mu.Lock()
	batch, synced := s.pending, s.synced
	s.pending, s.synced = map[string]change{}, nil
	if final {
		s.closed = true
	}
	s.mu.Unlock()
	if synced != nil {
		defer close(synced)
	}
	if len(batch) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, c := range batch {
			if err := apply(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	s.commits.Add(1)
	if err != nil {
		s.errs.Add(1)
		return fmt.Errorf("mqtt: store commit: %w", err)
	}
	return nil
}

func apply(tx *bbolt.Tx, c change) error {
	b := tx.Bucket(c.bucket)
	if c.value == nil {
		return b.Delete([]byte(c.key))
	}
	return b.Put([]byte(c.key), c.value)
}

// write records one change. With interval 0 it returns once the change is
// committed, if wait is set (otherwise it goes with the next commit);
// with an interval, at once (the change goes with the next flush).
func (s *store) write(c change, wait bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.pending[string(c.bucket)+"\x00"+c.key] = c
	if s.interval > 0 {
		s.mu.Unlock()
		return
	}
	if s.synced == nil {
		s.synced = make(chan struct{})
	}
	synced := s.synced
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if wait {
		<-synced
	}
}

func (s *store) put(bucket []byte, key string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.errs.Add(1)
		s.log.Error("store encode failed", "bucket", string(bucket), "err", err)
		return
	}
	s.write(change{bucket: bucket, key: key, value: data}, true)
}

func (s *store) del(bucket []byte, key string) {
	s.write(change{bucket: bucket, key: key}, true)
}

// persistent reports whether cl's session outlives its connection (as
// mochi decides at disconnect); only those are stored.
func persistent(cl *mochi.Client) bool {
	if cl.Net.Inline {
		return false
	}
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

func subKey(id, filter string) string { return id + "\x00" + filter }
func inflightKey(id string, pid uint16) string {
	return id + "\x00" + strconv.Itoa(int(pid))
}

func (s *store) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) { s.saveClient(cl) }
func (s *store) OnWillSent(cl *mochi.Client, _ packets.Packet)           { s.saveClient(cl) }

func (s *store) saveClient(cl *mochi.Client) {
	if cl.Net.Inline {
		return
	}
	if !persistent(cl) {
		// A clean session replaces a stored one of the same id; its
		// subscriptions and messages are ignored once the record is gone.
		if s.has(bucketClients, cl.ID) {
			s.del(bucketClients, cl.ID)
		}
		return
	}
	p := cl.Properties.Props
	rec := storedClient{Client: storage.Client{
		ID: cl.ID, T: storage.ClientKey, Remote: cl.Net.Remote, Listener: cl.Net.Listener,
		Username: cl.Properties.Username, Clean: cl.Properties.Clean, ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval: p.SessionExpiryInterval, SessionExpiryIntervalFlag: p.SessionExpiryIntervalFlag,
			AuthenticationMethod: p.AuthenticationMethod, RequestProblemInfo: p.RequestProblemInfo,
			RequestProblemInfoFlag: p.RequestProblemInfoFlag, RequestResponseInfo: p.RequestResponseInfo,
			ReceiveMaximum: p.ReceiveMaximum, TopicAliasMaximum: p.TopicAliasMaximum, User: p.User,
			MaximumPacketSize: p.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	}}
	if s.roleOf != nil {
		rec.User, rec.Role = s.roleOf(cl)
	}
	s.put(bucketClients, cl.ID, rec)
}

func (s *store) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	if cl.Net.Inline || !expire || cl.StopCause() == packets.ErrSessionTakenOver {
		return
	}
	// A clean session has no record, unless an MQTT 5 client set its
	// expiry to 0 at DISCONNECT; look before paying for a commit.
	if persistent(cl) || s.has(bucketClients, cl.ID) {
		s.del(bucketClients, cl.ID)
	}
}

// OnClientExpired deletes the session record first (durably); its
// subscriptions and messages, orphaned from then on, go with the next
// commit.
func (s *store) OnClientExpired(cl *mochi.Client) {
	s.del(bucketClients, cl.ID)
	for f := range cl.State.Subscriptions.GetAll() {
		s.write(change{bucket: bucketSubs, key: subKey(cl.ID, f)}, false)
	}
	for _, pk := range cl.State.Inflight.GetAll(false) {
		s.write(change{bucket: bucketInflight, key: inflightKey(cl.ID, pk.PacketID)}, false)
	}
}

func (s *store) OnSubscribed(cl *mochi.Client, pk packets.Packet, codes []byte) {
	if !persistent(cl) {
		return
	}
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= packets.ErrUnspecifiedError.Code {
			continue
		}
		s.put(bucketSubs, subKey(cl.ID, f.Filter), storage.Subscription{
			ID: subKey(cl.ID, f.Filter), T: storage.SubscriptionKey, Client: cl.ID, Qos: codes[i],
			Filter: f.Filter, Identifier: f.Identifier, NoLocal: f.NoLocal,
			RetainHandling: f.RetainHandling, RetainAsPublished: f.RetainAsPublished,
		})
	}
}

func (s *store) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	if !persistent(cl) {
		return
	}
	for _, f := range pk.Filters {
		s.del(bucketSubs, subKey(cl.ID, f.Filter))
	}
}

func message(t, id, client string, pk packets.Packet, sent int64) storage.Message {
	p := pk.Properties
	return storage.Message{
		ID: id, T: t, Client: client, Origin: pk.Origin, FixedHeader: pk.FixedHeader,
		TopicName: pk.TopicName, Payload: pk.Payload, Sent: sent, Created: pk.Created, PacketID: pk.PacketID,
		Properties: storage.MessageProperties{
			PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag,
			MessageExpiryInterval: p.MessageExpiryInterval, ContentType: p.ContentType,
			ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData,
			SubscriptionIdentifier: p.SubscriptionIdentifier, User: p.User,
		},
	}
}

func (s *store) OnRetainMessage(cl *mochi.Client, pk packets.Packet, r int64) {
	if r == -1 {
		s.del(bucketRetained, pk.TopicName)
		return
	}
	s.put(bucketRetained, pk.TopicName, message(storage.RetainedKey, pk.TopicName, cl.ID, pk, 0))
}

func (s *store) OnRetainedExpired(topic string) { s.del(bucketRetained, topic) }

func (s *store) OnQosPublish(cl *mochi.Client, pk packets.Packet, sent int64, _ int) {
	if !persistent(cl) {
		return
	}
	k := inflightKey(cl.ID, pk.PacketID)
	s.put(bucketInflight, k, message(storage.InflightKey, k, cl.ID, pk, sent))
}

// OnQosComplete forgets a delivered message without waiting for the
// commit: should it be lost, the message is only sent once more.
func (s *store) OnQosComplete(cl *mochi.Client, pk packets.Packet) {
	if !persistent(cl) {
		return
	}
	s.write(change{bucket: bucketInflight, key: inflightKey(cl.ID, pk.PacketID)}, false)
}

func (s *store) OnQosDropped(cl *mochi.Client, pk packets.Packet) { s.OnQosComplete(cl, pk) }

// each calls fn for every value in bucket.
func (s *store) each(bucket []byte, fn func(k, v []byte) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(fn)
	})
}

func (s *store) has(bucket []byte, key string) bool {
	found := false
	_ = s.db.View(func(tx *bbolt.Tx) error {
		found = tx.Bucket(bucket).Get([]byte(key)) != nil
		return nil
	})
	return found
}

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
		s.restored[rec.ID] = restoredAccess{user: rec.User, role: rec.Role}
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
		var m storage.Message
		if err := json.Unmarshal(v, &m); err != nil || !ids[m.Client] {
			return nil
		}
		out = append(out, m)
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
