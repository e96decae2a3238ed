package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xvs-project/xvs/control"
)

// cmdVRRP prints the states of the running director's vrrp_instances.
func cmdVRRP(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrrp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("admin", defaultAdminSocket, "admin socket of the running xvs")
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var st []control.VRRPStatus
	if err := adminGet(*socket, "/v1/vrrp", &st); err != nil {
		fmt.Fprintln(stderr, "xvs vrrp:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			fmt.Fprintln(stderr, "xvs vrrp:", err)
			return 1
		}
		return 0
	}
	if len(st) == 0 {
		fmt.Fprintln(stdout, "no vrrp_instance configured")
		return 0
	}
	writeVRRP(stdout, st, time.Now())
	return 0
}

// writeVRRP prints one line per instance.
func writeVRRP(w io.Writer, st []control.VRRPStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tGROUP\tINTERFACE\tVRID\tVERSION\tSTATE\tPRIORITY\tSINCE\tMASTER\tVIPS")
	for _, s := range st {
		since := "-"
		if !s.Since.IsZero() {
			since = now.Sub(s.Since).Truncate(time.Second).String()
		}
		prio := fmt.Sprint(s.Priority)
		if s.Priority != s.Base {
			prio = fmt.Sprintf("%d (base %d)", s.Priority, s.Base)
		}
		group := s.Group
		if group == "" {
			group = "-"
		}
		master := s.Master
		if master == "" {
			master = "-"
		}
		iface := s.Interface
		if s.VMAC != "" {
			iface += " (use_vmac " + s.VMAC + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Name, group, iface, s.VRID, s.Version, s.State, prio, since, master, strings.Join(s.VIPs, ","))
	}
	tw.Flush()
}
