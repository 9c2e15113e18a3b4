package apiserver

import (
	"bytes"
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

// withMeta appends the document in form f with cached, cache_source and age_seconds added as its
// last fields.
func withMeta(dst []byte, l lookup, now time.Time, f form) ([]byte, error) {
	doc := bytes.TrimRight(l.doc, " \t\r\n")
	if len(doc) < 2 || doc[0] != '{' || doc[len(doc)-1] != '}' {
		return dst, &apiError{status: http.StatusBadGateway, reason: "CorruptCacheEntry",
			msg: "the cached analysis is not a JSON object; force a refresh to replace it"}
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
	return append(dst, '}'), nil
}

// age reads updated_at, the document's last field, from the end of its JSON; 0 when absent.
func age(doc []byte, now time.Time) float64 {
	i := bytes.LastIndex(doc, updatedAtField)
	if i < 0 {
		return 0
	}
	rest := doc[i+len(updatedAtField):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	if err != nil {
		return 0
	}
	return max(now.Sub(t).Seconds(), 0)
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
