package config_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/config"
)

func ExampleParse() {
	src := []byte(`
virtual_server 198.18.0.100 80 { protocol TCP
    lb_algo rr
    lb_kind NAT
    hashed
    real_server 198.18.1.1 80 { weight 2 }
    real_server 198.18.1.2 8080
}
`)
	spec, err := config.Parse("keepalived.conf", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, vs := range spec.VirtualServers {
		fmt.Println(vs.Protocol, netip.AddrPortFrom(vs.Addr, vs.Port), vs.Scheduler, vs.Kind, vs.DelayLoop)
		for _, rs := range vs.Reals {
			fmt.Println("  real server", netip.AddrPortFrom(rs.Addr, rs.Port), "weight", rs.Weight)
		}
	}
	for _, w := range spec.Warnings {
		fmt.Println(w)
	}
	// Output:
	// TCP 198.18.0.100:80 rr NAT 1m0s
	//   real server 198.18.1.1:80 weight 2
	//   real server 198.18.1.2:8080 weight 1
	// keepalived.conf:5:5: note: keyword "hashed" is accepted but not acted on yet
}

func ExampleParse_error() {
	src := []byte(`virtual_server 198.18.0.100 80 { protocol TCP
    lb_algo FOO
    real_server 198.18.1.1 80 {
        weight heavy
    }
}
`)
	_, err := config.Parse("keepalived.conf", src)
	var perr *config.Error
	if errors.As(err, &perr) {
		for _, d := range perr.Diags {
			fmt.Println(d)
		}
	}
	// Output:
	// keepalived.conf:2:13: lb_algo "FOO" is not a known scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos)
	// keepalived.conf:4:16: real_server weight "heavy" is not a number between 0 and 65535
}
