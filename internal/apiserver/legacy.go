package apiserver

import (
	"bytes"
	"time"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/legacy"
)

// The writer stores the original service's fields (hama_analysis, conditions, cached_at, is_cached,
// timestamp) in each document, after timeframes and before updated_at (analysis.Encode). The legacy
// routes answer them as stored; /api/v1 cuts them out. Neither decodes the document.

// form is which fields of the stored document an answer carries.
type form int

const (
	// legacyForm: the document as stored, the original's fields included.
	legacyForm form = iota
	// legacyNowForm: the same with timestamp the time of the answer, as the original's
	// analyze-symbol answered it.
	legacyNowForm
	// cleanForm: the versioned document, without the original's fields.
	cleanForm
)

var (
	viewStart      = []byte(`,"hama_analysis":`)
	viewEnd        = []byte(`,"updated_at":"`)
	timestampField = []byte(`,"timestamp":"`)
)

// appendBody appends body (a stored document without its closing brace) in form f.
func appendBody(dst, body []byte, f form, now time.Time) ([]byte, error) {
	if f == cleanForm {
		start, end := bytes.Index(body, viewStart), bytes.LastIndex(body, viewEnd)
		if start < 0 || end < start {
			return append(dst, body...), nil
		}
		return append(append(dst, body[:start]...), body[end:]...), nil
	}
	// The view's timestamp is the last field before updated_at: the last match from the end.
	if bytes.LastIndex(body, timestampField) < 0 {
		upgraded, err := withView(body)
		if err != nil {
			return dst, err
		}
		body = upgraded
	}
	start := len(dst)
	dst = append(dst, body...)
	if f == legacyNowForm {
		stamp(dst[start:], now)
	}
	return dst, nil
}

// withView derives the original's fields of a document written before they were stored: a reader
// computes them only until the writer has replaced that document.
func withView(body []byte) ([]byte, error) {
	doc, err := analysis.Decode(append(body[:len(body):len(body)], '}'))
	if err != nil {
		return nil, corruptEntry("cannot be read (" + err.Error() + ")")
	}
	b, err := analysis.Encode(doc)
	if err != nil {
		return nil, err
	}
	return b[:len(b)-1], nil
}

// stamp overwrites the top-level timestamp of body with now; its fixed width lets it do so in place.
func stamp(body []byte, now time.Time) {
	i := bytes.LastIndex(body, timestampField)
	if i < 0 {
		return
	}
	var buf [len(legacy.TimestampLayout)]byte
	ts := now.UTC().AppendFormat(buf[:0], legacy.TimestampLayout)
	at := i + len(timestampField)
	if end := at + len(ts); end < len(body) && body[end] == '"' {
		copy(body[at:end], ts)
	}
}
