// Package loadgen is the closed-loop HTTP/1.1 keep-alive load generator of trafficext-bench,
// plus the minimal fixed-response upstream it measures against.
//
// Each connection is a goroutine that writes one request, reads the whole response, records
// the latency and immediately sends the next (closed loop, no pipelining). Requests carry
// `x-number: <i>`; every response is checked: status 200 and, when parity checking is on, an
// `x-parity` header equal to "even"/"odd" for i (and absent when it is off). The client is a
// hand-written HTTP/1.1 codec over net.Conn so that the generator, which shares the machine
// with Envoy, spends as little CPU as possible per request.
package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one load run.
type Config struct {
	// Addr is host:port of the proxy.
	Addr string
	// Conns is the number of keep-alive connections (one closed loop each).
	Conns int
	// Warmup runs load that is checked but not recorded; Duration is the measured window.
	Warmup, Duration time.Duration
	// Path and Host form the request line and Host header (defaults "/" and "bench").
	Path, Host string
	// CheckParity requires x-parity to match x-number; otherwise x-parity must be absent.
	CheckParity bool
	// Header is an extra request header line ("name: value"), e.g. an authorization.
	Header string
	// OnMeasureStart, if set, is called once when the warm-up ends (e.g. to sample RSS).
	OnMeasureStart func()
}

// Result is the outcome of a run.
type Result struct {
	// Latency of the requests started inside the measured window.
	Latency *Histogram
	// Requests completed that were started inside the measured window.
	Requests uint64
	// Checked is every response checked (warm-up included); Errors those that failed a check
	// or a transport error (warm-up included).
	Checked, Errors uint64
	// ErrorKinds counts errors by message (at most maxErrorKinds kinds are kept).
	ErrorKinds map[string]uint64
	// Window is the measured window.
	Window time.Duration
}

// Throughput is requests per second over the measured window.
func (r *Result) Throughput() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Window.Seconds()
}

// ErrorSummary lists the error kinds, most frequent first.
func (r *Result) ErrorSummary() string {
	type kv struct {
		k string
		v uint64
	}
	var l []kv
	for k, v := range r.ErrorKinds {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	var b bytes.Buffer
	for i, e := range l {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d× %s", e.v, e.k)
	}
	return b.String()
}

const maxErrorKinds = 16

type errorLog struct {
	mu    sync.Mutex
	n     atomic.Uint64
	kinds map[string]uint64
}

func (e *errorLog) add(msg string) {
	e.n.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.kinds[msg]; ok || len(e.kinds) < maxErrorKinds {
		e.kinds[msg]++
	}
}

// Run drives the load and blocks until the measured window has ended and every connection
// has finished its last request.
func Run(cfg Config) (*Result, error) {
	if cfg.Conns < 1 {
		return nil, errors.New("loadgen: Conns must be at least 1")
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.Host == "" {
		cfg.Host = "bench"
	}
	// Fail fast when nothing listens.
	c, err := net.DialTimeout("tcp", cfg.Addr, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	c.Close()

	start := time.Now()
	measureStart := start.Add(cfg.Warmup)
	end := measureStart.Add(cfg.Duration)
	errs := &errorLog{kinds: map[string]uint64{}}
	hists := make([]*Histogram, cfg.Conns)
	counts := make([]uint64, cfg.Conns)
	checked := make([]uint64, cfg.Conns)
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		hists[i] = NewHistogram()
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{cfg: &cfg, id: i, hist: hists[i], errs: errs}
			w.loop(measureStart, end)
			counts[i], checked[i] = w.recorded, w.checked
		}()
	}
	if cfg.OnMeasureStart != nil {
		time.Sleep(time.Until(measureStart))
		cfg.OnMeasureStart()
	}
	wg.Wait()
	res := &Result{Latency: NewHistogram(), Window: cfg.Duration, ErrorKinds: errs.kinds, Errors: errs.n.Load()}
	for i := range cfg.Conns {
		res.Latency.Merge(hists[i])
		res.Requests += counts[i]
		res.Checked += checked[i]
	}
	return res, nil
}

type worker struct {
	cfg      *Config
	id       int
	hist     *Histogram
	errs     *errorLog
	conn     net.Conn
	br       *bufio.Reader
	req      []byte
	resp     response
	recorded uint64
	checked  uint64
}

func (w *worker) dial(deadline time.Time) error {
	c, err := net.DialTimeout("tcp", w.cfg.Addr, 2*time.Second)
	if err != nil {
		return err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	_ = c.SetDeadline(deadline)
	w.conn = c
	if w.br == nil {
		w.br = bufio.NewReaderSize(c, 16<<10)
	} else {
		w.br.Reset(c)
	}
	return nil
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

func (w *worker) loop(measureStart, end time.Time) {
	defer w.close()
	ioDeadline := end.Add(10 * time.Second)
	// Numbers are distinct across connections and alternate in parity on each connection.
	n := uint64(w.id)
	step := uint64(w.cfg.Conns)
	for now := time.Now(); now.Before(end); {
		if w.conn == nil {
			if err := w.dial(ioDeadline); err != nil {
				w.errs.add("dial: " + err.Error())
				time.Sleep(50 * time.Millisecond)
				now = time.Now()
				continue
			}
		}
		t0 := now
		keep, err := w.do(n)
		t1 := time.Now()
		w.checked++
		if err != nil {
			w.errs.add(err.Error())
		} else if !t0.Before(measureStart) {
			w.hist.Record(t1.Sub(t0))
			w.recorded++
		}
		if !keep {
			w.close()
		}
		n += step
		now = t1
	}
}

// do performs one request; keep reports whether the connection is still usable.
func (w *worker) do(n uint64) (keep bool, err error) {
	w.req = w.req[:0]
	w.req = append(w.req, "GET "...)
	w.req = append(w.req, w.cfg.Path...)
	w.req = append(w.req, " HTTP/1.1\r\nhost: "...)
	w.req = append(w.req, w.cfg.Host...)
	w.req = append(w.req, "\r\nx-number: "...)
	w.req = strconv.AppendUint(w.req, n, 10)
	if w.cfg.Header != "" {
		w.req = append(w.req, "\r\n"...)
		w.req = append(w.req, w.cfg.Header...)
	}
	w.req = append(w.req, "\r\n\r\n"...)
	if _, err := w.conn.Write(w.req); err != nil {
		return false, fmt.Errorf("write: %w", simplify(err))
	}
	resp := &w.resp
	if err := readResponse(w.br, resp); err != nil {
		return false, fmt.Errorf("read: %w", simplify(err))
	}
	keep = !resp.close
	if resp.status != 200 {
		return keep, fmt.Errorf("status %d", resp.status)
	}
	if w.cfg.CheckParity {
		want := "odd"
		if n%2 == 0 {
			want = "even"
		}
		if !resp.hasParity {
			return keep, errors.New("x-parity missing")
		}
		if string(resp.parity) != want {
			return keep, fmt.Errorf("x-parity %q, want %q", resp.parity, want)
		}
	} else if resp.hasParity {
		return keep, errors.New("unexpected x-parity")
	}
	return keep, nil
}

// simplify drops addresses from network errors so that error kinds aggregate.
func simplify(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

type response struct {
	status    int
	close     bool
	hasParity bool
	parity    []byte
	parityBuf [8]byte
}

// readResponse reads one HTTP/1.1 response (status line, headers, body framed by
// content-length, chunked encoding or connection close) and discards the body.
func readResponse(br *bufio.Reader, r *response) error {
	*r = response{}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return fmt.Errorf("malformed status line %q", bytes.TrimSpace(line))
	}
	r.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return fmt.Errorf("malformed status line %q", bytes.TrimSpace(line))
	}
	if line[7] == '0' {
		r.close = true // HTTP/1.0
	}
	contentLength := int64(-1)
	chunked := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return fmt.Errorf("malformed header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			contentLength, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil {
				return fmt.Errorf("malformed content-length %q", value)
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("connection")):
			if bytes.EqualFold(value, []byte("close")) {
				r.close = true
			}
		case bytes.EqualFold(name, []byte("x-parity")):
			if r.hasParity {
				return errors.New("x-parity repeated")
			}
			r.hasParity = true
			r.parity = append(r.parityBuf[:0], value...)
		}
	}
	switch {
	case r.status == 204 || r.status == 304 || r.status/100 == 1:
	case chunked:
		if err := discardChunked(br); err != nil {
			return err
		}
	case contentLength >= 0:
		if _, err := br.Discard(int(contentLength)); err != nil {
			return err
		}
	default:
		if _, err := io.Copy(io.Discard, br); err != nil {
			return err
		}
		r.close = true
	}
	return nil
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if size == 0 {
			for { // trailers
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(size) + 2); err != nil {
			return err
		}
	}
}
