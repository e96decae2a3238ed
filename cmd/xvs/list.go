package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/xvs-project/xvs/control"
)

// defaultAdminSocket is where `xvs run` serves the admin API and where
// `xvs list` looks for it.
const defaultAdminSocket = "/run/xvs/xvs.sock"

// listenAdmin serves the admin API on a unix socket only root can use.
func listenAdmin(path string, d *control.Director, reload func() error) (*http.Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path) // a stale socket of a director that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: control.AdminHandler(d, reload)}
	go srv.Serve(ln)
	return srv, nil
}

// adminClient talks HTTP over the admin socket.
func adminClient(socket string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// adminGet fetches a path of the admin API into v.
func adminGet(socket, path string, v any) error {
	resp, err := adminClient(socket).Get("http://xvs" + path)
	if err != nil {
		return fmt.Errorf("is xvs running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("admin API: %s: %s", resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.Bool("c", false, "list the connection table (as ipvsadm -Lnc)")
	fs.Bool("n", true, "numeric output (the only kind xvs prints)")
	socket := fs.String("admin", defaultAdminSocket, "admin socket of the running xvs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !*conns {
		fmt.Fprintln(stderr, "xvs list: only -c (the connection table) exists yet")
		return 2
	}
	var entries []control.ConnEntry
	if err := adminGet(*socket, "/v1/connections", &entries); err != nil {
		fmt.Fprintln(stderr, "xvs list:", err)
		return 1
	}
	printConns(stdout, entries)
	return 0
}

// printConns prints connections in ipvsadm -Lnc's layout.
func printConns(w io.Writer, entries []control.ConnEntry) {
	fmt.Fprintln(w, "IPVS connection entries")
	fmt.Fprintln(w, "pro expire state       source             virtual            destination")
	for _, e := range entries {
		s := int(e.Expire / time.Second)
		fmt.Fprintf(w, "%-3s %02d:%02d  %-11s %-18s %-18s %s\n", e.Proto, s/60, s%60, e.State, e.Source, e.Virtual, e.Destination)
	}
}

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("admin", defaultAdminSocket, "admin socket of the running xvs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := adminClient(*socket)
	resp, err := c.Post("http://xvs/v1/reload", "text/plain", nil)
	if err != nil {
		fmt.Fprintln(stderr, "xvs reload: is xvs running?", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "xvs reload: refused, the running configuration stays:\n%s", body)
		return 1
	}
	fmt.Fprintln(stdout, "xvs reload: new configuration applied")
	return 0
}
