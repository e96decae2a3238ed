package dataplane

import (
	"testing"

	"github.com/xvs-project/xvs/internal/header"
)

// TestLANRepliesToTheDirectorPass: on LAN, a frame from a real server's
// service port goes to xvs when it is a reply to a client, and to the
// kernel when it is sent to one of the director's own addresses: the
// reply to a health check the director made to that port.
func TestLANRepliesToTheDirectorPass(t *testing.T) {
	p := testProgram(t)
	if err := p.objs.Ifaces.Put(uint32(1), uint32(RoleLAN)); err != nil {
		t.Fatal(err)
	}
	director := [4]byte{198, 18, 1, 1}
	if err := p.SetServices(nil, []ServiceKey{{Addr: real1, Port: 53, Proto: header.ProtocolUDP}}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetLocals([][4]byte{director}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc     string
		dst      [4]byte
		redirect bool
	}{
		{desc: "reply to a client", dst: client, redirect: true},
		{desc: "reply to the director's health check", dst: director},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			runXDP(t, p, udpFrame(t, real1, tc.dst, 53, 40000, rsMAC, lanMAC))
			after, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			// No socket is bound in this test: a frame for xvs is
			// dropped and counted for the want of one.
			redirected, passed := after.NoSocket-before.NoSocket, after.Passed-before.Passed
			if tc.redirect && (redirected != 1 || passed != 0) || !tc.redirect && (redirected != 0 || passed != 1) {
				t.Fatalf("redirected %d passed %d", redirected, passed)
			}
		})
	}
}
