package main

import (
	"fmt"
	"io"
	"strings"
)

// commandDoc is one command's entry in the manual: `xvs help` prints all
// of them under COMMANDS, `xvs help NAME` one.
type commandDoc struct {
	name     string
	summary  string // one line, for NAME
	synopsis string // after "xvs "; a newline where a long one wraps, "\nxvs " before another form
	body     string // description and flags, indented four spaces
}

// commandDocs are in the order the manual lists them. Every command of
// Main's switch has one (TestHelpCoversCommands).
var commandDocs = []commandDoc{
	{
		name:     "run",
		summary:  "run the director in the foreground",
		synopsis: "run [-f FILE] [--metrics ADDR [--pprof]] [--log-level LEVEL]\n[--log-format FORMAT] [--admin SOCKET] [--ready-file FILE]\n[--cpuprofile FILE]",
		body: `    Reads the configuration, finds the WAN interface (the one holding the
    VIPs, or the interface of the vrrp_instance that has them) and the LAN
    interface (the one the real servers are routed through), attaches the
    XDP classifier to both, opens an AF_XDP socket per queue, and forwards
    until SIGTERM or SIGINT. Health checks and VRRP run in the same process.
    Logs go to stderr. See SIGNALS for reloading and stopping.

    -f FILE
        keepalived.conf to run, with the files it includes. Without -f, xvs
        runs an embedded configuration for the lab of "xvs lab up".
    --metrics ADDR
        Serve Prometheus metrics at http://ADDR/metrics (see METRICS). The
        default is no listener. HOST:PORT binds that address; a port alone,
        ":9333" or "9333", binds 127.0.0.1 (loopback only). To serve other
        hosts, name an address of the director or 0.0.0.0:PORT explicitly.
    --pprof
        Also serve Go's pprof handlers under /debug/pprof/ on the --metrics
        listener (needs --metrics). Anyone who reaches them can profile and
        trace the process: keep them on loopback (a warning is logged
        otherwise).
    --log-level LEVEL
        debug, info (default), warn or error.
    --log-format FORMAT
        console (tab-separated, for people), json (one object a line, for
        journald and log shippers) or auto (default): console when stderr
        is a terminal, json otherwise.
    --admin SOCKET
        Unix socket of the admin API used by list, reload, vrrp and edit
        (default /run/xvs/xvs.sock; a missing directory is created 0700,
        the socket is 0600, so only root can use it). Empty: no admin
        socket.
    --ready-file FILE
        Write FILE once the director forwards (for scripts and tests).
    --cpuprofile FILE
        Write a CPU profile (pprof format) of the whole run to FILE.`,
	},
	{
		name:     "check",
		summary:  "check a keepalived.conf and exit",
		synopsis: "check -f FILE [-i ID] [-d | --dump] [--json]",
		body: `    Reads FILE and the files it includes, as keepalived -t does, checks
    that every interface it names exists on this machine, and refuses what
    xvs run would refuse before it touches the machine (the same code).
    Each problem is printed to stderr as "file:line:col: sentence"
    (warnings with "warning:"); a keyword xvs accepts but does not act on
    yet is a "note:", which keepalived has nothing to say about and which
    fails nothing. What keepalived reports and goes on with (a value
    outside its range ignored, state SLAVE taken as BACKUP, a track_script
    naming nothing dropped, a virtual_server without protocol taken as
    UDP) is a warning with the same outcome. The exit status is
    keepalived -t's: 0 clean, 5 warnings, 4 errors (xvs run refuses the
    file), 6 script security (a script while enable_script_security is
    off, or an unsafe one while it is on). A clean file prints a one-line
    summary on stdout.

    -f FILE
        The configuration to check (required).
    -i ID
        Configuration id that "@ID" lines are read for (default: the host
        name up to its first dot), as keepalived's --config-id.
    -d, --dump
        Also print what xvs understood, defaults and inheritance applied:
        each service with its scheduler, method and persistence, its real
        servers with weights and checkers, the VRRP instances, sync groups
        and connection sync. Warnings do not hide it.
    --json
        Print the same as JSON instead.`,
	},
	{
		name:     "list",
		summary:  "the running director's virtual services or connection table",
		synopsis: "list [-n] [--stats | --rate | --thresholds | --persistent-conn]\n[--exact] [--json] [--admin SOCKET]\nxvs list -c [-n] [--admin SOCKET]\nxvs list --queues [--json] [--admin SOCKET]",
		body: `    Prints the running director's virtual services, each with its
    scheduler and real servers (weight, active and inactive connections),
    as ipvsadm -L prints IPVS's; with -c, its connection table as
    ipvsadm -Lc does.

    -c
        The connection table: protocol, time left, state, client, virtual
        service and real server of every entry.
    -n
        Numeric addresses and ports (ipvsadm -n); without it names come
        from the resolver and /etc/services.
    --stats
        Cumulative counters: connections, packets and bytes each way.
    --rate
        Rates: connections, packets and bytes per second each way.
    --exact
        Exact numbers with --stats and --rate, not K, M, G.
    --thresholds
        Upper and lower connection thresholds of the real servers.
    --persistent-conn
        Persistence templates per real server.
    --queues
        The dataplane's layout: each interface's active receive channels
        (all served) and XDP mode, the CPUs the process may use, and each
        worker's CPU, socket mode and queues with the frames and batches
        received on each.
    --json
        The services (or with --queues the layout) as JSON, for scripts.
    --admin SOCKET
        Admin socket of the running xvs (default /run/xvs/xvs.sock).`,
	},
	{
		name:     "reload",
		summary:  "re-read the running director's configuration",
		synopsis: "reload [--admin SOCKET]",
		body: `    Asks the running director to reload, as SIGHUP does, and reports the
    result: exit 0 when the new configuration is applied, 1 with the
    reasons (file:line:col) when it is refused and the running one stays.

    --admin SOCKET
        Admin socket of the running xvs (default /run/xvs/xvs.sock).`,
	},
	{
		name:     "vrrp",
		summary:  "the running director's vrrp_instances",
		synopsis: "vrrp [--json] [--admin SOCKET]",
		body: `    Prints one line per vrrp_instance: sync group, interface, VRID,
    version, state (INIT, BACKUP, MASTER, FAULT), effective and base
    priority, time in the state, the master and the VIPs.

    --json
        Print JSON, for scripts.
    --admin SOCKET
        Admin socket of the running xvs (default /run/xvs/xvs.sock).`,
	},
	{
		name:     "edit",
		summary:  "add, edit or delete a real server of the running director",
		synopsis: "edit -a|-e|-d -t|-u VIP:PORT -r IP:PORT [-w WEIGHT] [-x UPPER]\n[-y LOWER] [-m] [--admin SOCKET]",
		body: `    Changes a virtual service's real servers in the running director with
    ipvsadm's letters, as ipvsadm -a, -e and -d do. The change goes through
    the reload path (established connections untouched, no pause) and lasts
    until the next reload or restart, which bring the file's servers back:
    put lasting changes in the configuration.

    -a
        Add a real server.
    -e
        Edit a real server's weight or thresholds.
    -d
        Delete a real server (its connections run on until they end).
    -t VIP:PORT
        The TCP virtual service.
    -u VIP:PORT
        The UDP virtual service.
    -r IP:PORT
        The real server.
    -w WEIGHT
        Weight, 0 to 65535 (0: no new connections).
    -x UPPER
        Upper connection threshold (uthreshold).
    -y LOWER
        Lower connection threshold (lthreshold).
    -m
        Masquerading (NAT); accepted, the only forwarding xvs has.
    --admin SOCKET
        Admin socket of the running xvs (default /run/xvs/xvs.sock).`,
	},
	{
		name:     "lab",
		summary:  "build or remove the standard network-namespace lab",
		synopsis: "lab up|down [--prefix P]",
		body: `    lab up builds namespaces PREFIX-client (198.18.0.2), PREFIX-lb (wan0
    198.18.0.1 with the VIP 198.18.0.100, lan0 198.18.1.1), PREFIX-sw (the
    LAN bridge) and PREFIX-rs1..3 (198.18.1.11-13, HTTP :80 and UDP :53
    answering their name), and starts the real servers. lab down removes
    them. Needs root. (lab serve --ns NS --name NAME is the real servers'
    own process, started by lab up; it is not meant to be run by hand.)

    --prefix P
        Namespace name prefix (default xvs).
    --ns NS
        lab serve only: the namespace to serve in.
    --name NAME
        lab serve only: the name the server answers with.`,
	},
	{
		name:     "demo",
		summary:  "lab, director, traffic and a summary",
		synopsis: "demo [--requests N] [--datagrams N]",
		body: `    Builds the lab, runs the director on the embedded configuration, sends
    HTTP requests (a new TCP connection each) and UDP datagrams to the VIP
    from the client namespace, prints the split over the real servers, the
    director's metrics and its log, and removes the lab. Exit 0 when no try
    failed and every reply came from the VIP. Needs root.

    --requests N
        HTTP requests (default 1000).
    --datagrams N
        UDP datagrams (default 1000).`,
	},
	{
		name:     "bench",
		summary:  "benchmark xvs against kernel NAT and a bare AF_XDP forwarder",
		synopsis: "bench [--contenders LIST] [--rounds N] [--duration D] [--warmup D]\n[--flows N] [--concurrency N] [--latency-rate R] [--bulk-streams N]\n[--director-cpus LIST --host-cpus LIST] [--out DIR] [--prefix P]\n[--gobench=false]",
		body: `    Runs the contenders in turn on one lab, interleaved over rounds, each
    twice. As a router box (the headline): the director alone on its CPUs,
    the generator, sinks, client and servers on the others; UDP frames per
    second and per second of the director's CPU time, TCP connections per
    second, request latency and bulk TCP throughput. With shared CPUs: UDP
    and the total CPU time per frame. Prints the tables and writes
    bench.json, bench.md, the chart bench.svg and xvs's CPU profile into
    --out. Needs root; SIGINT stops early and cleans up.

    --contenders LIST
        Comma-separated subset of xvs,kernel-nat,ceiling (default all).
    --rounds N
        Interleaved rounds; each figure is the median (default 3).
    --duration D
        Measured window of each figure, per contender and round (default 5s).
    --warmup D
        UDP traffic before each measured window (default 1s).
    --flows N
        UDP flows, i.e. source ports (default 10000).
    --concurrency N
        Closed-loop TCP clients for the connection rate (default 32).
    --latency-rate R
        Requests per second of the latency figure (default 500).
    --bulk-streams N
        Parallel TCP streams of the bulk figure (default 4).
    --director-cpus LIST, --host-cpus LIST
        The router box's split of the CPUs, e.g. 1 and 0 (default: the
        highest CPU for the director, the others for the hosts).
    --out DIR
        Output directory (default bench-out).
    --prefix P
        Lab namespace prefix (default xvs-bench).
    --gobench
        Also run the Go benchmarks of the fast path (default true; needs go
        and the source tree).`,
	},
	{
		name:     "help",
		summary:  "this manual",
		synopsis: "help [COMMAND]",
		body: `    Prints this manual, or the part about COMMAND. "xvs -h" and "xvs --help"
    print it too; "xvs COMMAND -h" lists the command's flags.`,
	},
}

// manualHead and manualTail surround the COMMANDS section.
const manualHead = `NAME
    xvs - userspace virtual server: an LVS-NAT load balancer on AF_XDP that
    reads keepalived.conf

SYNOPSIS
{{synopses}}
DESCRIPTION
    xvs is a director for Linux Virtual Server NAT without the kernel's IPVS.
    Clients reach virtual services (VIP, protocol, port) on the WAN
    interface; xvs picks a real server on the LAN with the IPVS schedulers
    (rr wrr lc wlc sed nq dh sh mh lblc lblcr fo ovf twos), rewrites the
    destination, and rewrites the replies' source back to the VIP. An XDP
    program sends only those frames (and VRRP) to AF_XDP sockets, one per
    active receive channel of each interface; the workers, one per CPU the
    process may use (taskset, systemd CPUAffinity=, or the cpus keyword) up
    to the fewer of the two sides' channels, are pinned to those CPUs and
    share the queues out; everything else (ARP, SSH, routing) goes on to the
    kernel. A change of channels while running (ethtool -L) is followed.

    The configuration is keepalived's: global_defs, virtual_server with
    real_server and their checkers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK,
    ...), vrrp_instance, vrrp_sync_group, vrrp_script, plus an xvs block
    (wan_interface, lan_interface, queues, cpus, max_connections, ...). The VIPs
    of vrrp_instances are never put on the kernel's interfaces: while an
    instance is MASTER the XDP program answers ARP and ICMP echo for them,
    and when xvs stops or dies nothing answers any more.

    With lvs_sync_daemon IF INSTANCE in global_defs, the director that is
    MASTER for INSTANCE multicasts its connections and persistence
    templates in IPVS's sync protocol (224.0.0.81:8848 by default) and the
    others install them, so a failover keeps established connections; xvs
    list -c on a backup shows them. xvs { sloppy_tcp } lets TCP segments
    other than SYNs start connections (off by default).

    With smtp_server and notification_email in global_defs, xvs mails
    keepalived's alerts (VRRP state changes, real servers going up or down,
    quorums) as smtp_alert, smtp_alert_vrrp and smtp_alert_checker ask, from
    a background queue: a mail server that is slow or down delays nothing,
    and mails it cannot take are counted (xvs_mail_alerts_total) and logged.

    Flags may be written with one dash or two (-f, --metrics).

COMMANDS
`

const manualTail = `FILES
    /etc/keepalived/keepalived.conf
        The configuration the systemd unit runs (xvs run -f). Without -f,
        xvs run uses an embedded configuration for the lab.
    /run/xvs/xvs.sock
        The admin API socket (list, reload, vrrp, edit): mode 0600 in a 0700
        directory, so only root can use it.
    /etc/systemd/system/xvs.service
        The systemd unit (dist/xvs.service in the source, installed by
        make install): Type=simple, reload by SIGHUP, restart on failure.

SIGNALS
    These are for xvs run.
    SIGHUP
        Reload: the file is parsed again and applied as a difference;
        established connections keep their real servers. A file with errors,
        or one that changes what needs a restart (interfaces, queues,
        max_connections, lvs_timeouts, lvs_sync_daemon, anything VRRP), is
        refused with its reasons in the log and the running configuration
        stays. xvs reload does the same and reports the result.
    SIGTERM, SIGINT
        Clean stop: every MASTER vrrp_instance sends an advert with priority
        0, so a BACKUP takes over at once (after its Skew_Time), and lets its
        VIPs go; the notify_stop scripts and the checkers' down scripts of
        omega services run; the XDP program is detached and the sockets
        closed. Exit status 0.
    SIGKILL, or a crash
        The XDP program goes with the process, so nothing answers for the
        VIPs; a BACKUP takes over after three advert intervals and its skew.

EXIT STATUS
    0   Success: run stopped cleanly by a signal; check found nothing (or
        notes only); the admin commands got their answer; reload was
        applied.
    1   Failure: run could not start or stopped with an error; the admin
        socket could not be reached; reload was refused.
    2   Wrong command line: unknown command, flag or argument.
    4, 5, 6
        check, as keepalived -t: errors, warnings, script security.

METRICS
    With --metrics, xvs run serves, besides Go's go_* and process_*:
    xvs_frames_received_total{side}, xvs_frames_forwarded_total,
    xvs_frames_dropped_total{reason}, xvs_tx_kick_errors_total,
    xvs_xdp_frames_total{verdict}, xvs_xsk_dropped_total{reason};
    per queue xvs_queue_frames_received_total{queue,side},
    xvs_queue_frames_forwarded_total{queue},
    xvs_queue_batches_total{queue,side};
    xvs_connections, xvs_connections_max, xvs_connections_evicted_total,
    xvs_connections_refused_total, xvs_persistence_templates;
    with VRRP xvs_vrrp_state{vrrp_instance} (0 INIT, 1 BACKUP, 2 MASTER,
    3 FAULT), xvs_vrrp_priority, xvs_vrrp_base_priority,
    xvs_vrrp_transitions_total, xvs_vrrp_adverts_sent_total,
    xvs_vrrp_adverts_received_total, xvs_vrrp_adverts_dropped_total{reason};
    xvs_config_reloads_total{result}, xvs_config_last_reload_successful.

EXAMPLES
    Check a configuration, then run it with metrics on loopback:
        xvs check -f /etc/keepalived/keepalived.conf
        xvs run -f /etc/keepalived/keepalived.conf --metrics :9333
        curl -s http://127.0.0.1:9333/metrics | grep '^xvs_connections'

    Let a Prometheus server on another host scrape, and profile locally:
        xvs run -f /etc/keepalived/keepalived.conf --metrics 0.0.0.0:9333
        xvs run -f ... --metrics 127.0.0.1:9333 --pprof
        go tool pprof 'http://127.0.0.1:9333/debug/pprof/profile?seconds=30'

    Operate a running director:
        xvs list -c | head
        xvs vrrp
        xvs reload            (or: systemctl reload xvs, kill -HUP PID)
        xvs edit -e -t 198.18.0.100:80 -r 198.18.1.11:80 -w 0
                              (drain a real server until the next reload)

    Try it in the lab:
        xvs lab up
        ip netns exec xvs-lb xvs run --metrics :9333
        xvs lab down

SEE ALSO
    keepalived.conf(5), keepalived(8), ipvsadm(8), systemd.service(5),
    docs/architecture.md in the source.
`

// writeManual writes the whole manual.
func writeManual(w io.Writer) {
	var syn strings.Builder
	for _, c := range commandDocs {
		fmt.Fprintf(&syn, "    xvs %s\n", c.synopsisAt(8))
	}
	io.WriteString(w, strings.Replace(manualHead, "{{synopses}}", syn.String(), 1))
	for _, c := range commandDocs {
		fmt.Fprintf(w, "  %s\n    xvs %s\n\n%s\n\n", c.name, c.synopsisAt(8), c.body)
	}
	io.WriteString(w, manualTail)
}

// synopsisAt returns the synopsis with its continuation lines indented by
// indent spaces, and its further forms (lines starting "xvs ") by four
// less.
func (c *commandDoc) synopsisAt(indent int) string {
	lines := strings.Split(c.synopsis, "\n")
	for i := 1; i < len(lines); i++ {
		n := indent
		if strings.HasPrefix(lines[i], "xvs ") {
			n -= 4
		}
		lines[i] = strings.Repeat(" ", n) + lines[i]
	}
	return strings.Join(lines, "\n")
}

// findCommandDoc returns the manual entry of a command, or nil.
func findCommandDoc(name string) *commandDoc {
	for i := range commandDocs {
		if commandDocs[i].name == name {
			return &commandDocs[i]
		}
	}
	return nil
}

// cmdHelp is "xvs help [COMMAND]".
func cmdHelp(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		writeManual(stdout)
		return 0
	case 1:
		c := findCommandDoc(args[0])
		if c == nil {
			fmt.Fprintf(stderr, "xvs help: no command %q\n%s", args[0], usage)
			return 2
		}
		fmt.Fprintf(stdout, "NAME\n    xvs %s - %s\n\nSYNOPSIS\n    xvs %s\n\nDESCRIPTION\n%s\n\nSee xvs help for FILES, SIGNALS, EXIT STATUS and EXAMPLES.\n",
			c.name, c.summary, c.synopsisAt(8), c.body)
		return 0
	}
	fmt.Fprintf(stderr, "xvs help: one command at most\n%s", usage)
	return 2
}
