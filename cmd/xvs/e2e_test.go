package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/lab"
	"golang.org/x/sys/unix"
)

// The lab tests run the real director: this test binary re-executes itself
// as `xvs run` inside the lab's director namespace (XVS_TEST_MAIN=1 makes
// TestMain run Main instead of the tests).
func TestMain(m *testing.M) {
	if os.Getenv("XVS_TEST_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Setenv("XVS_TEST_MAIN", "1")
	os.Exit(m.Run())
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and attaches XDP")
	}
}

// upLab builds a lab with a random prefix and real servers, removed when the
// test ends, failed or not.
func upLab(t *testing.T) *lab.Lab { return buildLab(t, "xe", false, true) }

// runDirector starts `xvs run` in the lab with the embedded configuration
// (weights 3:2:1 over rs1..rs3 for TCP :80 and UDP :53) and stops it when
// the test ends; a director that did not stop cleanly fails the test.
func runDirector(t *testing.T, l *lab.Lab) *lab.Director {
	t.Helper()
	return runDirectorWith(t, l, t.TempDir())
}

// directorT starts `xvs run` in the lab with args, and stops it when the
// test ends, showing its log if the test failed.
func directorT(t *testing.T, l *lab.Lab, args ...string) *lab.Director {
	t.Helper()
	d, err := startDirector(l, t.TempDir(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("director log:\n%s", d.Log())
		}
	})
	return d
}

// capture counts frames arriving at the client whose IPv4 source is in the
// real servers' network: the director must never expose those addresses.
type capture struct {
	fd      int
	once    sync.Once
	stop    atomic.Bool
	exposed atomic.Int64
	seen    atomic.Int64
	done    chan struct{}
}

func startCapture(t *testing.T, ns string, lan *net.IPNet) *capture {
	t.Helper()
	c := &capture{done: make(chan struct{})}
	err := lab.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		c.fd = fd
		tv := unix.Timeval{Usec: 100000}
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("capture socket: %v", err)
	}
	fd := c.fd
	go func() {
		defer close(c.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				if (err == unix.EAGAIN || err == unix.EINTR) && !c.stop.Load() {
					continue
				}
				return
			}
			if sa, ok := from.(*unix.SockaddrLinklayer); ok && sa.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if n >= 34 {
				c.seen.Add(1)
				if lan.Contains(net.IP(buf[26:30])) {
					c.exposed.Add(1)
				}
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

// close stops the capture and waits for its reader; the socket is closed
// only after the reader is gone, so its descriptor cannot be reused under it.
func (c *capture) close() {
	c.once.Do(func() {
		c.stop.Store(true)
		<-c.done
		unix.Close(c.fd)
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

var lanNet = &net.IPNet{IP: net.IP{198, 18, 1, 0}, Mask: net.CIDRMask(24, 32)}

// TestForwardWRR is acceptance 2 of the core issue: HTTP on new TCP
// connections and UDP datagrams through the VIP, no failures, every reply
// from VIP:port, an exact 3:2:1 split over whole wrr cycles, and no frame
// from a real server's own address ever reaching the client.
func TestForwardWRR(t *testing.T) {
	l := upLab(t)
	d := runDirector(t, l)
	c := startCapture(t, l.ClientNS, lanNet)

	const n = 1002 // 167 whole cycles of 3+2+1
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: n, Datagrams: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.String())
	if res.TCP.Failed != 0 || res.UDP.Failed != 0 {
		t.Errorf("failures: TCP %d %v, UDP %d %v", res.TCP.Failed, res.TCP.Errors, res.UDP.Failed, res.UDP.Errors)
	}
	if res.NonVIPReplies != 0 {
		t.Errorf("%d UDP replies did not come from VIP:53", res.NonVIPReplies)
	}
	want := map[string]int{"rs1": 501, "rs2": 334, "rs3": 167}
	for _, p := range []struct {
		name string
		got  map[string]int
	}{{"TCP", res.TCP.PerServer}, {"UDP", res.UDP.PerServer}} {
		for s, w := range want {
			if p.got[s] != w {
				t.Errorf("%s: %s got %d, want %d (split %v)", p.name, s, p.got[s], w, p.got)
			}
		}
	}
	c.close()
	if c.seen.Load() < 2*n {
		t.Errorf("capture saw only %d frames at the client", c.seen.Load())
	}
	if e := c.exposed.Load(); e != 0 {
		t.Errorf("%d frames reached the client from a real server's own address", e)
	}
	m, err := scrape(l.LBNS, "127.0.0.1:9333")
	if err != nil {
		t.Fatal(err)
	}
	// The connection table as ipvsadm -Lnc shows it, through the admin
	// socket: every UDP flow and the closing TCP connections are listed.
	var out, errb bytes.Buffer
	if code := Main([]string{"list", "-n", "-c", "--admin", d.Admin}, &out, &errb); code != 0 {
		t.Fatalf("xvs list -c: exit %d: %s", code, errb.String())
	}
	// A connection is keyed by its addresses and ports, and the client's
	// TCP ports recycle (the server closes first), so the table holds one
	// TCP entry per client port used, not one per request.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 || lines[1] != "pro expire state       source             virtual            destination" {
		t.Errorf("xvs list -c printed %d lines, starting %q", len(lines), lines[:min(3, len(lines))])
	}
	var tcpLines, udpLines int
	for _, line := range lines[min(2, len(lines)):] {
		switch {
		case strings.HasPrefix(line, "UDP ") && strings.Contains(line, " 198.18.0.100:53 "):
			udpLines++
		case strings.HasPrefix(line, "TCP ") && strings.Contains(line, " 198.18.0.100:80 "):
			tcpLines++
		}
	}
	if want := len(res.UDP.SourcePorts); udpLines != want || want != n {
		t.Errorf("xvs list -c shows %d UDP flows to the VIP; the client used %d source ports for %d datagrams", udpLines, want, n)
	}
	if want := len(res.TCP.SourcePorts); tcpLines != want {
		t.Errorf("xvs list -c shows %d TCP connections to the VIP; the client used %d source ports for %d requests", tcpLines, want, n)
	}
	// The services as ipvsadm -Ln shows them.
	out.Reset()
	if code := Main([]string{"list", "-n", "--admin", d.Admin}, &out, &errb); code != 0 {
		t.Fatalf("xvs list -n: exit %d: %s", code, errb.String())
	}
	lines = strings.Split(out.String(), "\n")
	wantLines := []string{
		"Prot LocalAddress:Port Scheduler Flags",
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
		"TCP  198.18.0.100:80 wrr",
		"  -> 198.18.1.11:80               Masq    3      ",
		"  -> 198.18.1.12:80               Masq    2      ",
		"  -> 198.18.1.13:80               Masq    1      ",
		"UDP  198.18.0.100:53 wrr",
		"  -> 198.18.1.11:53               Masq    3      0          501",
		"  -> 198.18.1.12:53               Masq    2      0          334",
		"  -> 198.18.1.13:53               Masq    1      0          167",
	}
	if len(lines) < len(wantLines)+1 || !strings.HasPrefix(lines[0], "IP Virtual Server version 1.2.1 (size=") {
		t.Fatalf("xvs list -n:\n%s", out.String())
	}
	for i, w := range wantLines {
		if got := strings.TrimRight(lines[i+1], " "); !strings.HasPrefix(got, strings.TrimRight(w, " ")) {
			t.Errorf("xvs list -n line %d: %q, want it to start %q\n%s", i+2, got, w, out.String())
			break
		}
	}
	// Per real server counters, as ipvsadm -Ln --stats --exact shows
	// them: every datagram was a flow of its own, one packet each way.
	out.Reset()
	if code := Main([]string{"list", "-n", "--stats", "--exact", "--admin", d.Admin}, &out, &errb); code != 0 {
		t.Fatalf("xvs list --stats: exit %d: %s", code, errb.String())
	}
	t.Logf("xvs list -n --stats --exact:\n%s", out.String())
	udpShare := map[string]int{"198.18.1.11:53": 501, "198.18.1.12:53": 334, "198.18.1.13:53": 167}
	inUDP, checked := false, 0
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (f[0] == "TCP" || f[0] == "UDP") {
			inUDP = f[0] == "UDP"
		}
		if !inUDP || len(f) != 7 || f[0] != "->" {
			continue
		}
		want, ok := udpShare[f[1]]
		if !ok {
			continue
		}
		checked++
		w := strconv.Itoa(want)
		if f[2] != w || f[3] != w || f[4] != w || f[5] == "0" || f[6] == "0" {
			t.Errorf("xvs list --stats for %s: conns %s, packets in %s out %s, bytes in %s out %s; want %d connections and packets each way",
				f[1], f[2], f[3], f[4], f[5], f[6], want)
		}
	}
	if checked != 3 {
		t.Errorf("xvs list --stats showed %d of the 3 UDP real servers:\n%s", checked, out.String())
	}
	if m["xvs_frames_forwarded_total"] < 4*n {
		t.Errorf("director forwarded %v frames, expected at least %d", m["xvs_frames_forwarded_total"], 4*n)
	}
	_ = d
}

// trafficUntilOK retries a small load until one run has no failure, for the
// time after a link comes back (ARP and TCP retransmission settle).
func trafficUntilOK(t *testing.T, l *lab.Lab, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 20, Datagrams: 20, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.TCP.Failed == 0 && res.UDP.Failed == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no clean run within %v after the flap; last: %s", within, res.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLinkFlap is acceptance 3: the WAN and then the LAN link go down and
// up under traffic; the director keeps running and forwards again.
func TestLinkFlap(t *testing.T) {
	l := upLab(t)
	d := runDirector(t, l)
	trafficUntilOK(t, l, 5*time.Second)

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 50, Datagrams: 50, Timeout: 300 * time.Millisecond})
		}
	}()
	for _, ifname := range []string{l.WANIf, l.LANIf} {
		err := lab.Do(l.LBNS, func() error {
			link, err := netlink.LinkByName(ifname)
			if err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond)
			if err := netlink.LinkSetDown(link); err != nil {
				return err
			}
			time.Sleep(500 * time.Millisecond)
			return netlink.LinkSetUp(link)
		})
		if err != nil {
			t.Fatalf("flapping %s: %v", ifname, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	trafficUntilOK(t, l, 15*time.Second)

	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 300, Datagrams: 300})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.Failed != 0 || res.UDP.Failed != 0 {
		t.Fatalf("after the flaps: %s", res.String())
	}
	if !strings.Contains(d.Log(), `link changed	{"interface": "wan0", "up": false}`) {
		t.Errorf("no log line for the WAN link going down:\n%s", d.Log())
	}
}

// malformed builds the bad frames of acceptance 4, each addressed to the
// director's WAN MAC and the VIP, and the drop reason each must be counted
// under.
func malformed(t *testing.T, src, dst net.HardwareAddr, client, vip net.IP) map[string][][]byte {
	t.Helper()
	build := func(f func(ip *layers.IPv4, tcp *layers.TCP), payload []byte, post func([]byte) []byte) []byte {
		eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: vip}
		tcp := &layers.TCP{SrcPort: 33333, DstPort: 80, SYN: true, Window: 1000, Seq: 1}
		f(ip, tcp)
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		b := append([]byte(nil), buf.Bytes()...)
		if post != nil {
			b = post(b)
		}
		return b
	}
	none := func(*layers.IPv4, *layers.TCP) {}
	return map[string][][]byte{
		"truncated": {build(none, []byte("0123456789"), func(b []byte) []byte { return b[:14+20+8] })},
		"bad_ip_header": {build(none, nil, func(b []byte) []byte { b[14] = 0x44; return b }),
			build(none, nil, func(b []byte) []byte { b[16], b[17] = 0, 10; return b })},
		"ip_options": {build(func(ip *layers.IPv4, _ *layers.TCP) {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}, nil, nil)},
		"fragment":        {build(func(ip *layers.IPv4, _ *layers.TCP) { ip.Flags = layers.IPv4MoreFragments }, []byte("frag"), nil)},
		"bad_ip_checksum": {build(none, nil, func(b []byte) []byte { b[24] ^= 0xff; return b })},
		"bad_l4_checksum": {build(none, []byte("payload"), func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b })},
		"no_connection":   {build(func(_ *layers.IPv4, tcp *layers.TCP) { tcp.SYN, tcp.ACK = false, true }, nil, nil)},
		"ttl_exceeded":    {build(func(ip *layers.IPv4, _ *layers.TCP) { ip.TTL = 1 }, nil, nil)},
	}
}

// TestMalformedFrames is acceptance 4: bad frames injected on the WAN side
// are dropped and counted by reason, and good traffic keeps flowing.
func TestMalformedFrames(t *testing.T) {
	l := upLab(t)
	runDirector(t, l)
	trafficUntilOK(t, l, 5*time.Second)

	inj := newInjector(t, l)
	frames := malformed(t, inj.clientMAC, inj.wanMAC, net.IP(l.ClientAddr.AsSlice()), net.IP(l.VIP.AsSlice()))
	const rounds = 5
	for i := 0; i < rounds; i++ {
		for reason, fs := range frames {
			for _, f := range fs {
				if err := inj.send(f); err != nil {
					t.Fatalf("injecting %s: %v", reason, err)
				}
			}
		}
	}
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 200, Datagrams: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.Failed != 0 || res.UDP.Failed != 0 {
		t.Errorf("good traffic failed next to malformed frames: %s", res.String())
	}
	m, err := scrape(l.LBNS, "127.0.0.1:9333")
	if err != nil {
		t.Fatal(err)
	}
	for reason, fs := range frames {
		key := fmt.Sprintf(`xvs_frames_dropped_total{reason="%s"}`, reason)
		if got := m[key]; got < float64(rounds*len(fs)) {
			t.Errorf("%s = %v, want at least %d", key, got, rounds*len(fs))
		}
	}
}

// TestRunConfigSyntaxError is acceptance 6: a syntax error stops `xvs run`
// with a non-zero exit and file:line:col. It needs no root: the
// configuration is read before anything else.
func TestRunConfigSyntaxError(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "keepalived.conf")
	os.WriteFile(bad, []byte("virtual_server 198.18.0.100 80 {\n    lb_algo rr\n    real_server 198.18.1.11 80 {\n        weight abc\n    }\n}\n"), 0o644)
	var out, errb bytes.Buffer
	code := Main([]string{"run", "-f", bad}, &out, &errb)
	if code == 0 {
		t.Fatal("xvs run exited 0 on a broken configuration")
	}
	want := bad + ":4:16: "
	if !strings.Contains(errb.String(), want) {
		t.Fatalf("stderr lacks %q:\n%s", want, errb.String())
	}
	t.Log(errb.String())
	code = Main([]string{"run", "-f", filepath.Join(dir, "missing.conf")}, &out, &errb)
	if code == 0 {
		t.Fatal("xvs run exited 0 on a missing configuration")
	}
}

// TestStockKeepalivedConf runs a stock keepalived.conf for LVS-NAT
// unchanged: the VIP is only in a MASTER vrrp_instance, the real servers
// carry health checks xvs does not run yet, the legacy lvs_sched and
// lvs_method spellings are used. The director becomes MASTER of the
// vrrp_instance, answers for the VIP without the kernel holding it, and
// serves it with rr.
func TestStockKeepalivedConf(t *testing.T) {
	l := upLab(t)
	conf, err := filepath.Abs("testdata/keepalived-nat.conf")
	if err != nil {
		t.Fatal(err)
	}
	d, err := startDirector(l, t.TempDir(), "-f", conf)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, d, "MASTER", 10*time.Second)
	// The VIP is answered for by the classifier, never held by the kernel.
	if err := lab.Do(l.LBNS, func() error { return vipOnWAN(l, "198.18.0.200", false) }); err != nil {
		t.Error(err)
	}
	vip := netip.MustParseAddr("198.18.0.200")
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: vip, Requests: 300, Datagrams: 300})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.String())
	if res.TCP.Failed+res.UDP.Failed != 0 || res.NonVIPReplies != 0 {
		t.Errorf("failures through the vrrp_instance VIP: %s", res.String())
	}
	for _, s := range []string{"rs1", "rs2", "rs3"} {
		if res.TCP.PerServer[s] != 100 || res.UDP.PerServer[s] != 100 {
			t.Errorf("rr split TCP %v UDP %v, want 100 each", res.TCP.PerServer, res.UDP.PerServer)
			break
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("director: %v\n%s", err, d.Log())
	}
	log := d.Log()
	for _, want := range []string{
		`"instance": "VI_1", "from": "BACKUP", "to": "MASTER"`,
		`stopped: XDP detached, sockets closed`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("director log lacks %q:\n%s", want, log)
		}
	}
	if err := lab.Do(l.LBNS, func() error { return vipOnWAN(l, "198.18.0.200", false) }); err != nil {
		t.Error(err)
	}
	if strings.Contains(log, `keyword "notification_email" is accepted but not acted on`) {
		t.Errorf("notification_email, which sends the mail alerts, reported as not acted on:\n%s", log)
	}
}

// vipOnWAN returns an error unless the kernel's wan0 holds (want) or does
// not hold the address vip. Call it inside lab.Do in the director's
// namespace.
func vipOnWAN(l *lab.Lab, vip string, want bool) error {
	wan, err := netlink.LinkByName(l.WANIf)
	if err != nil {
		return err
	}
	addrs, err := netlink.AddrList(wan, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	has := false
	for _, a := range addrs {
		has = has || a.IP.Equal(net.ParseIP(vip))
	}
	if has != want {
		return fmt.Errorf("VIP %s on %s: %v, want %v", vip, l.WANIf, has, want)
	}
	return nil
}

// injector sends raw frames out of the client's eth0 to the director's
// WAN interface.
type injector struct {
	fd, ifindex       int
	clientMAC, wanMAC net.HardwareAddr
}

// newInjector opens a packet socket in the client namespace; it is closed
// when the test ends.
func newInjector(t *testing.T, l *lab.Lab) *injector {
	t.Helper()
	inj := &injector{}
	if err := lab.Do(l.LBNS, func() error {
		link, err := netlink.LinkByName(l.WANIf)
		if err == nil {
			inj.wanMAC = link.Attrs().HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Do(l.ClientNS, func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		inj.clientMAC, inj.ifindex = link.Attrs().HardwareAddr, link.Attrs().Index
		inj.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(inj.fd) })
	return inj
}

func (inj *injector) send(frame []byte) error {
	return unix.Sendto(inj.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: inj.ifindex, Halen: 6})
}
