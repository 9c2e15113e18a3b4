package cache

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis modes. ModeAuto lets the addresses decide: Sentinel when a master name is set, Cluster for
// several addresses, else standalone (go-redis's UniversalClient rules).
const (
	ModeAuto       = ""
	ModeStandalone = "standalone"
	ModeSentinel   = "sentinel"
	ModeCluster    = "cluster"
)

// Config configures the cache. The binary sets it from flags and the environment (cmd).
type Config struct {
	RedisEnabled bool
	Mode         string
	// Addrs are host:port pairs: the server, the Sentinels, or Cluster seed nodes.
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	// SentinelPassword authenticates to the Sentinels, which often have no password of their own.
	SentinelPassword      string
	DB                    int
	TLS                   bool
	TLSCAFile             string
	TLSInsecureSkipVerify bool
	PoolSize              int
	DialTimeout           time.Duration
	ReadTimeout           time.Duration
	WriteTimeout          time.Duration

	MemoryMaxEntries int
	// HealthInterval is how often Redis is pinged, to notice an outage and the recovery.
	HealthInterval time.Duration
	// ClientCache answers repeated reads from memory until Redis invalidates the key (RESP3 client
	// tracking); standalone Redis, database 0 only.
	ClientCache bool
	// ClientCacheMaxStaleness bounds how long a value is answered without asking Redis again,
	// should an invalidation be lost.
	ClientCacheMaxStaleness time.Duration
}

// DefaultConfig is a Redis-less configuration with the defaults of every setting.
func DefaultConfig() Config {
	return Config{
		Addrs: []string{"127.0.0.1:6379"}, PoolSize: 64,
		DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MemoryMaxEntries: 20000, HealthInterval: 2 * time.Second,
		ClientCache: true, ClientCacheMaxStaleness: 10 * time.Second,
	}
}

// resolvedMode is the topology the configuration selects.
func (c Config) resolvedMode() string {
	switch {
	case c.Mode != ModeAuto:
		return c.Mode
	case c.MasterName != "":
		return ModeSentinel
	case len(c.Addrs) > 1:
		return ModeCluster
	}
	return ModeStandalone
}

// Validate reports a configuration the cache cannot run with.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeAuto, ModeStandalone, ModeSentinel, ModeCluster:
	default:
		return fmt.Errorf("redis mode %q: want standalone, sentinel or cluster", c.Mode)
	}
	switch mode := c.resolvedMode(); {
	case c.RedisEnabled && len(c.Addrs) == 0:
		return errors.New("redis is enabled but no address is set")
	case mode == ModeSentinel && c.MasterName == "":
		return errors.New("redis mode sentinel needs a master name")
	case mode != ModeSentinel && c.MasterName != "":
		return fmt.Errorf("a redis master name is only for sentinel mode, not %s", mode)
	case mode == ModeStandalone && len(c.Addrs) > 1:
		return fmt.Errorf("redis mode standalone takes one address, got %d", len(c.Addrs))
	case mode == ModeCluster && c.DB != 0:
		return errors.New("redis cluster has only database 0")
	}
	return c.validateNumbers()
}

func (c Config) validateNumbers() error {
	switch {
	case c.DB < 0 || c.PoolSize < 0 || c.DialTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0:
		return errors.New("redis db, pool size and timeouts must not be negative")
	case c.MemoryMaxEntries <= 0 || c.HealthInterval <= 0:
		return errors.New("memory max entries and the health interval must be positive")
	case c.ClientCache && c.ClientCacheMaxStaleness <= 0:
		return errors.New("the redis client cache's max staleness must be positive")
	}
	return nil
}

// invalidationSweep is how often go-redis reads the invalidations waiting on idle connections.
const invalidationSweep = 100 * time.Millisecond

// universalOptions maps the configuration onto go-redis. Sentinel sets MasterName, Cluster sets
// IsClusterMode; redis.NewUniversalClient then builds the matching client.
func (c Config) universalOptions() (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{
		Addrs: c.Addrs, Username: c.Username, Password: c.Password,
		PoolSize: c.PoolSize, DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		// One retry covers a pooled connection that died with a Redis restart; more would only add
		// timeouts in an outage, which the fallback handles instead.
		MaxRetries: 1,
		// go-redis redials 5 times by default; a dead Redis would then cost every call 5 dials.
		DialerRetries: 1,
		// No CLIENT SETINFO or CLIENT MAINT_NOTIFICATIONS round trips on each new connection.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if c.clientCacheApplies() {
		// Client tracking needs RESP3, whose push messages carry the invalidations.
		opts.Protocol = 3
		cfg := redis.CacheConfig{MaxEntries: c.MemoryMaxEntries, MaxStaleness: c.ClientCacheMaxStaleness,
			// go-redis sweeps its idle connections for invalidations every 5 ms by default: more
			// than half of an idle operator's CPU. Ten sweeps a second keep another replica's
			// write visible here within 100 ms.
			DrainInterval: invalidationSweep}
		opts.ClientSideCache = &tracker{LocalCache: redis.NewLocalCache(cfg)}
		// The cache above is the one used; go-redis takes the sweep interval from this config only.
		opts.ClientSideCacheConfig = &cfg
	}
	switch c.resolvedMode() {
	case ModeSentinel:
		opts.MasterName, opts.DB, opts.SentinelPassword = c.MasterName, c.DB, c.SentinelPassword
	case ModeCluster:
		opts.IsClusterMode = true
	default:
		opts.DB = c.DB
	}
	if c.TLS {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	return opts, nil
}

// clientCacheApplies reports whether reads use client tracking, which go-redis offers for a
// standalone server's database 0.
func (c Config) clientCacheApplies() bool {
	return c.ClientCache && c.resolvedMode() == ModeStandalone && c.DB == 0
}

// tlsConfig verifies the server against the CA file, or the system roots without one. The server
// name comes from each address, so one config serves every node.
func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecureSkipVerify} //nolint:gosec // explicit opt-in flag
	if c.TLSCAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(c.TLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("reading the redis CA: %w", err)
	}
	tc.RootCAs = x509.NewCertPool()
	if !tc.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", c.TLSCAFile)
	}
	return tc, nil
}
