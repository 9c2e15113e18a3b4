package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/testenv"
)

// hack/dev.sh (what `make dev` runs) starts the whole system; one SIGINT to its process group, as a
// terminal's Ctrl-C sends, stops everything within 10 s: no process it started is left, control
// plane included, no temporary directory, and no "a component exited" message.
func TestDevScriptStopsEverythingOnOneCtrlC(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.AssetsDir(); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	manager := filepath.Join(work, "manager")
	build := exec.Command("go", "build", "-o", manager, "./cmd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}
	tmp := filepath.Join(work, "tmp") // TMPDIR of everything dev.sh starts: envtest's dirs land here
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	// Every process dev.sh starts inherits this variable: /proc/<pid>/environ finds them all, even
	// those in other process groups.
	mark := make([]byte, 8)
	_, _ = rand.Read(mark)
	marker := "HAMA_DEV_TEST_MARK=" + hex.EncodeToString(mark)

	cmd := exec.Command(filepath.Join(root, "hack", "dev.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), marker, "TMPDIR="+tmp, "HAMA_DEV_DIR="+filepath.Join(work, "dev"),
		"HAMA_DEV_MANAGER="+manager, "HAMA_DEV_SOURCE=simulated")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		for _, pid := range marked(marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	deadline := time.After(5 * time.Minute)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		select {
		case err := <-exited:
			t.Fatalf("dev.sh exited before the system ran: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("dev.sh did not start the system in 5 minutes:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	printed := out.String()
	api := regexp.MustCompile(`REST API:\s+(http://127\.0\.0\.1:\d+/\S+)`).FindStringSubmatch(printed)
	kc := regexp.MustCompile(`export KUBECONFIG=(\S+)`).FindStringSubmatch(printed)
	if api == nil || kc == nil {
		t.Fatalf("dev.sh did not print the API URL and the KUBECONFIG export:\n%s", printed)
	}
	if _, err := httpGet(api[1]); err != nil {
		t.Fatalf("the printed API URL does not answer: %v", err)
	}
	board := regexp.MustCompile(`Board:\s+(http://127\.0\.0\.1:\d+/board/)`).FindStringSubmatch(printed)
	if board == nil {
		t.Fatalf("dev.sh did not print the board's URL:\n%s", printed)
	}
	if page, err := httpGet(board[1]); err != nil || !strings.Contains(string(page), `<table id="board">`) {
		t.Fatalf("the printed board URL does not serve the board: %v\n%s", err, page)
	}
	if _, err := os.Stat(kc[1]); err != nil {
		t.Fatalf("the printed kubeconfig: %v", err)
	}
	before := marked(marker)
	if len(before) < 5 { // dev.sh, devcluster, etcd, kube-apiserver, redis-server, the operator
		t.Fatalf("only %d processes carry the marker while running: %v", len(before), before)
	}

	interrupted := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Logf("dev.sh exited: %v", err) // 130: interrupted, as a shell reports Ctrl-C
	case <-time.After(10 * time.Second):
		t.Fatalf("dev.sh still runs 10 s after Ctrl-C:\n%s", out.String())
	}
	took := time.Since(interrupted)
	if left := marked(marker); len(left) > 0 {
		t.Errorf("processes left after Ctrl-C: %v", describe(left))
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("temporary files left in TMPDIR: %v", names)
	}
	if _, err := os.Stat(kc[1]); err == nil {
		t.Error("the kubeconfig of the stopped control plane is still there")
	}
	if strings.Contains(out.String(), "a component exited") {
		t.Errorf("a normal Ctrl-C reported a component exiting:\n%s", out.String())
	}
	t.Logf("%d processes stopped %s after SIGINT", len(before), took.Round(10*time.Millisecond))
}

// marked lists the processes whose environment holds marker.
func marked(marker string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || !bytes.Contains(env, []byte(marker+"\x00")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(dir)); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func describe(pids []int) []string {
	out := make([]string, 0, len(pids))
	for _, pid := range pids {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		out = append(out, strconv.Itoa(pid)+" "+strings.ReplaceAll(strings.TrimSpace(string(cmdline)), "\x00", " "))
	}
	return out
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
