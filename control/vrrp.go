package control

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
)

// The VRRP runner (vrrp_instance, vrrp_sync_group) and its state: the
// runner's, groups' and instances' types, and what it reports (status,
// adverts not used). It is built from the config in vrrp_build.go, runs
// in vrrp_runner.go, reacts to state changes in vrrp_notify.go, follows
// tracked interfaces and scripts in vrrp_track.go and sends through the
// sockets of vrrp_socket.go.

// VRRPStatus is the state of one vrrp_instance, for `xvs vrrp` and metrics.
type VRRPStatus struct {
	Name      string    `json:"name"`
	Group     string    `json:"sync_group,omitempty"`
	Interface string    `json:"interface"`
	VRID      int       `json:"virtual_router_id"`
	Version   int       `json:"version"`
	State     string    `json:"state"`
	Priority  int       `json:"priority"` // effective priority
	Base      int       `json:"base_priority"`
	Master    string    `json:"master,omitempty"` // the master's address, when known
	VIPs      []string  `json:"virtual_ipaddress"`
	Since     time.Time `json:"since"`
	// Transitions counts state changes since start.
	Transitions uint64 `json:"transitions"`
	// VMAC is use_vmac's address and interface, "00:00:5e:00:01:33 on
	// vrrp.51"; empty without use_vmac.
	VMAC string `json:"vmac,omitempty"`
}

// vrrpDropReasons are the reasons a received advertisement is not used;
// they are counted, never logged per packet.
var vrrpDropReasons = []struct {
	err  error
	name string
}{
	{vrrp.ErrTruncated, "truncated"}, {vrrp.ErrNotIPv4, "not_ipv4"}, {vrrp.ErrIPHeader, "ip_header"},
	{vrrp.ErrIPChecksum, "ip_checksum"}, {vrrp.ErrFragment, "fragment"}, {vrrp.ErrProtocol, "protocol"},
	{vrrp.ErrTTL, "ttl"}, {vrrp.ErrVersion, "version"}, {vrrp.ErrType, "type"}, {vrrp.ErrVRID, "vrid_zero"},
	{vrrp.ErrAddrCount, "address_count"}, {vrrp.ErrLength, "length"}, {vrrp.ErrInterval, "interval_zero"},
	{vrrp.ErrChecksum, "checksum"}, {vrrp.ErrVersionMismatch, "version_mismatch"},
	{vrrp.ErrVRIDMismatch, "vrid_mismatch"}, {vrrp.ErrOwnAddress, "own_address"},
	{vrrp.ErrAddressOwner, "address_owner"}, {vrrp.ErrAuthType, "auth_type"}, {vrrp.ErrAuthFailed, "auth_failed"},
	{vrrp.ErrIntervalMismatch, "interval_mismatch"}, {vrrp.ErrAddrMismatch, "address_mismatch"},
	{errUnknownVRID, "unknown_vrid"}, {errNotPeer, "not_a_peer"}, {errOther, "other"},
}

var (
	errUnknownVRID = errors.New("no vrrp_instance for this interface and VRID")
	errNotPeer     = errors.New("advert from an address that is not a unicast_peer")
	errOther       = errors.New("other")
)

// vrrpRunner runs the vrrp_instances of a configuration: one goroutine
// owns every state machine and is fed the adverts the dataplane's workers
// take off the data path (the control queue), timer expiries, and tracked
// interface and script changes. It sends adverts through a raw IP socket
// per interface and gratuitous ARPs through a packet socket, and tells the
// director which VIPs it owns; the XDP classifier answers ARP and echo for
// those, and their virtual services are served only while owned.
type vrrpRunner struct {
	log    *zap.Logger
	dp     *dataplane.Dataplane
	groups []*vrrpGroup
	insts  []*vrrpInstance
	byVRID map[ifVRID]*vrrpInstance
	socks  map[int]*vrrpSocket
	track  chan trackEvent
	// onOwned is called from the runner's goroutine with the VIPs owned
	// after every change.
	onOwned func([]dataplane.Owned)
	// onState, if set, is called from the runner's goroutine after an
	// instance changed state; it must not block.
	onState func(instance string, to vrrp.State)
	// alerts mails state changes (alerts.go); nil: none.
	alerts  *alerter
	scripts []*vrrpScript
	notify  chan struct{} // bounds notify scripts running at once
	garpBuf []byte

	mu     sync.Mutex // guards status
	status []VRRPStatus
	drops  []atomic.Uint64 // by vrrpDropReasons index
	// Adverts counts adverts sent and received (accepted).
	sent, received atomic.Uint64
}

type ifVRID struct {
	ifindex int
	vrid    uint8
}

type vrrpGroup struct {
	name    string
	g       *vrrp.Group
	members []*vrrpInstance
	notify  notifyScripts
	acts    []vrrp.MemberAction
}

type vrrpInstance struct {
	spec    config.VRRPInstance
	idx     int // in runner.insts and status
	g       *vrrpGroup
	member  int
	m       *vrrp.Machine
	link    netlink.Link
	mac     [6]byte
	src     netip.Addr
	dst     []netip.Addr // 224.0.0.18 (or vrrp_mcast_group4) or the unicast peers
	peers   map[netip.Addr]bool
	unicast bool
	owned   bool
	base    int
	notify  notifyScripts
	ipID    uint16
	// use_vmac (vmac.go): the VMAC and its interface's name ("" without
	// use_vmac), and the interface while it exists.
	vmac     [6]byte
	vmacName string
	vmacLink netlink.Link
}

// VIPs returns every address the runner's instances may own.
func (r *vrrpRunner) VIPs() map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, inst := range r.insts {
		for _, v := range inst.spec.VirtualIPs {
			m[v.Prefix.Addr()] = true
		}
	}
	return m
}

// Status returns a copy of the instances' states.
func (r *vrrpRunner) Status() []VRRPStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]VRRPStatus, len(r.status))
	copy(out, r.status)
	return out
}

// Drops returns the counts of adverts not used, by reason.
func (r *vrrpRunner) Drops() map[string]uint64 {
	m := make(map[string]uint64, len(vrrpDropReasons))
	for i, d := range vrrpDropReasons {
		m[d.name] = r.drops[i].Load()
	}
	return m
}

func (r *vrrpRunner) drop(err error) {
	for i, d := range vrrpDropReasons {
		if errors.Is(err, d.err) {
			r.drops[i].Add(1)
			return
		}
	}
	r.drops[len(vrrpDropReasons)-1].Add(1)
}
