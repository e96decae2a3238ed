package mail

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueueSize is how many messages a Queue holds when
// QueueConfig.Size is zero.
const DefaultQueueSize = 64

// logEvery is how often a Queue logs failures and drops at most.
const logEvery = time.Minute

// QueueConfig configures a Queue.
type QueueConfig struct {
	// Size bounds the messages waiting to be sent; DefaultQueueSize
	// when zero or negative.
	Size int
	// Log receives a line per message sent (Info) and the failures and
	// drops (Warn), these at most once a minute, with the number left
	// out since the last one; nil discards everything.
	Log *slog.Logger
	// Send sends one message; nil means the package's Send. Tests put
	// fakes here.
	Send func(ctx context.Context, s Server, m Message) error
}

// QueueStats are a Queue's counters since it was made.
type QueueStats struct {
	// Sent counts the messages the server accepted.
	Sent uint64
	// Failed counts the messages that could not be sent: the server
	// could not be reached, refused them or timed out.
	Failed uint64
	// Dropped counts the messages never tried: the queue was full, it
	// was closed, or Close gave up on them.
	Dropped uint64
	// Waiting is how many messages are queued now.
	Waiting int
}

// Queue sends messages in the background, one at a time, from one
// goroutine. Enqueue never blocks: a message that finds the queue full is
// dropped and counted. A message that cannot be sent is not tried again:
// it is counted and, at most once a minute, logged. All methods are safe
// for concurrent use.
type Queue struct {
	send func(context.Context, Server, Message) error
	log  *slog.Logger
	ch   chan job

	ctx   context.Context // of the sends; cancelled when Close gives up
	abort context.CancelFunc
	done  chan struct{}

	sent, failed, dropped atomic.Uint64

	mu     sync.Mutex // guards closed (and the send on ch against close) and the log limit
	closed bool
	every  time.Duration
	last   time.Time // when a problem was last logged
	quiet  int       // problems not logged since
}

type job struct {
	srv Server
	msg Message
}

// NewQueue returns a running Queue. Close stops it.
func NewQueue(cfg QueueConfig) *Queue {
	size := cfg.Size
	if size <= 0 {
		size = DefaultQueueSize
	}
	q := &Queue{send: cfg.Send, log: cfg.Log, ch: make(chan job, size), done: make(chan struct{}), every: logEvery}
	if q.send == nil {
		q.send = Send
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	q.ctx, q.abort = context.WithCancel(context.Background())
	go q.run()
	return q
}

// Enqueue queues m for the server s and returns at once. It reports
// false when m was dropped: the queue is full or closed.
func (q *Queue) Enqueue(s Server, m Message) bool {
	if m.Date.IsZero() {
		m.Date = time.Now() // when the event happened, not when it is sent
	}
	m.To = append([]string(nil), m.To...)
	q.mu.Lock()
	ok := false
	if !q.closed {
		select {
		case q.ch <- job{s, m}:
			ok = true
		default:
		}
	}
	closed := q.closed
	q.mu.Unlock()
	if !ok {
		q.dropped.Add(1)
		reason := "the queue is full"
		if closed {
			reason = "the queue is closed"
		}
		q.problem("mail alert dropped", slog.String("reason", reason), slog.String("subject", m.Subject))
	}
	return ok
}

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	return QueueStats{Sent: q.sent.Load(), Failed: q.failed.Load(), Dropped: q.dropped.Load(), Waiting: len(q.ch)}
}

// Close stops taking messages, sends those still queued and waits for
// the goroutine to end. When ctx ends first, the message being sent is
// abandoned and the others are dropped (and counted). Later calls wait
// for the same end.
func (q *Queue) Close(ctx context.Context) {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	stop := context.AfterFunc(ctx, q.abort)
	defer stop()
	<-q.done
}

func (q *Queue) run() {
	defer close(q.done)
	defer q.abort()
	for j := range q.ch {
		if q.ctx.Err() != nil {
			q.dropped.Add(1)
			continue
		}
		if err := q.send(q.ctx, j.srv, j.msg); err != nil {
			q.failed.Add(1)
			q.problem("mail alert not sent", slog.String("server", j.srv.Addr), slog.String("subject", j.msg.Subject),
				slog.String("error", err.Error()))
			continue
		}
		q.sent.Add(1)
		q.log.Info("mail alert sent", slog.String("server", j.srv.Addr), slog.String("subject", j.msg.Subject))
	}
	if n := q.quietCount(); n > 0 {
		q.log.Warn("mail alert problems not logged", slog.Int("count", n))
	}
}

// problem logs a failure or a drop, unless one was logged less than
// q.every ago; those are counted and the count goes with the next line.
func (q *Queue) problem(msg string, attrs ...slog.Attr) {
	q.mu.Lock()
	now := time.Now()
	if !q.last.IsZero() && now.Sub(q.last) < q.every {
		q.quiet++
		q.mu.Unlock()
		return
	}
	q.last = now
	quiet := q.quiet
	q.quiet = 0
	q.mu.Unlock()
	if quiet > 0 {
		attrs = append(attrs, slog.Int("not_logged_since_last", quiet))
	}
	q.log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

func (q *Queue) quietCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.quiet
	q.quiet = 0
	return n
}
