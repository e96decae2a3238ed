package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// HTTPProtocol is the http_protocol keyword of HTTP_GET and SSL_GET.
type HTTPProtocol string

// The HTTP protocol variants keepalived sends.
const (
	// HTTP10 sends an HTTP/1.0 request without a Connection header; the
	// default.
	HTTP10 HTTPProtocol = "1.0"
	// HTTP10C sends an HTTP/1.0 request with "Connection: close".
	HTTP10C HTTPProtocol = "1.0C"
	// HTTP11 sends an HTTP/1.1 request with "Connection: close".
	HTTP11 HTTPProtocol = "1.1"
)

// StatusRange is an inclusive range of HTTP status codes; a single code
// has Lo == Hi.
type StatusRange struct {
	Lo int // lowest code accepted
	Hi int // highest code accepted
}

// DefaultStatusCodes is what a URL accepts when its StatusCodes are empty:
// 200-299, as in keepalived.
var DefaultStatusCodes = []StatusRange{{200, 299}}

// ParseStatusCodes parses the arguments of keepalived's status_code
// keyword: codes ("200") and ranges ("200-299"), as separate arguments or
// separated by commas. Codes must be in 100..599. Errors wrap
// ErrInvalidConfig.
func ParseStatusCodes(args ...string) ([]StatusRange, error) {
	var out []StatusRange
	for _, arg := range args {
		for f := range strings.SplitSeq(arg, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			lo, hi, isRange := strings.Cut(f, "-")
			a, errA := strconv.Atoi(lo)
			b := a
			var errB error
			if isRange {
				b, errB = strconv.Atoi(hi)
			}
			r := StatusRange{a, b}
			if errA != nil || errB != nil || r.check() != nil {
				return nil, fmt.Errorf("%w: bad status_code %q", ErrInvalidConfig, f)
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: status_code needs at least one code", ErrInvalidConfig)
	}
	return out, nil
}

func (r StatusRange) check() error {
	if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
		return fmt.Errorf("%w: status code range %d-%d not within 100-599", ErrInvalidConfig, r.Lo, r.Hi)
	}
	return nil
}

// URL is one url block of HTTP_GET or SSL_GET. A check passes only if
// every URL of the checker passes.
type URL struct {
	// Path is the request target, sent as is ("/", "/health?full=1").
	Path string
	// Digest is the MD5 of the response body in lowercase (or uppercase)
	// hex, as keepalived's genhash prints it. Empty means the body is
	// not checked. The digest covers the bytes after the header as they
	// arrive (up to Content-Length when given), like genhash.
	Digest string
	// StatusCodes is status_code; empty means DefaultStatusCodes.
	StatusCodes []StatusRange
	// VirtualHost is the url's virtualhost, sent as the Host header. It
	// overrides HTTPConfig.VirtualHost.
	VirtualHost string
}

// HTTPConfig configures an HTTP_GET, or with TLS set an SSL_GET.
//
// Each URL is fetched on its own connection with a request like
// keepalived's:
//
//	GET <path> HTTP/1.0
//	User-Agent: KeepAliveClient
//	Host: <virtualhost, or address:port>
//
// (HTTP/1.1 and "Connection: close" per Protocol). The URL passes when the
// status code is accepted and, if a digest is given, the body's MD5
// matches. Unlike keepalived, the body is not read at all when no digest
// is configured, and reading stops at Content-Length.
type HTTPConfig struct {
	Conn
	// TLS selects SSL_GET: the request is sent over TLS, and the server's
	// certificate is not verified, as in keepalived.
	TLS bool
	// EnableSNI is enable_sni: send a server name in the TLS handshake,
	// ServerName if set, else the URL's virtual host.
	EnableSNI bool
	// ServerName is sni_name.
	ServerName string
	// Protocol is http_protocol; empty means HTTP10.
	Protocol HTTPProtocol
	// VirtualHost is the checker's virtualhost (the configuration layer
	// resolves its inheritance from the real and virtual server). Empty
	// sends the checked address and port as the Host header.
	VirtualHost string
	// URLs are the url blocks; at least one is required.
	URLs []URL
}

// Kind returns KindSSL when TLS is set, else KindHTTP.
func (c HTTPConfig) Kind() Kind {
	if c.TLS {
		return KindSSL
	}
	return KindHTTP
}

// NewChecker validates c and returns an *HTTPChecker.
func (c HTTPConfig) NewChecker(server netip.AddrPort) (Checker, error) {
	ep, err := c.Conn.endpoint(server, true)
	if err != nil {
		return nil, err
	}
	var minor int
	var connClose bool
	switch c.Protocol {
	case "", HTTP10:
	case HTTP10C:
		connClose = true
	case HTTP11:
		minor, connClose = 1, true
	default:
		return nil, fmt.Errorf("%w: http_protocol %q is not 1.0, 1.0C or 1.1", ErrInvalidConfig, c.Protocol)
	}
	if len(c.URLs) == 0 {
		return nil, fmt.Errorf("%w: %s needs at least one url", ErrInvalidConfig, c.Kind())
	}
	if err := checkHeaderValue("virtualhost", c.VirtualHost); err != nil {
		return nil, err
	}
	ch := &HTTPChecker{ep: ep, kind: c.Kind()}
	for _, u := range c.URLs {
		if u.Path == "" {
			return nil, fmt.Errorf("%w: url without path", ErrInvalidConfig)
		}
		if strings.ContainsAny(u.Path, " \t") {
			return nil, fmt.Errorf("%w: url path %q contains white space", ErrInvalidConfig, u.Path)
		}
		if err := checkHeaderValue("path", u.Path); err != nil {
			return nil, err
		}
		if err := checkHeaderValue("virtualhost", u.VirtualHost); err != nil {
			return nil, err
		}
		hu := httpURL{path: u.Path, codes: u.StatusCodes}
		if len(hu.codes) == 0 {
			hu.codes = DefaultStatusCodes
		}
		for _, r := range hu.codes {
			if err := r.check(); err != nil {
				return nil, err
			}
		}
		if u.Digest != "" {
			d, err := hex.DecodeString(u.Digest)
			if err != nil || len(d) != md5.Size {
				return nil, fmt.Errorf("%w: digest %q is not 32 hex digits", ErrInvalidConfig, u.Digest)
			}
			hu.digest = d
		}
		vhost := u.VirtualHost
		if vhost == "" {
			vhost = c.VirtualHost
		}
		host := vhost
		if host == "" {
			host = netip.AddrPortFrom(ep.remote.Addr().WithZone(""), ep.remote.Port()).String()
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n", u.Path, minor)
		if connClose {
			b.WriteString("Connection: close\r\n")
		}
		fmt.Fprintf(&b, "Host: %s\r\n\r\n", host)
		hu.request = b.Bytes()
		if c.TLS {
			hu.tls = &tls.Config{
				InsecureSkipVerify: true, // keepalived does not verify real servers' certificates
			}
			if c.EnableSNI {
				hu.tls.ServerName = c.ServerName
				if hu.tls.ServerName == "" {
					hu.tls.ServerName = vhost
				}
			}
		}
		ch.urls = append(ch.urls, hu)
	}
	return ch, nil
}

// checkHeaderValue rejects text that would break the request.
func checkHeaderValue(what, s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s %q contains a control character", ErrInvalidConfig, what, s)
		}
	}
	return nil
}

// HTTPChecker is an HTTP_GET or SSL_GET. Build it with
// HTTPConfig.NewChecker.
type HTTPChecker struct {
	ep   endpoint
	kind Kind
	urls []httpURL
}

// httpURL is a validated URL with its request prepared.
type httpURL struct {
	path    string
	request []byte
	codes   []StatusRange
	digest  []byte // nil: not checked
	tls     *tls.Config
}

// String returns e.g. "HTTP_GET 10.0.0.1:80".
func (c *HTTPChecker) String() string { return string(c.kind) + " " + c.ep.remote.String() }

// Check fetches every URL in turn and fails on the first that fails. The
// error names the URL's path and wraps ErrBadStatus, ErrDigest,
// ErrNoResponse or the network error.
func (c *HTTPChecker) Check(ctx context.Context) Result {
	for i := range c.urls {
		u := &c.urls[i]
		if err := c.get(ctx, u); err != nil {
			return fail(fmt.Errorf("url %s: %w", u.path, err))
		}
	}
	return pass()
}

// maxHead bounds the status line and header of a response.
const maxHead = 64 << 10

func (c *HTTPChecker) get(ctx context.Context, u *httpURL) error {
	ctx, cancel := context.WithTimeout(ctx, c.ep.timeout)
	defer cancel()
	conn, err := c.ep.dial(ctx, "tcp")
	if err != nil {
		return err
	}
	defer conn.Close()
	defer watch(ctx, conn)()

	var rw io.ReadWriter = conn
	if u.tls != nil {
		tc := tls.Client(conn, u.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		defer tc.Close()
		rw = tc
	}
	if _, err := rw.Write(u.request); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	br := bufio.NewReaderSize(rw, 4096)
	code, length, err := readHead(br)
	if err != nil {
		return err
	}
	if !statusOK(u.codes, code) {
		return fmt.Errorf("%w %d", ErrBadStatus, code)
	}
	if u.digest == nil {
		return nil
	}
	h := md5.New()
	var body io.Reader = br
	if length >= 0 {
		body = io.LimitReader(br, length)
	}
	if _, err := io.Copy(h, body); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read body: %w", err)
	}
	if sum := h.Sum(nil); subtle.ConstantTimeCompare(sum, u.digest) != 1 {
		return fmt.Errorf("%w: got %x", ErrDigest, sum)
	}
	return nil
}

func statusOK(codes []StatusRange, code int) bool {
	for _, r := range codes {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// readHead reads a response's status line and header, leniently as
// keepalived does, and returns the status code and Content-Length (-1 when
// absent or unusable).
func readHead(br *bufio.Reader) (code int, length int64, err error) {
	length = -1
	budget := maxHead
	line, err := readLine(br, &budget)
	if err != nil {
		if errors.Is(err, io.EOF) && line == "" {
			return 0, -1, fmt.Errorf("%w: connection closed before a status line", ErrNoResponse)
		}
		return 0, -1, fmt.Errorf("read status line: %w", err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimLeft(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/") || len(rest) < 3 {
		return 0, -1, fmt.Errorf("%w: malformed status line %q", ErrNoResponse, trimForError(line))
	}
	code, err = strconv.Atoi(rest[:3])
	if err != nil || code < 100 || code > 999 {
		return 0, -1, fmt.Errorf("%w: malformed status line %q", ErrNoResponse, trimForError(line))
	}
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			return 0, -1, fmt.Errorf("read header: %w", err)
		}
		if line == "" {
			return code, length, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil && n >= 0 {
				length = n
			}
		}
	}
}

// readLine reads one line ending in LF (CR LF accepted), charging its
// length to *budget.
func readLine(br *bufio.Reader, budget *int) (string, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		*budget -= len(chunk)
		if *budget < 0 {
			return "", fmt.Errorf("%w: response header larger than %d bytes", ErrNoResponse, maxHead)
		}
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return string(line), err
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		return string(line), nil
	}
}

func trimForError(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
