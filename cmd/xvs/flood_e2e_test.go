package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/lab"
)

// TestSynFlood is the connection-table issue's flood test: with the table
// bounded at 4096 entries, a flood of SYNs from 50 000 spoofed sources hits
// the VIP while real clients keep fetching over established keep-alive
// connections. The clients see no failure, the table stays within its
// bound, and the counters say what happened to the flood.
func TestSynFlood(t *testing.T) {
	l := upBareLab(t)
	for i, ns := range l.ServerNS {
		c, err := lab.ServeWith(ns, l.ServerNames[i], lab.ServeOptions{KeepAlive: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	const bound = 4096
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	src := "xvs {\n    max_connections 4096\n}\nvirtual_server 198.18.0.100 80 {\n    lb_algo rr\n    protocol TCP\n"
	for i := 11; i <= 13; i++ {
		src += fmt.Sprintf("    real_server 198.18.1.%d 80 {\n        weight 1\n    }\n", i)
	}
	os.WriteFile(conf, []byte(src+"}\n"), 0o644)
	directorT(t, l, "-f", conf)

	// Real clients: 8 keep-alive connections, fetching until told to stop.
	const clients = 8
	var conns []net.Conn
	if err := lab.Do(l.ClientNS, func() error {
		for i := 0; i < clients; i++ {
			c, err := net.DialTimeout("tcp4", "198.18.0.100:80", 3*time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			br := bufio.NewReader(c)
			for !stop.Load() {
				c.SetDeadline(time.Now().Add(3 * time.Second))
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
					failed.Add(1)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					failed.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ok.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	// The flood, from the client namespace's eth0 with spoofed sources in
	// 198.19.0.0/16 (inside the benchmarking range).
	inj := newInjector(t, l)
	eth := &layers.Ethernet{SrcMAC: inj.clientMAC, DstMAC: inj.wanMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 19, 0, 1}, DstIP: net.IP{198, 18, 0, 100}}
	tcp := &layers.TCP{SrcPort: 1, DstPort: 80, SYN: true, Window: 1000, Seq: 1}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp)
	tmpl := append([]byte(nil), buf.Bytes()...)
	frame := make([]byte, len(tmpl))
	const floodFrames = 50000
	sent := 0
	for i := 0; i < floodFrames; i++ {
		copy(frame, tmpl)
		ipv := header.IPv4(frame[header.EthernetSize:])
		ipv.SetSourceAddressWithChecksumUpdate([4]byte{198, 19, byte(i >> 8), byte(i)})
		tc := header.TCP(frame[header.EthernetSize+20 : header.EthernetSize+40]) // without the Ethernet padding
		tc.UpdateChecksumForAddress([4]byte{198, 19, 0, 1}, ipv.SourceAddress())
		tc.SetSourcePortWithChecksumUpdate(uint16(1024 + i%60000))
		binary.BigEndian.PutUint32(frame[header.EthernetSize+20+4:], uint32(i)) // a sequence number per SYN; the checksum is recomputed below
		tc.SetChecksum(header.ComputeTransportChecksum(header.ProtocolTCP, ipv, []byte(tc)))
		if err := inj.send(frame); err == nil {
			sent++
		}
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	m, err := scrape(l.LBNS, "127.0.0.1:9333")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		if v != 0 && (strings.Contains(k, "dropped") || strings.Contains(k, "xdp") || strings.Contains(k, "received")) {
			t.Logf("%s %v", k, v)
		}
	}
	t.Logf("flood: %d SYNs sent; clients: %d requests ok, %d failed; table %v entries (bound %d), %v embryonic evicted, %v refused as table_full",
		sent, ok.Load(), failed.Load(), m["xvs_connections"], bound, m["xvs_connections_evicted_total"], m[`xvs_frames_dropped_total{reason="table_full"}`])
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Errorf("real clients: %d ok, %d failed under the flood", ok.Load(), failed.Load())
	}
	if m["xvs_connections"] > bound {
		t.Errorf("table holds %v entries, bound %d", m["xvs_connections"], bound)
	}
	if m["xvs_connections_evicted_total"]+m[`xvs_frames_dropped_total{reason="table_full"}`] == 0 {
		t.Error("the counters do not show the flood meeting the bound")
	}
}
