package nat

import (
	"sync"

	"github.com/xvs-project/xvs/scheduler"
)

// Persistence templates, as IPVS keeps them for a virtual service with
// persistence_timeout: a template ties a client (its address masked by
// persistence_granularity) to the real server its first connection got, so
// that its later connections go to the same server while the template
// lives. A template lives while connections made through it live, and for
// the persistence timeout after the last of them was made or ended. A
// quiesced server (weight 0) keeps its persistent clients; a server no
// longer in the service, or one health checks took out (Counts.Down), does
// not.

// tmplKey names a template: the masked client address, the virtual
// service's address and port, and the protocol.
type tmplKey struct {
	client [4]byte
	vip    [4]byte
	vport  uint16
	proto  uint8
	zero   uint8
}

// tmpl is a template: the real server and its registry number, when it
// ends, and how many live connections it controls.
type tmpl struct {
	real    [4]byte
	rport   uint16
	dest    uint32
	expires int64
	conns   int32
}

// tmplShard is one locked part of the template table. Lock order: a
// connection shard's lock may be held while taking a template shard's lock,
// never the other way round.
type tmplShard struct {
	mu sync.Mutex
	m  map[tmplKey]tmpl
	_  [64]byte
}

// mask keeps the first bits bits of a (bits 0 or ≥ 32: all of it).
func mask(a [4]byte, bits uint8) [4]byte {
	if bits == 0 || bits >= 32 {
		return a
	}
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v &= ^uint32(0) << (32 - bits)
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func (t *Table) tmplShardFor(k *tmplKey) *tmplShard {
	h := uint32(k.client[0]) | uint32(k.client[1])<<8 | uint32(k.client[2])<<16 | uint32(k.client[3])<<24
	h ^= uint32(k.vport) << 7
	h *= 0x9E3779B1
	return &t.tmpls[h>>(32-8)]
}

// persistentReal returns the real server a persistent service's template
// gives this client, or has the scheduler pick one for hint h and makes the
// template. It counts the new connection against the template. ok is false
// when no server could be picked.
func (t *Table) persistentReal(svc *Service, client [4]byte, now int64, h scheduler.Hint) (r Real, ok bool) {
	k := tmplKey{client: mask(client, svc.PersistBits), vip: svc.VIP, vport: svc.Port, proto: svc.Proto}
	ts := t.tmplShardFor(&k)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if tp, found := ts.m[k]; found {
		for _, cand := range svc.Reals {
			// A server health checks took out (kept at weight 0 by
			// inhibit_on_failure) loses its persistent clients too.
			if cand.dest == tp.dest && !cand.Counts.Down() {
				tp.conns++
				tp.expires = max(tp.expires, now+int64(svc.Persistence))
				ts.m[k] = tp
				return cand, true
			}
		}
		// The server left the service or is down: forget the template.
		delete(ts.m, k)
	}
	i := svc.Sched.Pick(h)
	if i < 0 || i >= len(svc.Reals) {
		return Real{}, false
	}
	r = svc.Reals[i]
	ts.m[k] = tmpl{real: r.Addr, rport: r.Port, dest: r.dest, expires: now + int64(svc.Persistence), conns: 1}
	return r, true
}

// releaseTemplate is called when a connection made through a template
// ends: the template lives on for the persistence timeout.
func (t *Table) releaseTemplate(c *Conn, now int64) {
	if c.Persist == 0 {
		return
	}
	k := tmplKey{client: mask(c.Client, c.PersistBits), vip: c.VIP, vport: c.VPort, proto: c.Proto}
	ts := t.tmplShardFor(&k)
	ts.mu.Lock()
	if tp, ok := ts.m[k]; ok {
		tp.conns--
		tp.expires = max(tp.expires, now+int64(c.Persist))
		ts.m[k] = tp
	}
	ts.mu.Unlock()
}

// expireTemplates removes templates that control no connection and whose
// time has passed, and returns how many.
func (t *Table) expireTemplates(now int64) int {
	n := 0
	for i := range t.tmpls {
		ts := &t.tmpls[i]
		ts.mu.Lock()
		for k, tp := range ts.m {
			if tp.conns <= 0 && tp.expires <= now {
				delete(ts.m, k)
				n++
			}
		}
		ts.mu.Unlock()
	}
	return n
}

// Templates returns the number of persistence templates.
func (t *Table) Templates() int {
	n := 0
	for i := range t.tmpls {
		ts := &t.tmpls[i]
		ts.mu.Lock()
		n += len(ts.m)
		ts.mu.Unlock()
	}
	return n
}

// TemplatesPerDest returns the number of persistence templates per real
// server, by registry number (Table.Dests): ipvsadm's PersistConn.
func (t *Table) TemplatesPerDest() map[uint32]int {
	out := map[uint32]int{}
	for i := range t.tmpls {
		ts := &t.tmpls[i]
		ts.mu.Lock()
		for _, tp := range ts.m {
			out[tp.dest]++
		}
		ts.mu.Unlock()
	}
	return out
}
