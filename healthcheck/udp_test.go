package healthcheck

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"
)

// udpServer listens on 127.0.0.1:0 and answers each datagram with the
// datagrams reply returns, in order (none when it returns nil).
func udpServer(t *testing.T, reply func([]byte) [][]byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, out := range reply(bytes.Clone(buf[:n])) {
				pc.WriteTo(out, from)
			}
		}
	})
	return addrPort(t, pc.LocalAddr())
}

func TestUDPCheck(t *testing.T) {
	echo := udpServer(t, func(b []byte) [][]byte { return [][]byte{b} })
	silent := udpServer(t, func([]byte) [][]byte { return nil })
	fixed := udpServer(t, func([]byte) [][]byte { return [][]byte{{0xde, 0xad, 0xbe, 0xef, 0x01}} })
	closed := closedPort(t, "udp")
	tests := []struct {
		desc    string
		server  netip.AddrPort
		cfg     UDPConfig
		healthy bool
		err     error
	}{
		{"echo, no reply required", echo, UDPConfig{}, true, nil},
		{"silent, no reply required: silence is health", silent, UDPConfig{}, true, nil},
		{"closed port, no reply required: ICMP port unreachable", closed, UDPConfig{}, false, syscall.ECONNREFUSED},
		{"echo, reply required", echo, UDPConfig{RequireReply: true}, true, nil},
		{"silent, reply required", silent, UDPConfig{RequireReply: true}, false, ErrNoResponse},
		{"closed port, reply required", closed, UDPConfig{RequireReply: true}, false, syscall.ECONNREFUSED},
		{"payload echoed matches the pattern", echo, UDPConfig{Payload: []byte("ping"), RequireReply: true, Reply: []byte("ping")}, true, nil},
		{"pattern compared over the shorter length", fixed, UDPConfig{RequireReply: true, Reply: []byte{0xde, 0xad}}, true, nil},
		{"pattern longer than the reply", fixed, UDPConfig{RequireReply: true, Reply: []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02}}, true, nil},
		{"pattern mismatch", fixed, UDPConfig{RequireReply: true, Reply: []byte{0xde, 0xaf}}, false, ErrReplyMismatch},
		{"masked nibble ignored", fixed, UDPConfig{RequireReply: true, Reply: []byte{0xde, 0xa0}, ReplyMask: []byte{0, 0x0f}}, true, nil},
		{"reply shorter than min_reply_length", fixed, UDPConfig{RequireReply: true, MinReplyLength: 6}, false, ErrReplyMismatch},
		{"reply longer than max_reply_length", fixed, UDPConfig{RequireReply: true, MaxReplyLength: 4}, false, ErrReplyMismatch},
		{"reply within the lengths", fixed, UDPConfig{RequireReply: true, MinReplyLength: 5, MaxReplyLength: 5}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			tt.cfg.ConnectTimeout = shortTimeout
			c := newChecker(t, tt.cfg, tt.server)
			r, took := timedCheck(c)
			assertResult(t, r, tt.healthy, tt.err)
			if took > shortTimeout+time.Second {
				t.Errorf("check took %v with a %v timeout", took, shortTimeout)
			}
		})
	}
}

func TestUDPConfigErrors(t *testing.T) {
	server := netip.MustParseAddrPort("127.0.0.1:53")
	for _, cfg := range []UDPConfig{
		{MinReplyLength: 10, MaxReplyLength: 5},
		{MinReplyLength: -1},
		{MaxReplyLength: 70000},
		{RequireReply: true, Reply: []byte{1, 2}, ReplyMask: []byte{1}},
		{Reply: []byte{1}}, // a pattern without require_reply
		{Payload: make([]byte, 70000)},
	} {
		if _, err := cfg.NewChecker(server); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewChecker(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestParseHex(t *testing.T) {
	tests := []struct {
		in         string
		data, mask []byte
	}{
		// The example of keepalived.conf(5).
		{"Ab12f 3 456 546443123", []byte{0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03}, nil},
		{"00", []byte{0}, nil},
		{"  de\tad  ", []byte{0xde, 0xad}, nil},
		{"4x Xx 1", []byte{0x40, 0x00, 0x01}, []byte{0x0f, 0xff, 0x00}},
	}
	for _, tt := range tests {
		data, mask, err := ParseHex(tt.in)
		if err != nil || !bytes.Equal(data, tt.data) || !reflect.DeepEqual(mask, tt.mask) {
			t.Errorf("ParseHex(%q) = % x, % x, %v; want % x, % x", tt.in, data, mask, err, tt.data, tt.mask)
		}
	}
	for _, bad := range []string{"", "   ", "0g", "12-34", "0x12"} {
		if _, _, err := ParseHex(bad); !errors.Is(err, ErrInvalidConfig) && bad != "0x12" {
			t.Errorf("ParseHex(%q): err = %v, want ErrInvalidConfig", bad, err)
		}
	}
	// "0x12" is not C notation here: x is a wildcard digit.
	if data, mask, err := ParseHex("0x12"); err != nil || !bytes.Equal(data, []byte{0x00, 0x12}) || !bytes.Equal(mask, []byte{0x0f, 0}) {
		t.Errorf(`ParseHex("0x12") = % x, % x, %v`, data, mask, err)
	}
}

func FuzzParseHex(f *testing.F) {
	f.Add("Ab12f 3 456 546443123") // keepalived's example
	f.Add("xX 0")                  // wildcards
	f.Add("zz")                    // not hex
	f.Fuzz(func(t *testing.T, s string) {
		data, mask, err := ParseHex(s)
		if err != nil {
			return
		}
		if len(data) == 0 || (mask != nil && len(mask) != len(data)) {
			t.Fatalf("ParseHex(%q) = % x, % x", s, data, mask)
		}
		if !matchReply(data, data, mask) {
			t.Fatalf("data does not match itself")
		}
	})
}
