// Package board is the signal board: server-rendered HTML pages of the cached analyses (a table of
// every symbol, a chart page per symbol) and a Server-Sent Events stream that pushes the rows that
// changed. It only reads the cache; the charts and the feed read the REST API from the browser.
package board

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/cache"
	"github.com/hama-operator/hama-operator/internal/market"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Cache is what the board reads.
type Cache interface {
	Get(ctx context.Context, key string) (cache.Entry, error)
	Keys(ctx context.Context, prefix string) ([]string, error)
}

// Signal is one entry of the signal feed, sent to browsers as JSON.
type Signal struct {
	ID   string
	Data any
}

// Config wires a board.
type Config struct {
	Cache Cache
	// Keys names the analysis keys; empty means refresh.DefaultKeyPrefix.
	Keys refresh.KeyPrefix
	// Schedules maps each symbol to the "namespace/name" of the schedules that cover it; nil: the
	// board has no schedule column.
	Schedules func(ctx context.Context) (map[string][]string, error)
	// Signals lists up to limit recent signals, newest first; nil: the stream pushes none.
	Signals func(ctx context.Context, limit int) ([]Signal, error)
	// PollInterval is how often the stream compares the cache with what it last saw (default 1s).
	PollInterval time.Duration
	// ClientBuffer is how many events a slow browser may lag behind before it is dropped (default 1024,
	// a full refresh of 1000 symbols within one poll).
	ClientBuffer int
	Clock        clock.WithTicker
	Log          logr.Logger
}

// Board serves the pages, the static files and the event stream under /board/.
type Board struct {
	cfg   Config
	pages *template.Template
	mux   *http.ServeMux
	hub   *hub

	mu   sync.Mutex
	last snapshot // the latest read: the next decodes only what changed since
}

// New builds a board.
func New(cfg Config) *Board {
	cfg.Keys = cmp.Or(cfg.Keys, refresh.DefaultKeyPrefix)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, time.Second)
	cfg.ClientBuffer = cmp.Or(cfg.ClientBuffer, 1024)
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	b := &Board{cfg: cfg, mux: http.NewServeMux()}
	b.pages = template.Must(template.New("").ParseFS(templateFiles, "templates/*.html"))
	b.hub = newHub(b)
	static, _ := fs.Sub(staticFiles, "static")
	b.mux.HandleFunc("GET /board/{$}", b.index)
	b.mux.HandleFunc("GET /board/symbol/{symbol}", b.symbol)
	b.mux.HandleFunc("GET /board/events", b.events)
	b.mux.Handle("GET /board/static/", http.StripPrefix("/board/static/", http.FileServerFS(static)))
	b.mux.HandleFunc("/board/", func(w http.ResponseWriter, r *http.Request) {
		b.fail(w, http.StatusNotFound, "no board page at "+r.URL.Path)
	})
	return b
}

// ServeHTTP serves every path under /board/, with the security headers.
func (b *Board) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(r.URL.Path, "/board/static/") {
		h.Set("Cache-Control", "no-cache") // revalidate: the files change with the binary
	}
	b.mux.ServeHTTP(w, r)
}

// ContentSecurityPolicy allows scripts, styles and connections from the board's own origin only: no
// inline script or style, no frames.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// snapshot is the cache as the board shows it.
type snapshot struct {
	symbols   []string // sorted
	docs      map[string]analysis.Document
	raw       map[string][]byte // the cached values, to tell what changed
	schedules map[string][]string
	columns   []string
	// rows holds each symbol's row as HTML, without its data age: rendered when the document, its
	// schedules or the columns changed, else the previous snapshot's.
	rows map[string][]byte
}

// read loads every cached analysis. A value equal to the previous read's is not decoded or rendered
// again: the stream reads the whole cache every second, and a page of 1000 symbols need not decode
// 1000 documents. A key that vanished or does not decode is left out. Snapshots are never modified
// once made, so readers share them.
func (b *Board) read(ctx context.Context) (snapshot, error) {
	b.mu.Lock()
	prev := b.last
	b.mu.Unlock()
	s, err := b.readSince(ctx, prev)
	if err == nil {
		b.mu.Lock()
		b.last = s
		b.mu.Unlock()
	}
	return s, err
}

func (b *Board) readSince(ctx context.Context, prev snapshot) (snapshot, error) {
	keys, err := b.cfg.Cache.Keys(ctx, string(b.cfg.Keys))
	if err != nil {
		return snapshot{}, err
	}
	s := snapshot{docs: make(map[string]analysis.Document, len(keys)), raw: make(map[string][]byte, len(keys)),
		rows: make(map[string][]byte, len(keys))}
	docs := make([]analysis.Document, 0, len(keys))
	for _, k := range keys {
		e, err := b.cfg.Cache.Get(ctx, k)
		if errors.Is(err, cache.ErrNotFound) {
			continue
		}
		if err != nil {
			return snapshot{}, err
		}
		symbol := b.cfg.Keys.Symbol(k)
		doc, seen := prev.docs[symbol]
		raw := prev.raw[symbol] // kept when unchanged, so that the row check below compares a slice with itself
		if !seen || !bytes.Equal(raw, e.Value) {
			if doc, err = analysis.Decode(e.Value); err != nil {
				b.cfg.Log.V(1).Info("skipping an undecodable cached analysis", "key", k, "error", err.Error())
				continue
			}
			doc.Symbol, raw = symbol, e.Value
		}
		s.symbols = append(s.symbols, symbol)
		s.docs[symbol], s.raw[symbol] = doc, raw
		docs = append(docs, doc)
	}
	slices.Sort(s.symbols)
	s.columns = columnsOf(docs)
	if b.cfg.Schedules != nil {
		if s.schedules, err = b.cfg.Schedules(ctx); err != nil {
			// The table is still worth showing; the schedule column stays empty.
			b.cfg.Log.Info("could not list the schedules for the board", "error", err.Error())
		}
	}
	sameColumns := slices.Equal(prev.columns, s.columns)
	for _, sym := range s.symbols {
		if html, ok := prev.rows[sym]; ok && sameColumns && bytes.Equal(prev.raw[sym], s.raw[sym]) &&
			slices.Equal(prev.schedules[sym], s.schedules[sym]) {
			s.rows[sym] = html
			continue
		}
		html, err := b.rowHTML(rowOf(s.docs[sym], s.columns, s.schedules[sym]))
		if err != nil {
			return snapshot{}, fmt.Errorf("rendering the row of %s: %w", sym, err)
		}
		s.rows[sym] = html
	}
	return s, nil
}

// watermark is the newest updated_at, from the writers' clocks, which the event stream resumes from.
func (s snapshot) watermark() time.Time {
	var w time.Time
	for _, d := range s.docs {
		if d.UpdatedAt.After(w) {
			w = d.UpdatedAt
		}
	}
	return w
}

// row is one symbol's whole row: its cached HTML and the data age.
func (s snapshot) row(symbol string) []byte {
	return ageCell(slices.Clip(s.rows[symbol]), s.docs[symbol].UpdatedAt)
}

// ageCell appends a row's last cell, the age of its data, and closes the row. The time is written
// for the page to compute and tick the age; it is formatted here, so it needs no escaping.
func ageCell(row []byte, updated time.Time) []byte {
	return fmt.Appendf(row, `<td class="age" data-sort-value="%d"><time datetime="%s"></time></td></tr>`,
		updated.Unix(), updatedText(updated))
}

// updatedText is an updated_at as the page reads it: RFC 3339 in UTC with milliseconds.
func updatedText(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

type indexPage struct {
	Columns []string
	// Rows are rendered by html/template (snapshot.rows), every cached value escaped.
	Rows      []template.HTML
	Schedules []string
	Watermark string
}

func (b *Board) index(w http.ResponseWriter, r *http.Request) {
	s, err := b.read(r.Context())
	if err != nil {
		b.fail(w, http.StatusServiceUnavailable, "the cache could not be read: "+err.Error())
		return
	}
	page := indexPage{Columns: s.columns, Watermark: s.watermark().UTC().Format(time.RFC3339Nano),
		Rows: make([]template.HTML, 0, len(s.symbols))}
	for _, sym := range s.symbols {
		page.Rows = append(page.Rows, template.HTML(s.row(sym))) //nolint:gosec // rendered by html/template
	}
	for _, names := range s.schedules {
		page.Schedules = append(page.Schedules, names...)
	}
	slices.Sort(page.Schedules)
	page.Schedules = slices.Compact(page.Schedules)
	b.render(w, r, "index.html", page)
}

type symbolPage struct {
	Symbol     string
	Timeframe  string
	Timeframes []string
	Columns    []string
	Row        template.HTML
	// TradingView is the symbol as TradingView names it: BINANCE:BTCUSDT, BINANCE:BTCUSDT.P for
	// the perpetual future, the bare symbol for simulated data.
	TradingView string
}

func tradingViewSymbol(symbol string, row Row) string {
	for _, c := range row.Cells {
		switch c.Source {
		case market.Binance:
			return "BINANCE:" + symbol
		case market.BinanceFutures:
			return "BINANCE:" + symbol + ".P"
		}
	}
	return symbol
}

// symbolPattern is the CRD's symbol pattern.
var symbolPattern = regexp.MustCompile(`^[A-Z0-9]{2,30}$`)

func (b *Board) symbol(w http.ResponseWriter, r *http.Request) {
	symbol := r.PathValue("symbol")
	if !symbolPattern.MatchString(symbol) {
		b.fail(w, http.StatusBadRequest, fmt.Sprintf("symbol %.40q must be 2 to 30 uppercase letters or digits, like BTCUSDT", symbol))
		return
	}
	e, err := b.cfg.Cache.Get(r.Context(), b.cfg.Keys.Key(symbol))
	switch {
	case errors.Is(err, cache.ErrNotFound):
		b.fail(w, http.StatusNotFound, symbol+" is not cached")
		return
	case err != nil:
		b.fail(w, http.StatusServiceUnavailable, "the cache could not be read: "+err.Error())
		return
	}
	doc, err := analysis.Decode(e.Value)
	if err != nil {
		b.fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	doc.Symbol = symbol
	columns := columnsOf([]analysis.Document{doc})
	tf := r.URL.Query().Get("timeframe")
	if tf == "" && len(columns) > 0 {
		tf = columns[0]
	}
	if !slices.Contains(columns, tf) {
		b.fail(w, http.StatusNotFound, fmt.Sprintf("%s has no cached %.10q analysis; cached timeframes: %s",
			symbol, tf, strings.Join(columns, ", ")))
		return
	}
	var schedules []string
	if b.cfg.Schedules != nil {
		if m, err := b.cfg.Schedules(r.Context()); err == nil {
			schedules = m[symbol]
		}
	}
	row := rowOf(doc, columns, schedules)
	html, err := b.rowHTML(row)
	if err != nil {
		b.fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	b.render(w, r, "symbol.html", symbolPage{Symbol: symbol, Timeframe: tf, Timeframes: columns, Columns: columns,
		Row:         template.HTML(ageCell(html, doc.UpdatedAt)), //nolint:gosec // rendered by html/template
		TradingView: tradingViewSymbol(symbol, row)})
}

// rowHTML is a board row as html/template renders it, for the table, the stream and the symbol page.
func (b *Board) rowHTML(row Row) ([]byte, error) {
	var buf bytes.Buffer
	err := b.pages.ExecuteTemplate(&buf, "row", row)
	return buf.Bytes(), err
}

// render executes a page into a buffer first, so that a template error is a clean 500, and
// compresses it for browsers that accept gzip (the board of 1000 symbols is 1.2 MiB of HTML).
func (b *Board) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var buf bytes.Buffer
	if err := b.pages.ExecuteTemplate(&buf, name, data); err != nil {
		b.cfg.Log.Error(err, "rendering a board page", "page", name)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r) {
		_, _ = buf.WriteTo(w)
		return
	}
	h.Set("Content-Encoding", "gzip")
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // the page is built per request: speed over size
	_, _ = buf.WriteTo(zw)
	_ = zw.Close()
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// fail answers with a small HTML page that carries the (escaped) message.
func (b *Board) fail(w http.ResponseWriter, status int, msg string) {
	var buf bytes.Buffer
	_ = b.pages.ExecuteTemplate(&buf, "error.html", map[string]any{"Status": status, "Text": http.StatusText(status), "Message": msg})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
