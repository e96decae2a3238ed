package healthcheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultKillGrace is how long a script has to exit after SIGTERM before
// its process group gets SIGKILL, as in keepalived.
const DefaultKillGrace = 2 * time.Second

// Script is an external program run without a shell: for MISC_CHECK, and
// for the control layer's notify and quorum scripts.
//
// Each run starts the program in a process group of its own. When it runs
// past its timeout, or its context ends, the group gets SIGTERM, then
// SIGKILL once the program has exited or after DefaultKillGrace, so that
// children it started die with it. A script that exits in time may leave
// children running; they are not touched.
//
// A Script is immutable and safe for concurrent use.
type Script struct {
	args      []string
	cred      *syscall.Credential // nil: run as this process
	desc      string              // user[:group] for messages
	killGrace time.Duration       // zero: DefaultKillGrace
}

// NewScript returns the script that cmdline describes, split into
// arguments by SplitCommand. When userName is set the script runs as that
// user (user name or numeric id), with that user's groups, and with the
// primary group groupName instead when set; this needs root unless it is
// the current user. Errors wrap ErrInvalidConfig or, for a user change
// without root, os.ErrPermission.
func NewScript(cmdline, userName, groupName string) (*Script, error) {
	args, err := SplitCommand(cmdline)
	if err != nil {
		return nil, err
	}
	return NewScriptArgs(args, userName, groupName)
}

// NewScriptArgs is NewScript for a command already split into arguments.
func NewScriptArgs(args []string, userName, groupName string) (*Script, error) {
	args = append([]string(nil), args...)
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: empty command", ErrInvalidConfig)
	}
	s := &Script{args: args}
	if userName == "" {
		if groupName != "" {
			return nil, fmt.Errorf("%w: group %q given without a user", ErrInvalidConfig, groupName)
		}
		return s, nil
	}
	cred, err := lookupCredential(userName, groupName)
	if err != nil {
		return nil, err
	}
	s.desc = userName
	if groupName != "" {
		s.desc += ":" + groupName
	}
	if os.Geteuid() != 0 {
		if int(cred.Uid) != os.Geteuid() || int(cred.Gid) != os.Getegid() {
			return nil, fmt.Errorf("run script as %s: %w: only root can change user", s.desc, os.ErrPermission)
		}
		return s, nil // already that user
	}
	s.cred = cred
	return s, nil
}

// WithArgs returns the script with extra arguments appended, run as the
// same user.
func (s *Script) WithArgs(extra ...string) *Script {
	c := *s
	c.args = append(append([]string(nil), s.args...), extra...)
	return &c
}

// Args returns a copy of the argument vector; Args()[0] is the program.
func (s *Script) Args() []string { return append([]string(nil), s.args...) }

// String returns the arguments, quoted where needed, and the user.
func (s *Script) String() string {
	q := make([]string, len(s.args))
	for i, a := range s.args {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\") {
			q[i] = strconv.Quote(a)
		}
	}
	str := strings.Join(q, " ")
	if s.desc != "" {
		str += " (as " + s.desc + ")"
	}
	return str
}

// Run runs the script to completion, with stdin, stdout and stderr on
// /dev/null, and returns its exit status. When it could not be started,
// was killed by a signal, ran past timeout (zero: no limit but ctx) or ctx
// ended, Run returns status -1 and an error: ErrScriptTimeout, the
// context's error, or one naming the signal or the start failure.
func (s *Script) Run(ctx context.Context, timeout time.Duration) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("%s: %w", s.args[0], err)
	}
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("start %s: %w", s.args[0], err)
	}
	pgid := cmd.Process.Pid // the leader of its own group
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var why error
	select {
	case err := <-done:
		return exitStatus(s.args[0], cmd.ProcessState, err)
	case <-expired:
		why = ErrScriptTimeout
	case <-ctx.Done():
		why = ctx.Err()
	}

	// The group exists while any member lives, so its id cannot be
	// reused before the SIGKILL below, even after the leader is reaped.
	syscall.Kill(-pgid, syscall.SIGTERM)
	grace := s.killGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	g := time.NewTimer(grace)
	defer g.Stop()
	exited := false
	select {
	case <-done:
		exited = true
	case <-g.C:
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	if !exited {
		<-done
	}
	return -1, fmt.Errorf("%s: %w", s.args[0], why)
}

// exitStatus turns the outcome of cmd.Wait into Run's results.
func exitStatus(prog string, ps *os.ProcessState, err error) (int, error) {
	if ps == nil {
		return -1, fmt.Errorf("wait for %s: %w", prog, err)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, fmt.Errorf("%s killed by signal %v", prog, ws.Signal())
	}
	return ps.ExitCode(), nil
}

// lookupCredential resolves a user and optional group to the credential
// to run scripts with.
func lookupCredential(userName, groupName string) (*syscall.Credential, error) {
	u, err := user.Lookup(userName)
	if err != nil {
		if _, nerr := strconv.ParseUint(userName, 10, 32); nerr == nil {
			u, err = user.LookupId(userName)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: script user %q: %w", ErrInvalidConfig, userName, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: script user %q has non-numeric ids", ErrInvalidConfig, userName)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if _, nerr := strconv.ParseUint(groupName, 10, 32); nerr == nil {
				g, err = user.LookupGroupId(groupName)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: script group %q: %w", ErrInvalidConfig, groupName, err)
		}
		gid, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: script group %q has a non-numeric id", ErrInvalidConfig, groupName)
		}
		cred.Gid = uint32(gid)
	}
	if len(cred.Groups) == 0 {
		cred.Groups = []uint32{cred.Gid}
	}
	return cred, nil
}

// SplitCommand splits a command line into arguments the way keepalived
// splits script command lines (misc_path, notify scripts), without a
// shell:
//
//   - Arguments are separated by white space outside quotes.
//   - '…' and "…" quote text, white space included, and may start or end
//     anywhere within an argument; "" gives an empty argument.
//   - A backslash escapes the next character, inside quotes too: \a \b \E
//     (escape) \f \n \r \t \v, \xHH… (hex), \cX (control-X), \ooo (octal,
//     up to three digits); any other character stands for itself, so \"
//     \' \\ and "\ " are literal.
//
// No expansion of any kind takes place. Errors (an unterminated quote, a
// trailing backslash, a NUL byte) wrap ErrInvalidConfig.
func SplitCommand(s string) ([]string, error) {
	var args []string
	var cur []byte
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("%w: command %q ends with a backslash", ErrInvalidConfig, s)
			}
			b, n := unescape(s[i+1:])
			cur = append(cur, b)
			i += n
			inWord = true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur = append(cur, c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case isSpace(c):
			if inWord {
				args = append(args, string(cur))
				cur, inWord = cur[:0], false
			}
		default:
			cur = append(cur, c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%w: command %q lacks a closing %c", ErrInvalidConfig, s, quote)
	}
	if inWord {
		args = append(args, string(cur))
	}
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("%w: command %q has a NUL byte", ErrInvalidConfig, s)
		}
	}
	return args, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// unescape decodes the escape at the start of s (after the backslash) and
// returns the byte and how many bytes of s it used.
func unescape(s string) (byte, int) {
	c := s[0]
	switch {
	case c == 'x' && len(s) > 1 && isHex(s[1]):
		var v byte
		n := 1
		for n < len(s) && isHex(s[n]) {
			d, _, _ := hexDigit(s[n])
			v = v<<4 | d
			n++
		}
		return v, n
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case '0' <= c && c <= '7':
		v, n := c-'0', 1
		for n < 3 && n < len(s) && '0' <= s[n] && s[n] <= '7' {
			v = v<<3 | (s[n] - '0')
			n++
		}
		return v, n
	}
	if r, ok := simpleEscapes[c]; ok {
		return r, 1
	}
	return c, 1
}

var simpleEscapes = map[byte]byte{
	'a': '\a', 'b': '\b', 'E': 0x1b, 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v',
}

func isHex(c byte) bool {
	_, x, ok := hexDigit(c)
	return ok && !x
}
