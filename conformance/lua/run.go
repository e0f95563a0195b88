package lua

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/loopback"
)

// Case is one request of one script on one listener shape and protocol.
type Case struct {
	Script   *Script
	Shape    string
	Protocol string
	Index    int
	Native   *Observation
	Ours     *Observation
}

// Name identifies the case in reports.
func (c *Case) Name() string {
	return fmt.Sprintf("%s/%s/%s/#%d", c.Script.ID, c.Shape, c.Protocol, c.Index)
}

// Result is a batch's outcome.
type Result struct {
	Cases []*Case
	// Errors per script: native (summed over its listeners) and ours.
	NativeErrors, OursErrors map[string]int64
	Log                      string
	Elapsed                  time.Duration
}

// Batch is one Envoy process holding a listener pair per script and shape.
type Batch struct {
	Scripts   []*Script
	Listeners []*Listener
	Envoy     *envoyproc.Process
	PKI       *PKI
	upstream  *http.Server
	callouts  *http.Server
	recorder  *Recorder
	// calloutMu serialises the requests of httpCall scripts, so that what the recorder
	// received between a request's start and its end is that request's callouts.
	calloutMu sync.Mutex
}

// FreePort picks a free local port.
func FreePort() (int, error) { return loopback.FreePort() }

// StartBatch starts the upstream and one Envoy (--concurrency 1, so that script globals,
// which persist per worker in both implementations, see the same request sequence).
func StartBatch(ctx context.Context, scripts []*Script, log io.Writer) (*Batch, error) {
	up, upPort, err := StartUpstream()
	if err != nil {
		return nil, err
	}
	b := &Batch{Scripts: scripts, upstream: up}
	var coPort int
	if b.callouts, b.recorder, coPort, err = StartRecorder(); err != nil {
		b.Close()
		return nil, err
	}
	// Hold every picked port until all are picked, so that none is handed out twice.
	var held []net.Listener
	pick := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		held = append(held, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	b.Listeners, err = Layout(scripts, pick)
	admin, err2 := pick()
	for _, l := range held {
		l.Close()
	}
	if err = errors.Join(err, err2); err != nil {
		b.Close()
		return nil, err
	}
	if b.PKI, err = NewPKI(); err != nil {
		b.Close()
		return nil, err
	}
	boot, err := Bootstrap(b.Listeners, admin, upPort, coPort, b.PKI)
	if err != nil {
		b.Close()
		return nil, err
	}
	b.Envoy, err = envoyproc.Start(ctx, envoyproc.Options{Bootstrap: boot, AdminPort: admin, Concurrency: 1,
		LogLevel: "warning", ComponentLogLevel: "lua:error,dynamic_modules:error", Log: log})
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close stops Envoy and the upstream.
func (b *Batch) Close() {
	if b.Envoy != nil {
		b.Envoy.Stop()
	}
	if b.upstream != nil {
		b.upstream.Close()
	}
	if b.callouts != nil {
		b.callouts.Close()
	}
}

// pair sends r to the native and then to our listener, always both. For a script that calls
// httpCall, each side's observation carries the callouts its request made.
func (b *Batch) pair(s *Script, cn, co *Client, ports [2]int, r Request) (native, ours *Observation) {
	do := func(c *Client, port int) *Observation {
		o, err := c.Do(port, r)
		if err != nil {
			o = &Observation{Err: err}
		}
		return o
	}
	if !strings.Contains(s.Source, "httpCall") {
		return do(cn, ports[0]), do(co, ports[1])
	}
	b.calloutMu.Lock()
	defer b.calloutMu.Unlock()
	b.recorder.Take()
	side := func(c *Client, port int) *Observation {
		o := do(c, port)
		b.settle()
		o.Callouts = b.recorder.Take()
		// Concurrent (asynchronous) callouts arrive in any order.
		sort.SliceStable(o.Callouts, func(i, j int) bool {
			a, c := o.Callouts[i], o.Callouts[j]
			return a.Method+" "+a.Path+" "+a.Body < c.Method+" "+c.Path+" "+c.Body
		})
		return o
	}
	return side(cn, ports[0]), side(co, ports[1])
}

// settle waits until no callout arrived for 50 ms (asynchronous calls may land after the
// response), at most 2 s.
func (b *Batch) settle() {
	n, quiet := b.recorder.Len(), time.Now()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if m := b.recorder.Len(); m != n {
			n, quiet = m, time.Now()
		} else if time.Since(quiet) >= 50*time.Millisecond {
			return
		}
	}
}

// Run sends every script's requests to both of its listeners, parallel across scripts
// (workers) and sequential within a script, then reads the error counters.
func (b *Batch) Run(workers int) (*Result, error) {
	start := time.Now()
	ports := map[*Script]map[string][2]int{} // shape -> native, ours
	for _, l := range b.Listeners {
		if ports[l.Script] == nil {
			ports[l.Script] = map[string][2]int{}
		}
		p := ports[l.Script][l.Shape]
		if l.Native {
			p[0] = l.Port
		} else {
			p[1] = l.Port
		}
		ports[l.Script][l.Shape] = p
	}
	res := &Result{}
	var mu sync.Mutex
	work := make(chan *Script)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				var cases []*Case
				for _, shape := range s.Spec.Listeners {
					for _, proto := range s.Spec.Protocols {
						var tlsc *tls.Config
						if shape == TLS {
							tlsc = b.PKI.Client
						}
						cn, co := NewClient(proto, tlsc), NewClient(proto, tlsc)
						for i, r := range s.Spec.Requests {
							c := &Case{Script: s, Shape: shape, Protocol: proto, Index: i}
							c.Native, c.Ours = b.pair(s, cn, co, ports[s][shape], r)
							cases = append(cases, c)
						}
						cn.Close()
						co.Close()
					}
				}
				mu.Lock()
				res.Cases = append(res.Cases, cases...)
				mu.Unlock()
			}
		}()
	}
	for _, s := range b.Scripts {
		work <- s
	}
	close(work)
	wg.Wait()

	stats, err := b.Stats()
	if err != nil {
		return nil, err
	}
	res.NativeErrors, res.OursErrors = map[string]int64{}, map[string]int64{}
	for _, l := range b.Listeners {
		if l.Native {
			res.NativeErrors[l.Script.ID] += stats[NativeErrorStat(l.StatPrefix)]
		}
	}
	for _, s := range b.Scripts {
		res.OursErrors[s.ID] = stats[s.OursErrorStat()]
	}
	res.Log = b.Envoy.Log()
	res.Elapsed = time.Since(start)
	return res, nil
}

// Stats reads every counter and gauge of the admin endpoint.
func (b *Batch) Stats() (map[string]int64, error) {
	body, err := b.Envoy.Admin("/stats")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// StartGateway starts the upstream and one Envoy with --concurrency workers whose only
// listener runs s on the gateway shape (our filter only), for the bound suites. It returns
// the listener's port; stop closes Envoy and the upstream.
func StartGateway(ctx context.Context, s *Script, concurrency int) (envoy *envoyproc.Process, port int, stop func(), err error) {
	up, upPort, err := StartUpstream()
	if err != nil {
		return nil, 0, nil, err
	}
	fail := func(err error) (*envoyproc.Process, int, func(), error) {
		up.Close()
		return nil, 0, nil, err
	}
	if port, err = FreePort(); err != nil {
		return fail(err)
	}
	admin, err := FreePort()
	if err != nil {
		return fail(err)
	}
	l := &Listener{Script: s, Shape: Gateway, Port: port, StatPrefix: "o_" + s.ID}
	boot, err := Bootstrap([]*Listener{l}, admin, upPort, 0, nil)
	if err != nil {
		return fail(err)
	}
	envoy, err = envoyproc.Start(ctx, envoyproc.Options{Bootstrap: boot, AdminPort: admin, Concurrency: concurrency,
		ComponentLogLevel: "dynamic_modules:error"})
	if err != nil {
		return fail(err)
	}
	return envoy, port, func() { envoy.Stop(); up.Close() }, nil
}
