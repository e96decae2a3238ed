package control

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/xvs-project/xvs/config"
)

// checkScriptSecurity applies global_defs enable_script_security as
// keepalived does: a script that would run as root must not be replaceable
// by anyone else, so neither its file nor any directory on its path may be
// owned by a user other than root or be writable by group or others
// (a directory with the sticky bit, like /tmp, only when it is not
// writable at all). Scripts that run as script_user or their own user are
// not checked. The first offender is returned as an error at its
// position.
func checkScriptSecurity(spec *config.Spec) error {
	g := spec.Global
	if !g.EnableScriptSecurity || g.ScriptUser != "" && g.ScriptUser != "root" {
		return nil
	}
	type script struct {
		what string
		cmd  config.Command
		user string
	}
	var all []script
	add := func(what string, c config.Command, user string) {
		if len(c.Argv) > 0 {
			all = append(all, script{what, c, user})
		}
	}
	for _, s := range spec.VRRPScripts {
		add("vrrp_script "+s.Name, s.Script, s.User)
	}
	for _, in := range spec.VRRPInstances {
		for _, c := range []config.Command{in.NotifyMaster, in.NotifyBackup, in.NotifyFault, in.NotifyStop, in.Notify} {
			add("notify script of vrrp_instance "+in.Name, c, "")
		}
	}
	for _, sg := range spec.VRRPSyncGroups {
		for _, c := range []config.Command{sg.NotifyMaster, sg.NotifyBackup, sg.NotifyFault, sg.NotifyStop, sg.Notify} {
			add("notify script of vrrp_sync_group "+sg.Name, c, "")
		}
	}
	for _, vs := range spec.VirtualServers {
		add("quorum_up", vs.QuorumUp, "")
		add("quorum_down", vs.QuorumDown, "")
		for _, r := range vs.Reals {
			add("notify_up", r.NotifyUp, "")
			add("notify_down", r.NotifyDown, "")
			for _, c := range r.Checks {
				add("misc_path", c.MiscPath, c.User)
			}
		}
	}
	for _, s := range all {
		if s.user != "" && s.user != "root" {
			continue
		}
		if err := rootSafe(s.cmd.Argv[0]); err != nil {
			return fmt.Errorf("%s: %s runs as root and %v; with enable_script_security set, fix the permissions or set script_user", s.cmd.Pos, s.what, err)
		}
	}
	return nil
}

// rootSafe checks that prog and every directory above it are owned by
// root and writable by nobody else.
func rootSafe(prog string) error {
	path := prog
	if !strings.Contains(prog, "/") {
		p, err := exec.LookPath(prog)
		if err != nil {
			return fmt.Errorf("%s is not found in PATH", prog)
		}
		path = p
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	for p := path; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s cannot be checked: %w", p, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s cannot be checked", p)
		}
		mode := fi.Mode()
		writable := mode.Perm()&0o022 != 0
		switch {
		case st.Uid != 0:
			return fmt.Errorf("%s is owned by uid %d, not root", p, st.Uid)
		case writable && !(mode.IsDir() && mode&os.ModeSticky != 0 && p != path):
			return fmt.Errorf("%s is writable by group or others (mode %v)", p, mode.Perm())
		}
		if p == "/" {
			return nil
		}
	}
}
