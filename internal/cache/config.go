package cache

import (
	"flag"
	"strings"
	"time"
)

// Redis modes. ModeAuto lets the addresses decide: Sentinel when a master name is set, Cluster for
// several addresses, else standalone (go-redis's UniversalClient rules).
const (
	ModeAuto       = ""
	ModeStandalone = "standalone"
	ModeSentinel   = "sentinel"
	ModeCluster    = "cluster"
)

// Config configures the tiered cache.
type Config struct {
	RedisEnabled bool
	Mode         string
	// Addrs are host:port pairs: the server, the Sentinels, or Cluster seed nodes.
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	// PasswordFile, when set, replaces Password with the file's trimmed content.
	PasswordFile string
	// SentinelPassword authenticates to the Sentinels, which often have no password of their own.
	SentinelPassword      string
	SentinelPasswordFile  string
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
	// ClientCache keeps the values this replica reads from Redis in its memory and answers repeated
	// reads from there, without a round trip, until Redis says the key changed (RESP3 CLIENT
	// TRACKING, go-redis's client-side cache). Standalone Redis, database 0 only.
	ClientCache bool
	// ClientCacheMaxStaleness bounds how long a client-cached value is served without asking Redis
	// again, should an invalidation be lost.
	ClientCacheMaxStaleness time.Duration
	// BreakerCooldown is how long, after a failure, calls skip Redis before one of them triggers a
	// background probe (in case the health loop is not running). 0 leaves recovery to the loop alone.
	BreakerCooldown time.Duration

	flags *flag.FlagSet // the flag set BindFlags registered with: flags given there win over the environment
}

// DefaultConfig is a Redis-less configuration with the original service's key prefix and TTL.
func DefaultConfig() Config {
	return Config{
		Mode: ModeAuto, Addrs: []string{"127.0.0.1:6379"}, PoolSize: 64,
		DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		KeyPrefix: "hama:analysis:", DefaultTTL: 15 * time.Minute, MemoryMaxEntries: 20000,
		HealthInterval: 2 * time.Second, BreakerCooldown: 5 * time.Second,
		ClientCache: true, ClientCacheMaxStaleness: 10 * time.Second,
	}
}

// Key is the cache key of a symbol.
func (c Config) Key(symbol string) string { return c.KeyPrefix + symbol }

// BindFlags resets c to DefaultConfig and registers the cache flags on fs.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	*c = DefaultConfig()
	c.flags = fs
	fs.BoolVar(&c.RedisEnabled, "redis-enabled", false, "Use Redis; without it the cache is in memory only (env REDIS_ENABLED).")
	fs.StringVar(&c.Mode, "redis-mode", c.Mode,
		"Redis topology: standalone, sentinel or cluster; empty picks sentinel when a master name is set, "+
			"cluster for several addresses (env REDIS_MODE).")
	fs.Var(addrList{&c.Addrs}, "redis-addrs",
		"Comma-separated Redis addresses host:port; the Sentinels in sentinel mode (env REDIS_ADDRS, or REDIS_HOST and REDIS_PORT).")
	fs.StringVar(&c.MasterName, "redis-master-name", "", "Sentinel master name (env REDIS_MASTER_NAME).")
	fs.StringVar(&c.Username, "redis-username", "", "Redis ACL user name (env REDIS_USERNAME).")
	fs.StringVar(&c.PasswordFile, "redis-password-file", "", "File holding the Redis password (env REDIS_PASSWORD holds it directly).")
	fs.StringVar(&c.SentinelPasswordFile, "redis-sentinel-password-file", "",
		"File holding the Sentinels' password (env REDIS_SENTINEL_PASSWORD).")
	fs.IntVar(&c.DB, "redis-db", 0, "Redis database number, standalone and sentinel only (env REDIS_DB).")
	fs.BoolVar(&c.TLS, "redis-tls", false, "Connect to Redis over TLS (env REDIS_TLS).")
	fs.StringVar(&c.TLSCAFile, "redis-tls-ca-file", "", "PEM bundle of the CA that signed the Redis certificate; default: system roots.")
	fs.BoolVar(&c.TLSInsecureSkipVerify, "redis-tls-insecure-skip-verify", false, "Do not verify the Redis certificate (testing only).")
	fs.IntVar(&c.PoolSize, "redis-pool-size", c.PoolSize, "Redis connections per node.")
	fs.DurationVar(&c.DialTimeout, "redis-dial-timeout", c.DialTimeout, "Redis dial timeout.")
	fs.DurationVar(&c.ReadTimeout, "redis-read-timeout", c.ReadTimeout, "Redis read timeout; short, so an outage falls back fast.")
	fs.DurationVar(&c.WriteTimeout, "redis-write-timeout", c.WriteTimeout, "Redis write timeout.")
	fs.StringVar(&c.KeyPrefix, "cache-key-prefix", c.KeyPrefix, "Prefix of the cache keys.")
	fs.DurationVar(&c.DefaultTTL, "cache-default-ttl", c.DefaultTTL, "TTL of on-demand analyses (env HAMA_CACHE_TTL, in seconds).")
	fs.IntVar(&c.MemoryMaxEntries, "memory-cache-max-entries", c.MemoryMaxEntries,
		"Bound of the in-memory cache; the oldest entries go first.")
	fs.DurationVar(&c.HealthInterval, "redis-health-interval", c.HealthInterval, "How often Redis is pinged to notice outages and recovery.")
	fs.BoolVar(&c.ClientCache, "redis-client-cache", c.ClientCache,
		"Answer repeated reads from this replica's memory until Redis invalidates the key (RESP3 client tracking); standalone Redis, database 0.")
	fs.DurationVar(&c.ClientCacheMaxStaleness, "redis-client-cache-max-staleness", c.ClientCacheMaxStaleness,
		"Longest a client-cached value is served without asking Redis again, should an invalidation be lost.")
	fs.DurationVar(&c.BreakerCooldown, "redis-breaker-cooldown", c.BreakerCooldown,
		"After a Redis failure, how long calls skip Redis before one triggers a probe; 0: only the health loop probes.")
}

// flagSet reports whether the flag was given on the command line.
func (c *Config) flagSet(name string) bool {
	if c.flags == nil || !c.flags.Parsed() {
		return false
	}
	found := false
	c.flags.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// addrList is a comma-separated flag.Value.
type addrList struct{ addrs *[]string }

func (a addrList) String() string {
	if a.addrs == nil {
		return ""
	}
	return strings.Join(*a.addrs, ",")
}

func (a addrList) Set(s string) error {
	*a.addrs = splitAddrs(s)
	return nil
}

func splitAddrs(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
