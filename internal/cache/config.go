package cache

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis modes.
const (
	ModeStandalone = "standalone"
	ModeSentinel   = "sentinel"
	ModeCluster    = "cluster"
)

// Config configures the tiered cache.
type Config struct {
	RedisEnabled          bool
	Mode                  string
	Addrs                 []string
	MasterName            string
	Username              string
	Password              string
	PasswordFile          string
	DB                    int
	TLS                   bool
	TLSCAFile             string
	TLSInsecureSkipVerify bool
	PoolSize              int
	DialTimeout           time.Duration
	ReadTimeout           time.Duration
	WriteTimeout          time.Duration

	// KeyPrefix is prepended to symbols: "hama:analysis:" gives hama:analysis:BTCUSDT.
	KeyPrefix        string
	DefaultTTL       time.Duration
	MemoryMaxEntries int
	// HealthInterval is how often Redis is pinged, to notice an outage and the recovery.
	HealthInterval time.Duration

	set map[string]bool // flags given on the command line, which the environment must not override
}

// DefaultConfig is a Redis-less configuration with the original service's key prefix and TTL.
func DefaultConfig() Config {
	return Config{
		Mode: ModeStandalone, Addrs: []string{"127.0.0.1:6379"}, PoolSize: 64,
		DialTimeout: 2 * time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		KeyPrefix: "hama:analysis:", DefaultTTL: 15 * time.Minute, MemoryMaxEntries: 20000, HealthInterval: 2 * time.Second,
	}
}

// Key is the cache key of a symbol.
func (c Config) Key(symbol string) string { return c.KeyPrefix + symbol }

type addrList struct{ addrs *[]string }

func (a addrList) String() string {
	if a.addrs == nil {
		return ""
	}
	return strings.Join(*a.addrs, ",")
}

func (a addrList) Set(s string) error {
	*a.addrs = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*a.addrs = append(*a.addrs, part)
		}
	}
	return nil
}

// BindFlags registers the cache flags with their defaults.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	*c = DefaultConfig()
	fs.BoolVar(&c.RedisEnabled, "redis-enabled", false, "Use Redis; without it the cache is in memory only.")
	fs.StringVar(&c.Mode, "redis-mode", c.Mode, "Redis topology: standalone, sentinel or cluster.")
	fs.Var(addrList{&c.Addrs}, "redis-addrs", "Comma-separated Redis addresses (host:port); Sentinel addresses in sentinel mode.")
	fs.StringVar(&c.MasterName, "redis-master-name", "", "Sentinel master name.")
	fs.StringVar(&c.Username, "redis-username", "", "Redis ACL user name.")
	fs.StringVar(&c.PasswordFile, "redis-password-file", "", "File holding the Redis password (or set REDIS_PASSWORD).")
	fs.IntVar(&c.DB, "redis-db", 0, "Redis database number (standalone and sentinel).")
	fs.BoolVar(&c.TLS, "redis-tls", false, "Connect to Redis over TLS.")
	fs.StringVar(&c.TLSCAFile, "redis-tls-ca-file", "", "CA bundle that signed the Redis server certificate.")
	fs.BoolVar(&c.TLSInsecureSkipVerify, "redis-tls-insecure-skip-verify", false, "Do not verify the Redis certificate.")
	fs.IntVar(&c.PoolSize, "redis-pool-size", c.PoolSize, "Redis connections per node.")
	fs.DurationVar(&c.DialTimeout, "redis-dial-timeout", c.DialTimeout, "Redis dial timeout.")
	fs.DurationVar(&c.ReadTimeout, "redis-read-timeout", c.ReadTimeout, "Redis read timeout; short, so an outage falls back fast.")
	fs.DurationVar(&c.WriteTimeout, "redis-write-timeout", c.WriteTimeout, "Redis write timeout.")
	fs.StringVar(&c.KeyPrefix, "cache-key-prefix", c.KeyPrefix, "Prefix of the cache keys.")
	fs.DurationVar(&c.DefaultTTL, "cache-default-ttl", c.DefaultTTL, "TTL of on-demand analyses (HAMA_CACHE_TTL in seconds also sets it).")
	fs.IntVar(&c.MemoryMaxEntries, "memory-cache-max-entries", c.MemoryMaxEntries, "Bound of the in-memory cache.")
	fs.DurationVar(&c.HealthInterval, "redis-health-interval", c.HealthInterval, "How often Redis is pinged.")
	c.set = map[string]bool{}
	c.markSetFlags(fs)
}

// markSetFlags remembers, after parsing, which flags the user gave.
func (c *Config) markSetFlags(fs *flag.FlagSet) {
	if c.set == nil {
		c.set = map[string]bool{}
	}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
}

// ApplyEnv reads the original service's environment variables — REDIS_ENABLED, REDIS_HOST,
// REDIS_PORT, REDIS_DB, REDIS_PASSWORD, HAMA_CACHE_TTL (seconds) — plus REDIS_ADDRS, REDIS_MODE and
// REDIS_MASTER_NAME. A flag given on the command line wins over its variable.
func ApplyEnv(c *Config, getenv func(string) string) error {
	if fs := flag.CommandLine; fs.Parsed() {
		c.markSetFlags(fs)
	}
	str := func(flagName, env string, dst *string) {
		if v := getenv(env); v != "" && !c.set[flagName] {
			*dst = v
		}
	}
	if v := getenv("REDIS_ENABLED"); v != "" && !c.set["redis-enabled"] {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("REDIS_ENABLED=%q is not a boolean", v)
		}
		c.RedisEnabled = b
	}
	if !c.set["redis-addrs"] {
		if v := getenv("REDIS_ADDRS"); v != "" {
			_ = addrList{&c.Addrs}.Set(v)
		} else if host := getenv("REDIS_HOST"); host != "" {
			port := getenv("REDIS_PORT")
			if port == "" {
				port = "6379"
			}
			c.Addrs = []string{host + ":" + port}
		}
	}
	str("redis-mode", "REDIS_MODE", &c.Mode)
	str("redis-master-name", "REDIS_MASTER_NAME", &c.MasterName)
	if v := getenv("REDIS_PASSWORD"); v != "" && !c.set["redis-password-file"] {
		c.Password = v
	}
	if v := getenv("REDIS_DB"); v != "" && !c.set["redis-db"] {
		db, err := strconv.Atoi(v)
		if err != nil || db < 0 {
			return fmt.Errorf("REDIS_DB=%q is not a database number", v)
		}
		c.DB = db
	}
	if v := getenv("HAMA_CACHE_TTL"); v != "" && !c.set["cache-default-ttl"] {
		s, err := strconv.Atoi(v)
		if err != nil || s <= 0 {
			return fmt.Errorf("HAMA_CACHE_TTL=%q is not a number of seconds", v)
		}
		c.DefaultTTL = time.Duration(s) * time.Second
	}
	return c.validate()
}

func (c *Config) validate() error {
	switch c.Mode {
	case ModeStandalone, ModeCluster:
	case ModeSentinel:
		if c.MasterName == "" {
			return fmt.Errorf("redis mode sentinel needs a master name (--redis-master-name or REDIS_MASTER_NAME)")
		}
	default:
		return fmt.Errorf("redis mode %q: want standalone, sentinel or cluster", c.Mode)
	}
	if c.RedisEnabled && len(c.Addrs) == 0 {
		return fmt.Errorf("redis is enabled but no address is set")
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return fmt.Errorf("reading the redis password: %w", err)
		}
		c.Password = strings.TrimSpace(string(b))
	}
	return nil
}

// universalOptions maps the config onto go-redis: MasterName selects Sentinel, mode cluster (or
// several addresses without a master name) selects Cluster.
func (c Config) universalOptions() (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{
		Addrs: c.Addrs, Username: c.Username, Password: c.Password,
		PoolSize: c.PoolSize, DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		MaxRetries: 1,
	}
	switch c.Mode {
	case ModeSentinel:
		opts.MasterName, opts.DB = c.MasterName, c.DB
		opts.SentinelUsername, opts.SentinelPassword = c.Username, c.Password
	case ModeCluster:
		opts.IsClusterMode = true
	default:
		opts.DB = c.DB
	}
	if c.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecureSkipVerify} //nolint:gosec // opt-in flag
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("reading the redis CA: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no certificate in %s", c.TLSCAFile)
			}
		}
		opts.TLSConfig = tc
	}
	return opts, nil
}
