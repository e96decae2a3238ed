//go:build linux

package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/xvs-project/xvs/lab"
)

// Magic starts the payload of every benchmark frame; the sink and the
// ceiling's classifier act only on frames that carry it, so the lab's own
// UDP service on the same port is left alone.
var Magic = [8]byte{'X', 'V', 'S', 'B', 'E', 'N', 'C', 'H'}

// FrameLen is the length of a generated frame without the FCS: 64 bytes on
// the wire.
const FrameLen = 60

// sink counter indices, as in bpf/bench.c.
const (
	sinkMine = iota
	sinkForeign
	sinkMax
)

// sinkObjs is one real server's sink program and maps.
type sinkObjs struct {
	Prog  *ebpf.Program `ebpf:"xvsb_sink"`
	Cfg   *ebpf.Map     `ebpf:"sink_cfg"`
	Count *ebpf.Map     `ebpf:"sink_count"`
}

// Sinks counts and drops benchmark frames at every real server's eth0, or
// (AttachPortSink) at one interface.
type Sinks struct {
	objs  []*sinkObjs
	links []link.Link
	// anyMAC counts every benchmark frame as delivered, whatever its
	// destination MAC (a port sink sees the frames for every server).
	anyMAC bool
}

// AttachPortSink attaches one sink to interface ifName in namespace ns that
// counts every benchmark frame to UDP port as delivered, whatever its
// destination MAC, and drops it. On the switch port facing the director it
// takes the frames off the LAN at their first hop, before the bridge and
// the servers' veths, whose work would otherwise weigh on the hosts' CPUs.
func AttachPortSink(ns, ifName string, port uint16) (_ *Sinks, err error) {
	spec, err := loadSpec()
	if err != nil {
		return nil, err
	}
	s := &Sinks{anyMAC: true}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	o := &sinkObjs{}
	if err := loadInto(spec, o); err != nil {
		return nil, err
	}
	s.objs = append(s.objs, o)
	// The zero MAC is no frame's destination: every frame counts as
	// "foreign", which Count adds to Delivered.
	if err := o.Cfg.Put(uint32(0), sinkConf(make(net.HardwareAddr, 6), port)); err != nil {
		return nil, fmt.Errorf("configuring the sink of %s in %s: %w", ifName, ns, err)
	}
	lk, err := attachIn(ns, ifName, o.Prog)
	if err != nil {
		return nil, err
	}
	s.links = append(s.links, lk)
	return s, nil
}

// loadSpec returns the benchmark's BPF collection spec, having raised the
// memlock limit for kernels that still charge it.
func loadSpec() (*ebpf.CollectionSpec, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising the memlock limit: %w", err)
	}
	return loadBench()
}

// loadInto loads the objects named by obj's tags, with verifier output on
// error.
func loadInto(spec *ebpf.CollectionSpec, obj any) error {
	if err := spec.LoadAndAssign(obj, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("loading the benchmark's XDP program: %+v", ve)
		}
		return fmt.Errorf("loading the benchmark's XDP program: %w", err)
	}
	return nil
}

// ifaceIn returns the index and MAC of interface name in namespace ns.
func ifaceIn(ns, name string) (int, net.HardwareAddr, error) {
	var idx int
	var mac net.HardwareAddr
	err := lab.Do(ns, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("interface %s in %s: %w", name, ns, err)
		}
		idx, mac = ifi.Index, ifi.HardwareAddr
		return nil
	})
	if err == nil && len(mac) != 6 {
		err = fmt.Errorf("interface %s in %s has no Ethernet address", name, ns)
	}
	return idx, mac, err
}

// attachIn attaches prog to interface name in namespace ns as a bpf_link
// (it goes away with this process at the latest).
func attachIn(ns, name string, prog *ebpf.Program) (link.Link, error) {
	var l link.Link
	err := lab.Do(ns, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("interface %s in %s: %w", name, ns, err)
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index})
		if err != nil {
			return fmt.Errorf("attaching XDP to %s in %s: %w", name, ns, err)
		}
		return nil
	})
	return l, err
}

// sinkConf builds the sink/classifier configuration for a MAC and port.
func sinkConf(mac net.HardwareAddr, port uint16) benchSinkConf {
	var c benchSinkConf
	copy(c.Mac[:], mac)
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], port)
	c.Port = binary.NativeEndian.Uint16(p[:])
	c.Magic = Magic
	return c
}

// AttachSinks loads one sink per real server of l (each with its own MAC in
// its configuration) and attaches it to the server's eth0. Frames to UDP
// port with the benchmark magic are counted (when addressed to that eth0's
// MAC) and dropped.
func AttachSinks(l *lab.Lab, port uint16) (_ *Sinks, err error) {
	spec, err := loadSpec()
	if err != nil {
		return nil, err
	}
	s := &Sinks{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for _, ns := range l.ServerNS {
		_, mac, err := ifaceIn(ns, lab.HostIf)
		if err != nil {
			return nil, err
		}
		o := &sinkObjs{}
		if err := loadInto(spec, o); err != nil {
			return nil, err
		}
		s.objs = append(s.objs, o)
		if err := o.Cfg.Put(uint32(0), sinkConf(mac, port)); err != nil {
			return nil, fmt.Errorf("configuring the sink of %s: %w", ns, err)
		}
		lk, err := attachIn(ns, lab.HostIf, o.Prog)
		if err != nil {
			return nil, err
		}
		s.links = append(s.links, lk)
	}
	return s, nil
}

// SinkCount is what the sinks counted so far.
type SinkCount struct {
	// Delivered counts benchmark frames that reached the real server they
	// were addressed to, summed over servers.
	Delivered uint64
	// PerServer holds Delivered for each server, in lab order.
	PerServer []uint64
	// Foreign counts benchmark frames seen by a server they were not
	// addressed to (a bridge flooding an unknown MAC); not delivered.
	Foreign uint64
}

// Count reads the sinks' counters.
func (s *Sinks) Count() (SinkCount, error) {
	var c SinkCount
	for _, o := range s.objs {
		var mine, foreign uint64
		for idx, dst := range map[uint32]*uint64{sinkMine: &mine, sinkForeign: &foreign} {
			var per []uint64
			if err := o.Count.Lookup(idx, &per); err != nil {
				return c, fmt.Errorf("reading sink counters: %w", err)
			}
			for _, v := range per {
				*dst += v
			}
		}
		if s.anyMAC {
			c.Delivered += mine + foreign
			continue
		}
		c.Delivered += mine
		c.Foreign += foreign
		c.PerServer = append(c.PerServer, mine)
	}
	return c, nil
}

// Close detaches and unloads every sink.
func (s *Sinks) Close() error {
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	for _, o := range s.objs {
		errs = append(errs, o.Prog.Close(), o.Cfg.Close(), o.Count.Close())
	}
	s.links, s.objs = nil, nil
	return errors.Join(errs...)
}

// FrameSpec describes the generated frames.
type FrameSpec struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.Addr
	DstPort        uint16
}

// Template returns the 60-byte frame the generator writes into every frame:
// Ethernet, IPv4 (TTL 64, DF, valid checksum), UDP with checksum 0 (valid
// for IPv4: "no checksum") and source port 0 (the generator sets it), and
// an 18-byte payload starting with Magic.
func (f FrameSpec) Template() ([FrameLen]byte, error) {
	var b [FrameLen]byte
	if len(f.SrcMAC) != 6 || len(f.DstMAC) != 6 || !f.Src.Is4() || !f.Dst.Is4() {
		return b, errors.New("bench: frame needs two MACs and two IPv4 addresses")
	}
	copy(b[0:6], f.DstMAC)
	copy(b[6:12], f.SrcMAC)
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], FrameLen-14)
	binary.BigEndian.PutUint16(ip[6:8], 0x4000) // DF
	ip[8] = 64
	ip[9] = 17
	s, d := f.Src.As4(), f.Dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip))
	udp := b[34:42]
	binary.BigEndian.PutUint16(udp[2:4], f.DstPort)
	binary.BigEndian.PutUint16(udp[4:6], FrameLen-34)
	copy(b[42:], Magic[:])
	return b, nil
}

// ipChecksum returns the Internet checksum of an IPv4 header whose checksum
// field is zero.
func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
