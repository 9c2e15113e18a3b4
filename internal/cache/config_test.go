package cache

import (
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Each topology gets the matching go-redis client, and client tracking only where go-redis offers it.
func TestOptionsSelectTheTopology(t *testing.T) {
	type topology struct {
		name, mode    string
		addrs         []string
		master        string
		db            int
		cluster       bool
		clientTracked bool
	}
	for _, tc := range []topology{
		{"one address", ModeAuto, []string{"r:6379"}, "", 0, false, true},
		{"one address, db 3", ModeAuto, []string{"r:6379"}, "", 3, false, false},
		{"master name", ModeAuto, []string{"s1:26379", "s2:26379"}, "mymaster", 3, false, false},
		{"several addresses", ModeAuto, []string{"n1:6379", "n2:6379"}, "", 0, true, false},
		{"explicit cluster with one seed", ModeCluster, []string{"n1:6379"}, "", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.RedisEnabled, c.Mode, c.Addrs, c.MasterName, c.DB = true, tc.mode, tc.addrs, tc.master, tc.db
			c.Username, c.Password, c.SentinelPassword, c.PoolSize = "u", "p", "sp", 7
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			o, err := c.universalOptions()
			if err != nil {
				t.Fatal(err)
			}
			if o.Username != "u" || o.Password != "p" || o.PoolSize != 7 || o.ReadTimeout != c.ReadTimeout || o.DialerRetries != 1 {
				t.Fatalf("common options = %+v", o)
			}
			if _, tracked := o.ClientSideCache.(*tracker); tracked != tc.clientTracked || tracked != (o.Protocol == 3) {
				t.Fatalf("client tracking %v with protocol %d, want tracking %v over RESP3", tracked, o.Protocol, tc.clientTracked)
			}
			// go-redis reads the idle connections' sweep interval from ClientSideCacheConfig only.
			if tc.clientTracked && (o.ClientSideCacheConfig == nil || o.ClientSideCacheConfig.DrainInterval != invalidationSweep) {
				t.Fatalf("invalidation sweep %+v, want every %s", o.ClientSideCacheConfig, invalidationSweep)
			}
			if sentinel := tc.master != ""; sentinel && (o.MasterName != "mymaster" || o.DB != 3 || o.SentinelPassword != "sp") {
				t.Fatalf("sentinel options = %+v", o)
			}
			client := redis.NewUniversalClient(o) // connects lazily: nothing is dialled here
			defer func() { _ = client.Close() }()
			if _, isCluster := client.(*redis.ClusterClient); isCluster != tc.cluster || o.IsClusterMode != tc.cluster {
				t.Fatalf("cluster client %v, want %v", isCluster, tc.cluster)
			}
		})
	}
}

func TestValidateRejectsWhatCannotRun(t *testing.T) {
	for name, edit := range map[string]func(*Config){
		"unknown mode":                func(c *Config) { c.Mode = "ring" },
		"sentinel without master":     func(c *Config) { c.Mode = ModeSentinel },
		"master name outside":         func(c *Config) { c.Mode, c.MasterName = ModeStandalone, "m" },
		"standalone with two":         func(c *Config) { c.Mode, c.Addrs = ModeStandalone, []string{"a:1", "b:2"} },
		"cluster db":                  func(c *Config) { c.Addrs, c.DB = []string{"a:1", "b:2"}, 1 },
		"enabled without addresses":   func(c *Config) { c.Addrs = nil },
		"negative timeout":            func(c *Config) { c.ReadTimeout = -1 },
		"zero health interval":        func(c *Config) { c.HealthInterval = 0 },
		"zero client cache staleness": func(c *Config) { c.ClientCacheMaxStaleness = 0 },
	} {
		c := DefaultConfig()
		c.RedisEnabled = true
		edit(&c)
		if _, err := New(c, nil, discard); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOptionsTLS(t *testing.T) {
	c := DefaultConfig()
	c.TLS = true
	o, err := c.universalOptions()
	if err != nil || o.TLSConfig == nil || o.TLSConfig.InsecureSkipVerify || o.TLSConfig.RootCAs != nil {
		t.Fatalf("TLS with system roots = %+v, %v", o.TLSConfig, err)
	}
	c.TLSCAFile = filepath.Join(t.TempDir(), "ca.pem")
	ca := httptest.NewTLSServer(nil) // its certificate is a CA's
	ca.Close()
	if err := os.WriteFile(c.TLSCAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.TLSInsecureSkipVerify = true
	o, err = c.universalOptions()
	if err != nil || o.TLSConfig.RootCAs == nil || !o.TLSConfig.InsecureSkipVerify {
		t.Fatalf("TLS with a CA file = %+v, %v", o.TLSConfig, err)
	}
	if err := os.WriteFile(c.TLSCAFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.universalOptions(); err == nil {
		t.Fatal("a CA file without a certificate was accepted")
	}
}
