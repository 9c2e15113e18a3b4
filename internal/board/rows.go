package board

import (
	"fmt"
	"slices"
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

// Row is one cached symbol as the board shows it.
type Row struct {
	Symbol string
	// Schedules are the "namespace/name" of the schedules that cover the symbol.
	Schedules []string
	// Cells follow the board's columns; a timeframe the symbol lacks is a cell with Missing set.
	Cells     []Cell
	Agreement Agreement
	UpdatedAt time.Time
}

// Cell is one timeframe of a symbol.
type Cell struct {
	Timeframe string
	Missing   bool
	hama.Result
}

// Agreement sums the timeframes up: Summary is the one every timeframe shares ("mixed" otherwise).
type Agreement struct {
	Summary string
	// Count is how many timeframes have the row's most common non-neutral summary, of Total.
	Count, Total int
}

// Score orders cells for sorting: bullish strength up, bearish down, neutral in between.
func (c Cell) Score() int {
	switch c.Signal.Summary {
	case bullish:
		return c.MA.Strength + 1
	case bearish:
		return -c.MA.Strength - 1
	}
	return 0
}

// BarsSince is the cell's bars since its last cross, -1 without one.
func (c Cell) BarsSince() int {
	if c.Cross.BarsSince == nil {
		return -1
	}
	return *c.Cross.BarsSince
}

// Score orders rows by agreement: all bullish first, all bearish last.
func (a Agreement) Score() int {
	switch a.Summary {
	case bullish:
		return a.Total
	case bearish:
		return -a.Total
	}
	return 0
}

// rowOf builds the row of one cached document for the given columns.
func rowOf(doc analysis.Document, columns []string, schedules []string) Row {
	row := Row{Symbol: doc.Symbol, Schedules: schedules, UpdatedAt: doc.UpdatedAt}
	counts := map[string]int{}
	for _, tf := range columns {
		r, ok := doc.Timeframes[tf]
		row.Cells = append(row.Cells, Cell{Timeframe: tf, Missing: !ok, Result: r})
		if ok {
			row.Agreement.Total++
			counts[r.Signal.Summary]++
		}
	}
	row.Agreement.Summary = "mixed"
	for _, s := range []string{bullish, bearish, neutral} {
		if counts[s] == row.Agreement.Total && row.Agreement.Total > 0 {
			row.Agreement.Summary = s
		}
	}
	row.Agreement.Count = max(counts[bullish], counts[bearish])
	return row
}

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

// age is a short human age (42s, 7m, 3h, 2d); board.js ticks the same text on the page.
func age(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := max(now.Sub(t), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
