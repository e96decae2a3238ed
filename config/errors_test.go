package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrors(t *testing.T) {
	runErrorCases(t, parseNamed("bad.conf"), []errorCase{
		{
			desc: "real_server weight is not a number",
			src: `virtual_server 198.18.0.100 80 {
    real_server 198.18.0.11 80 {
        weight abc
    }
}`,
			want: `bad.conf:3:16: real_server weight "abc" is not a number between 0 and 65535`,
		},
		{
			desc: "real_server weight is too large",
			src: `virtual_server 198.18.0.100 80 {
    real_server 198.18.0.11 80 {
        weight 65536
    }
}`,
			want: `bad.conf:3:16: real_server weight "65536" is not a number between 0 and 65535`,
		},
		{
			desc: "real_server weight has a sign",
			src: `virtual_server 198.18.0.100 80 {
    real_server 198.18.0.11 80 {
        weight +1
    }
}`,
			want: `bad.conf:3:16: real_server weight "+1" is not a number between 0 and 65535`,
		},
		{
			desc: "virtual_server without a port",
			src:  "virtual_server 198.18.0.100 {\n}\n",
			want: `bad.conf:1:1: virtual_server needs an IP address and a port, e.g. "virtual_server 198.18.0.100 80 {"`,
		},
		{
			desc: "virtual_server with a bad address",
			src:  "virtual_server 198.18.0.300 80 {\n}\n",
			want: `bad.conf:1:16: virtual_server address "198.18.0.300" is not an IP address`,
		},
		{
			desc: "virtual_server with a zoned address",
			src:  "virtual_server ::ffff:198.18.0.1%eth0 80 {\n}\n",
			want: `bad.conf:1:16: virtual_server address "::ffff:198.18.0.1%eth0" has a zone, which is not supported`,
		},
		{
			desc: "virtual_server with port 0",
			src:  "virtual_server 198.18.0.100 0 {\n}\n",
			want: `bad.conf:1:29: virtual_server port "0" is not a number between 1 and 65535`,
		},
		{
			desc: "virtual_server with port 65536",
			src:  "virtual_server 198.18.0.100 65536 {\n}\n",
			want: `bad.conf:1:29: virtual_server port "65536" is not a number between 1 and 65535`,
		},
		{
			desc: "virtual_server with a value too many",
			src:  "virtual_server 198.18.0.100 80 TCP {\n}\n",
			want: `bad.conf:1:32: virtual_server takes an IP address and a port; unexpected "TCP"`,
		},
		{
			desc: "virtual_server without a block",
			src:  "virtual_server 198.18.0.100 80\nreal_server 198.18.0.11 80\n",
			want: `bad.conf:1:1: virtual_server needs a block, e.g. "virtual_server 198.18.0.100 80 {"` + "\n" +
				`bad.conf:2:1: real_server is only allowed inside a virtual_server block`,
		},
		{
			desc: "real_server with a bad port",
			src:  "virtual_server 198.18.0.100 80 {\n    real_server 198.18.0.11 http\n}\n",
			want: `bad.conf:2:29: real_server port "http" is not a number between 1 and 65535`,
		},
		{
			desc: "real_server without an address",
			src:  "virtual_server 198.18.0.100 80 {\n    real_server {\n    }\n}\n",
			want: `bad.conf:2:5: real_server needs an IP address and a port, e.g. "real_server 198.18.0.11 80 {"`,
		},
		{
			desc: "close brace with no open block",
			src:  "global_defs {\n}\n}\n",
			want: `bad.conf:3:1: unexpected "}" with no open block`,
		},
		{
			desc: "open brace with no keyword",
			src:  "{\n  router_id x\n}\n",
			want: `bad.conf:1:1: unexpected "{" with no keyword before it`,
		},
		{
			desc: "block never closed",
			src:  "\nvirtual_server 198.18.0.100 80 {\n    real_server 198.18.0.11 80 {\n    }\n",
			want: `bad.conf:5:1: block "virtual_server" opened at bad.conf:2:1 is never closed`,
		},
		{
			desc: "block never closed, no newline at the end",
			src:  "xvs {\n    queues 2",
			want: `bad.conf:2:13: block "xvs" opened at bad.conf:1:1 is never closed`,
		},
		{
			desc: "unknown scheduler",
			src:  "virtual_server 198.18.0.100 80 {\n    lb_algo foo\n}\n",
			want: `bad.conf:2:13: lb_algo "foo" is not a known scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos)`,
		},
		{
			desc: "unsupported protocol",
			src:  "virtual_server 198.18.0.100 80 {\n    protocol SCTP\n}\n",
			want: `bad.conf:2:14: protocol "SCTP" is not supported (TCP or UDP)`,
		},
		{
			desc: "unterminated quoted string",
			src:  "global_defs {\n    router_id \"abc\n}\n",
			want: `bad.conf:2:15: unterminated quoted string`,
		},
		{
			desc: "missing value",
			src:  "virtual_server 198.18.0.100 80 {\n    delay_loop\n}\n",
			want: `bad.conf:2:5: delay_loop needs a value, e.g. "delay_loop 6"`,
		},
		{
			desc: "delay_loop with a unit",
			src:  "virtual_server 198.18.0.100 80 {\n    delay_loop 1.5s\n}\n",
			want: `bad.conf:2:16: delay_loop "1.5s" is not a number of seconds, e.g. "6" or "1.5"`,
		},
		{
			desc: "delay_loop of zero",
			src:  "virtual_server 198.18.0.100 80 {\n    delay_loop 0.0\n}\n",
			want: `bad.conf:2:16: delay_loop "0.0" is not greater than 0`,
		},
		{
			desc: "delay_loop too precise",
			src:  "virtual_server 198.18.0.100 80 {\n    delay_loop 0.0000000001\n}\n",
			want: `bad.conf:2:16: delay_loop "0.0000000001" has more than 9 decimals`,
		},
		{
			desc: "delay_loop too long",
			src:  "virtual_server 198.18.0.100 80 {\n    delay_loop 99999999999\n}\n",
			want: `bad.conf:2:16: delay_loop "99999999999" is more than 31536000 seconds`,
		},
		{
			desc: "persistence_timeout negative",
			src:  "virtual_server 198.18.0.100 80 {\n    persistence_timeout -1\n}\n",
			want: `bad.conf:2:25: persistence_timeout "-1" is not a number of seconds between 1 and 2678400, as keepalived requires (leave it out for no persistence)`,
		},
		{
			desc: "persistence_timeout 0",
			src:  "virtual_server 198.18.0.100 80 {\n    persistence_timeout 0\n}\n",
			want: `bad.conf:2:25: persistence_timeout "0" is not a number of seconds between 1 and 2678400, as keepalived requires (leave it out for no persistence)`,
		},
		{
			desc: "one value too many",
			src:  "virtual_server 198.18.0.100 80 {\n    lb_algo rr wrr\n}\n",
			want: `bad.conf:2:16: lb_algo takes one value; unexpected "wrr"`,
		},
		{
			desc: "a value keyword opening a block",
			src:  "virtual_server 198.18.0.100 80 {\n    real_server 198.18.0.11 80 {\n        weight 1 {\n        }\n    }\n}\n",
			want: `bad.conf:3:18: weight does not open a block`,
		},
		{
			desc: "real server of another address family",
			src:  "virtual_server 198.18.0.100 80 {\n    real_server ::ffff:198.18.0.11 80\n}\n",
			want: `bad.conf:2:17: real_server address ::ffff:198.18.0.11 is IPv6 but virtual_server address 198.18.0.100 is IPv4`,
		},
		{
			desc: "duplicate virtual_server",
			src:  "virtual_server 198.18.0.100 80 { protocol TCP\n}\nvirtual_server 198.18.0.100 80 {\n    protocol tcp\n}\n",
			want: `bad.conf:3:1: virtual_server 198.18.0.100 80 TCP is already defined at bad.conf:1:1`,
		},
		{
			desc: "duplicate real_server",
			src:  "virtual_server 198.18.0.100 80 {\n    real_server 198.18.0.11 80\n    real_server 198.18.0.11 80 {\n    }\n}\n",
			want: `bad.conf:3:5: real_server 198.18.0.11 80 is already defined at bad.conf:2:5`,
		},
		{
			desc: "duplicate real_server through the default port",
			src:  "virtual_server 198.18.0.100 80 {\n    real_server 198.18.0.11\n    real_server 198.18.0.11 80\n}\n",
			want: `bad.conf:3:5: real_server 198.18.0.11 80 is already defined at bad.conf:2:5`,
		},
		{
			desc: "virtual_router_id out of range",
			src:  "vrrp_instance VI_1 {\n    virtual_router_id 256\n}\n",
			want: `bad.conf:2:23: virtual_router_id "256" is not a number between 1 and 255`,
		},
		{
			desc: "priority out of range",
			src:  "vrrp_instance VI_1 {\n    virtual_router_id 1\n    priority 0\n}\n",
			want: `bad.conf:3:14: priority "0" is not a number between 1 and 255`,
		},
		{
			desc: "missing virtual_router_id",
			src:  "vrrp_instance VI_1 {\n    state MASTER\n}\n",
			want: `bad.conf:1:1: vrrp_instance "VI_1" needs a virtual_router_id, e.g. "virtual_router_id 51"`,
		},
		{
			desc: "vrrp_instance without a name",
			src:  "vrrp_instance {\n    virtual_router_id 1\n}\n",
			want: `bad.conf:1:1: vrrp_instance needs a name, e.g. "vrrp_instance VI_1 {"`,
		},
		{
			desc: "duplicate vrrp_instance",
			src:  "vrrp_instance VI_1 {\n    virtual_router_id 1\n}\nvrrp_instance VI_1 {\n    virtual_router_id 2\n}\n",
			want: `bad.conf:4:15: vrrp_instance "VI_1" is already defined at bad.conf:1:1`,
		},
		{
			desc: "interface name too long",
			src:  "vrrp_instance VI_1 {\n    interface abcdefghijklmnop\n    virtual_router_id 1\n}\n",
			want: `bad.conf:2:15: interface "abcdefghijklmnop" is not a valid interface name (1 to 15 bytes, without "/", ":" or white space)`,
		},
		{
			desc: "bad virtual IP address",
			src:  "vrrp_instance VI_1 {\n    virtual_router_id 1\n    virtual_ipaddress {\n        198.18.0.300/24\n    }\n}\n",
			want: `bad.conf:4:9: virtual_ipaddress "198.18.0.300/24" is not an IP address or prefix, e.g. "198.18.0.100/24"`,
		},
		{
			desc: "virtual IP prefix too long",
			src:  "vrrp_instance VI_1 {\n    virtual_router_id 1\n    virtual_ipaddress {\n        198.18.0.1/33\n    }\n}\n",
			want: `bad.conf:4:9: virtual_ipaddress "198.18.0.1/33" is not an IP address or prefix, e.g. "198.18.0.100/24"`,
		},
		{
			desc: "virtual IP dev without a value",
			src:  "vrrp_instance VI_1 {\n    virtual_router_id 1\n    virtual_ipaddress {\n        198.18.0.1 dev\n    }\n}\n",
			want: `bad.conf:4:20: dev needs a value, e.g. "dev eth0"`,
		},
		{
			desc: "virtual_ipaddress outside vrrp_instance",
			src:  "virtual_server 198.18.0.100 80 {\n    virtual_ipaddress {\n    }\n}\n",
			want: `bad.conf:2:5: virtual_ipaddress is only allowed inside a vrrp_instance block`,
		},
		{
			desc: "virtual_server inside another block",
			src:  "global_defs {\n    virtual_server 198.18.0.100 80 {\n    }\n}\n",
			want: `bad.conf:2:5: virtual_server is only allowed at the top level`,
		},
		{
			desc: "queues is not a number",
			src:  "xvs {\n    queues many\n}\n",
			want: `bad.conf:2:12: queues "many" is not a number between 1 and 1024`,
		},
		{
			desc: "duplicate xvs block",
			src:  "xvs {\n}\nxvs {\n}\n",
			want: `bad.conf:3:1: xvs block is already defined at bad.conf:1:1`,
		},
		{
			desc: "include without a pattern",
			src:  "include\n",
			want: `bad.conf:1:1: include needs a file name or pattern, e.g. "include conf.d/*.conf"`,
		},
		{
			desc: "parsing goes on after an error",
			src: `virtual_server 198.18.0.100 80 {
    lb_algo XX
    real_server 198.18.0.11 80 {
        weight -1
    }
}
vrrp_instance VI_1 {
    virtual_router_id 0
}`,
			want: `bad.conf:2:13: lb_algo "XX" is not a known scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos)` + "\n" +
				`bad.conf:4:16: real_server weight "-1" is not a number between 0 and 65535` + "\n" +
				`bad.conf:8:23: virtual_router_id "0" is not a number between 1 and 255`,
		},
		{
			desc: "brace errors are all reported, and nothing else",
			src:  "}\nvirtual_server 198.18.0.100 80 {\n    lb_kind XX\n}\n}\n",
			want: `bad.conf:1:1: unexpected "}" with no open block` + "\n" +
				`bad.conf:5:1: unexpected "}" with no open block`,
		},
		{
			desc: "virtual_server fwmark",
			src:  "virtual_server fwmark 1 {\n real_server 198.18.0.2 80\n}",
			want: `bad.conf:1:16: fwmark services are not supported by xvs yet`,
		},
		{
			desc: "blocks nested too deeply",
			src:  strings.Repeat("a {\n", 60) + strings.Repeat("}\n", 60),
			want: `bad.conf:51:3: blocks are nested more than 50 deep`,
		},
	})
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("virtual_server 198.18.0.100 80 {\n")
	for i := range 30 {
		fmt.Fprintf(&b, "    real_server 198.18.1.%d 80 { weight x }\n", i+1)
	}
	b.WriteString("}\n")
	_, err := Parse("bad.conf", []byte(b.String()))
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("got %v, want *Error", err)
	}
	if got, want := len(perr.Diags), maxErrors+1; got != want {
		t.Fatalf("got %d diagnostics, want %d:\n%v", got, want, err)
	}
	if got, want := perr.Diags[maxErrors].String(), "bad.conf:22:41: too many errors"; got != want {
		t.Errorf("last diagnostic is %q, want %q", got, want)
	}
}

func TestErrorKeepsWarnings(t *testing.T) {
	src := "virtual_server 198.18.0.100 80 {\n    ops\n    lb_algo XX\n    protocol TCP\n}\n"
	_, err := Parse("bad.conf", []byte(src))
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("got %v, want *Error", err)
	}
	if len(perr.Warnings) != 1 || perr.Warnings[0].String() != `bad.conf:2:5: note: keyword "ops" is accepted but not acted on yet` {
		t.Errorf("Warnings = %v", perr.Warnings)
	}
	if strings.Contains(err.Error(), "warning") {
		t.Errorf("Error() includes warnings: %s", err)
	}
}
