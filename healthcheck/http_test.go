package healthcheck

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangResponse makes rawHTTPServer read the request and never answer.
const hangResponse = "<hang>"

// rawHTTPServer answers each request with respond(path), written as is,
// and then closes the connection. It records each request's head.
func rawHTTPServer(t *testing.T, respond func(path string) string) (netip.AddrPort, <-chan string) {
	t.Helper()
	reqs := make(chan string, 16)
	addr := tcpListener(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			head.WriteString(line)
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		select {
		case reqs <- head.String():
		default: // nobody is looking
		}
		fields := strings.Fields(head.String())
		resp := respond(fields[1])
		if resp == hangResponse {
			io.Copy(io.Discard, c) // until the checker gives up
			return
		}
		io.WriteString(c, resp)
	})
	return addr, reqs
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func response(status int, body string) string {
	return fmt.Sprintf("HTTP/1.0 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
}

func TestHTTPGet(t *testing.T) {
	const body = "<html>fine</html>\n"
	server, _ := rawHTTPServer(t, func(path string) string {
		switch path {
		case "/ok":
			return response(200, body)
		case "/created":
			return response(201, body)
		case "/moved":
			return "HTTP/1.1 301 Moved Permanently\r\nLocation: /ok\r\n\r\n"
		case "/unavailable":
			return response(503, "busy")
		case "/hang":
			return hangResponse
		case "/empty":
			return ""
		case "/garbage":
			return "SSH-2.0-OpenSSH_9.2\r\n"
		case "/short":
			// Content-Length shorter than what follows: the digest
			// covers Content-Length bytes.
			return "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nfine and more"
		case "/chunked":
			// The digest covers the body as sent, chunk sizes
			// included, like keepalived's genhash.
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\n\r\n"
		case "/lf":
			return "HTTP/1.0 200 OK\nServer: old\n\nfine"
		}
		return response(404, "not found")
	})
	tests := []struct {
		desc    string
		urls    []URL
		healthy bool
		err     error
	}{
		{"200, default codes", []URL{{Path: "/ok"}}, true, nil},
		{"201 is in the default 200-299", []URL{{Path: "/created"}}, true, nil},
		{"301 outside the default", []URL{{Path: "/moved"}}, false, ErrBadStatus},
		{"301 in a list", []URL{{Path: "/moved", StatusCodes: []StatusRange{{200, 200}, {301, 302}}}}, true, nil},
		{"503 outside the default", []URL{{Path: "/unavailable"}}, false, ErrBadStatus},
		{"503 in 500-503", []URL{{Path: "/unavailable", StatusCodes: []StatusRange{{500, 503}}}}, true, nil},
		{"404", []URL{{Path: "/nothing"}}, false, ErrBadStatus},
		{"right digest", []URL{{Path: "/ok", Digest: md5hex(body)}}, true, nil},
		{"right digest in upper case", []URL{{Path: "/ok", Digest: strings.ToUpper(md5hex(body))}}, true, nil},
		{"wrong digest", []URL{{Path: "/ok", Digest: md5hex("something else")}}, false, ErrDigest},
		{"digest and a bad status", []URL{{Path: "/unavailable", Digest: md5hex("busy")}}, false, ErrBadStatus},
		{"digest up to Content-Length", []URL{{Path: "/short", Digest: md5hex("fine")}}, true, nil},
		{"digest of a chunked body as sent", []URL{{Path: "/chunked", Digest: md5hex("4\r\nfine\r\n0\r\n\r\n")}}, true, nil},
		{"bare LF line ends", []URL{{Path: "/lf", Digest: md5hex("fine")}}, true, nil},
		{"every URL must pass", []URL{{Path: "/ok"}, {Path: "/unavailable"}}, false, ErrBadStatus},
		{"all URLs pass", []URL{{Path: "/ok"}, {Path: "/created", Digest: md5hex(body)}}, true, nil},
		{"closed without a response", []URL{{Path: "/empty"}}, false, ErrNoResponse},
		{"not HTTP", []URL{{Path: "/garbage"}}, false, ErrNoResponse},
		{"accepts and never answers", []URL{{Path: "/hang"}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := newChecker(t, HTTPConfig{Conn: Conn{ConnectTimeout: shortTimeout}, URLs: tt.urls}, server)
			r, took := timedCheck(c)
			assertResult(t, r, tt.healthy, tt.err)
			if took > shortTimeout+time.Second {
				t.Errorf("check took %v with a %v timeout", took, shortTimeout)
			}
			if tt.desc == "accepts and never answers" && !isTimeout(r.Err) {
				t.Errorf("err = %v, want a timeout", r.Err)
			}
			if !r.Healthy && !strings.Contains(r.Err.Error(), "url /") {
				t.Errorf("error %q does not name the url", r.Err)
			}
		})
	}
}

func TestHTTPUnreachable(t *testing.T) {
	for _, tt := range []struct {
		desc   string
		server netip.AddrPort
	}{
		{"closed port", closedPort(t, "tcp")},
		{"full backlog", fullBacklog(t)},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			c := newChecker(t, HTTPConfig{Conn: Conn{ConnectTimeout: shortTimeout}, URLs: []URL{{Path: "/"}}}, tt.server)
			r, took := timedCheck(c)
			assertResult(t, r, false, nil)
			if tt.desc == "closed port" && !errors.Is(r.Err, syscall.ECONNREFUSED) {
				t.Errorf("err = %v, want connection refused", r.Err)
			}
			if took > shortTimeout+time.Second {
				t.Errorf("check took %v", took)
			}
		})
	}
}

// TestHTTPRequest checks the bytes sent, which are keepalived's.
func TestHTTPRequest(t *testing.T) {
	server, reqs := rawHTTPServer(t, func(string) string { return response(200, "") })
	hostPort := server.String()
	tests := []struct {
		desc string
		cfg  HTTPConfig
		want string
	}{
		{
			"default protocol 1.0, Host is address:port",
			HTTPConfig{URLs: []URL{{Path: "/health?x=1"}}},
			"GET /health?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: " + hostPort + "\r\n\r\n",
		},
		{
			"1.0C adds Connection: close; checker virtualhost",
			HTTPConfig{Protocol: HTTP10C, VirtualHost: "www.example.test", URLs: []URL{{Path: "/"}}},
			"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.test\r\n\r\n",
		},
		{
			"1.1; url virtualhost overrides the checker's",
			HTTPConfig{Protocol: HTTP11, VirtualHost: "www.example.test", URLs: []URL{{Path: "/", VirtualHost: "api.example.test"}}},
			"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: api.example.test\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := newChecker(t, tt.cfg, server)
			assertResult(t, c.Check(context.Background()), true, nil)
			if got := <-reqs; got != tt.want {
				t.Errorf("request\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestSSLGet(t *testing.T) {
	const body = "secure fine"
	var sni = make(chan string, 16)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, body)
		default:
			http.Error(w, "broken", http.StatusInternalServerError)
		}
	}))
	ts.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the plain-HTTP case makes it complain
	ts.StartTLS()                                   // a self-signed certificate on 127.0.0.1:0
	t.Cleanup(ts.Close)
	server := addrPort(t, ts.Listener.Addr())

	tests := []struct {
		desc    string
		cfg     HTTPConfig
		healthy bool
		err     error
		sni     string
	}{
		{"200 with the right digest, certificate not verified", HTTPConfig{TLS: true, URLs: []URL{{Path: "/ok", Digest: md5hex(body)}}}, true, nil, ""},
		{"wrong digest", HTTPConfig{TLS: true, URLs: []URL{{Path: "/ok", Digest: md5hex("x")}}}, false, ErrDigest, ""},
		{"500", HTTPConfig{TLS: true, URLs: []URL{{Path: "/broken"}}}, false, ErrBadStatus, ""},
		{"SNI from the virtual host", HTTPConfig{TLS: true, EnableSNI: true, VirtualHost: "www.example.test", URLs: []URL{{Path: "/ok"}}}, true, nil, "www.example.test"},
		{"SNI from sni_name", HTTPConfig{TLS: true, EnableSNI: true, ServerName: "sni.example.test", VirtualHost: "www.example.test", URLs: []URL{{Path: "/ok"}}}, true, nil, "sni.example.test"},
		{"no SNI unless enabled", HTTPConfig{TLS: true, VirtualHost: "www.example.test", URLs: []URL{{Path: "/ok"}}}, true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			tt.cfg.Conn.ConnectTimeout = time.Second
			c := newChecker(t, tt.cfg, server)
			if c.(*HTTPChecker).String() != "SSL_GET "+server.String() {
				t.Errorf("String() = %q", c.(*HTTPChecker).String())
			}
			assertResult(t, c.Check(context.Background()), tt.healthy, tt.err)
			if got := <-sni; got != tt.sni {
				t.Errorf("server name %q, want %q", got, tt.sni)
			}
		})
	}

	t.Run("plain HTTP to a TLS server", func(t *testing.T) {
		c := newChecker(t, HTTPConfig{Conn: Conn{ConnectTimeout: time.Second}, URLs: []URL{{Path: "/ok"}}}, server)
		assertResult(t, c.Check(context.Background()), false, nil)
	})
	t.Run("TLS to a plain server", func(t *testing.T) {
		plain, _ := rawHTTPServer(t, func(string) string { return response(200, "") })
		c := newChecker(t, HTTPConfig{TLS: true, Conn: Conn{ConnectTimeout: shortTimeout}, URLs: []URL{{Path: "/"}}}, plain)
		assertResult(t, c.Check(context.Background()), false, nil)
	})
}

func TestParseStatusCodes(t *testing.T) {
	tests := []struct {
		args []string
		want []StatusRange
	}{
		{[]string{"200"}, []StatusRange{{200, 200}}},
		{[]string{"200-299", "400-499", "503", "505"}, []StatusRange{{200, 299}, {400, 499}, {503, 503}, {505, 505}}},
		{[]string{"200,301-302"}, []StatusRange{{200, 200}, {301, 302}}},
	}
	for _, tt := range tests {
		got, err := ParseStatusCodes(tt.args...)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseStatusCodes(%q) = %v, %v; want %v", tt.args, got, err, tt.want)
		}
	}
	for _, bad := range [][]string{nil, {""}, {"abc"}, {"99"}, {"600"}, {"299-200"}, {"200-"}, {"-200"}} {
		if got, err := ParseStatusCodes(bad...); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseStatusCodes(%q) = %v, %v; want ErrInvalidConfig", bad, got, err)
		}
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	server := netip.MustParseAddrPort("127.0.0.1:80")
	for _, cfg := range []HTTPConfig{
		{},                                 // no URL
		{URLs: []URL{{}}},                  // no path
		{URLs: []URL{{Path: "/a b"}}},      // space
		{URLs: []URL{{Path: "/\r\nX: y"}}}, // header injection
		{URLs: []URL{{Path: "/", VirtualHost: "a\nb"}}},
		{VirtualHost: "a\rb", URLs: []URL{{Path: "/"}}},
		{URLs: []URL{{Path: "/", Digest: "abc"}}},
		{URLs: []URL{{Path: "/", Digest: strings.Repeat("g", 32)}}},
		{URLs: []URL{{Path: "/", StatusCodes: []StatusRange{{300, 200}}}}},
		{Protocol: "2", URLs: []URL{{Path: "/"}}},
	} {
		if _, err := cfg.NewChecker(server); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewChecker(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if k := (HTTPConfig{}).Kind(); k != KindHTTP {
		t.Errorf("Kind = %v", k)
	}
	if k := (HTTPConfig{TLS: true}).Kind(); k != KindSSL {
		t.Errorf("Kind = %v", k)
	}
}
