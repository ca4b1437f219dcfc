package mqtt

import (
	"sync"
	"sync/atomic"
)

// interceptors holds the Intercept callbacks. run reads them without a
// lock (a copy-on-write slice); add and remove are safe for concurrent
// use.
type interceptors struct {
	mu     sync.Mutex // serialises add and remove
	list   atomic.Pointer[[]interceptor]
	nextID atomic.Int64
}

type interceptor struct {
	id int64
	fn func(origin, topic string, payload []byte, retain bool, qos byte) error
}

// Intercept adds fn, called synchronously for every message the broker
// accepts (from network clients after the access check, and from Publish)
// before the publisher is acknowledged. An error refuses the message: MQTT
// 5 publishers of QoS 1/2 get PUBACK/PUBREC 0x83 with the error as reason
// string; MQTT 3 publishers are acknowledged and the message dropped. The
// returned func removes fn.
func (b *Broker) Intercept(fn func(origin, topic string, payload []byte, retain bool, qos byte) error) func() {
	return b.intercepts.add(fn)
}

func (is *interceptors) add(fn func(origin, topic string, payload []byte, retain bool, qos byte) error) func() {
	id := is.nextID.Add(1)
	is.mu.Lock()
	defer is.mu.Unlock()
	var cur []interceptor
	if p := is.list.Load(); p != nil {
		cur = *p
	}
	next := append(append([]interceptor(nil), cur...), interceptor{id: id, fn: fn})
	is.list.Store(&next)
	var once sync.Once
	return func() { once.Do(func() { is.remove(id) }) }
}

func (is *interceptors) remove(id int64) {
	is.mu.Lock()
	defer is.mu.Unlock()
	var out []interceptor
	for _, ic := range *is.list.Load() {
		if ic.id != id {
			out = append(out, ic)
		}
	}
	is.list.Store(&out)
}

// run calls the interceptors in order and returns the first error.
func (is *interceptors) run(origin, topic string, payload []byte, retain bool, qos byte) error {
	p := is.list.Load()
	if p == nil {
		return nil
	}
	for _, ic := range *p {
		if err := ic.fn(origin, topic, payload, retain, qos); err != nil {
			return err
		}
	}
	return nil
}
