package control

import (
	"errors"
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
	for _, s := range configuredScripts(spec) {
		if s.user != "" && s.user != "root" {
			continue
		}
		if err := rootSafe(s.cmd.Argv[0]); err != nil {
			return fmt.Errorf("%s: %s runs as root and %v; with enable_script_security set, fix the permissions or set script_user: %w", s.cmd.Pos, s.what, err, ErrScriptSecurity)
		}
	}
	return nil
}

// ErrScriptSecurity is wrapped by the errors about scripts that
// enable_script_security refuses: keepalived -t exits 6 for them, and xvs
// check does too.
var ErrScriptSecurity = errors.New("script security")

// ScriptSecurityWarning returns keepalived's "SECURITY VIOLATION - scripts
// are being executed but script_security not enabled" as a warning at the
// first script (a notify script, vrrp_script, MISC_CHECK, ...) whose
// program exists, when global_defs enable_script_security is not set; nil
// otherwise. keepalived runs the scripts all the same, and so does xvs
// run, with the warning in its log; xvs check, like keepalived -t, exits
// 6.
func ScriptSecurityWarning(spec *config.Spec) *config.Diagnostic {
	if spec.Global.EnableScriptSecurity {
		return nil
	}
	for _, s := range configuredScripts(spec) {
		if _, err := exec.LookPath(s.cmd.Argv[0]); err == nil {
			return &config.Diagnostic{Pos: s.cmd.Pos, Warning: true, Msg: fmt.Sprintf(
				"%s runs a script while enable_script_security is not set in global_defs, so no script's ownership and permissions are checked (keepalived's SECURITY VIOLATION)", s.what)}
		}
	}
	return nil
}

// configuredScript is one configured script: what it is, its command, and the user
// it runs as ("" for script_user or root).
type configuredScript struct {
	what string
	cmd  config.Command
	user string
}

// configuredScripts returns every script the spec configures.
func configuredScripts(spec *config.Spec) []configuredScript {
	var all []configuredScript
	add := func(what string, c config.Command, user string) {
		if len(c.Argv) > 0 {
			all = append(all, configuredScript{what, c, user})
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
	return all
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
