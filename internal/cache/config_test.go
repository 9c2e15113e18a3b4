package cache

import (
	"flag"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

func TestApplyEnvMapsTheOriginalServiceVariables(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var c Config
	c.BindFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := ApplyEnv(&c, env(map[string]string{"REDIS_ENABLED": "true", "REDIS_HOST": "redis.cache", "REDIS_PORT": "6380",
		"REDIS_DB": "2", "REDIS_PASSWORD": "s3cret", "HAMA_CACHE_TTL": "600"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.RedisEnabled || c.Addrs[0] != "redis.cache:6380" || c.DB != 2 || c.Password != "s3cret" || c.DefaultTTL != 10*time.Minute {
		t.Fatalf("config = %+v", c)
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var c Config
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--redis-addrs", "a:1,b:2", "--redis-db", "5"}); err != nil {
		t.Fatal(err)
	}
	c.markSetFlags(fs)
	if err := ApplyEnv(&c, env(map[string]string{"REDIS_HOST": "ignored", "REDIS_DB": "1"})); err != nil {
		t.Fatal(err)
	}
	if len(c.Addrs) != 2 || c.Addrs[1] != "b:2" || c.DB != 5 {
		t.Fatalf("config = %+v: command-line flags must win", c)
	}
}

func TestApplyEnvRejectsBadValues(t *testing.T) {
	for _, vars := range []map[string]string{{"REDIS_ENABLED": "maybe"}, {"REDIS_DB": "x"}, {"HAMA_CACHE_TTL": "-5"}, {"REDIS_MODE": "galaxy"},
		{"REDIS_MODE": "sentinel"}} {
		c := DefaultConfig()
		if err := ApplyEnv(&c, env(vars)); err == nil {
			t.Errorf("%v accepted", vars)
		}
	}
}

func TestUniversalOptionsPerMode(t *testing.T) {
	c := DefaultConfig()
	c.Addrs, c.Mode, c.MasterName, c.DB = []string{"s1:26379", "s2:26379"}, ModeSentinel, "mymaster", 3
	o, err := c.universalOptions()
	if err != nil || o.MasterName != "mymaster" || o.DB != 3 || len(o.Addrs) != 2 {
		t.Fatalf("sentinel options = %+v, %v", o, err)
	}
	c.Mode, c.MasterName = ModeCluster, ""
	o, _ = c.universalOptions()
	if !o.IsClusterMode || o.DB != 0 {
		t.Fatalf("cluster options = %+v", o)
	}
	c.Mode, c.TLS, c.TLSCAFile = ModeStandalone, true, ""
	o, _ = c.universalOptions()
	if o.TLSConfig == nil || o.Addrs[0] != "s1:26379" {
		t.Fatalf("tls options = %+v", o)
	}
}

func TestKeyUsesThePrefix(t *testing.T) {
	if got := DefaultConfig().Key("BTCUSDT"); got != "hama:analysis:BTCUSDT" {
		t.Fatalf("key = %s", got)
	}
}
