package refresh

import (
	"bytes"
	"sync"

	"github.com/hama-operator/hama-operator/internal/analysis"
)

// writtenDocuments remembers, per symbol, the cached document this process wrote last, decoded. A
// merge that finds exactly those bytes in the cache takes the decoded copy instead of decoding
// them again: decoding the whole document was most of a stream close's cost. Any other bytes (a
// write of another replica, a recovered Redis) are decoded as before.
type writtenDocuments struct {
	mu   sync.Mutex
	docs map[string]writtenDocument
}

var memoInit sync.Mutex

// memo is the pipeline's writtenDocuments, created on first use.
func (p *Pipeline) memo() *writtenDocuments {
	memoInit.Lock()
	defer memoInit.Unlock()
	if p.written == nil {
		p.written = &writtenDocuments{docs: map[string]writtenDocument{}}
	}
	return p.written
}

type writtenDocument struct {
	raw []byte
	doc analysis.Document
}

// lookup returns the decoded document when current is what this process wrote last for symbol.
// The document is shared: Merge and Detect only read it.
func (w *writtenDocuments) lookup(symbol string, current []byte) (analysis.Document, bool) {
	if current == nil {
		return analysis.Document{}, false
	}
	w.mu.Lock()
	last, ok := w.docs[symbol]
	w.mu.Unlock()
	if !ok || !bytes.Equal(last.raw, current) {
		return analysis.Document{}, false
	}
	return last.doc, true
}

func (w *writtenDocuments) remember(symbol string, raw []byte, doc analysis.Document) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.docs[symbol] = writtenDocument{raw: raw, doc: doc}
}

func (w *writtenDocuments) forget(symbols []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range symbols {
		delete(w.docs, s)
	}
}
