package market

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// APIError is an error body from the exchange, such as {"code":-1121,"msg":"Invalid symbol."}.
// It describes the request, so it is never retried.
type APIError struct {
	Status int
	Code   int
	Msg    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("exchange refused the request (HTTP %d, code %d): %s", e.Status, e.Code, e.Msg)
}

// Binance error codes this operator tells apart.
const codeInvalidSymbol = -1121

// RateLimitError is HTTP 429 (slow down) or 418 (the IP is banned until RetryAfter).
type RateLimitError struct {
	Status     int
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	if e.Status == 418 {
		return fmt.Sprintf("exchange banned this IP for %s (HTTP 418)", e.RetryAfter)
	}
	return fmt.Sprintf("exchange rate limit hit (HTTP 429), retry after %s", e.RetryAfter)
}

// UpstreamError is a 5xx answer that retries did not get past.
type UpstreamError struct{ Status int }

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("exchange unavailable (HTTP %d)", e.Status)
}

// BadResponseError is an answer that is not what the endpoint documents (klines, tickers).
type BadResponseError struct{ Detail string }

func (e *BadResponseError) Error() string { return "bad exchange response: " + e.Detail }

// Reasons, as Reason returns them.
const (
	ReasonInvalidSymbol       = "InvalidSymbol"
	ReasonInvalidRequest      = "InvalidRequest"
	ReasonIPBanned            = "IPBanned"
	ReasonRateLimited         = "RateLimited"
	ReasonUpstreamUnavailable = "UpstreamUnavailable"
	ReasonBadResponse         = "BadResponse"
	ReasonTimeout             = "Timeout"
	ReasonCanceled            = "Canceled"
	ReasonUnknown             = "Unknown"
)

// Reason maps an error to a short CamelCase cause for status conditions and API errors.
func Reason(err error) string {
	var (
		apiErr   *APIError
		rate     *RateLimitError
		upstream *UpstreamError
		bad      *BadResponseError
		netErr   net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &apiErr) && apiErr.Code == codeInvalidSymbol:
		return ReasonInvalidSymbol
	case errors.As(err, &apiErr):
		return ReasonInvalidRequest
	case errors.As(err, &rate) && rate.Status == 418:
		return ReasonIPBanned
	case errors.As(err, &rate):
		return ReasonRateLimited
	case errors.As(err, &upstream):
		return ReasonUpstreamUnavailable
	case errors.As(err, &bad):
		return ReasonBadResponse
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case errors.As(err, &netErr):
		return ReasonUpstreamUnavailable
	default:
		return ReasonUnknown
	}
}

// Retryable reports whether trying the same request again may succeed.
func Retryable(err error) bool {
	switch Reason(err) {
	case ReasonUpstreamUnavailable, ReasonTimeout, ReasonRateLimited:
		return true
	}
	return false
}
