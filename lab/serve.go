//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Ports the lab servers listen on, on every address of their namespace.
const (
	// HTTPPort is the TCP port of the lab HTTP server.
	HTTPPort = 80
	// UDPPort is the UDP port of the lab echo server.
	UDPPort = 53
)

// DiscardPath is the HTTP path of the lab servers' sink for bulk uploads:
// the body of a POST or PUT to it is read to its end (or until the client
// closes, so a client may announce any Content-Length and stop sending when
// it likes) and thrown away, without the server's read and write timeouts;
// its bytes are counted (DiscardedBytes) as they arrive, and the answer is
// 200 with the count of the request's bytes.
const DiscardPath = "/discard"

// discarded holds, per namespace, the bytes the in-process servers there
// read at DiscardPath.
var discarded = struct {
	sync.Mutex
	m map[string]*atomic.Uint64
}{m: map[string]*atomic.Uint64{}}

// discardCounter returns the counter of namespace ns, making it.
func discardCounter(ns string) *atomic.Uint64 {
	discarded.Lock()
	defer discarded.Unlock()
	c := discarded.m[ns]
	if c == nil {
		c = new(atomic.Uint64)
		discarded.m[ns] = c
	}
	return c
}

// DiscardedBytes returns how many body bytes the lab servers this process
// runs in namespace ns (Serve, StartServers) have read at DiscardPath so
// far, counted as they arrive and kept across server restarts. Servers of
// other processes (StartDaemons) are not counted.
func DiscardedBytes(ns string) uint64 { return discardCounter(ns).Load() }

// discard reads r's body to its end, adding to ctr as bytes arrive, and
// answers with the request's count.
func discard(w http.ResponseWriter, r *http.Request, ctr *atomic.Uint64) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	buf := make([]byte, 256<<10)
	var n uint64
	for {
		m, err := r.Body.Read(buf)
		n += uint64(m)
		ctr.Add(uint64(m))
		if err != nil {
			break
		}
	}
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(strconv.FormatUint(n, 10) + "\n"))
}

// server is one running set of lab servers.
type server struct {
	name string
	tcp  net.Listener
	udp  net.PacketConn
	http *http.Server
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

// ServeOptions change how a lab server behaves.
type ServeOptions struct {
	// Delay holds every HTTP response back this long, to make a slow
	// server (its connections stay established longer).
	Delay time.Duration
	// KeepAlive serves many requests per connection (HTTP keep-alive)
	// instead of closing after each response.
	KeepAlive bool
}

// Serve starts the lab servers of real server name inside namespace nsName:
// HTTP on TCP port 80, answering any GET with status 200, header
// "X-Server: name" and body name+"\n" (connections are closed after each
// response), and a UDP responder on port 53 that answers every datagram with
// the payload name. A POST or PUT to DiscardPath is a sink for bulk
// uploads (see DiscardPath). The servers run on goroutines of this process until the
// returned Closer is closed.
func Serve(nsName, name string) (io.Closer, error) {
	return ServeWith(nsName, name, ServeOptions{})
}

// ServeWith is Serve with options.
func ServeWith(nsName, name string, o ServeOptions) (io.Closer, error) {
	if name == "" {
		return nil, errors.New("lab: empty server name")
	}
	s := &server{name: name}
	err := Do(nsName, func() error {
		guard := nsGuard(currentNSCookie())
		lc := net.ListenConfig{Control: guard}
		var err error
		// UDP first: once TCP accepts, both are ready (StartDaemons relies
		// on that).
		if s.udp, err = lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf(":%d", UDPPort)); err != nil {
			return fmt.Errorf("lab: listen udp in %s: %w", nsName, err)
		}
		if s.tcp, err = lc.Listen(context.Background(), "tcp4", fmt.Sprintf(":%d", HTTPPort)); err != nil {
			s.udp.Close()
			return fmt.Errorf("lab: listen tcp in %s: %w", nsName, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	body := []byte(name + "\n")
	ctr := discardCounter(nsName)
	s.http = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == DiscardPath && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
				discard(w, r, ctr)
				return
			}
			if o.Delay > 0 {
				time.Sleep(o.Delay)
			}
			w.Header().Set("X-Server", name)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if !o.KeepAlive {
				w.Header().Set("Connection", "close")
			}
			w.WriteHeader(http.StatusOK)
			w.Write(body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.http.SetKeepAlivesEnabled(o.KeepAlive)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.http.Serve(s.tcp)
	}()
	go func() {
		defer s.wg.Done()
		s.serveUDP()
	}()
	return s, nil
}

// serveUDP answers every datagram with the server name until closed.
func (s *server) serveUDP() {
	buf := make([]byte, 2048)
	reply := []byte(s.name)
	for {
		_, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.udp.WriteTo(reply, from)
	}
}

// Close stops both servers and waits for their goroutines. It is safe to
// call more than once.
func (s *server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := s.http.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = s.http.Close()
		}
		uerr := s.udp.Close()
		s.wg.Wait()
		if err != nil || uerr != nil {
			s.err = fmt.Errorf("lab: stop server %s: %w", s.name, errors.Join(err, uerr))
		}
	})
	return s.err
}

// StartServers starts in-process lab servers (see Serve) for every real
// server of the lab. They are stopped by l.Down() or Down(l.Prefix) in this
// process. On error, servers already started are stopped.
func (l *Lab) StartServers() error {
	var started []io.Closer
	for i, ns := range l.ServerNS {
		c, err := Serve(ns, l.ServerNames[i])
		if err != nil {
			for _, s := range started {
				s.Close()
			}
			return err
		}
		started = append(started, c)
	}
	for _, c := range started {
		register(l.Prefix, c)
	}
	return nil
}

// ServeForever runs Serve(nsName, name) and blocks until the process gets
// SIGTERM or SIGINT, then stops the servers. It is what `xvs lab serve`
// (the daemon StartDaemons spawns) calls.
func ServeForever(nsName, name string) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	c, err := Serve(nsName, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "lab: serving %s in %s (tcp :%d, udp :%d)\n", name, nsName, HTTPPort, UDPPort)
	s := <-sig
	fmt.Fprintf(os.Stderr, "lab: %v, stopping %s\n", s, name)
	return c.Close()
}
