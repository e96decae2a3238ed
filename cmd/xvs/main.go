// Command xvs is a userspace virtual server: an LVS-NAT load balancer on
// AF_XDP that reads keepalived.conf.
//
//	xvs run [-f keepalived.conf]   run the director in the foreground
//	xvs check -f keepalived.conf   check a configuration and exit
//	xvs list -c                    the connection table, as ipvsadm -Lnc
//	xvs reload                     re-read the running director's configuration
//	xvs vrrp                       the running director's vrrp_instances
//	xvs edit -a|-e|-d ...          change real servers until the next reload
//	xvs lab up|down                the standard network-namespace lab
//	xvs demo                       lab + director + traffic, then a summary
//	xvs bench                      xvs against kernel NAT, side by side
//	xvs help [COMMAND]             the manual (help.go)
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

// usage is the short help printed with command-line errors; `xvs help`
// prints the manual.
const usage = `usage: xvs <command> [flags]

commands:
  run [-f FILE] [--metrics ADDR]  run the director in the foreground (default: the embedded lab config)
  check -f FILE      check a keepalived.conf and exit (0 when clean)
  list -c            the running director's connection table, as ipvsadm -Lnc
  reload             re-read the running director's configuration (as SIGHUP does)
  vrrp [--json]      the running director's vrrp_instances: state, priority, master
  edit -a|-e|-d -t|-u VIP:PORT -r IP:PORT [-w W] [-x U] [-y L]
                     add, edit or delete a real server until the next reload (ipvsadm -a/-e/-d)
  lab up | lab down  build or remove the standard netns lab
  demo               lab up, director, 1000 HTTP requests and 1000 UDP datagrams, summary, lab down
  bench              benchmark xvs against kernel NAT and a bare AF_XDP forwarder
  help [COMMAND]     the manual: every flag, files, signals, exit status, examples
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
		return cmdHelp(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "xvs: unknown command %q\n%s", args[0], usage)
	return 2
}
