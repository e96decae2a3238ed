//go:build linux

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/lab"
)

// nftTable is the nftables table the kernel-NAT contender creates in the
// director namespace.
const nftTable = "xvs_bench"

// NATService is one virtual service of the kernel-NAT contender: VIP:Port
// of protocol Proto ("tcp" or "udp") to the real servers on the same port,
// in the proportion of their weights.
type NATService struct {
	Proto   string
	Port    uint16
	Reals   []netip.Addr
	Weights []int
}

// NFTRuleset returns the nftables script that DNATs each service of vip to
// its real servers: `numgen inc mod W` over an interval map, so new flows are
// spread in the proportion of the weights (as wrr would), and conntrack
// keeps each flow on its server and un-NATs the replies.
func NFTRuleset(vip netip.Addr, svcs []NATService) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n", nftTable)
	for _, s := range svcs {
		if s.Proto != "tcp" && s.Proto != "udp" {
			return "", fmt.Errorf("bench: protocol %q", s.Proto)
		}
		if len(s.Reals) == 0 || len(s.Reals) != len(s.Weights) {
			return "", fmt.Errorf("bench: %s/%d: %d real servers, %d weights", s.Proto, s.Port, len(s.Reals), len(s.Weights))
		}
		var elems []string
		total := 0
		for i, r := range s.Reals {
			w := s.Weights[i]
			if w < 1 {
				return "", fmt.Errorf("bench: weight %d", w)
			}
			if w == 1 {
				elems = append(elems, fmt.Sprintf("%d : %s", total, r))
			} else {
				elems = append(elems, fmt.Sprintf("%d-%d : %s", total, total+w-1, r))
			}
			total += w
		}
		fmt.Fprintf(&b, "\t\tip daddr %s %s dport %d dnat to numgen inc mod %d map { %s }\n",
			vip, s.Proto, s.Port, total, strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

// nft runs the nft binary in namespace ns with script on its standard input.
func nft(ctx context.Context, ns, script string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft %s in %s: %w: %s", strings.Join(args, " "), ns, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// writeSysctlIn writes a /proc/sys value of namespace ns; key uses slashes.
func writeSysctlIn(ns, key, value string) error {
	return lab.Do(ns, func() error {
		if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, ns, err)
		}
		return nil
	})
}

// KernelNAT is the kernel baseline set up in the director namespace:
// forwarding on, GRO on wan0 (so the veth takes the generator's XDP_TX
// frames without an XDP program), nftables DNAT with conntrack.
type KernelNAT struct {
	ns, wan string
}

// StartKernelNAT sets up the kernel baseline in l's director namespace.
// On error what was set up is undone.
func StartKernelNAT(ctx context.Context, l *lab.Lab, svcs []NATService) (_ *KernelNAT, err error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, errors.New("bench: the nft binary is not on PATH (apt-get install nftables)")
	}
	script, err := NFTRuleset(l.VIP, svcs)
	if err != nil {
		return nil, err
	}
	k := &KernelNAT{ns: l.LBNS, wan: l.WANIf}
	defer func() {
		if err != nil {
			k.Stop()
		}
	}()
	if err := writeSysctlIn(k.ns, "net/ipv4/ip_forward", "1"); err != nil {
		return nil, err
	}
	if err := lab.Do(k.ns, func() error { return lab.SetGRO(k.wan, true) }); err != nil {
		return nil, fmt.Errorf("GRO on %s: %w", k.wan, err)
	}
	if err := nft(ctx, k.ns, script, "-f", "-"); err != nil {
		return nil, err
	}
	return k, nil
}

// SetGRO turns GRO of the director's wan0 on or off. With it off the veth
// has no NAPI (it takes its peer's frames with netif_rx on the sending CPU,
// or where RPS steers them) and cannot take frames its peer sends with
// XDP_TX, but forwards every TCP segment as it came instead of merging
// them.
func (k *KernelNAT) SetGRO(on bool) error {
	return lab.Do(k.ns, func() error {
		if err := lab.SetGRO(k.wan, on); err != nil {
			return fmt.Errorf("GRO on %s: %w", k.wan, err)
		}
		return nil
	})
}

// Stop removes the table, flushes conntrack (so the next run starts from
// an empty table), and turns GRO and forwarding off again. It is safe to
// call on a partly set up KernelNAT.
func (k *KernelNAT) Stop() error {
	var errs []error
	if err := nft(context.Background(), k.ns, "", "delete", "table", "ip", nftTable); err != nil &&
		!strings.Contains(err.Error(), "No such file") {
		errs = append(errs, err)
	}
	errs = append(errs, lab.Do(k.ns, func() error {
		var errs []error
		if err := netlink.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
			errs = append(errs, fmt.Errorf("flushing conntrack: %w", err))
		}
		if err := lab.SetGRO(k.wan, false); err != nil {
			errs = append(errs, fmt.Errorf("GRO off on %s: %w", k.wan, err))
		}
		return errors.Join(errs...)
	}))
	errs = append(errs, writeSysctlIn(k.ns, "net/ipv4/ip_forward", "0"))
	return errors.Join(errs...)
}
