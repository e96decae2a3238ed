// Command xvs is a userspace virtual server: an LVS-NAT load balancer on
// AF_XDP that reads keepalived.conf.
//
//	xvs run [-f keepalived.conf]   run the director in the foreground
//	xvs check -f keepalived.conf   check a configuration and exit
//	xvs list -c                    the connection table, as ipvsadm -Lnc
//	xvs lab up|down                the standard network-namespace lab
//	xvs demo                       lab + director + traffic, then a summary
package main

import (
	_ "embed"
	"fmt"
	"io"
	"os"
)

//go:embed default.conf
var defaultConfig []byte

// defaultConfigName is how positions in the embedded configuration are shown.
const defaultConfigName = "(embedded default.conf)"

const usage = `usage: xvs <command> [flags]

commands:
  run [-f FILE]      run the director in the foreground (default: the embedded lab config)
  check -f FILE      check a keepalived.conf and exit (0 when clean)
  list -c            the running director's connection table, as ipvsadm -Lnc
  reload             re-read the running director's configuration (as SIGHUP does)
  vrrp [--json]      the running director's vrrp_instances: state, priority, master
  edit -a|-e|-d -t|-u VIP:PORT -r IP:PORT [-w W] [-x U] [-y L]
                     add, edit or delete a real server until the next reload (ipvsadm -a/-e/-d)
  lab up | lab down  build or remove the standard netns lab
  demo               lab up, director, 1000 HTTP requests and 1000 UDP datagrams, summary, lab down
`

func main() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) }

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "lab":
		return cmdLab(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "list":
		return cmdList(args[1:], stdout, stderr)
	case "reload":
		return cmdReload(args[1:], stdout, stderr)
	case "vrrp":
		return cmdVRRP(args[1:], stdout, stderr)
	case "edit":
		return cmdEdit(args[1:], stdout, stderr)
	case "bench":
		return cmdBench(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "xvs: unknown command %q\n%s", args[0], usage)
	return 2
}
