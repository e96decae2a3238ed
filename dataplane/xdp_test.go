package dataplane

import (
	"bytes"
	"net"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/internal/header"
)

// Verdicts of an XDP program, as BPF_PROG_RUN returns them. Without a
// socket bound to the queue, the classifier's redirects fall back to
// XDP_PASS: answers are told from passed frames by their contents.
const (
	xdpPass     = 2
	xdpRedirect = 4
	xdpDrop     = 1
)

// testProgram loads the classifier with loopback (ifindex 1) as its WAN
// interface, where BPF_PROG_RUN pretends the frames arrive.
func testProgram(t *testing.T) *Program {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading an XDP program needs root")
	}
	p, err := LoadProgram()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.objs.Ifaces.Put(uint32(1), uint32(RoleWAN)); err != nil {
		t.Fatal(err)
	}
	return p
}

// runXDP runs the program on frame as if it arrived on ifindex 1 and
// returns the verdict and the frame as the program left it.
func runXDP(t *testing.T, p *Program, frame []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(frame)+256)
	opts := ebpf.RunOptions{Data: frame, DataOut: out, Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: 1}}
	ret, err := p.objs.XvsClassify.Run(&opts)
	if err != nil {
		t.Fatal(err)
	}
	return ret, opts.DataOut
}

// xdpMD is struct xdp_md, the context BPF_PROG_RUN takes for XDP.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

func arpFrame(t *testing.T, op uint16, sender, target [4]byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(cliMAC[:]), DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: cliMAC[:], SourceProtAddress: sender[:], DstHwAddress: make([]byte, 6), DstProtAddress: target[:]}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, arp); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func echoFrame(t *testing.T, dst [4]byte, typ uint8, ttl uint8) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(cliMAC[:]), DstMAC: net.HardwareAddr(wanMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: 7, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP(client[:]), DstIP: net.IP(dst[:])}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 0x1234, Seq: 9}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, gopacket.Payload("xvs echo payload")); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestOwnedVIPAnswers checks the classifier's ARP and echo answers for an
// owned VIP against packets gopacket builds and decodes, and that nothing
// is answered for a VIP that is not owned, on another interface, or for a
// gratuitous ARP.
func TestOwnedVIPAnswers(t *testing.T) {
	p := testProgram(t)
	other := [4]byte{198, 18, 0, 101}
	if err := p.SetOwned([]Owned{{Addr: vip, Ifindex: 1, MAC: wanMAC}, {Addr: other, Ifindex: 99, MAC: wanMAC}}); err != nil {
		t.Fatal(err)
	}

	t.Run("arp", func(t *testing.T) {
		verdict, out := runXDP(t, p, arpFrame(t, layers.ARPRequest, client, vip))
		if verdict != xdpDrop {
			t.Fatalf("verdict %d, want XDP_DROP: the answer is made, and no socket is bound to take it", verdict)
		}
		pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		arp, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
		if arp == nil {
			t.Fatalf("no ARP in the answer: %v", pkt)
		}
		if !bytes.Equal(eth.SrcMAC, wanMAC[:]) || !bytes.Equal(eth.DstMAC, cliMAC[:]) {
			t.Errorf("Ethernet %v -> %v, want %v -> %v", eth.SrcMAC, eth.DstMAC, net.HardwareAddr(wanMAC[:]), net.HardwareAddr(cliMAC[:]))
		}
		if arp.Operation != layers.ARPReply || !bytes.Equal(arp.SourceHwAddress, wanMAC[:]) || !bytes.Equal(arp.SourceProtAddress, vip[:]) ||
			!bytes.Equal(arp.DstHwAddress, cliMAC[:]) || !bytes.Equal(arp.DstProtAddress, client[:]) {
			t.Errorf("ARP answer %+v", arp)
		}
	})
	t.Run("echo", func(t *testing.T) {
		verdict, out := runXDP(t, p, echoFrame(t, vip, layers.ICMPv4TypeEchoRequest, 17))
		if verdict != xdpDrop {
			t.Fatalf("verdict %d, want XDP_DROP: the answer is made, and no socket is bound to take it", verdict)
		}
		ip := header.IPv4(out[header.EthernetSize:])
		if got := header.Checksum(ip[:ip.HeaderLength()], 0); got != 0xffff {
			t.Errorf("IPv4 checksum does not verify (sum %#x)", got)
		}
		icmp := out[header.EthernetSize+ip.HeaderLength() : header.EthernetSize+int(ip.TotalLength())]
		if got := header.Checksum(icmp, 0); got != 0xffff {
			t.Errorf("ICMP checksum does not verify (sum %#x)", got)
		}
		pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		ipl := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		ic := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if !ipl.SrcIP.Equal(net.IP(vip[:])) || !ipl.DstIP.Equal(net.IP(client[:])) || ipl.TTL != 64 {
			t.Errorf("IPv4 %v -> %v ttl %d, want %v -> %v ttl 64", ipl.SrcIP, ipl.DstIP, ipl.TTL, net.IP(vip[:]), net.IP(client[:]))
		}
		if ic.TypeCode.Type() != layers.ICMPv4TypeEchoReply || ic.Id != 0x1234 || ic.Seq != 9 || string(ic.Payload) != "xvs echo payload" {
			t.Errorf("ICMP %v id %#x seq %d payload %q", ic.TypeCode, ic.Id, ic.Seq, ic.Payload)
		}
	})
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"arp for an address not owned", arpFrame(t, layers.ARPRequest, client, [4]byte{198, 18, 0, 102})},
		{"arp for a VIP owned on another interface", arpFrame(t, layers.ARPRequest, client, other)},
		{"gratuitous arp", arpFrame(t, layers.ARPRequest, vip, vip)},
		{"arp reply", arpFrame(t, layers.ARPReply, client, vip)},
		{"echo to an address not owned", echoFrame(t, [4]byte{198, 18, 0, 102}, layers.ICMPv4TypeEchoRequest, 64)},
		{"echo reply to the VIP", echoFrame(t, vip, layers.ICMPv4TypeEchoReply, 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verdict, out := runXDP(t, p, tc.frame)
			if verdict != xdpPass {
				t.Errorf("verdict %d, want XDP_PASS", verdict)
			}
			if !bytes.Equal(out, tc.frame) {
				t.Errorf("the frame was changed:\n got %x\nwant %x", out, tc.frame)
			}
		})
	}

	// Released: nothing is answered any more.
	if err := p.SetOwned(nil); err != nil {
		t.Fatal(err)
	}
	req := arpFrame(t, layers.ARPRequest, client, vip)
	if verdict, out := runXDP(t, p, req); verdict != xdpPass || !bytes.Equal(out, req) {
		t.Errorf("after release: verdict %d, frame changed %v; want XDP_PASS, unchanged", verdict, !bytes.Equal(out, req))
	}
	c, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	// With no socket bound, the two answers are counted as drops for the
	// want of one, not as answers sent.
	if c.ARPReplies != 0 || c.EchoReplies != 0 || c.NoSocket != 2 {
		t.Errorf("counters: %d ARP replies, %d echo replies, %d without a socket; want 0, 0 and 2", c.ARPReplies, c.EchoReplies, c.NoSocket)
	}
}
