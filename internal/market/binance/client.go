// Package binance fetches candles and 24-hour tickers from Binance's REST API (spot and USDⓈ-M futures) without
// getting the caller's IP banned: a client-side request-weight limiter, server weight headers,
// Retry-After on 429/418 and jittered retries on 5xx and timeouts.
package binance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/market"
)

// Default endpoints.
const (
	DefaultSpotURL    = "https://api.binance.com"
	DefaultFuturesURL = "https://fapi.binance.com"
	maxLimit          = 1000
	maxBodyBytes      = 8 << 20
)

// Observer is told about every HTTP attempt; code is the status, or "error" without a response.
type Observer interface {
	ObserveUpstream(exchange string, code string, d time.Duration)
}

// Config configures a Client; zero fields take the defaults noted.
type Config struct {
	// BaseURL of the exchange; DefaultSpotURL or DefaultFuturesURL.
	BaseURL string
	// Futures selects the USDⓈ-M futures paths (/fapi/v1/...).
	Futures bool
	// HTTPClient is shared by all requests; a tuned keep-alive client by default.
	HTTPClient *http.Client
	// RequestTimeout bounds one attempt (10s).
	RequestTimeout time.Duration
	// MaxRetries after the first attempt, for 5xx, 429, timeouts and transport errors (3).
	MaxRetries int
	// BackoffBase and BackoffMax shape the jittered exponential backoff (250ms, 5s).
	BackoffBase, BackoffMax time.Duration
	// WeightPerMinute is the client's own budget: spot allows 6000 per IP and minute, futures 2400;
	// the defaults (4800, 1800) leave room for other clients on the same IP.
	WeightPerMinute int
	// IncludeOpenCandle keeps the still-open last candle; by default only closed candles are returned.
	IncludeOpenCandle bool
	// Observer, Clock and Sleep are hooks for metrics and tests; nil Clock is the real clock.
	Observer Observer
	Clock    clock.PassiveClock
	Sleep    func(ctx context.Context, d time.Duration) error
}

// endpoints are a market's paths, and the weight of its ticker of all symbols.
type endpoints struct {
	klines, ticker string
	tickerWeight   int
}

var (
	spot    = endpoints{klines: "/api/v3/klines", ticker: "/api/v3/ticker/24hr", tickerWeight: 80}
	futures = endpoints{klines: "/fapi/v1/klines", ticker: "/fapi/v1/ticker/24hr", tickerWeight: 40}
)

// Client is a market.Source and market.TickerSource for Binance. It is safe for concurrent use.
type Client struct {
	cfg     Config
	name    string
	paths   endpoints
	limiter *rate.Limiter

	mu           sync.Mutex
	blockedUntil time.Time // set by 429/418 Retry-After and by a server weight near its limit
	blockedBy    int       // the status that set blockedUntil: 418, or 429 (also for a full weight)
}

var (
	_ market.Source       = (*Client)(nil)
	_ market.TickerSource = (*Client)(nil)
)

// New returns a client with cfg's gaps filled by the defaults.
func New(cfg Config) *Client {
	c := &Client{cfg: cfg, name: market.Binance, paths: spot}
	if cfg.Futures {
		c.name, c.paths = market.BinanceFutures, futures
	}
	if c.cfg.BaseURL == "" {
		c.cfg.BaseURL = DefaultSpotURL
		if cfg.Futures {
			c.cfg.BaseURL = DefaultFuturesURL
		}
	}
	if c.cfg.HTTPClient == nil {
		c.cfg.HTTPClient = NewHTTPClient()
	}
	if c.cfg.RequestTimeout <= 0 {
		c.cfg.RequestTimeout = 10 * time.Second
	}
	if c.cfg.MaxRetries == 0 {
		c.cfg.MaxRetries = 3
	}
	if c.cfg.BackoffBase <= 0 {
		c.cfg.BackoffBase = 250 * time.Millisecond
	}
	if c.cfg.BackoffMax <= 0 {
		c.cfg.BackoffMax = 5 * time.Second
	}
	if c.cfg.WeightPerMinute <= 0 {
		c.cfg.WeightPerMinute = 4800
		if cfg.Futures {
			c.cfg.WeightPerMinute = 1800
		}
	}
	if c.cfg.Clock == nil {
		c.cfg.Clock = clock.RealClock{}
	}
	if c.cfg.Sleep == nil {
		c.cfg.Sleep = sleep
	}
	// Refill evenly over the minute; the burst lets a fresh client start a fan-out at once, and is
	// never below the costliest single request (the ticker of all symbols).
	perSecond := float64(c.cfg.WeightPerMinute) / 60
	c.limiter = rate.NewLimiter(rate.Limit(perSecond), max(c.cfg.WeightPerMinute/10, c.paths.tickerWeight))
	return c
}

// NewHTTPClient is a keep-alive client sized for many concurrent requests to one host.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 128
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t}
}

// Name is market.Binance or market.BinanceFutures.
func (c *Client) Name() string { return c.name }

// weight is the request weight Binance charges for a klines call with this limit.
func weight(limit int) int {
	switch {
	case limit < 100:
		return 1
	case limit < 500:
		return 2
	case limit <= 1000:
		return 5
	default:
		return 10
	}
}

// Klines returns up to limit closed candles, oldest first.
func (c *Client) Klines(ctx context.Context, symbol, interval string, limit int) ([]market.Candle, error) {
	if !market.ValidInterval(interval) {
		return nil, &market.APIError{Status: 400, Code: -1120, Msg: "Invalid interval " + interval}
	}
	ask := limit
	if !c.cfg.IncludeOpenCandle {
		ask = min(limit+1, maxLimit) // one more, as the newest is usually still open
	}
	q := url.Values{"symbol": {symbol}, "interval": {interval}, "limit": {strconv.Itoa(ask)}}
	return c.klines(ctx, q, ask, limit)
}

// KlinesBetween returns the closed candles that opened from from to to (both included), oldest
// first, at most 1000: the exact range a stream missed, charged by its size rather than a full window.
func (c *Client) KlinesBetween(ctx context.Context, symbol, interval string, from, to time.Time) ([]market.Candle, error) {
	if !market.ValidInterval(interval) {
		return nil, &market.APIError{Status: 400, Code: -1120, Msg: "Invalid interval " + interval}
	}
	n := 0
	for t := from; !t.After(to) && n < maxLimit; t = market.NextOpen(interval, t) {
		n++
	}
	if n == 0 {
		return nil, nil
	}
	q := url.Values{"symbol": {symbol}, "interval": {interval}, "limit": {strconv.Itoa(n)},
		"startTime": {strconv.FormatInt(from.UnixMilli(), 10)}, "endTime": {strconv.FormatInt(to.UnixMilli(), 10)}}
	return c.klines(ctx, q, n, n)
}

// klines asks the klines endpoint for ask candles (query q, charged by ask) and keeps the newest
// keep closed ones.
func (c *Client) klines(ctx context.Context, q url.Values, ask, keep int) ([]market.Candle, error) {
	var candles []market.Candle
	err := c.get(ctx, c.paths.klines+"?"+q.Encode(), weight(ask), func(body []byte) (err error) {
		candles, err = DecodeKlines(body)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.closed(candles, keep), nil
}

// Tickers returns the 24-hour ticker of every symbol of the market: one expensive call (weight 80 on
// spot, 40 on futures), so callers cache its answer.
func (c *Client) Tickers(ctx context.Context) ([]market.Ticker, error) {
	var tickers []market.Ticker
	err := c.get(ctx, c.paths.ticker, c.paths.tickerWeight, func(body []byte) (err error) {
		tickers, err = DecodeTickers(body)
		return err
	})
	return tickers, err
}

// get sends a GET for pathAndQuery, charging weight to the limiter, and hands a 200 body to decode.
// It retries 5xx, 429 and timeouts; a 418 or an error body ends it at once.
func (c *Client) get(ctx context.Context, pathAndQuery string, weight int, decode func([]byte) error) error {
	endpoint := c.cfg.BaseURL + pathAndQuery
	var lastErr error
	for attempt := 0; attempt <= c.cfg.MaxRetries; attempt++ {
		if attempt > 0 {
			if err := c.cfg.Sleep(ctx, c.backoff(attempt, lastErr)); err != nil {
				return errors.Join(lastErr, err)
			}
		}
		err := c.attempt(ctx, endpoint, weight, decode)
		if err == nil {
			return nil
		}
		lastErr = err
		var rl *market.RateLimitError
		if errors.As(err, &rl) && rl.Status == http.StatusTeapot {
			return err // banned: retrying would only extend the ban
		}
		if !market.Retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return lastErr
}

// closed drops the still-open newest candle and keeps the newest limit.
func (c *Client) closed(candles []market.Candle, limit int) []market.Candle {
	if !c.cfg.IncludeOpenCandle && len(candles) > 0 && !candles[len(candles)-1].CloseTime.Before(c.cfg.Clock.Now()) {
		candles = candles[:len(candles)-1]
	}
	if len(candles) > limit {
		candles = candles[len(candles)-limit:]
	}
	return candles
}

func (c *Client) attempt(ctx context.Context, endpoint string, weight int, decode func([]byte) error) error {
	if err := c.waitUnblocked(ctx); err != nil {
		return err
	}
	if err := c.limiter.WaitN(ctx, weight); err != nil {
		return err
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, endpoint, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		c.observe("error", start)
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	c.observe(strconv.Itoa(resp.StatusCode), start)
	if err != nil {
		return err
	}
	c.noteServerWeight(resp.Header)

	switch {
	case resp.StatusCode == http.StatusOK:
		return decode(body)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusTeapot:
		wait := retryAfter(resp.Header)
		c.blockFor(wait, resp.StatusCode)
		return &market.RateLimitError{Status: resp.StatusCode, RetryAfter: wait}
	case resp.StatusCode >= 500:
		return &market.UpstreamError{Status: resp.StatusCode}
	default:
		return apiError(resp.StatusCode, body)
	}
}

func (c *Client) observe(code string, start time.Time) {
	if c.cfg.Observer != nil {
		c.cfg.Observer.ObserveUpstream(c.name, code, time.Since(start))
	}
}

func apiError(status int, body []byte) error {
	var e struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Msg == "" {
		return &market.APIError{Status: status, Msg: fmt.Sprintf("unexpected answer: %.200q", body)}
	}
	return &market.APIError{Status: status, Code: e.Code, Msg: e.Msg}
}

// retryAfter reads Retry-After in seconds; Binance always sends it with 429 and 418.
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	return time.Minute
}

// noteServerWeight slows the client down when the server counts more weight for this IP than the
// client's own budget allows (other clients share the IP): it waits for the minute to roll over.
func (c *Client) noteServerWeight(h http.Header) {
	used, err := strconv.Atoi(h.Get("X-MBX-USED-WEIGHT-1M"))
	if err != nil || used < c.cfg.WeightPerMinute {
		return
	}
	now := c.cfg.Clock.Now()
	c.blockFor(now.Truncate(time.Minute).Add(time.Minute).Sub(now), http.StatusTooManyRequests)
}

func (c *Client) blockFor(d time.Duration, status int) {
	until := c.cfg.Clock.Now().Add(d)
	c.mu.Lock()
	if until.After(c.blockedUntil) {
		c.blockedUntil, c.blockedBy = until, status
	}
	c.mu.Unlock()
}

// BlockedUntil is when the client sends requests again after a 429, 418 or a full server budget.
func (c *Client) BlockedUntil() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blockedUntil
}

// waitUnblocked waits for a block to pass; when the caller's deadline comes first it fails at once
// with the rate limit, so the caller can answer from what it has (a cached ticker) without waiting.
func (c *Client) waitUnblocked(ctx context.Context) error {
	c.mu.Lock()
	wait, status := c.blockedUntil.Sub(c.cfg.Clock.Now()), c.blockedBy
	c.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return &market.RateLimitError{Status: status, RetryAfter: wait}
	}
	return c.cfg.Sleep(ctx, wait)
}

// backoff is a full-jitter exponential delay; a rate limit waits in waitUnblocked instead.
func (c *Client) backoff(attempt int, lastErr error) time.Duration {
	var rl *market.RateLimitError
	if errors.As(lastErr, &rl) {
		return 0
	}
	ceiling := min(c.cfg.BackoffMax, c.cfg.BackoffBase<<(attempt-1))
	return time.Duration(rand.Int64N(int64(ceiling)) + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
