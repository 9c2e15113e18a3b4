package cache

import (
	"context"
	"time"
)

// logEvery spaces out the logs of an outage that lasts.
const logEvery = time.Minute

// Start runs the health loop until ctx ends. It fits controller-runtime's manager.Runnable.
func (t *Tiered) Start(ctx context.Context) error {
	if t.redis == nil {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(t.cfg.HealthInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.checkHealth(ctx)
		}
	}
}

// NeedLeaderElection is false: every replica serves reads and needs its own health loop.
func (t *Tiered) NeedLeaderElection() bool { return false }

// redisServing reports whether calls should go to Redis now. While the breaker is open it returns
// false at once; once BreakerCooldown has passed it also starts one background probe.
func (t *Tiered) redisServing() bool {
	if t.redis == nil {
		return false
	}
	if t.up.Load() {
		return true
	}
	cooldown := t.cfg.BreakerCooldown
	if cooldown > 0 && time.Since(time.Unix(0, t.openedAt.Load())) >= cooldown && t.probing.CompareAndSwap(false, true) {
		go func() {
			defer t.probing.Store(false)
			t.checkHealth(t.closing)
		}()
	}
	return false
}

// checkHealth pings Redis; after an outage it copies the outage's writes back, then closes the breaker.
func (t *Tiered) checkHealth(ctx context.Context) {
	t.healthMu.Lock()
	defer t.healthMu.Unlock()
	if ctx.Err() != nil {
		return
	}
	pingCtx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout+t.cfg.ReadTimeout)
	defer cancel()
	if err := t.redis.Ping(pingCtx); err != nil {
		if ctx.Err() == nil {
			t.redisFailed(err)
		}
		return
	}
	if t.up.Load() {
		return
	}
	if err := t.recover(ctx); err != nil && ctx.Err() == nil {
		t.redisFailed(err)
	}
}

// redisFailed opens the breaker and records the error.
func (t *Tiered) redisFailed(err error) {
	err = describe(err)
	now := time.Now()
	t.redisErrors.Add(1)
	t.openedAt.Store(now.UnixNano())
	wasUp := t.up.Swap(false)

	t.mu.Lock()
	t.lastErr, t.lastErrAt = err.Error(), now
	logIt := wasUp || now.Sub(t.lastLogAt) >= logEvery
	if logIt {
		t.lastLogAt = now
	}
	t.mu.Unlock()

	if wasUp {
		t.obs.SetBackendUp(false)
	}
	if logIt {
		t.log.Error(err, "redis is not serving the cache; the memory copy answers until it does", "addrs", t.cfg.Addrs)
	}
}
