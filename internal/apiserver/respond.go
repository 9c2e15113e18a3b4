package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

// The original service's envelope: code 1 and msg "success" with data, or code 0 and a message.
type envelope struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
	Data any    `json:"data"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOK(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, envelope{Code: 1, Msg: "success", Data: data})
}

// apiError is an error with the HTTP status it deserves.
type apiError struct {
	status int
	msg    string
	reason string
	// retryAfter is sent as Retry-After with 503s; zero means the default.
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, context.DeadlineExceeded):
		ae = &apiError{status: http.StatusGatewayTimeout, msg: "timed out: " + err.Error(), reason: market.ReasonTimeout}
	case errors.Is(err, context.Canceled):
		ae = &apiError{status: http.StatusServiceUnavailable, msg: "request cancelled: " + err.Error(), reason: market.ReasonCanceled}
	default:
		ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
	}
	data := map[string]string{}
	if ae.reason != "" {
		data["reason"] = ae.reason
	}
	if ae.status == http.StatusServiceUnavailable || ae.status == http.StatusTooManyRequests {
		retry := ae.retryAfter
		if retry <= 0 {
			retry = defaultRetryAfter
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(max(retry.Round(time.Second), time.Second)/time.Second)))
	}
	writeJSON(w, ae.status, envelope{Code: 0, Msg: ae.msg, Data: data})
}

// defaultRetryAfter is what a 503 tells clients to wait when the cause has no better estimate.
const defaultRetryAfter = 2 * time.Second
