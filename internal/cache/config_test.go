package cache

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

// parsed binds the cache flags to a fresh flag set and parses args.
func parsed(t *testing.T, args ...string) Config {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var c Config
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestApplyEnvMapsTheOriginalServiceVariables(t *testing.T) {
	c := parsed(t)
	err := ApplyEnv(&c, env(map[string]string{"REDIS_ENABLED": "true", "REDIS_HOST": "redis.cache", "REDIS_PORT": "6380",
		"REDIS_DB": "2", "REDIS_PASSWORD": "s3cret", "HAMA_CACHE_TTL": "600"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.RedisEnabled || len(c.Addrs) != 1 || c.Addrs[0] != "redis.cache:6380" || c.DB != 2 || c.Password != "s3cret" ||
		c.DefaultTTL != 10*time.Minute || c.resolvedMode() != ModeStandalone {
		t.Fatalf("config = %+v", c)
	}
}

func TestApplyEnvDefaultsAndTopologyVariables(t *testing.T) {
	c := parsed(t)
	if err := ApplyEnv(&c, env(map[string]string{"REDIS_HOST": "redis"})); err != nil {
		t.Fatal(err)
	}
	if c.Addrs[0] != "redis:6379" || c.RedisEnabled || c.KeyPrefix != "hama:analysis:" || c.DefaultTTL != 15*time.Minute {
		t.Fatalf("config = %+v", c)
	}
	c = parsed(t)
	err := ApplyEnv(&c, env(map[string]string{"REDIS_ADDRS": "s1:26379, s2:26379", "REDIS_HOST": "ignored",
		"REDIS_MASTER_NAME": "mymaster", "REDIS_MODE": "sentinel", "REDIS_SENTINEL_PASSWORD": "sp", "REDIS_TLS": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Addrs, ",") != "s1:26379,s2:26379" || c.MasterName != "mymaster" || c.Mode != ModeSentinel ||
		c.SentinelPassword != "sp" || !c.TLS {
		t.Fatalf("config = %+v", c)
	}
}

func TestFlagsGivenOnTheCommandLineWinOverEnv(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := parsed(t, "--redis-addrs", "a:1,b:2", "--redis-db", "0", "--redis-enabled=false", "--redis-password-file", pwFile,
		"--cache-default-ttl", "90s")
	err := ApplyEnv(&c, env(map[string]string{"REDIS_HOST": "ignored", "REDIS_DB": "1", "REDIS_ENABLED": "true",
		"REDIS_PASSWORD": "from-env", "HAMA_CACHE_TTL": "600"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Addrs, ",") != "a:1,b:2" || c.DB != 0 || c.RedisEnabled || c.Password != "from-file" || c.DefaultTTL != 90*time.Second {
		t.Fatalf("config = %+v: command-line flags must win", c)
	}
}

func TestApplyEnvRejectsBadValues(t *testing.T) {
	for _, vars := range []map[string]string{
		{"REDIS_ENABLED": "maybe"}, {"REDIS_DB": "x"}, {"REDIS_DB": "-1"}, {"HAMA_CACHE_TTL": "-5"}, {"HAMA_CACHE_TTL": "15m"},
		{"REDIS_HOST": "h", "REDIS_PORT": "http"}, {"REDIS_MODE": "galaxy"}, {"REDIS_MODE": "sentinel"},
		{"REDIS_MODE": "standalone", "REDIS_ADDRS": "a:1,b:2"}, {"REDIS_MODE": "cluster", "REDIS_DB": "1"},
		{"REDIS_MASTER_NAME": "m", "REDIS_MODE": "cluster"}, {"REDIS_TLS": "yes please"},
	} {
		c := parsed(t)
		if err := ApplyEnv(&c, env(vars)); err == nil {
			t.Errorf("%v accepted", vars)
		}
	}
	c := parsed(t, "--redis-password-file", filepath.Join(t.TempDir(), "missing"))
	if err := ApplyEnv(&c, env(nil)); err == nil {
		t.Error("a missing password file was accepted")
	}
}

func TestOptionsSelectTheTopology(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       string
		addrs      []string
		master     string
		db         int
		wantClient string
	}{
		{"one address", ModeAuto, []string{"r:6379"}, "", 3, "*redis.Client"},
		{"master name", ModeAuto, []string{"s1:26379", "s2:26379"}, "mymaster", 3, "*redis.Client"},
		{"several addresses", ModeAuto, []string{"n1:6379", "n2:6379"}, "", 0, "*redis.ClusterClient"},
		{"explicit cluster with one seed", ModeCluster, []string{"n1:6379"}, "", 0, "*redis.ClusterClient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Mode, c.Addrs, c.MasterName, c.DB = tc.mode, tc.addrs, tc.master, tc.db
			c.Username, c.Password, c.SentinelPassword, c.PoolSize = "u", "p", "sp", 7
			if err := c.validate(); err != nil {
				t.Fatal(err)
			}
			o, err := c.universalOptions()
			if err != nil {
				t.Fatal(err)
			}
			if o.Username != "u" || o.Password != "p" || o.PoolSize != 7 || o.ReadTimeout != c.ReadTimeout || o.DialerRetries != 1 {
				t.Fatalf("common options = %+v", o)
			}
			switch c.resolvedMode() {
			case ModeSentinel:
				if o.MasterName != "mymaster" || o.DB != 3 || o.SentinelPassword != "sp" || len(o.Addrs) != 2 {
					t.Fatalf("sentinel options = %+v", o)
				}
			case ModeCluster:
				if !o.IsClusterMode || o.MasterName != "" || o.DB != 0 {
					t.Fatalf("cluster options = %+v", o)
				}
			default:
				if o.IsClusterMode || o.MasterName != "" || o.DB != 3 || o.SentinelPassword != "" {
					t.Fatalf("standalone options = %+v", o)
				}
			}
			client := redis.NewUniversalClient(o) // connects lazily: nothing is dialled here
			defer func() { _ = client.Close() }()
			if got := typeName(client); got != tc.wantClient {
				t.Fatalf("client %s, want %s", got, tc.wantClient)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	case *redis.Client:
		return "*redis.Client"
	}
	return "other"
}

func TestOptionsTLS(t *testing.T) {
	c := DefaultConfig()
	c.TLS = true
	o, err := c.universalOptions()
	if err != nil || o.TLSConfig == nil || o.TLSConfig.InsecureSkipVerify || o.TLSConfig.RootCAs != nil {
		t.Fatalf("TLS with system roots = %+v, %v", o.TLSConfig, err)
	}
	c.TLSCAFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(c.TLSCAFile, selfSignedPEM(t), 0o600); err != nil {
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
	c.TLS = false
	if o, _ := c.universalOptions(); o.TLSConfig != nil {
		t.Fatal("TLS configured although disabled")
	}
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestKeyUsesThePrefix(t *testing.T) {
	if got := DefaultConfig().Key("BTCUSDT"); got != "hama:analysis:BTCUSDT" {
		t.Fatalf("key = %s", got)
	}
}

func TestNewTieredRejectsAnInvalidConfig(t *testing.T) {
	c := DefaultConfig()
	c.Mode = ModeSentinel
	if _, err := NewTiered(c, nil, discard); err == nil {
		t.Fatal("sentinel mode without a master name was accepted")
	}
}
