package board

import (
	"slices"
	"strings"
	"time"

	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/hama"
	"github.com/hama-operator/hama-operator/internal/market"
)

// The summaries of a timeframe (hama.Signal.Summary).
const (
	bullish = "bullish"
	bearish = "bearish"
	neutral = "neutral"
)

// Row is one cached symbol as the board shows it: what the "row" template renders, once per change of
// the cached document (snapshot.rows keeps the HTML).
type Row struct {
	Symbol string
	// Schedules are the "namespace/name" of the schedules that cover the symbol, space-separated.
	Schedules string
	// Cells follow the board's columns; a timeframe the symbol lacks is a cell with Missing set.
	Cells     []Cell
	Agreement Agreement
}

// Cell is one timeframe of a symbol.
type Cell struct {
	Timeframe string
	Missing   bool
	Source    string
	// Color is the HAMA colour, Summary the signal summary, Trend and Strength the MA's.
	Color, Summary, Trend string
	Strength              int
	// Cross is the last cross's direction (up, down, none); CrossAt its time (RFC3339), empty
	// without one (the page shows its age); BarsSince -1 without one.
	Cross, CrossAt  string
	BarsSince       int
	MaintainBullish bool
	MaintainBearish bool
	Zone            string
	Squeeze         bool
	// Candle is the analysed candle's close time (RFC3339).
	Candle string
	// Score orders cells for sorting: bearish strength 5 lowest, neutral 0, bullish strength 5 highest.
	Score int
}

// Agreement sums the timeframes up: Summary is the one every timeframe shares ("mixed" otherwise).
type Agreement struct {
	Summary string
	// Count is how many timeframes have the row's most common non-neutral summary, of Total.
	Count, Total int
	// Score orders rows: all bearish lowest, all bullish highest.
	Score int
}

func cellOf(tf string, r hama.Result) Cell {
	c := Cell{Timeframe: tf, Source: r.Source, Color: r.HAMA.Color, Summary: r.Signal.Summary, Trend: r.MA.Trend,
		Strength: r.MA.Strength, Cross: r.Cross.Last, BarsSince: -1, MaintainBullish: r.MaintainBullish,
		MaintainBearish: r.MaintainBearish, Zone: r.Bollinger.Zone, Squeeze: r.Bollinger.Squeeze,
		Candle: rfc3339(r.CandleCloseTime)}
	if r.Cross.LastTime != nil {
		c.CrossAt = rfc3339(*r.Cross.LastTime)
	}
	if r.Cross.BarsSince != nil {
		c.BarsSince = *r.Cross.BarsSince
	}
	switch c.Summary {
	case bullish:
		c.Score = c.Strength + 1
	case bearish:
		c.Score = -c.Strength - 1
	}
	return c
}

// rowOf builds the row of one cached document for the given columns. It holds no age: the page
// computes ages from the times, so a row changes only when what it shows changes.
func rowOf(doc analysis.Document, columns []string, schedules []string) Row {
	row := Row{Symbol: doc.Symbol, Schedules: strings.Join(schedules, " ")}
	counts := map[string]int{}
	for _, tf := range columns {
		r, ok := doc.Timeframes[tf]
		if !ok {
			row.Cells = append(row.Cells, Cell{Timeframe: tf, Missing: true, Score: -99})
			continue
		}
		row.Cells = append(row.Cells, cellOf(tf, r))
		row.Agreement.Total++
		counts[r.Signal.Summary]++
	}
	a := &row.Agreement
	a.Summary = "mixed"
	for _, s := range []string{bullish, bearish, neutral} {
		if counts[s] == a.Total && a.Total > 0 {
			a.Summary = s
		}
	}
	a.Count = max(counts[bullish], counts[bearish])
	switch a.Summary {
	case bullish:
		a.Score = a.Total
	case bearish:
		a.Score = -a.Total
	}
	return row
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// columnsOf is the union of the documents' timeframes, shortest first.
func columnsOf(docs []analysis.Document) []string {
	seen := map[string]bool{}
	for _, d := range docs {
		for tf := range d.Timeframes {
			seen[tf] = true
		}
	}
	out := make([]string, 0, len(seen))
	for tf := range seen {
		out = append(out, tf)
	}
	slices.SortFunc(out, func(a, b string) int {
		return slices.Index(market.Intervals, a) - slices.Index(market.Intervals, b)
	})
	return out
}
