// Package redistest runs real Redis servers for tests, on free 127.0.0.1 ports in temp dirs: a
// standalone server, a master with replicas and three Sentinels, or a Cluster. A server can be
// killed and restarted to test outages. Servers keep nothing on disk and stop when the test ends.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a redis-server process owned by a test.
type Server struct {
	t    testing.TB
	Port int
	bin  string // redis-server or redis-sentinel
	conf string // a config file, first argument; redis-sentinel needs one it can rewrite
	args []string
	dir  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start launches redis-server with extra configuration arguments (e.g. "--requirepass", "secret")
// and kills it when the test ends. It fails the test when redis-server is not installed.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return launch(t, &Server{t: t, Port: freePort(t), bin: "redis-server", args: args, dir: t.TempDir()})
}

func launch(t testing.TB, s *Server) *Server {
	t.Helper()
	if _, err := exec.LookPath(s.bin); err != nil {
		t.Fatalf("%s not found: apt-get install -y %s", s.bin, s.bin)
	}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

func (s *Server) start() {
	s.t.Helper()
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--protected-mode", "no")
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.bin, err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(s.Addr()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("%s did not answer on %s", s.bin, s.Addr())
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// ping speaks just enough RESP to see the server answer (NOAUTH counts as an answer).
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprint(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.Contains(line, "NOAUTH"))
}
