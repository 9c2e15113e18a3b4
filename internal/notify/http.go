package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPDoer is the part of *http.Client the providers use.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// SignatureHeader carries the webhook body's HMAC-SHA256 when the Secret has an hmacKey.
const SignatureHeader = "X-Hama-Signature"

// Sign returns the X-Hama-Signature value of body: "sha256=" and the hex HMAC-SHA256 under key.
func Sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (s *Sender) webhook(ctx context.Context, t Target, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return &Error{Err: err}
	}
	header := http.Header{}
	if len(t.HMACKey) > 0 {
		header.Set(SignatureHeader, Sign(t.HMACKey, body))
	}
	return s.post(ctx, t, body, header)
}

// post sends body as JSON and classifies the answer: 2xx is delivered; 408, 429 and 5xx may be
// accepted later (honouring Retry-After); any other status is the receiver's final refusal.
func (s *Sender) post(ctx context.Context, t Target, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.Address, bytes.NewReader(body))
	if err != nil {
		return &Error{Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hama-operator")
	if t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	doer := s.HTTP
	if doer == nil {
		doer = http.DefaultClient
	}
	resp, err := doer.Do(req)
	if err != nil {
		// No answer: a timeout, a refused connection, a reset. The receiver may be back later.
		return &Error{Retryable: true, Err: fmt.Errorf("%s receiver unreachable: %w", t.Type, redact(err, t.Address))}
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s receiver answered %s: %s", t.Type, resp.Status, strings.TrimSpace(string(answer)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return &Error{Retryable: true, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: err}
	default:
		return &Error{Err: err}
	}
}

// retryAfter reads a Retry-After header: seconds (Discord sends fractions) or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// redact removes the receiver's URL from an error: Slack and Discord URLs are credentials, and
// errors end up in logs, events and status.
func redact(err error, address string) error {
	if address == "" {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), address, "<address from the Secret>"))
}
