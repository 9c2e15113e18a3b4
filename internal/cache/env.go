package cache

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// ApplyEnv fills the configuration from the original Python service's environment variables —
// REDIS_ENABLED, REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD, HAMA_CACHE_TTL (seconds) — and
// from REDIS_ADDRS, REDIS_MODE, REDIS_MASTER_NAME, REDIS_USERNAME, REDIS_SENTINEL_PASSWORD and
// REDIS_TLS. Precedence: a flag given on the command line > its environment variable > the flag's
// default. REDIS_ADDRS wins over REDIS_HOST/REDIS_PORT, a password file over REDIS_PASSWORD. Then it
// validates the result.
func ApplyEnv(c *Config, getenv func(string) string) error {
	if err := applyEnvVars(c, getenv); err != nil {
		return err
	}
	return c.validate()
}

func applyEnvVars(c *Config, getenv func(string) string) error {
	// lookup returns the variable unless its flag was given.
	lookup := func(flagName, env string) (string, bool) {
		v := getenv(env)
		return v, v != "" && !c.flagSet(flagName)
	}
	if v, ok := lookup("redis-enabled", "REDIS_ENABLED"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("REDIS_ENABLED=%q is not a boolean", v)
		}
		c.RedisEnabled = b
	}
	if v, ok := lookup("redis-addrs", "REDIS_ADDRS"); ok {
		c.Addrs = splitAddrs(v)
	} else if host, ok := lookup("redis-addrs", "REDIS_HOST"); ok {
		port := getenv("REDIS_PORT")
		if port == "" {
			port = "6379"
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("REDIS_PORT=%q is not a port number", port)
		}
		c.Addrs = []string{net.JoinHostPort(host, port)}
	}
	for _, s := range []struct {
		flag, env string
		dst       *string
	}{
		{"redis-mode", "REDIS_MODE", &c.Mode},
		{"redis-master-name", "REDIS_MASTER_NAME", &c.MasterName},
		{"redis-username", "REDIS_USERNAME", &c.Username},
		{"redis-password-file", "REDIS_PASSWORD", &c.Password},
		{"redis-sentinel-password-file", "REDIS_SENTINEL_PASSWORD", &c.SentinelPassword},
	} {
		if v, ok := lookup(s.flag, s.env); ok {
			*s.dst = v
		}
	}
	if v, ok := lookup("redis-tls", "REDIS_TLS"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("REDIS_TLS=%q is not a boolean", v)
		}
		c.TLS = b
	}
	if v, ok := lookup("redis-db", "REDIS_DB"); ok {
		db, err := strconv.Atoi(v)
		if err != nil || db < 0 {
			return fmt.Errorf("REDIS_DB=%q is not a database number", v)
		}
		c.DB = db
	}
	if v, ok := lookup("cache-default-ttl", "HAMA_CACHE_TTL"); ok {
		s, err := strconv.Atoi(v)
		if err != nil || s <= 0 {
			return fmt.Errorf("HAMA_CACHE_TTL=%q is not a positive number of seconds", v)
		}
		c.DefaultTTL = time.Duration(s) * time.Second
	}
	return nil
}
