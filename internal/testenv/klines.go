package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// KlinesFiles lists the real Binance klines files of $HAMA_KLINES_DIR (CI points it at the shared
// data set). Without the variable the test is skipped with a message naming it; with it set but
// empty the test fails, so a broken CI setup cannot pass unnoticed.
func KlinesFiles(t testing.TB) []string {
	t.Helper()
	dir := os.Getenv("HAMA_KLINES_DIR")
	if dir == "" {
		t.Skip("HAMA_KLINES_DIR is not set: point it at a directory of Binance klines JSON files (CI sets it)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no *.json files in HAMA_KLINES_DIR=%s", dir)
	}
	return files
}
