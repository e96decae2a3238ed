package healthcheck_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/xvs-project/xvs/healthcheck"
)

// This example checks one real server — a TCP listener on loopback — and
// follows its virtual service's pool as the server comes up and goes
// away. In xvs the configuration layer fills the ServiceSpec from
// keepalived.conf and the control layer turns each Desired pool into a
// scheduler snapshot.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	spec := healthcheck.ServiceSpec{
		Name: "TCP 198.18.0.100:80",
		Servers: []healthcheck.ServerSpec{{
			Name:   "web1",
			Addr:   netip.MustParseAddrPort(ln.Addr().String()),
			Weight: 3,
			Checks: []healthcheck.CheckSpec{{
				Config: healthcheck.TCPConfig{Conn: healthcheck.Conn{ConnectTimeout: time.Second}},
				Policy: healthcheck.Policy{
					DelayLoop: 20 * time.Millisecond,
					Warmup:    -1,   // check at once
					Alpha:     true, // down until a check passes
				},
			}},
		}},
		Sorry: &healthcheck.SorryServer{Name: "sorry"},
	}

	pool, err := healthcheck.NewPool(spec, healthcheck.Hooks{
		QuorumUp:   func() { fmt.Println("quorum up") },
		QuorumDown: func() { fmt.Println("quorum down") },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	show := func(d healthcheck.Desired) {
		var members []string
		for _, m := range d.Members {
			members = append(members, fmt.Sprintf("%s:%d", m.Name, m.Weight))
		}
		fmt.Println("pool:", strings.Join(members, " "))
	}
	show(pool.Desired())

	jobs, err := spec.Jobs()
	if err != nil {
		fmt.Println(err)
		return
	}
	changed := make(chan struct{}, 16)
	r := healthcheck.NewRunner(healthcheck.RunnerConfig{
		OnChange: func(c healthcheck.Change) {
			if pool.Apply(c) {
				show(pool.Desired())
				changed <- struct{}{}
			}
		},
	})
	for _, j := range jobs {
		if err := r.Add(j); err != nil {
			fmt.Println(err)
			return
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	<-changed  // web1 passed its first check
	ln.Close() // web1 goes away: connections are refused
	<-changed

	cancel()
	<-done
	// Output:
	// pool: sorry:1
	// quorum up
	// pool: web1:3
	// quorum down
	// pool: sorry:1
}

// Policy.Step is the pure retry state machine the Runner applies after
// every check.
func ExamplePolicy_Step() {
	p := healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 2, DelayBeforeRetry: time.Second}
	s := p.Initial()
	for _, healthy := range []bool{false, false, false, true} {
		r := healthcheck.Result{Healthy: healthy}
		if !healthy {
			r.Err = errors.New("connection refused")
		}
		var next time.Duration
		s, next = p.Step(s, r)
		fmt.Printf("healthy=%v -> up=%v, next check in %v\n", healthy, s.Up, next)
	}
	// Output:
	// healthy=false -> up=true, next check in 1s
	// healthy=false -> up=true, next check in 1s
	// healthy=false -> up=false, next check in 6s
	// healthy=true -> up=true, next check in 6s
}

// misc_path and notify script command lines are split like keepalived
// splits them, and executed without a shell.
func ExampleSplitCommand() {
	args, err := healthcheck.SplitCommand(`/usr/local/bin/check --url "http://[::1]/health" 'a b' $HOME`)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range args {
		fmt.Printf("%q\n", a)
	}
	// Output:
	// "/usr/local/bin/check"
	// "--url"
	// "http://[::1]/health"
	// "a b"
	// "$HOME"
}

// UDP_CHECK's payload and require_reply take keepalived's free-format hex.
func ExampleParseHex() {
	data, mask, err := healthcheck.ParseHex("Ab12f 3 4x")
	fmt.Printf("% x / % x / %v\n", data, mask, err)
	// Output:
	// ab 12 0f 03 40 / 00 00 00 00 0f / <nil>
}
