package main

import (
	"cmp"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// cacheOptions are the cache's flags: the Redis connection and the key naming and on-demand TTL
// of the analyses.
type cacheOptions struct {
	cache.Config
	keyPrefix            string
	onDemandTTL          time.Duration
	passwordFile         string
	sentinelPasswordFile string
}

func (o *cacheOptions) bindFlags(fs *flag.FlagSet) {
	o.Config = cache.DefaultConfig()
	c := &o.Config
	fs.BoolVar(&c.RedisEnabled, "redis-enabled", false, "Use Redis; without it the cache is in memory only (env REDIS_ENABLED).")
	fs.StringVar(&c.Mode, "redis-mode", c.Mode,
		"Redis topology: standalone, sentinel or cluster; empty picks sentinel when a master name is set, "+
			"cluster for several addresses (env REDIS_MODE).")
	fs.Func("redis-addrs", "Comma-separated Redis addresses host:port; the Sentinels in sentinel mode "+
		"(env REDIS_ADDRS, or REDIS_HOST and REDIS_PORT; default 127.0.0.1:6379).", func(s string) error {
		c.Addrs = nil
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Addrs = append(c.Addrs, a)
			}
		}
		return nil
	})
	fs.StringVar(&c.MasterName, "redis-master-name", "", "Sentinel master name (env REDIS_MASTER_NAME).")
	fs.StringVar(&c.Username, "redis-username", "", "Redis ACL user name (env REDIS_USERNAME).")
	fs.StringVar(&o.passwordFile, "redis-password-file", "", "File holding the Redis password (env REDIS_PASSWORD holds it directly).")
	fs.StringVar(&o.sentinelPasswordFile, "redis-sentinel-password-file", "",
		"File holding the Sentinels' password (env REDIS_SENTINEL_PASSWORD).")
	fs.IntVar(&c.DB, "redis-db", 0, "Redis database number, standalone and sentinel only (env REDIS_DB).")
	fs.BoolVar(&c.TLS, "redis-tls", false, "Connect to Redis over TLS (env REDIS_TLS).")
	fs.StringVar(&c.TLSCAFile, "redis-tls-ca-file", "", "PEM bundle of the CA that signed the Redis certificate; default: system roots.")
	fs.BoolVar(&c.TLSInsecureSkipVerify, "redis-tls-insecure-skip-verify", false, "Do not verify the Redis certificate (testing only).")
	fs.IntVar(&c.PoolSize, "redis-pool-size", c.PoolSize, "Redis connections per node.")
	fs.DurationVar(&c.DialTimeout, "redis-dial-timeout", c.DialTimeout, "Redis dial timeout.")
	fs.DurationVar(&c.ReadTimeout, "redis-read-timeout", c.ReadTimeout, "Redis read timeout; short, so an outage falls back fast.")
	fs.DurationVar(&c.WriteTimeout, "redis-write-timeout", c.WriteTimeout, "Redis write timeout.")
	fs.IntVar(&c.MemoryMaxEntries, "memory-cache-max-entries", c.MemoryMaxEntries,
		"Bound of the in-memory copy; the entries closest to expiry go first.")
	fs.DurationVar(&c.HealthInterval, "redis-health-interval", c.HealthInterval, "How often Redis is pinged to notice outages and recovery.")
	fs.BoolVar(&c.ClientCache, "redis-client-cache", c.ClientCache,
		"Answer repeated reads from this replica's memory until Redis invalidates the key (RESP3 client tracking); standalone Redis, database 0.")
	fs.DurationVar(&c.ClientCacheMaxStaleness, "redis-client-cache-max-staleness", c.ClientCacheMaxStaleness,
		"Longest a value is answered from memory without asking Redis again, should an invalidation be lost.")
	o.keyPrefix = string(refresh.DefaultKeyPrefix)
	fs.StringVar(&o.keyPrefix, "cache-key-prefix", o.keyPrefix, "Prefix of the cache keys.")
	fs.DurationVar(&o.onDemandTTL, "cache-default-ttl", refresh.DefaultOnDemandTTL,
		"TTL of on-demand analyses (env HAMA_CACHE_TTL, in seconds).")
}

// hostAndPort is the address REDIS_HOST and REDIS_PORT (default 6379) name, empty without a host.
func hostAndPort(getenv func(string) string) (string, error) {
	host, port := getenv("REDIS_HOST"), cmp.Or(getenv("REDIS_PORT"), "6379")
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("REDIS_PORT=%q is not a port number", port)
	}
	if host == "" {
		return "", nil
	}
	return net.JoinHostPort(host, port), nil
}

// applyEnv fills what the command line left to the original Python service's environment
// variables — REDIS_ENABLED, REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD, HAMA_CACHE_TTL
// (seconds) — and to REDIS_ADDRS, REDIS_MODE, REDIS_MASTER_NAME, REDIS_USERNAME,
// REDIS_SENTINEL_PASSWORD and REDIS_TLS. Precedence: a flag given on the command line > its
// variable > the flag's default; REDIS_ADDRS wins over REDIS_HOST/REDIS_PORT, a password file over
// REDIS_PASSWORD. Then it reads the password files and validates the result.
func (o *cacheOptions) applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if addr, err := hostAndPort(getenv); err != nil {
		return err
	} else if addr != "" && getenv("REDIS_ADDRS") == "" && !given["redis-addrs"] {
		_ = fs.Set("redis-addrs", addr)
	}
	if v := getenv("HAMA_CACHE_TTL"); v != "" && !given["cache-default-ttl"] {
		if s, err := strconv.Atoi(v); err != nil || s <= 0 {
			return fmt.Errorf("HAMA_CACHE_TTL=%q is not a positive number of seconds", v)
		}
		_ = fs.Set("cache-default-ttl", v+"s")
	}
	for env, name := range map[string]string{
		"REDIS_ENABLED": "redis-enabled", "REDIS_ADDRS": "redis-addrs", "REDIS_MODE": "redis-mode",
		"REDIS_MASTER_NAME": "redis-master-name", "REDIS_USERNAME": "redis-username", "REDIS_DB": "redis-db",
		"REDIS_TLS": "redis-tls",
	} {
		if v := getenv(env); v != "" && !given[name] {
			if err := fs.Set(name, v); err != nil { // the flag's own parser: bool, int, list
				return fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	}
	for _, p := range []struct {
		file, env string
		dst       *string
	}{{o.passwordFile, "REDIS_PASSWORD", &o.Password}, {o.sentinelPasswordFile, "REDIS_SENTINEL_PASSWORD", &o.SentinelPassword}} {
		*p.dst = getenv(p.env)
		if p.file != "" {
			b, err := os.ReadFile(p.file)
			if err != nil {
				return fmt.Errorf("reading a redis password: %w", err)
			}
			*p.dst = strings.TrimSpace(string(b))
		}
	}
	if o.onDemandTTL <= 0 {
		return fmt.Errorf("--cache-default-ttl %s: want a positive duration", o.onDemandTTL)
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("redis settings (--redis-* flags, REDIS_* variables): %w", err)
	}
	return nil
}
