package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

// applied binds the cache flags to a fresh flag set, parses args and applies vars.
func applied(t *testing.T, vars map[string]string, args ...string) (cacheOptions, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var o cacheOptions
	o.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o, o.applyEnv(fs, env(vars))
}

func TestCacheEnvMapsTheOriginalServiceVariables(t *testing.T) {
	o, err := applied(t, map[string]string{"REDIS_ENABLED": "true", "REDIS_HOST": "redis.cache", "REDIS_PORT": "6380",
		"REDIS_DB": "2", "REDIS_PASSWORD": "s3cret", "HAMA_CACHE_TTL": "600"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.RedisEnabled || strings.Join(o.Addrs, ",") != "redis.cache:6380" || o.DB != 2 || o.Password != "s3cret" ||
		o.onDemandTTL != 10*time.Minute || o.keyPrefix != "hama:analysis:" {
		t.Fatalf("options = %+v", o)
	}
	if o, _ = applied(t, map[string]string{"REDIS_HOST": "redis"}); o.Addrs[0] != "redis:6379" || o.RedisEnabled || o.onDemandTTL != 15*time.Minute {
		t.Fatalf("defaults = %+v", o)
	}
	o, err = applied(t, map[string]string{"REDIS_ADDRS": "s1:26379, s2:26379", "REDIS_HOST": "ignored",
		"REDIS_MASTER_NAME": "mymaster", "REDIS_MODE": "sentinel", "REDIS_SENTINEL_PASSWORD": "sp", "REDIS_TLS": "1"})
	if err != nil || strings.Join(o.Addrs, ",") != "s1:26379,s2:26379" || o.MasterName != "mymaster" || o.SentinelPassword != "sp" || !o.TLS {
		t.Fatalf("topology variables = %+v, %v", o, err)
	}
}

func TestCacheFlagsGivenOnTheCommandLineWinOverEnv(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := applied(t, map[string]string{"REDIS_HOST": "ignored", "REDIS_DB": "1", "REDIS_ENABLED": "true",
		"REDIS_PASSWORD": "from-env", "HAMA_CACHE_TTL": "600"},
		"--redis-addrs", "a:1,b:2", "--redis-db", "0", "--redis-enabled=false", "--redis-password-file", pwFile, "--cache-default-ttl", "90s")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Addrs, ",") != "a:1,b:2" || o.DB != 0 || o.RedisEnabled || o.Password != "from-file" || o.onDemandTTL != 90*time.Second {
		t.Fatalf("options = %+v: command-line flags must win", o)
	}
}

func TestCacheEnvRejectsBadValues(t *testing.T) {
	for _, vars := range []map[string]string{
		{"REDIS_ENABLED": "maybe"}, {"REDIS_DB": "x"}, {"REDIS_DB": "-1"}, {"HAMA_CACHE_TTL": "-5"}, {"HAMA_CACHE_TTL": "15m"},
		{"REDIS_HOST": "h", "REDIS_PORT": "http"}, {"REDIS_MODE": "galaxy"}, {"REDIS_MODE": "sentinel"},
		{"REDIS_MODE": "standalone", "REDIS_ADDRS": "a:1,b:2"}, {"REDIS_MODE": "cluster", "REDIS_DB": "1"},
		{"REDIS_MASTER_NAME": "m", "REDIS_MODE": "cluster"}, {"REDIS_TLS": "yes please"},
	} {
		if _, err := applied(t, vars); err == nil {
			t.Errorf("%v accepted", vars)
		}
	}
	if _, err := applied(t, nil, "--redis-password-file", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing password file was accepted")
	}
}
