//go:build linux

package lab_test

import (
	"fmt"
	"log"

	"github.com/xvs-project/xvs/lab"
)

// ExampleUp builds the default lab, starts the real servers in-process,
// sends traffic from the client straight to rs1 through the kernel's
// forwarding (there is no director in this example) and removes the lab.
// It needs root.
func ExampleUp() {
	cfg := lab.Default()
	cfg.Forwarding = true
	l, err := lab.Up(cfg)
	if err != nil {
		log.Fatal(err) // e.g. "lab xvs is already up; run xvs lab down"
	}
	defer l.Down()

	if err := l.StartServers(); err != nil {
		log.Fatal(err)
	}
	r, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{
		VIP:       l.ServerAddrs[0],
		Requests:  100,
		Datagrams: 100,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(r)
}

// ExampleDown removes whatever is left of the default lab; it is what
// `xvs lab down` does and is safe to run when nothing is up.
func ExampleDown() {
	if err := lab.Down(lab.DefaultPrefix); err != nil {
		log.Fatal(err)
	}
}
