package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/control"
)

// cmdCheck is "xvs check -f FILE [-i ID]", xvs's keepalived -t: it reads
// the configuration and the files it includes, and checks that every
// interface it names exists on this machine. Each problem is printed to
// stderr as "file:line:col: sentence" (warnings as "file:line:col:
// warning: sentence"). It exits 0 with a one-line summary on stdout when
// nothing is reported, 1 when anything is (an error or any warning), and
// 2 for a wrong command line.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "keepalived.conf to check")
	id := fs.String("i", "", "configuration id that @ID lines are read for (default: the host name up to its first dot)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "xvs check: -f FILE is required")
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "xvs check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	return check(*file, config.Options{ConfigID: *id}, interfaceExists, stdout, stderr)
}

// interfaceExists reports whether this machine has the network interface
// name.
func interfaceExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// check checks the configuration at path, with hasIface telling which
// interfaces exist, and returns the exit code.
func check(path string, opts config.Options, hasIface func(string) bool, stdout, stderr io.Writer) int {
	spec, err := config.ParseFileWith(path, opts)
	if err != nil {
		var perr *config.Error
		if !errors.As(err, &perr) {
			fmt.Fprintln(stderr, "xvs check:", err)
			return 1
		}
		for _, d := range perr.Diags {
			fmt.Fprintln(stderr, d.String())
		}
		for _, d := range perr.Warnings {
			fmt.Fprintln(stderr, d.String())
		}
		fmt.Fprintf(stderr, "%s: %s, %s\n", path, count(len(perr.Diags), "error"), count(len(perr.Warnings), "warning"))
		return 1
	}
	if err := control.CheckCPUs(spec); err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintf(stderr, "%s: 1 error\n", path)
		return 1
	}
	problems := spec.Warnings
	for _, ref := range spec.Interfaces() {
		if !hasIface(ref.Name) {
			problems = append(problems, config.Diagnostic{
				Pos:     ref.Pos,
				Msg:     fmt.Sprintf("interface %q does not exist on this machine", ref.Name),
				Warning: true,
			})
		}
	}
	for _, d := range problems {
		fmt.Fprintln(stderr, d.String())
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%s: %s\n", path, count(len(problems), "warning"))
		return 1
	}
	reals := 0
	for _, vs := range spec.VirtualServers {
		reals += len(vs.Reals)
	}
	fmt.Fprintf(stdout, "%s: ok: %s, %s, %s\n", path,
		count(len(spec.VirtualServers), "virtual server"), count(reals, "real server"), count(len(spec.VRRPInstances), "vrrp instance"))
	return 0
}

// count returns "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
