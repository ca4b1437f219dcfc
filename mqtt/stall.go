package mqtt

import (
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// watch disconnects connected clients that stay stalled past f.stall: a
// session at the bound without any acknowledgement, or a write queue that
// keeps overflowing. Their persistent sessions keep the messages.
func (f *flowCtl) watch(stop <-chan struct{}) {
	tick := min(max(f.stall/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var kick []*mochi.Client
		now := time.Now()
		f.mu.Lock()
		for cl, st := range f.states {
			if cl.Closed() {
				if !st.congested {
					f.deleteLocked(st)
				}
				continue
			}
			if st.stuck0 && f.wq.ok && !f.wq.halfFull(cl) {
				st.stuck0 = false // drained: wait for it again
			}
			dropping := now.Sub(st.lastDrop) <= 2*tick
			stuck := st.congested && now.Sub(st.progress) >= f.stall
			if !dropping && !st.congested {
				st.since = time.Time{}
				if len(st.parked) == 0 && !st.pumping {
					f.deleteLocked(st)
				}
				continue
			}
			if stuck || (dropping && !st.since.IsZero() && now.Sub(st.since) >= f.stall) {
				kick = append(kick, cl)
				st.since = time.Time{}
			}
		}
		f.mu.Unlock()
		for _, cl := range kick {
			f.kicked.Add(1)
			f.log.Warn("slow client disconnected: it did not keep up with its messages", "client", cl.ID,
				"listener", cl.Net.Listener, "addr", cl.Net.Remote, "backlog", cl.State.Inflight.Len(), "limit", f.stall)
			// Stop closes the connection without writing to it: a
			// DISCONNECT would wait behind the stalled writes.
			cl.Stop(packets.ErrQuotaExceeded)
		}
	}
}
