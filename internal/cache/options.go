package cache

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// resolvedMode is the topology the configuration selects.
func (c Config) resolvedMode() string {
	if c.Mode != ModeAuto {
		return c.Mode
	}
	switch {
	case c.MasterName != "":
		return ModeSentinel
	case len(c.Addrs) > 1:
		return ModeCluster
	default:
		return ModeStandalone
	}
}

// validate checks the configuration and reads the password files.
func (c *Config) validate() error {
	return errors.Join(c.validateTopology(), c.validateNumbers(), c.readPasswordFiles())
}

func (c *Config) validateTopology() error {
	switch c.Mode {
	case ModeAuto, ModeStandalone, ModeSentinel, ModeCluster:
	default:
		return fmt.Errorf("redis mode %q: want standalone, sentinel or cluster", c.Mode)
	}
	switch mode := c.resolvedMode(); {
	case c.RedisEnabled && len(c.Addrs) == 0:
		return errors.New("redis is enabled but no address is set")
	case mode == ModeSentinel && c.MasterName == "":
		return errors.New("redis mode sentinel needs a master name (--redis-master-name or REDIS_MASTER_NAME)")
	case mode != ModeSentinel && c.MasterName != "":
		return fmt.Errorf("a redis master name is only for sentinel mode, not %s", mode)
	case mode == ModeStandalone && len(c.Addrs) > 1:
		return fmt.Errorf("redis mode standalone takes one address, got %d", len(c.Addrs))
	case mode == ModeCluster && c.DB != 0:
		return errors.New("redis cluster has only database 0")
	}
	return nil
}

func (c *Config) validateNumbers() error {
	if c.DB < 0 || c.PoolSize < 0 || c.DialTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.BreakerCooldown < 0 {
		return errors.New("redis db, pool size, timeouts and breaker cooldown must not be negative")
	}
	if c.DefaultTTL <= 0 || c.MemoryMaxEntries <= 0 || c.HealthInterval <= 0 {
		return errors.New("cache default TTL, memory max entries and health interval must be positive")
	}
	if c.ClientCache && c.ClientCacheMaxStaleness <= 0 {
		return errors.New("the redis client cache's max staleness must be positive")
	}
	return nil
}

func (c *Config) readPasswordFiles() error {
	for _, f := range []struct {
		path string
		dst  *string
	}{{c.PasswordFile, &c.Password}, {c.SentinelPasswordFile, &c.SentinelPassword}} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("reading a redis password: %w", err)
		}
		*f.dst = strings.TrimSpace(string(b))
	}
	return nil
}

// universalOptions maps the configuration onto go-redis. Sentinel sets MasterName, Cluster sets
// IsClusterMode; redis.NewUniversalClient then builds the matching client.
func (c Config) universalOptions() (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{
		Addrs: c.Addrs, Username: c.Username, Password: c.Password,
		PoolSize: c.PoolSize, DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		// One retry covers a pooled connection that died with a Redis restart; more would only add
		// timeouts in an outage, which the breaker handles instead.
		MaxRetries: 1,
		// go-redis redials 5 times by default; a dead Redis would then cost every call 5 dials.
		DialerRetries: 1,
		// No CLIENT SETINFO or CLIENT MAINT_NOTIFICATIONS round trips on each new connection.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if c.clientCacheApplies() {
		// Client-side caching needs RESP3, whose push messages carry the invalidations.
		opts.Protocol = 3
		opts.ClientSideCache = newInvalidationCounter(redis.CacheConfig{
			MaxEntries: c.MemoryMaxEntries, MaxStaleness: c.ClientCacheMaxStaleness,
		})
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

// clientCacheApplies reports whether reads go through go-redis's client-side cache, which it offers
// for a standalone server's database 0.
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
