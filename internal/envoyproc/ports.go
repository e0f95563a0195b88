package envoyproc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// CheckPorts reports, for each TCP address ("host:port") that cannot be listened on, which
// address is taken and, when /proc tells, by which process: the usual cause is an Envoy left
// by a previous run that was killed before it could stop its child.
func CheckPorts(addrs ...string) error {
	var errs []error
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err == nil {
			l.Close()
			continue
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		_, port, _ := net.SplitHostPort(a)
		msg := a + " is in use"
		if pid, comm, ok := portHolder(port); ok {
			switch comm {
			case "envoy":
				msg += fmt.Sprintf(" (an Envoy left by a previous run? pid %d; stop it with `kill %d`)", pid, pid)
			case "trafficext":
				msg += fmt.Sprintf(" (is another trafficext running? pid %d)", pid)
			default:
				msg += fmt.Sprintf(" by pid %d (%s)", pid, comm)
			}
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

// portHolder finds the process listening on a TCP port through /proc/net/tcp{,6} (the socket
// inode) and /proc/<pid>/fd (who holds that inode). It fails quietly where /proc is not Linux's
// or the holder belongs to another user.
func portHolder(port string) (pid int, comm string, ok bool) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, "", false
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeningInodes(f, p, inodes)
	}
	if len(inodes) == 0 {
		return 0, "", false
	}
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", d.Name(), "fd"))
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", d.Name(), "fd", fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				c, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
				return n, strings.TrimSpace(string(c)), true
			}
		}
	}
	return 0, "", false
}

// listeningInodes adds the inodes of the sockets listening on port in a /proc/net/tcp file.
func listeningInodes(file string, port int, into map[string]bool) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
			continue
		}
		_, hexPort, _ := strings.Cut(fields[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			into[fields[9]] = true
		}
	}
}
