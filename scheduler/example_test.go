package scheduler_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/xvs-project/xvs/scheduler"
)

func ExampleNew() {
	names := []string{"web-a", "web-b", "web-c", "web-d"}
	pool := []scheduler.Server{
		{Weight: 4},
		{Weight: 3},
		{Weight: 2},
		{Weight: 0}, // quiesced: drains, gets no new connections
	}
	s, err := scheduler.New("wrr", pool)
	if err != nil {
		fmt.Println(err)
		return
	}
	var picked []string
	for range 9 { // one whole cycle: 4+3+2 picks
		picked = append(picked, names[s.Pick(scheduler.Hint{})])
	}
	fmt.Println(strings.Join(picked, " "))

	_, err = scheduler.New("random", pool)
	fmt.Println(err)
	// Output:
	// web-a web-a web-b web-a web-b web-c web-a web-b web-c
	// scheduler "random": unknown scheduler
}

// A Maglev-hashed service with keepalived's mh-fallback: a client keeps
// its real server, and when that server is overloaded its new
// connections go elsewhere while every other client stays put.
func ExampleNewWithOptions() {
	reals := []string{"198.18.1.11:80", "198.18.1.12:80", "198.18.1.13:80"}
	counts := make([]*scheduler.Counts, len(reals)) // kept by the connection table
	pool := make([]scheduler.Server, len(reals))
	for i, key := range reals {
		counts[i] = new(scheduler.Counts)
		counts[i].SetThresholds(2, 0) // uthreshold 2
		pool[i] = scheduler.Server{Weight: 1, Key: key, Counts: counts[i]}
	}
	opts, err := scheduler.KeepalivedOptions("mh", "mh-fallback")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := scheduler.NewWithOptions("mh", pool, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	hint := func(client string) scheduler.Hint {
		var h scheduler.Hint
		a := netip.MustParseAddr(client).As4()
		copy(h.Src[:], a[:]) // IPv4: the first four bytes
		return h
	}
	client := hint("203.0.113.7")
	first := s.Pick(client)
	fmt.Println("again:", s.Pick(client) == first)

	// Two connections reach the server's upper threshold.
	counts[first].Add(true)
	counts[first].Add(false)
	fmt.Println("overloaded:", counts[first].Overloaded())
	fmt.Println("moved:", s.Pick(client) != first)

	// One goes away: 1 < 3/4·2, the overload ends.
	counts[first].Remove(false)
	fmt.Println("back:", s.Pick(client) == first)
	// Output:
	// again: true
	// overloaded: true
	// moved: true
	// back: true
}

func ExampleKeepalivedOptions() {
	// virtual_server 198.18.0.100 53 { lb_algo sh; sh-port; ops; ... }
	opts, err := scheduler.KeepalivedOptions("sh", "sh-port", "ops")
	fmt.Printf("%+v %v\n", opts, err)

	_, err = scheduler.KeepalivedOptions("sh", "sh-hash")
	fmt.Println(errors.Is(err, scheduler.ErrUnknownFlag))
	// Output:
	// {MHTableSize:0 Fallback:false Port:true OnePacket:true LBLCExpire:0s Locality:<nil> Now:<nil>} <nil>
	// true
}
