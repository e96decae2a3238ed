package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/lab"
)

// linePort is the TCP port of the line servers of the sync test: every
// line a client sends comes back prefixed with the real server's name.
const linePort = 2000

// serveLines runs a line server on linePort in every real server's
// namespace until the test ends.
func serveLines(t *testing.T, l *lab.Lab) {
	t.Helper()
	for i, ns := range l.ServerNS {
		name := l.ServerNames[i]
		var ln net.Listener
		if err := lab.Do(ns, func() error {
			var err error
			ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", linePort))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var conns []net.Conn
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					sc := bufio.NewScanner(c)
					for sc.Scan() {
						if _, err := fmt.Fprintf(c, "%s %s\n", name, sc.Text()); err != nil {
							return
						}
					}
				}()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
}

// flow is one long-lived client flow through the VIP: a TCP connection
// exchanging a line every period, or a UDP flow (one source port) sending
// a datagram every period. It records which real server answered and
// whether that ever changed or the flow broke.
type flow struct {
	name string
	mu   sync.Mutex
	// server is the real server of the first answer; changed is set if
	// a later answer came from another one.
	server  string
	changed string
	answers int
	last    time.Time
	err     error
}

func (f *flow) answer(server string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server == "" {
		f.server = server
	} else if server != f.server && f.changed == "" {
		f.changed = server
	}
	f.answers++
	f.last = time.Now()
}

func (f *flow) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

// state returns the flow's answers so far and a reason it is broken ("" if
// it is not).
func (f *flow) state() (answers int, server, broken string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.err != nil:
		broken = f.err.Error()
	case f.changed != "":
		broken = fmt.Sprintf("moved from %s to %s", f.server, f.changed)
	}
	return f.answers, f.server, broken
}

// flows runs TCP and UDP flows from the client namespace.
type flows struct {
	list []*flow
	stop chan struct{}
	wg   sync.WaitGroup
	cls  []func()
}

// startFlows opens tcp connections to VIP:linePort (from src[i % len(src)]
// when src is given, else the client's address) and udp flows to VIP:53,
// each exchanging a message every period until the test ends.
func startFlows(t *testing.T, l *lab.Lab, tcp, udp int, src []netip.Addr, period time.Duration) *flows {
	t.Helper()
	fs := &flows{stop: make(chan struct{})}
	t.Cleanup(fs.close)
	for i := 0; i < tcp; i++ {
		var c net.Conn
		err := lab.Do(l.ClientNS, func() error {
			d := net.Dialer{Timeout: 5 * time.Second}
			if len(src) > 0 {
				d.LocalAddr = &net.TCPAddr{IP: src[i%len(src)].AsSlice()}
			}
			var err error
			c, err = d.Dial("tcp4", netip.AddrPortFrom(l.VIP, linePort).String())
			return err
		})
		if err != nil {
			t.Fatalf("TCP flow %d: %v", i, err)
		}
		f := &flow{name: fmt.Sprintf("tcp %s", c.LocalAddr())}
		fs.list = append(fs.list, f)
		fs.cls = append(fs.cls, func() { c.Close() })
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			r := bufio.NewReader(c)
			for n := 0; ; n++ {
				select {
				case <-fs.stop:
					return
				case <-time.After(period):
				}
				// TCP retransmits across a failover: give it time.
				c.SetDeadline(time.Now().Add(15 * time.Second))
				if _, err := fmt.Fprintf(c, "line %d\n", n); err != nil {
					f.fail(fmt.Errorf("write: %w", err))
					return
				}
				line, err := r.ReadString('\n')
				if err != nil {
					select {
					case <-fs.stop:
					default:
						f.fail(fmt.Errorf("read: %w", err))
					}
					return
				}
				server, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
				if rest != fmt.Sprintf("line %d", n) {
					f.fail(fmt.Errorf("answer %q to line %d", line, n))
					return
				}
				f.answer(server)
			}
		}()
	}
	for i := 0; i < udp; i++ {
		var c *net.UDPConn
		err := lab.Do(l.ClientNS, func() error {
			var err error
			c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.VIP, lab.UDPPort)))
			return err
		})
		if err != nil {
			t.Fatalf("UDP flow %d: %v", i, err)
		}
		f := &flow{name: fmt.Sprintf("udp %s", c.LocalAddr())}
		fs.list = append(fs.list, f)
		fs.cls = append(fs.cls, func() { c.Close() })
		fs.wg.Add(2)
		go func() {
			defer fs.wg.Done()
			buf := make([]byte, 64)
			for {
				n, err := c.Read(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue // ICMP errors while nobody answers
				}
				f.answer(string(buf[:n]))
			}
		}()
		go func() {
			defer fs.wg.Done()
			tick := time.NewTicker(period)
			defer tick.Stop()
			for {
				select {
				case <-fs.stop:
					return
				case <-tick.C:
				}
				c.Write([]byte("flow"))
			}
		}()
	}
	return fs
}

func (fs *flows) close() {
	select {
	case <-fs.stop:
		return
	default:
	}
	close(fs.stop)
	for _, c := range fs.cls {
		c()
	}
	fs.wg.Wait()
}

// answers returns every flow's answer count.
func (fs *flows) answers() []int {
	out := make([]int, len(fs.list))
	for i, f := range fs.list {
		out[i], _, _ = f.state()
	}
	return out
}

// servers returns every flow's real server.
func (fs *flows) servers() []string {
	out := make([]string, len(fs.list))
	for i, f := range fs.list {
		_, out[i], _ = f.state()
	}
	return out
}

// keepWorking checks that every flow answered at least want more times
// than in before within d, never broke, and never moved to another real
// server; it reports how many did.
func (fs *flows) keepWorking(t *testing.T, what string, before []int, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, tcpOK, udpOK, tcpN, udpN := 0, 0, 0, 0, 0
		var bad []string
		for i, f := range fs.list {
			n, _, broken := f.state()
			isTCP := strings.HasPrefix(f.name, "tcp")
			if isTCP {
				tcpN++
			} else {
				udpN++
			}
			switch {
			case broken != "":
				bad = append(bad, f.name+": "+broken)
			case n-before[i] >= want:
				ok++
				if isTCP {
					tcpOK++
				} else {
					udpOK++
				}
			default:
				bad = append(bad, fmt.Sprintf("%s: %d answers, want %d more", f.name, n, want))
			}
		}
		if ok == len(fs.list) {
			t.Logf("%s: %d/%d TCP connections and %d/%d UDP flows kept working on their real servers", what, tcpOK, tcpN, udpOK, udpN)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d/%d TCP connections and %d/%d UDP flows kept working on their real servers; not:\n%s",
				what, tcpOK, tcpN, udpOK, udpN, strings.Join(bad, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listConns returns the lines of xvs list -n -c of a director that contain
// every one of words.
func listConns(t *testing.T, d *lab.Director, words ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main([]string{"list", "-n", "-c", "--admin", d.Admin}, &out, &errb); code != 0 {
		t.Fatalf("xvs list -c: exit %d: %s", code, errb.String())
	}
	var lines []string
next:
	for _, line := range strings.Split(out.String(), "\n") {
		for _, w := range words {
			if !strings.Contains(line, w) {
				continue next
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// waitSynced waits until the director lists at least tcp ESTABLISHED
// connections to linePort and udp UDP flows to :53.
func waitSynced(t *testing.T, d *lab.Director, tcp, udp int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		nt := len(listConns(t, d, "ESTABLISHED", fmt.Sprintf(":%d ", linePort)))
		nu := len(listConns(t, d, "UDP ", ":53 "))
		if nt >= tcp && nu >= udp {
			t.Logf("the backup lists %d synced ESTABLISHED connections and %d UDP flows (xvs list -c)", nt, nu)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v the backup listed %d of %d connections and %d of %d UDP flows", within, nt, tcp, nu, udp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// setLinks sets the director's wan0 and lan0 in namespace ns up or down.
func setLinks(t *testing.T, ns string, up bool) {
	t.Helper()
	err := lab.Do(ns, func() error {
		for _, name := range []string{lab.WANIf, lab.LANIf} {
			link, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if up {
				err = netlink.LinkSetUp(link)
			} else {
				err = netlink.LinkSetDown(link)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSyncFailover is the connection sync issue's acceptance: two xvs
// directors with lvs_sync_daemon on lan0 following VI_LAN (in a sync group
// with VI_WAN); 20 TCP connections exchanging a line every 100 ms and UDP
// flows every 100 ms; kill -9 of the MASTER and its links taken down: every
// connection and flow keeps working through the new MASTER, on its real
// server; the old MASTER returns and preempts (after preempt_delay, which
// gives the backup time to learn the table: IPVS resyncs a connection every
// 50 packets): still every one. With persistence_timeout, new connections
// from each client address after each failover go to the real server its
// template names.
//
// The third case has no lvs_sync_daemon but sloppy_tcp and the sh
// scheduler: the new MASTER has no entries, picks the TCP connections up
// mid-stream and sends every flow to the server the hash gives, the one
// the old MASTER gave it.
func TestSyncFailover(t *testing.T) {
	for _, tc := range []struct {
		name           string
		persist, sync  bool
		algo, xvsBlock string
	}{
		{name: "no persistence", sync: true},
		{name: "persistence_timeout", sync: true, persist: true},
		{name: "sloppy_tcp without sync", algo: "sh", xvsBlock: "xvs {\n    sloppy_tcp\n}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { testSyncFailover(t, tc.persist, tc.sync, tc.algo, tc.xvsBlock) })
	}
}

func testSyncFailover(t *testing.T, persist, sync bool, algo, xvsBlock string) {
	l := upPairLab(t)
	serveLines(t, l)
	var clients []netip.Addr
	vs := ""
	if persist {
		vs = "    persistence_timeout 120\n"
		// Six client addresses, so that templates map them over all
		// three real servers.
		for i := 21; i <= 26; i++ {
			clients = append(clients, netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}))
		}
		err := lab.Do(l.ClientNS, func() error {
			link, err := netlink.LinkByName(lab.HostIf)
			if err != nil {
				return err
			}
			for _, a := range clients {
				addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}
				if err := netlink.AddrAdd(link, addr); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	const preemptDelay = 8 * time.Second
	global := ""
	if sync {
		global = "    lvs_sync_daemon lan0 VI_LAN id 7\n"
	}
	conf := func(state string, prio int) pairConf {
		return pairConf{state: state, priority: prio, advert: "0.1", version: 3, lines: true, vs: vs,
			global: global, algo: algo, tail: xvsBlock,
			inst: fmt.Sprintf("    preempt_delay %d\n", int(preemptDelay/time.Second))}
	}
	lb1 := startPairDirector(t, l.LBNS, conf("MASTER", 150))
	lb2 := startPairDirector(t, l.LB2NS, conf("BACKUP", 100))
	waitState(t, lb1, "MASTER", 10*time.Second)
	waitState(t, lb2, "BACKUP", 10*time.Second)

	const nTCP, nUDP = 20, 10
	fs := startFlows(t, l, nTCP, nUDP, clients, 100*time.Millisecond)
	fs.keepWorking(t, "before the failover", make([]int, len(fs.list)), 5, 10*time.Second)
	if sync {
		waitSynced(t, lb2, nTCP, nUDP, 10*time.Second)
		checkSyncMetrics(t, l.LBNS, l.LB2NS, nTCP+nUDP)
	}
	servers := fs.servers()
	// A persistent client's first connection made its template.
	template := map[netip.Addr]string{}
	for i, a := range clients {
		template[a] = servers[i]
	}

	// kill -9 of the MASTER, and its links down.
	before := fs.answers()
	if err := lb1.Kill(); err == nil {
		t.Fatal("the killed director exited cleanly")
	}
	setLinks(t, l.LBNS, false)
	waitState(t, lb2, "MASTER", 5*time.Second)
	fs.keepWorking(t, "after kill -9 of the MASTER", before, 20, 20*time.Second)
	if persist {
		checkTemplates(t, l, clients, template, "after the failover")
	}

	// The old MASTER returns and, after preempt_delay, preempts.
	setLinks(t, l.LBNS, true)
	back := time.Now()
	lb1 = startPairDirector(t, l.LBNS, conf("MASTER", 150))
	waitState(t, lb1, "MASTER", preemptDelay+10*time.Second)
	t.Logf("the old MASTER preempted %v after it was started (preempt_delay %v)", time.Since(back).Round(time.Millisecond), preemptDelay)
	waitState(t, lb2, "BACKUP", 2*time.Second)
	fs.keepWorking(t, "after the old MASTER preempted", fs.answers(), 20, 20*time.Second)
	if persist {
		checkTemplates(t, l, clients, template, "after the preemption")
	}
	if got := fs.servers(); !slices.Equal(got, servers) {
		t.Errorf("real servers of the flows changed:\n%v\n%v", servers, got)
	}
}

// checkTemplates opens a new connection from each client address, in
// reverse order (a fresh rr scheduler would map them differently), and
// checks that each lands on the real server of its synced template.
func checkTemplates(t *testing.T, l *lab.Lab, clients []netip.Addr, template map[netip.Addr]string, when string) {
	t.Helper()
	for i := len(clients) - 1; i >= 0; i-- {
		a := clients[i]
		var c net.Conn
		err := lab.Do(l.ClientNS, func() error {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: a.AsSlice()}}
			var err error
			c, err = d.Dial("tcp4", netip.AddrPortFrom(l.VIP, linePort).String())
			return err
		})
		if err != nil {
			t.Fatalf("%s: new connection from %s: %v", when, a, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "hello\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatalf("%s: new connection from %s: %v", when, a, err)
		}
		if server, _, _ := strings.Cut(line, " "); server != template[a] {
			t.Errorf("%s: a new connection from %s went to %s, its template says %s", when, a, server, template[a])
		}
	}
	t.Logf("%s: new connections from %d client addresses went to their templates' real servers", when, len(clients))
}

// checkSyncMetrics checks the sync metrics of a master in ns1 and a backup
// in ns2 that has installed at least n connections: roles, messages both
// ways, nothing lost, dropped or refused.
func checkSyncMetrics(t *testing.T, ns1, ns2 string, n int) {
	t.Helper()
	m1, err := scrape(ns1, "127.0.0.1:9333")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := scrape(ns2, "127.0.0.1:9333")
	if err != nil {
		t.Fatal(err)
	}
	dropped, _ := sumPrefix(m2, "xvs_sync_dropped_total")
	for _, c := range []struct {
		what string
		got  float64
		ok   bool
	}{
		{"master role", m1[`xvs_sync_role{role="master"}`], m1[`xvs_sync_role{role="master"}`] == 1},
		{"backup role", m2[`xvs_sync_role{role="backup"}`], m2[`xvs_sync_role{role="backup"}`] == 1},
		{"records queued on the master", m1["xvs_sync_records_queued_total"], m1["xvs_sync_records_queued_total"] >= float64(n)},
		{"records lost on the master", m1["xvs_sync_records_lost_total"], m1["xvs_sync_records_lost_total"] == 0},
		{"messages sent", m1[`xvs_sync_messages_total{direction="sent"}`], m1[`xvs_sync_messages_total{direction="sent"}`] > 0},
		{"messages received", m2[`xvs_sync_messages_total{direction="received"}`], m2[`xvs_sync_messages_total{direction="received"}`] > 0},
		{"connections installed", m2[`xvs_sync_installed_total{result="installed"}`], m2[`xvs_sync_installed_total{result="installed"}`] >= float64(n)},
		{"refused", m2[`xvs_sync_installed_total{result="refused"}`], m2[`xvs_sync_installed_total{result="refused"}`] == 0},
		{"dropped", dropped, dropped == 0},
	} {
		if !c.ok {
			t.Errorf("sync metrics: %s = %v", c.what, c.got)
		}
	}
	t.Logf("sync metrics: master sent %v messages with %v entries; backup installed %v connections, updated %v, %v templates",
		m1[`xvs_sync_messages_total{direction="sent"}`], m1[`xvs_sync_entries_total{direction="sent"}`],
		m2[`xvs_sync_installed_total{result="installed"}`], m2[`xvs_sync_installed_total{result="updated"}`],
		m2[`xvs_sync_installed_total{result="template"}`])
}
