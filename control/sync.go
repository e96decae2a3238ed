package control

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
)

// Connection synchronisation (lvs_sync_daemon), driven the way keepalived
// drives IPVS's sync daemon: the named vrrp_instance decides the role. At
// start, and whenever the instance becomes BACKUP or FAULT, this director
// receives (a backup daemon); when it becomes MASTER it stops receiving,
// turns the engine's sync records on and sends them (a master daemon);
// when VRRP stops, sync stops. keepalived runs the same sequence through
// IPVS_STARTDAEMON / IPVS_STOPDAEMON.

// SyncPlan is the connection sync a Spec asks for.
type SyncPlan struct {
	// Config is the daemon's configuration (interface, syncid, group,
	// port, TTL, maxlen).
	Config connsync.Config
	// Instance is the vrrp_instance whose state decides the role.
	Instance string
}

// syncPlan makes the plan's SyncPlan from lvs_sync_daemon and the xvs
// block's sync_threshold and sloppy_tcp. With onMachine, the interface
// must exist here.
func syncPlan(spec *config.Spec, p *Plan, onMachine bool) error {
	x := spec.XVS
	p.SloppyTCP = x.SloppyTCP
	p.SyncPolicy = nat.DefaultSyncPolicy
	if x.SyncThresholdSet {
		p.SyncPolicy = nat.SyncPolicy{Threshold: uint32(x.SyncThreshold), Period: uint32(x.SyncPeriod)}
		if err := p.SyncPolicy.Validate(); err != nil {
			return fmt.Errorf("%s: sync_threshold: %w", x.Pos, err)
		}
	}
	sd := spec.Global.SyncDaemon
	if sd == nil {
		return nil
	}
	if _, err := net.InterfaceByName(sd.Interface); onMachine && err != nil {
		return fmt.Errorf("%s: lvs_sync_daemon interface %q does not exist on this machine: %w", sd.InterfacePos, sd.Interface, err)
	}
	p.Sync = &SyncPlan{Instance: sd.Instance, Config: connsync.Config{
		Interface: sd.Interface, SyncID: uint8(sd.SyncID), Group: sd.Group,
		Port: sd.Port, TTL: uint8(sd.TTL), MaxLen: sd.MaxLen,
	}}
	return nil
}

// syncSink installs received records over the configured services (all of
// them, whether served now or not: a backup serves no VRRP VIP's services,
// yet the connections it learns are counted on their real servers).
type syncSink struct {
	table *nat.Table
	svcs  atomic.Pointer[nat.Services]
}

// InstallSynced installs rec (connsync.Sink).
func (s *syncSink) InstallSynced(rec nat.SyncRecord, now int64) error {
	return s.table.InstallSynced(rec, s.svcs.Load(), now)
}

// connSync runs the sync daemon for a director and switches its role from
// VRRP transitions without ever blocking the VRRP runner: the wanted role
// is posted, and a goroutine of its own opens and closes the sockets.
type connSync struct {
	plan   *SyncPlan
	d      *connsync.Daemon
	eng    *nat.Engine
	src    connsync.Source
	sink   *syncSink
	log    *zap.Logger
	want   atomic.Int32 // connsync.Role
	wake   chan struct{}
	done   chan struct{}
	errors atomic.Uint64 // role changes that failed (socket errors)
}

// newConnSync makes the daemon of plan p; it starts nothing.
func newConnSync(p *Plan, eng *nat.Engine, src connsync.Source, log *zap.Logger) (*connSync, error) {
	log = log.With(zap.String("sync_interface", p.Sync.Config.Interface))
	cs := &connSync{plan: p.Sync, eng: eng, src: src, log: log,
		sink: &syncSink{table: eng.Table()}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	cs.sink.svcs.Store(nat.NewServices(p.natServices()))
	d, err := connsync.New(p.Sync.Config, src, cs.sink, nat.Monotonic, log)
	if err != nil {
		return nil, fmt.Errorf("lvs_sync_daemon: %w", err)
	}
	cs.d = d
	return cs, nil
}

// setServices gives received records the services of a new plan.
func (cs *connSync) setServices(list []*nat.Service) {
	cs.sink.svcs.Store(nat.NewServices(list))
}

// vrrpState follows the named instance: MASTER sends, BACKUP and FAULT
// receive, Initialize (VRRP stopped) stops sync. Called from the VRRP
// runner's goroutine; it only posts the role. The engine stops making
// records at once on leaving MASTER; it starts when the sender is about
// to run.
func (cs *connSync) vrrpState(to vrrp.State) {
	role := connsync.RoleBackup
	switch to {
	case vrrp.Master:
		role = connsync.RoleMaster
	case vrrp.Initialize:
		role = connsync.RoleNone
	}
	if role != connsync.RoleMaster {
		cs.eng.SetSync(false)
	}
	cs.post(role)
}

// post asks the goroutine for role.
func (cs *connSync) post(role connsync.Role) {
	cs.want.Store(int32(role))
	select {
	case cs.wake <- struct{}{}:
	default:
	}
}

// run applies posted roles until stop is closed, then stops the daemon.
// A role that cannot be taken (its socket does not open) is retried every
// second.
func (cs *connSync) run(stop <-chan struct{}) {
	defer close(cs.done)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-stop:
			cs.eng.SetSync(false)
			if err := cs.d.Close(); err != nil {
				cs.log.Warn("stopping connection sync", zap.Error(err))
			}
			return
		case <-cs.wake:
		case <-retry.C:
		}
		role := connsync.Role(cs.want.Load())
		if role == cs.d.Role() {
			continue
		}
		if role == connsync.RoleMaster {
			// Records the workers queued in an earlier term as master
			// are stale: drop them before sending anew.
			var buf [256]nat.SyncRecord
			for cs.src.DrainSync(buf[:]) > 0 {
			}
			cs.eng.SetSync(true)
		}
		if err := cs.d.SetRole(role); err != nil {
			cs.errors.Add(1)
			cs.log.Error("connection sync cannot start; retrying every second", zap.String("role", role.String()), zap.Error(err))
			retry.Reset(time.Second)
			continue
		}
		cs.log.Info("connection sync", zap.String("role", role.String()), zap.String("instance", cs.plan.Instance))
	}
}

// Stats returns the daemon's counters.
func (cs *connSync) Stats() connsync.Stats { return cs.d.Stats() }
