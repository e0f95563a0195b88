package coretest

import (
	"strings"
	"sync"

	"github.com/trafficext/trafficext/core"
)

// Connection is the one recording core.Connection of the network engine tests: the read and
// write data of the current events (nil: no such event yet), the attributes, and what the
// extension asked for (resumes, closes, logs, metrics). Mu guards what engine goroutines may
// touch.
type Connection struct {
	Mu             sync.Mutex
	Read, Write    *Buffer
	Attrs          map[string]any
	ContinuedReads int
	Closes         []Close
	QueuePosts     bool
	Posted         []func()
	Logs           []LogLine
	Counters       map[core.MetricID]uint64
	Gauges         map[core.MetricID]int64
	Hists          map[core.MetricID][]uint64
}

// Close is one Connection.Close call.
type Close struct {
	Flush   bool
	Details string
}

// NewConnection is a connection from 10.0.0.1:4000 to 10.0.0.2:9000 with no data yet.
func NewConnection() *Connection {
	return &Connection{
		Attrs: map[string]any{
			"source.address": "10.0.0.1:4000", "source.port": int64(4000),
			"destination.address": "10.0.0.2:9000", "destination.port": int64(9000),
			"connection.id": int64(7),
		},
		Counters: map[core.MetricID]uint64{}, Gauges: map[core.MetricID]int64{}, Hists: map[core.MetricID][]uint64{},
	}
}

var _ core.Connection = (*Connection)(nil)

func (c *Connection) ReadData() core.Buffer {
	if c.Read == nil {
		return nil
	}
	return c.Read
}

func (c *Connection) WriteData() core.Buffer {
	if c.Write == nil {
		return nil
	}
	return c.Write
}

func (c *Connection) ContinueReading() { c.ContinuedReads++ }

func (c *Connection) Close(flush bool, details string) {
	c.Closes = append(c.Closes, Close{flush, details})
}

func (c *Connection) Attribute(name string) (any, bool) {
	v, ok := c.Attrs[name]
	return v, ok
}

func (c *Connection) Post(fn func()) {
	if !c.QueuePosts {
		fn()
		return
	}
	c.Mu.Lock()
	c.Posted = append(c.Posted, fn)
	c.Mu.Unlock()
}

func (c *Connection) Log(level core.LogLevel, msg string) {
	c.Mu.Lock()
	c.Logs = append(c.Logs, LogLine{level, msg})
	c.Mu.Unlock()
}

func (c *Connection) LogEnabled(core.LogLevel) bool { return true }

func (c *Connection) Counter(id core.MetricID, d uint64) {
	c.Mu.Lock()
	c.Counters[id] += d
	c.Mu.Unlock()
}

func (c *Connection) Gauge(id core.MetricID, d int64) {
	c.Mu.Lock()
	c.Gauges[id] += d
	c.Mu.Unlock()
}

func (c *Connection) Histogram(id core.MetricID, v uint64) {
	c.Mu.Lock()
	c.Hists[id] = append(c.Hists[id], v)
	c.Mu.Unlock()
}

// Messages returns the logged lines that contain substr, in order.
func (c *Connection) Messages(substr string) []string {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	var out []string
	for _, l := range c.Logs {
		if strings.Contains(l.Msg, substr) {
			out = append(out, l.Msg)
		}
	}
	return out
}
