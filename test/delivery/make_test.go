package delivery

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// make dev rebuilds only what changed. The Makefile runs (make -n, printing what it would do) in a
// scratch tree of a few stand-in files with known modification times: nothing when nothing
// changed; the manager alone when a Go source or a file the binary embeds (a board script)
// changed; the CRDs and deepcopy code, and the manager, when an API type changed.
func TestMakeDevRebuildsOnlyWhatChanged(t *testing.T) {
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make not found: install it with `apt-get install -y make`")
	}
	dir := t.TempDir()
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"Makefile":                          string(makefile),
		"api/v1alpha1/signalalert_types.go": "package v1alpha1\n",
		"cmd/main.go":                       "package main\n",
		"controllers/run.go":                "package controllers\n",
		"internal/board/static/board.js":    "// board\n",
		"internal/board/board_test.go":      "package board\n",
		"go.mod":                            "module example\n",
		"go.sum":                            "",
		"config/crd/bases/analysis.hama-operator.io_analysisschedules.yaml": "kind: CustomResourceDefinition\n",
		"bin/controller-gen": "",
		"bin/manager":        "",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(path, base, base)
	})
	if err != nil {
		t.Fatal(err)
	}
	// dryRun prints what make would run for dev's two file prerequisites after changed was edited.
	dryRun := func(changed string) string {
		t.Helper()
		if changed != "" {
			later := base.Add(time.Minute)
			if err := os.Chtimes(filepath.Join(dir, changed), later, later); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(makeBin, "-n", "LOCALBIN="+filepath.Join(dir, "bin"), "bin/manager",
			"config/crd/bases/analysis.hama-operator.io_analysisschedules.yaml")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n after changing %q: %v\n%s", changed, err, out)
		}
		if changed != "" {
			_ = os.Chtimes(filepath.Join(dir, changed), base, base)
		}
		return string(out)
	}
	const build, generate = "go build -o bin/manager ./cmd", "controller-gen"
	for _, tc := range []struct {
		changed            string
		wantBuild, wantGen bool
	}{
		{"", false, false},
		{"internal/board/board_test.go", false, false},
		{"controllers/run.go", true, false},
		{"internal/board/static/board.js", true, false},
		{"go.sum", true, false},
		{"api/v1alpha1/signalalert_types.go", true, true},
	} {
		out := dryRun(tc.changed)
		if strings.Contains(out, build) != tc.wantBuild || strings.Contains(out, generate) != tc.wantGen {
			t.Errorf("after changing %q make would run (want build %v, generate %v):\n%s", tc.changed, tc.wantBuild, tc.wantGen, out)
		}
	}
	// make dev takes exactly those two prerequisites (and envtest), not the phony build chain.
	rules, err := exec.Command(makeBin, "-C", root, "-p", "-n", "-f", "Makefile", "LOCALBIN="+filepath.Join(dir, "bin"), "help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if prereqs, ok := strings.CutPrefix(line, "dev: "); ok {
			if got := strings.Fields(prereqs); strings.Join(got, " ") != "config/crd/bases/analysis.hama-operator.io_analysisschedules.yaml bin/manager envtest" {
				t.Errorf("dev's prerequisites = %v", got)
			}
			return
		}
	}
	t.Error("make -p lists no rule for dev")
}
