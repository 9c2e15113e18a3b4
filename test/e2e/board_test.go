package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// boardCell is what the page shows of one timeframe, read from the cell's data attributes.
type boardCell struct {
	Timeframe string `json:"timeframe"`
	Color     string `json:"color"`
	Summary   string `json:"summary"`
	Trend     string `json:"trend"`
	Candle    string `json:"candle"`
	BarsSince int    `json:"barsSince"`
}

type boardRow struct {
	Symbol string      `json:"symbol"`
	Hidden bool        `json:"hidden"`
	Cells  []boardCell `json:"cells"`
}

// readRows is every row of the board, in page order.
const readRows = `Array.from(document.querySelectorAll('#board tbody tr')).map(tr => ({
	symbol: tr.dataset.symbol, hidden: tr.hidden,
	cells: Array.from(tr.querySelectorAll('td.cell:not(.missing)')).map(td => ({
		timeframe: td.dataset.timeframe, color: td.dataset.color, summary: td.dataset.summary,
		trend: td.dataset.trend, candle: td.dataset.candle, barsSince: Number(td.dataset.barsSince)}))}))`

// apiResult is the part of GET /api/v1/analysis/{symbol}?timeframe= the board shows.
type apiResult struct {
	CandleCloseTime time.Time `json:"candle_close_time"`
	HAMA            struct {
		Color string `json:"color"`
	} `json:"hama"`
	MA struct {
		Trend string `json:"trend"`
	} `json:"ma"`
	Cross struct {
		BarsSince *int `json:"bars_since"`
	} `json:"cross"`
	Signal struct {
		Summary string `json:"summary"`
	} `json:"signal"`
}

func apiAnalysis(t *testing.T, api, symbol, tf string) apiResult {
	t.Helper()
	b, err := httpGet(fmt.Sprintf("http://%s/api/v1/analysis/%s?timeframe=%s", api, symbol, tf))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Data apiResult `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	return env.Data
}

// TestBoardInABrowser drives headless chromium against the whole system: the leader refreshing
// schedules from the local exchange and the simulator into redis-server, a follower's API port
// serving the board.
func TestBoardInABrowser(t *testing.T) {
	ctx := context.Background()
	s, _, _ := startSystemWithRedis(t)
	op := s.startOperator("operator-1")
	bases := []string{"BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "DOT", "LINK", "AVAX", "TRX", "ATOM"}
	symbols := make([]string, 0, len(bases))
	for _, base := range bases {
		symbols = append(symbols, base+"USDT")
	}
	// majors and watch read the local exchange, whose clock the test moves; alts the simulator,
	// whose symbols differ from each other.
	exchangeSymbols := symbols[:8]
	for _, obj := range []*analysisv1alpha1.AnalysisSchedule{
		schedule("majors", exchangeSymbols, analysisv1alpha1.ExchangeBinance, s.exchange.URL),
		schedule("watch", symbols[6:8], analysisv1alpha1.ExchangeBinance, s.exchange.URL),
		schedule("alts", symbols[8:], analysisv1alpha1.ExchangeSimulated, ""),
	} {
		if err := s.kube.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"majors", "watch", "alts"} {
		s.eventually(name+" is Ready", 60*time.Second, func() error {
			if ok, reason := readyReason(s.get(name)); !ok {
				return fmt.Errorf("ready=%v reason=%s", ok, reason)
			}
			return nil
		})
	}

	// The browser reads a follower: operator-1 holds the lease and writes, operator-2 only serves.
	follower := s.startOperator("operator-2")
	b := newBrowser(t)
	board := "http://" + follower.api + "/board/"
	b.run("opening the board", chromedp.Navigate("http://"+follower.api+"/"), chromedp.WaitVisible(chromedp.CSS("#board")))
	location := eval[string](b, "location.href")
	if location != board {
		t.Fatalf("/ led to %s, want %s", location, board)
	}
	b.waitFor("the stream is live", `document.getElementById('live').dataset.state === 'live'`, 10*time.Second)

	var rows []boardRow
	t.Run("every cached symbol has its row and the API's values", func(t *testing.T) {
		rows = eval[[]boardRow](b, readRows)
		got := make([]string, 0, len(rows))
		for _, r := range rows {
			got = append(got, r.Symbol)
			if len(r.Cells) != 2 {
				t.Errorf("%s shows %d timeframes, want 2", r.Symbol, len(r.Cells))
			}
			for _, c := range r.Cells {
				want := apiAnalysis(t, op.api, r.Symbol, c.Timeframe)
				bars := -1
				if want.Cross.BarsSince != nil {
					bars = *want.Cross.BarsSince
				}
				if c.Color != want.HAMA.Color || c.Summary != want.Signal.Summary || c.Trend != want.MA.Trend || bars != c.BarsSince ||
					c.Candle != want.CandleCloseTime.UTC().Format(time.RFC3339) {
					t.Errorf("%s %s: page %+v, API %+v", r.Symbol, c.Timeframe, c, want)
				}
			}
		}
		want := slices.Sorted(slices.Values(symbols))
		if !slices.Equal(got, want) {
			t.Fatalf("rows %v, want the cached symbols %v", got, want)
		}
		// The server sends times; the page shows every age (data age, last cross) computed from them.
		if blank := eval[int](b, `document.querySelectorAll('#board time[datetime]:empty').length`); blank != 0 {
			t.Errorf("%d times on the board show no age", blank)
		}
		schedules := eval[string](b, `document.querySelector('tr[data-symbol="LTCUSDT"]').dataset.schedules`)
		if schedules != "default/majors default/watch" {
			t.Errorf("LTCUSDT's schedules %q", schedules)
		}
	})

	visible := func() []string {
		var out []string
		for _, r := range eval[[]boardRow](b, readRows) {
			if !r.Hidden {
				out = append(out, r.Symbol)
			}
		}
		return out
	}
	setField := func(id, value string) {
		eval[bool](b, fmt.Sprintf(`(() => { const el = document.getElementById(%q); el.value = %q;
			el.dispatchEvent(new Event('input', {bubbles: true})); return true })()`, id, value))
	}
	t.Run("filters", func(t *testing.T) {
		b.run("typing a filter", chromedp.SendKeys(chromedp.CSS("#filter-text"), "do"))
		if got := visible(); !slices.Equal(got, []string{"DOGEUSDT", "DOTUSDT"}) {
			t.Errorf("text 'do' shows %v", got)
		}
		// The rows are flex boxes: a hidden one must still take no room.
		if shown := eval[int](b, `Array.from(document.querySelectorAll('#board tbody tr[hidden]')).filter(tr => getComputedStyle(tr).display !== 'none').length`); shown != 0 {
			t.Errorf("%d rows hidden by the filter are displayed", shown)
		}
		setField("filter-text", "")
		setField("filter-schedule", "default/alts")
		if got := visible(); !slices.Equal(got, slices.Sorted(slices.Values(symbols[8:]))) {
			t.Errorf("schedule alts shows %v", got)
		}
		setField("filter-schedule", "default/watch")
		if got := visible(); !slices.Equal(got, []string{"DOTUSDT", "LTCUSDT"}) {
			t.Errorf("schedule watch shows %v", got)
		}
		setField("filter-schedule", "")
		for _, summary := range []string{"bullish", "bearish", "neutral"} {
			setField("filter-summary", summary)
			setField("filter-timeframe", "1h")
			var want []string
			for _, r := range rows {
				if r.Cells[1].Summary == summary {
					want = append(want, r.Symbol)
				}
			}
			if got := visible(); !slices.Equal(got, want) {
				t.Errorf("summary %s on 1h shows %v, want %v", summary, got, want)
			}
		}
		setField("filter-summary", "")
		setField("filter-timeframe", "")
		setField("filter-crossed", "3")
		var want []string
		for _, r := range rows {
			if slices.ContainsFunc(r.Cells, func(c boardCell) bool { return c.BarsSince >= 0 && c.BarsSince <= 3 }) {
				want = append(want, r.Symbol)
			}
		}
		if got := visible(); !slices.Equal(got, want) {
			t.Errorf("crossed in the last 3 bars shows %v, want %v", got, want)
		}
		setField("filter-crossed", "")
		if got := visible(); len(got) != len(symbols) {
			t.Errorf("without filters %d rows show", len(got))
		}
	})

	t.Run("sorting", func(t *testing.T) {
		b.run("sorting by symbol, twice", chromedp.Click(chromedp.CSS(`#board thead th:nth-child(1)`)), chromedp.Click(chromedp.CSS(`#board thead th:nth-child(1)`)))
		got := visible()
		want := slices.Sorted(slices.Values(symbols))
		slices.Reverse(want)
		if !slices.Equal(got, want) {
			t.Errorf("symbol descending: %v", got)
		}
		b.run("sorting by 15m", chromedp.Click(chromedp.CSS(`#board thead th[data-timeframe="15m"]`)))
		scores := eval[[]float64](b, `Array.from(document.querySelectorAll('#board tbody tr td[data-timeframe="15m"]')).map(td => Number(td.dataset.sortValue))`)
		if !slices.IsSorted(scores) || len(scores) != len(symbols) {
			t.Errorf("15m ascending: %v", scores)
		}
		sort := eval[string](b, `document.querySelector('#board thead th[data-timeframe="15m"]').getAttribute('aria-sort')`)
		if sort != "ascending" {
			t.Errorf("aria-sort %q", sort)
		}
	})
	b.run("sorting by symbol", chromedp.Click(chromedp.CSS(`#board thead th:nth-child(1)`)))

	t.Run("a refresh with new candles shows without reload", func(t *testing.T) {
		eval[bool](b, `window.notReloaded = true`)
		before := rows[0].Cells[0].Candle
		// 13 hours of new candles: more than the local exchange's 50-bar price cycle on 15m, so
		// the refresh finds crosses and colour flips, which the feed must show.
		s.exchange.moveAhead(13 * time.Hour)
		// The next run (every 10 s) brings the new candles; the stream pushes the changed rows.
		exchangeRows := make([]string, 0, len(exchangeSymbols))
		for _, sym := range exchangeSymbols {
			exchangeRows = append(exchangeRows, `'tr[data-symbol="`+sym+`"] td[data-timeframe="15m"]'`)
		}
		b.waitFor("the exchange's symbols show the new candles", `[`+strings.Join(exchangeRows, ",")+
			`].every(sel => document.querySelector(sel).dataset.candle !== `+jsString(before)+`)`, 30*time.Second)
		if !eval[bool](b, `window.notReloaded === true`) {
			t.Fatal("the page reloaded")
		}
		for _, r := range eval[[]boardRow](b, readRows) {
			for _, c := range r.Cells {
				if want := apiAnalysis(t, op.api, r.Symbol, c.Timeframe); c.Candle != want.CandleCloseTime.UTC().Format(time.RFC3339) {
					t.Errorf("%s %s shows candle %s, the API %s", r.Symbol, c.Timeframe, c.Candle, want.CandleCloseTime)
				}
			}
		}
		// How long after the write the page had each row (logged for docs/board.md, not asserted).
		lags := eval[[]float64](b, `Array.from(document.querySelectorAll('#board tbody tr[data-received]')).map(tr =>
			Number(tr.dataset.received) - Date.parse(tr.querySelector('td.age time').getAttribute('datetime')))`)
		t.Logf("write-to-page delays of %d pushed rows (ms): %v", len(lags), lags)

		// The feed shows the history's newest signals, the new ones pushed by the stream.
		body, err := httpGet("http://" + op.api + "/api/v1/signals?limit=50")
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data struct {
				Signals []struct {
					ID string `json:"id"`
				} `json:"signals"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil || len(env.Data.Signals) == 0 {
			t.Fatalf("the history has no signals after new candles (%v): %s", err, body)
		}
		ids := make([]string, 0, len(env.Data.Signals))
		for _, sig := range env.Data.Signals {
			ids = append(ids, sig.ID)
		}
		idsJSON, _ := json.Marshal(ids)
		b.waitFor("the feed shows the history's signals", `(ids => ids.every(id => document.querySelector('#signals li[data-id="' + CSS.escape(id) + '"]')))(`+
			string(idsJSON)+`)`, 10*time.Second)
	})
	b.waitFor("the rows' change highlight fades", `!document.querySelector('#board tr.changed')`, 10*time.Second)
	b.screenshot("board")

	t.Run("the symbol page draws the chart", func(t *testing.T) {
		b.run("opening BTCUSDT", chromedp.Click(chromedp.CSS(`tr[data-symbol="BTCUSDT"] th a`)), chromedp.WaitVisible(chromedp.CSS("#chart")))
		b.waitFor("the chart is drawn", `document.getElementById('chart-status').dataset.state === 'drawn'`, 15*time.Second)
		counts := eval[map[string]int](b, `Object.fromEntries(Object.entries(window.hamaChart.series).map(([k, s]) => [k, s.data().filter(d => d.value !== undefined || d.close !== undefined).length]))`)
		for _, name := range []string{"candles", "hama", "ma", "bbUpper", "bbBasis", "bbLower"} {
			if counts[name] == 0 {
				t.Errorf("series %s has no values: %v", name, counts)
			}
		}
		if counts["candles"] != 200 {
			t.Errorf("%d candles, want 200", counts["candles"])
		}
		// The canvas is not blank: count the distinct colours of the chart's pixels.
		colours := eval[int](b, `(() => { const seen = new Set();
			for (const c of document.querySelectorAll('#chart canvas')) {
				if (!c.width || !c.height) continue;
				const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
				for (let i = 0; i < d.length; i += 4 * 7) if (d[i+3]) seen.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
			}
			return seen.size })()`)
		if colours < 10 {
			t.Errorf("the chart's canvases hold %d colours: blank", colours)
		}
		href := eval[string](b, `document.getElementById('tradingview').href`)
		if href != "https://www.tradingview.com/chart/?symbol=BINANCE%3aBTCUSDT" {
			t.Errorf("TradingView link %s", href)
		}
		b.waitFor("the row's change highlight fades", `!document.querySelector('#board tr.changed')`, 10*time.Second)
		b.screenshot("symbol")
	})

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
