package apiserver

import (
	"net/http"
	"time"

	"github.com/rs/cors"
)

// withCORS lets browser pages on origins call the API: rs/cors answers preflights (OPTIONS with
// Access-Control-Request-Method) itself and adds the Access-Control-* and Vary headers to the
// answers. No origins: h as it is, and browsers keep refusing cross-origin calls.
func withCORS(h http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return h
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins, // "*" allows any
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		// Authorization carries the bearer token of mutating calls; it is a header, not a cookie, so
		// credentials mode is not needed.
		AllowedHeaders: []string{"Content-Type", "Authorization"},
		ExposedHeaders: []string{"Retry-After"},
		MaxAge:         int((10 * time.Minute).Seconds()),
	}).Handler(h)
}
