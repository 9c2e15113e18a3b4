package board

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// event is one Server-Sent Event. Its id is a data watermark (an updated_at) that the browser has
// seen everything up to: a reconnecting browser sends it back as Last-Event-ID and is sent the rows
// written after it.
type event struct {
	name string
	id   string
	data []byte
}

// rowEvent is the data of a "row" event: the row's HTML, the same (escaped) bytes as the page's, or
// nothing when the symbol left the cache ("remove").
type rowEvent struct {
	Symbol string `json:"symbol"`
	HTML   string `json:"html,omitempty"`
}

// subscriber is one connected browser. Its buffer is bounded: a browser that falls that far behind
// is dropped (it reconnects and catches up from its Last-Event-ID), never buffered without limit.
type subscriber struct {
	events  chan event
	dropped chan struct{}
	symbol  string // only this symbol's rows; "" for all
}

// hub compares the cache with what it saw a poll ago and sends each change to every subscriber. It
// polls only while at least one browser listens, so an unwatched board costs nothing; every replica
// runs its own, and sees what the leader writes because it reads the shared cache.
type hub struct {
	b    *Board
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	stop context.CancelFunc // of the running poll loop; nil when none runs
}

func newHub(b *Board) *hub { return &hub{b: b, subs: map[*subscriber]struct{}{}} }

func (h *hub) subscribe(symbol string) *subscriber {
	s := &subscriber{events: make(chan event, h.b.cfg.ClientBuffer), dropped: make(chan struct{}), symbol: symbol}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	if h.stop == nil {
		// The baseline is read before the subscriber's catch-up, so that a write lands in one or the
		// other. A loop stopped a moment ago may still finish its poll; what it sends is repeated.
		ctx, cancel := context.WithCancel(context.Background())
		h.stop = cancel
		baseline, err := h.poll(ctx)
		if err != nil {
			h.b.cfg.Log.Info("the board stream could not read the cache", "error", err.Error())
		}
		go h.run(ctx, baseline)
	}
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	if len(h.subs) == 0 && h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// listening reports whether the poll loop runs (tests).
func (h *hub) listening() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stop != nil
}

// broadcast hands ev, about symbol ("" for every symbol), to every subscriber that wants it.
func (h *hub) broadcast(ev event, symbol string) {
	h.send(func(s *subscriber) (event, bool) { return ev, s.symbol == "" || symbol == "" || s.symbol == symbol })
}

// send hands each subscriber the event eventFor gives it, if any, dropping those whose buffer is full.
func (h *hub) send(eventFor func(*subscriber) (event, bool)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		ev, ok := eventFor(s)
		if !ok {
			continue
		}
		select {
		case s.events <- ev:
		default:
			delete(h.subs, s)
			close(s.dropped)
		}
	}
	if len(h.subs) == 0 && h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// state is what the loop saw at its last poll.
type state struct {
	snap      snapshot
	feed      []Signal
	signals   []string // the feed's ids, newest first
	watermark time.Time
}

func (h *hub) run(ctx context.Context, prev state) {
	ticker := h.b.cfg.Clock.NewTicker(h.b.cfg.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
		next, err := h.poll(ctx)
		if err != nil {
			if ctx.Err() == nil {
				h.b.cfg.Log.Info("the board stream could not read the cache", "error", err.Error())
			}
			continue
		}
		h.diff(prev, next)
		prev = next
	}
}

// poll reads the cache (decoding only what changed) and the signal feed once.
func (h *hub) poll(ctx context.Context) (state, error) {
	snap, err := h.b.read(ctx)
	if err != nil {
		return state{}, err
	}
	st := state{snap: snap, watermark: snap.watermark()}
	if h.b.cfg.Signals != nil {
		if st.feed, err = h.b.cfg.Signals(ctx, feedLength); err != nil {
			return state{}, fmt.Errorf("reading the signals: %w", err)
		}
		for _, s := range st.feed {
			st.signals = append(st.signals, s.ID)
		}
	}
	return st, nil
}

// feedLength is how many recent signals each poll reads: more than a poll interval produces.
const feedLength = 100

// diff broadcasts what changed from prev to next: the rows whose HTML changed, new ones, removed
// symbols, new signals (oldest first), and "columns" when the set of timeframes changed (the page
// reloads). A document rewritten with the same values (a refresh without a new candle) changes
// only its updated_at: those go together in one "updated" event, symbol to time, from which the
// page sets the rows' data age.
func (h *hub) diff(prev, next state) {
	// The id is the watermark before these changes: a browser dropped halfway through them is sent
	// all of them again when it reconnects (a row sent twice is harmless).
	id := prev.watermark.UTC().Format(time.RFC3339Nano)
	if prev.snap.raw != nil && !slices.Equal(prev.snap.columns, next.snap.columns) {
		h.broadcast(event{name: "columns", id: id, data: []byte("{}")}, "")
		return
	}
	updated := map[string]string{}
	for _, sym := range next.snap.symbols {
		// An unchanged row is the same slice: comparing it costs nothing.
		if old, ok := prev.snap.rows[sym]; !ok || !bytes.Equal(old, next.snap.rows[sym]) {
			if ev, err := rowEventOf(next.snap, sym, id); err == nil {
				h.broadcast(ev, sym)
			}
			continue
		}
		if t := next.snap.docs[sym].UpdatedAt; !t.Equal(prev.snap.docs[sym].UpdatedAt) {
			updated[sym] = updatedText(t)
		}
	}
	h.broadcastUpdated(updated, id)
	for sym := range prev.snap.raw {
		if _, ok := next.snap.raw[sym]; !ok {
			data, _ := json.Marshal(rowEvent{Symbol: sym})
			h.broadcast(event{name: "remove", id: id, data: data}, sym)
		}
	}
	for i := len(next.feed) - 1; i >= 0; i-- {
		if s := next.feed[i]; prev.snap.raw != nil && !slices.Contains(prev.signals, s.ID) {
			data, err := json.Marshal(s.Data)
			if err == nil {
				h.broadcast(event{name: "signal", id: id, data: data}, "")
			}
		}
	}
}

// broadcastUpdated sends the new times in one "updated" event; a browser that watches one symbol
// gets only that symbol's.
func (h *hub) broadcastUpdated(updated map[string]string, id string) {
	if len(updated) == 0 {
		return
	}
	all, _ := json.Marshal(updated)
	h.send(func(s *subscriber) (event, bool) {
		if s.symbol == "" {
			return event{name: "updated", id: id, data: all}, true
		}
		t, ok := updated[s.symbol]
		data, _ := json.Marshal(map[string]string{s.symbol: t})
		return event{name: "updated", id: id, data: data}, ok
	})
}

func rowEventOf(s snapshot, symbol, id string) (event, error) {
	data, err := json.Marshal(rowEvent{Symbol: symbol, HTML: string(s.row(symbol))})
	return event{name: "row", id: id, data: data}, err
}

// events is GET /board/events: the stream of changes. A browser resumes from its Last-Event-ID, or
// from ?since= (the page's watermark) on its first connection: it is first sent every row written
// after that, then the changes as they happen. ?symbol= limits the rows to one symbol.
func (b *Board) events(w http.ResponseWriter, r *http.Request) {
	since, err := time.Parse(time.RFC3339Nano, firstNonEmpty(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("since")))
	if err != nil {
		since = time.Time{} // no watermark: the whole table, as for a page rendered from an empty cache
	}
	symbol := r.URL.Query().Get("symbol")
	if symbol != "" && !symbolPattern.MatchString(symbol) {
		b.fail(w, http.StatusBadRequest, fmt.Sprintf("symbol %.40q must be 2 to 30 uppercase letters or digits", symbol))
		return
	}
	rc := http.NewResponseController(w)
	// The server's write timeout is for ordinary answers; a stream lasts as long as the browser stays.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")

	sub := b.hub.subscribe(symbol)
	defer b.hub.unsubscribe(sub)
	if err := b.catchUp(r.Context(), w, since, symbol); err != nil {
		if errors.Is(err, errCacheRead) {
			b.fail(w, http.StatusServiceUnavailable, err.Error())
		}
		return
	}
	if rc.Flush() != nil {
		return
	}
	// A comment line now and then lets proxies and browsers see a quiet stream is alive.
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-sub.dropped:
			return
		case <-keepalive.C:
			_, err = fmt.Fprint(w, ": keepalive\n\n")
		case ev := <-sub.events:
			err = writeEvent(w, ev)
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}

var errCacheRead = errors.New("the cache could not be read")

// catchUp sends the rows written after since (of symbol, when set), then "ready". It runs after
// subscribing, so that nothing written in between is missed (a row sent twice is harmless: the
// page replaces it).
func (b *Board) catchUp(ctx context.Context, w http.ResponseWriter, since time.Time, symbol string) error {
	snap, err := b.read(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", errCacheRead, err)
	}
	id := snap.watermark().UTC().Format(time.RFC3339Nano)
	if _, err := fmt.Fprintf(w, "retry: 1000\n\n"); err != nil {
		return err
	}
	for _, sym := range snap.symbols {
		if !snap.docs[sym].UpdatedAt.After(since) || (symbol != "" && sym != symbol) {
			continue
		}
		ev, err := rowEventOf(snap, sym, id)
		if err != nil {
			return err
		}
		if err := writeEvent(w, ev); err != nil {
			return err
		}
	}
	return writeEvent(w, event{name: "ready", id: id, data: []byte("{}")})
}

func writeEvent(w http.ResponseWriter, ev event) error {
	_, err := fmt.Fprintf(w, "event: %s\nid: %s\ndata: %s\n\n", ev.name, ev.id, ev.data)
	return err
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
