package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/control"
)

// Exit statuses of xvs check, keepalived -t's (KEEPALIVED_CHK_EXIT_* in
// keepalived's lib/scheduler.h), so that scripts written for keepalived
// read them the same way.
const (
	// checkClean: nothing to report (notes about keywords not acted on
	// yet aside, of which keepalived has nothing to say).
	checkClean = 0
	// checkErrors: the configuration cannot be run (keepalived's
	// KEEPALIVED_CHK_EXIT_CONFIG, 4: a fatal error, a missing file).
	checkErrors = 4
	// checkWarnings: it runs, with problems reported (keepalived's
	// KEEPALIVED_CHK_EXIT_CONFIG_TEST, 5: lines ignored or values
	// adjusted, unknown keywords, interfaces missing here).
	checkWarnings = 5
	// checkSecurity: scripts would run unchecked or are unsafe
	// (KEEPALIVED_CHK_EXIT_CONFIG_TEST_SECURITY, 6).
	checkSecurity = 6
)

// cmdCheck is "xvs check -f FILE [-i ID] [-d|--dump] [--json]", xvs's
// keepalived -t: it reads the configuration and the files it includes,
// checks that every interface it names exists on this machine, and runs
// the checks xvs run makes before it touches the machine
// (control.CheckSpec), so that it refuses what xvs run refuses. Each
// problem is printed to stderr as "file:line:col: sentence" (warnings as
// "file:line:col: warning: sentence", notes about keywords not acted on
// yet as "file:line:col: note: sentence"). It exits as keepalived -t does:
// 0 when nothing is reported (notes do not count), 5 when only warnings
// are, 4 on errors, 6 on a script security problem (and 2 for a wrong
// command line). With -d it prints what it understood, even with
// warnings: the services, real servers and checkers, the VRRP instances
// and sync groups; --json prints the same as JSON.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "keepalived.conf to check")
	id := fs.String("i", "", "configuration id that @ID lines are read for (default: the host name up to its first dot)")
	dump := fs.Bool("d", false, "print what xvs understood: services, real servers, checkers, VRRP")
	fs.BoolVar(dump, "dump", false, "the same as -d")
	asJSON := fs.Bool("json", false, "print what xvs understood as JSON")
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
	out := checkOutput{dump: *dump, json: *asJSON}
	return checkWith(*file, config.Options{ConfigID: *id}, interfaceExists, out, stdout, stderr)
}

// checkOutput says what xvs check prints on stdout besides its summary.
type checkOutput struct {
	dump, json bool
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
	return checkWith(path, opts, hasIface, checkOutput{}, stdout, stderr)
}

// checkWith is check with what to print on stdout.
func checkWith(path string, opts config.Options, hasIface func(string) bool, out checkOutput, stdout, stderr io.Writer) int {
	spec, err := config.ParseFileWith(path, opts)
	if err != nil {
		var perr *config.Error
		if !errors.As(err, &perr) {
			fmt.Fprintln(stderr, "xvs check:", err)
			return checkErrors
		}
		for _, d := range perr.Diags {
			fmt.Fprintln(stderr, d.String())
		}
		warnings := 0
		for _, d := range perr.Warnings {
			fmt.Fprintln(stderr, d.String())
			if !d.Note {
				warnings++
			}
		}
		fmt.Fprintf(stderr, "%s: %s, %s\n", path, count(len(perr.Diags), "error"), count(warnings, "warning"))
		return checkErrors
	}
	diags := slices.Clone(spec.Warnings)
	for _, ref := range spec.Interfaces() {
		if !hasIface(ref.Name) {
			diags = append(diags, config.Diagnostic{
				Pos:     ref.Pos,
				Msg:     fmt.Sprintf("interface %q does not exist on this machine", ref.Name),
				Warning: true,
			})
		}
	}
	code := checkClean
	var errs []string
	// What xvs run refuses before it looks at the machine, through the
	// same code.
	if err := control.CheckSpec(spec); err != nil {
		errs = append(errs, err.Error())
		code = checkErrors
		if errors.Is(err, control.ErrScriptSecurity) {
			code = checkSecurity
		}
	}
	security := control.ScriptSecurityWarning(spec)
	if security != nil {
		diags = append(diags, *security)
	}
	warnings := 0
	for _, d := range diags {
		fmt.Fprintln(stderr, d.String())
		if d.Warning {
			warnings++
		}
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	switch {
	case code != checkClean:
	case security != nil:
		code = checkSecurity
	case warnings > 0:
		code = checkWarnings
	}
	if out.json {
		if err := writeDumpJSON(stdout, spec); err != nil {
			fmt.Fprintln(stderr, "xvs check:", err)
			return checkErrors
		}
	} else if out.dump {
		writeDump(stdout, spec)
	}
	if code != checkClean {
		fmt.Fprintf(stderr, "%s: %s, %s\n", path, count(len(errs), "error"), count(warnings, "warning"))
		return code
	}
	if !out.json {
		reals := 0
		for _, vs := range spec.VirtualServers {
			reals += len(vs.Reals)
		}
		fmt.Fprintf(stdout, "%s: ok: %s, %s, %s\n", path,
			count(len(spec.VirtualServers), "virtual server"), count(reals, "real server"), count(len(spec.VRRPInstances), "vrrp instance"))
	}
	return checkClean
}

// count returns "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
