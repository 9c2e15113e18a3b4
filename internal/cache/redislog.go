package cache

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
)

var routeRedisLogsOnce sync.Once

// routeRedisLogs sends go-redis's own messages — one per failed dial, every health check of an
// outage — to the cache's logger at debug verbosity instead of stderr; the cache logs outages
// itself, rate-limited. go-redis's logger is process-wide, so the first Tiered sets it.
func routeRedisLogs(log logr.Logger) {
	routeRedisLogsOnce.Do(func() { redis.SetLogger(redisLogger{log.WithName("go-redis").V(1)}) })
}

type redisLogger struct{ log logr.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Info(fmt.Sprintf(format, v...))
}
