package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The hit path never decodes the cached document: the envelope and the metadata (cached,
// cache_source, age_seconds) are spliced around the cached bytes, in a pooled buffer; legacy.go
// chooses which of the stored fields an answer carries.

var (
	envelopeHead   = []byte(`{"code":1,"msg":"success","data":`)
	updatedAtField = []byte(`"updated_at":"`)
	bufPool        = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}
)

// corruptEntry answers a read of a cached analysis that cannot be served as it is: the next write
// of the symbol replaces it.
func corruptEntry(what string) error {
	return &apiError{status: http.StatusBadGateway, reason: "CorruptCacheEntry",
		msg: "the cached analysis " + what + "; force a refresh to replace it"}
}

// withMeta appends the document in form f with cached, cache_source and age_seconds added as its
// last fields, and requested_symbol when the symbol answered is not the one sent.
func withMeta(dst []byte, l lookup, now time.Time, f form) ([]byte, error) {
	doc := bytes.TrimRight(l.doc, " \t\r\n")
	if len(doc) < 2 || doc[0] != '{' || doc[len(doc)-1] != '}' {
		return dst, corruptEntry("is not a JSON object")
	}
	if len(doc) == 2 {
		dst = append(dst, '{')
	} else {
		var err error
		if dst, err = appendBody(dst, doc[:len(doc)-1], f, now); err != nil {
			return dst, err
		}
		dst = append(dst, ',')
	}
	dst = append(dst, `"cached":`...)
	dst = strconv.AppendBool(dst, l.cached)
	dst = append(dst, `,"cache_source":"`...)
	dst = append(dst, l.source...)
	dst = append(dst, `","age_seconds":`...)
	dst = strconv.AppendFloat(dst, age(doc, now), 'f', 1, 64)
	if l.requested != "" {
		dst = append(dst, `,"requested_symbol":`...)
		dst = appendJSONString(dst, l.requested)
	}
	return append(dst, '}'), nil
}

// age is now − updated_at in seconds; 0 when the document has none.
func age(doc []byte, now time.Time) float64 {
	t, ok := updatedAt(doc)
	if !ok {
		return 0
	}
	return max(now.Sub(t).Seconds(), 0)
}

// updatedAt reads updated_at, the document's last field, from the end of its JSON.
func updatedAt(doc []byte) (time.Time, bool) {
	i := bytes.LastIndex(doc, updatedAtField)
	if i < 0 {
		return time.Time{}, false
	}
	rest := doc[i+len(updatedAtField):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	return t, err == nil
}

// writeAnalysis writes {"code":1,"msg":"success","data":<document in form f + metadata>}.
func writeAnalysis(w http.ResponseWriter, l lookup, now time.Time, f form) {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 1<<20 { // do not keep a rare huge document's buffer alive
			bufPool.Put(bp)
		}
	}()
	buf := append((*bp)[:0], envelopeHead...)
	buf, err := withMeta(buf, l, now, f)
	if err != nil {
		writeError(w, err)
		return
	}
	buf = append(buf, '}', '\n')
	*bp = buf
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = []string{strconv.Itoa(len(buf))}
	_, _ = w.Write(buf)
}

var contentTypeJSON = []string{"application/json"}

// appendJSONString appends s as a JSON string (the rare path: a symbol that was normalised).
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
