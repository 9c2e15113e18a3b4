package main

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/hama-operator/hama-operator/internal/signals"
)

func completed(t *testing.T, args ...string) (*options, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o := bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o, o.complete(env(nil))
}

func TestSignalAndLeaderElectionFlags(t *testing.T) {
	o, err := completed(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.signalsMaxLen != signals.DefaultMaxLen || o.signalsDedupTTL != signals.DefaultDedupTTL ||
		o.leaseDuration != 15*time.Second || o.renewDeadline != 10*time.Second || o.retryPeriod != 2*time.Second {
		t.Fatalf("defaults: %+v", o)
	}
	if _, err := completed(t, "--signals-stream-max-len", "500", "--leader-election-lease-duration", "4s",
		"--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms"); err != nil {
		t.Fatal(err)
	}
	for args, msg := range map[string]string{
		"--signals-stream-max-len=0":           "--signals-stream-max-len 0",
		"--signals-memory-max=0":               "--signals-memory-max 0",
		"--signals-dedup-ttl=5m":               "--signals-dedup-ttl 5m0s: want at least 1h",
		"--leader-election-renew-deadline=20s": "< --leader-election-lease-duration (15s)",
		"--leader-election-retry-period=0s":    "0 < --leader-election-retry-period (0s)",
	} {
		if _, err := completed(t, args); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want an error with %q", args, err, msg)
		}
	}
}
