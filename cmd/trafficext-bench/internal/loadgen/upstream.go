package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
)

// Upstream is a minimal HTTP/1.1 keep-alive server that answers every request with the same
// small fixed response. It parses only what framing needs (the header block and a
// content-length body), so that the upstream costs as little CPU as possible on a machine
// shared with the proxy and the load generator.
type Upstream struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// UpstreamResponse is the bytes written for every request.
const UpstreamResponse = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n"

// StartUpstream listens on addr ("127.0.0.1:0" for any port).
func StartUpstream(addr string) (*Upstream, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	u := &Upstream{ln: ln, conns: map[net.Conn]struct{}{}}
	u.wg.Add(1)
	go u.accept()
	return u, nil
}

// Port is the listening port.
func (u *Upstream) Port() int { return u.ln.Addr().(*net.TCPAddr).Port }

// Close stops accepting, closes every connection and waits for the handlers.
func (u *Upstream) Close() {
	u.ln.Close()
	u.mu.Lock()
	for c := range u.conns {
		c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

func (u *Upstream) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.conns[c] = struct{}{}
		u.mu.Unlock()
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			serve(c)
			u.mu.Lock()
			delete(u.conns, c)
			u.mu.Unlock()
			c.Close()
		}()
	}
}

var errBadRequest = errors.New("bad request")

func serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 16<<10)
	resp := []byte(UpstreamResponse)
	var out []byte
	for {
		if err := readRequest(br); err != nil {
			if errors.Is(err, errBadRequest) {
				_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
			}
			return
		}
		out = append(out, resp...)
		// Answer pipelined requests together; otherwise one write per request.
		if br.Buffered() == 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
	}
}

// readRequest consumes one request: the header block and a content-length body.
func readRequest(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.Contains(line, []byte(" HTTP/1.")) {
		return errBadRequest
	}
	var n int64
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
			return errBadRequest
		}
		if bytes.EqualFold(name, []byte("content-length")) {
			if n, err = strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err != nil || n < 0 {
				return errBadRequest
			}
		}
		if bytes.EqualFold(name, []byte("transfer-encoding")) {
			return errBadRequest // not needed by the benchmark's GETs
		}
	}
	_, err = br.Discard(int(n))
	return err
}
