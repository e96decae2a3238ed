package vrrp_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/vrrp"
)

// The caller's loop in miniature: start a backup, hear a master for a
// while, then let the master fall silent and take over. Time is whatever
// the caller says; nothing sleeps.
func ExampleMachine() {
	m, err := vrrp.NewMachine(vrrp.Config{
		VRID:           51,
		Version:        3,
		Priority:       100,
		AdvertInterval: time.Second,
		PrimaryAddr:    netip.MustParseAddr("10.0.0.1"),
		VIPs:           []netip.Prefix{netip.MustParsePrefix("10.0.0.100/24")},
	})
	if err != nil {
		panic(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var acts []vrrp.Action
	show := func(what string, now time.Time) {
		fmt.Printf("%v %s: %v, next timer at %v\n", now.Sub(start), what, m.State(), m.NextDeadline().Sub(start))
		for _, a := range acts {
			fmt.Println("   ", a)
		}
	}

	acts, _ = m.Step(vrrp.Event{Kind: vrrp.EventStartup, Now: start}, acts[:0])
	show("startup", start)

	// The master, priority 200 at 10.0.0.2, advertises. In a real caller
	// this comes from vrrp.ParseFrame on a received frame.
	master := vrrp.Advert{Version: 3, VRID: 51, Priority: 200, Interval: time.Second,
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.100")}}
	now := start.Add(time.Second)
	acts, err = m.Step(vrrp.Event{Kind: vrrp.EventAdvert, Now: now, Advert: &master,
		From: netip.MustParseAddr("10.0.0.2")}, acts[:0])
	if err != nil {
		panic(err) // a real caller counts the drop by reason
	}
	show("advert", now)

	// Silence: the caller delivers EventTimer at the deadline.
	now = m.NextDeadline()
	acts, _ = m.Step(vrrp.Event{Kind: vrrp.EventTimer, Now: now}, acts[:0])
	show("timer", now)

	// Sending what ActionSendAdvert asks for.
	adv := m.Advert(m.Priority())
	frame, _ := vrrp.AppendAdvertFrame(nil, vrrp.FrameParams{
		SrcMAC: [6]byte{0x02, 0, 0, 0, 0, 1},
		Src:    netip.MustParseAddr("10.0.0.1"),
		Dst:    vrrp.MulticastGroup,
	}, &adv)
	fmt.Printf("advert frame: %d bytes\n", len(frame))

	// Output:
	// 0s startup: BACKUP, next timer at 3.609375s
	//     Transition(INIT -> BACKUP)
	// 1s advert: BACKUP, next timer at 4.609375s
	// 4.609375s timer: MASTER, next timer at 5.609375s
	//     AddVIPs
	//     SendAdvert(priority 100)
	//     SendGARP(5 per VIP)
	//     Transition(BACKUP -> MASTER)
	// advert frame: 60 bytes
}
