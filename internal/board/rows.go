package board

import (
	"fmt"
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

// Row is one cached symbol as the board shows it. Its fields are plain values, formatted once, so
// that the template (which reaches fields by reflection) renders a thousand rows quickly.
type Row struct {
	Symbol string
	// Schedules are the "namespace/name" of the schedules that cover the symbol, space-separated.
	Schedules     string
	ScheduleNames []string
	// Cells follow the board's columns; a timeframe the symbol lacks is a cell with Missing set.
	Cells     []Cell
	Agreement Agreement
	UpdatedAt time.Time
	// Updated is UpdatedAt in RFC3339 with milliseconds; UpdatedAge its age at rendering.
	Updated, UpdatedAge string
	UpdatedUnix         int64
}

// Cell is one timeframe of a symbol.
type Cell struct {
	Timeframe string
	Missing   bool
	Source    string
	// Color is the HAMA colour, Summary the signal summary, Trend and Strength the MA's.
	Color, Summary, Trend string
	Strength              int
	// Cross is the last cross's direction (up, down, none); CrossAt its time (RFC3339) and CrossAge
	// its age, empty without one; BarsSince -1 without one.
	Cross, CrossAt, CrossAge string
	BarsSince                int
	MaintainBullish          bool
	MaintainBearish          bool
	Zone                     string
	Squeeze                  bool
	// Candle is the analysed candle's close time (RFC3339).
	Candle string
	Text   string
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

func cellOf(tf string, r hama.Result, now time.Time) Cell {
	c := Cell{Timeframe: tf, Source: r.Source, Color: r.HAMA.Color, Summary: r.Signal.Summary, Trend: r.MA.Trend,
		Strength: r.MA.Strength, Cross: r.Cross.Last, BarsSince: -1, MaintainBullish: r.MaintainBullish,
		MaintainBearish: r.MaintainBearish, Zone: r.Bollinger.Zone, Squeeze: r.Bollinger.Squeeze,
		Candle: rfc3339(r.CandleCloseTime), Text: r.Signal.Text}
	if r.Cross.LastTime != nil {
		c.CrossAt, c.CrossAge = rfc3339(*r.Cross.LastTime), age(now, *r.Cross.LastTime)
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

// rowOf builds the row of one cached document for the given columns, its ages as of now.
func rowOf(doc analysis.Document, columns []string, schedules []string, now time.Time) Row {
	row := Row{Symbol: doc.Symbol, ScheduleNames: schedules, Schedules: strings.Join(schedules, " "),
		UpdatedAt: doc.UpdatedAt, Updated: doc.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		UpdatedAge: age(now, doc.UpdatedAt), UpdatedUnix: doc.UpdatedAt.Unix()}
	counts := map[string]int{}
	for _, tf := range columns {
		r, ok := doc.Timeframes[tf]
		if !ok {
			row.Cells = append(row.Cells, Cell{Timeframe: tf, Missing: true, Score: -99})
			continue
		}
		row.Cells = append(row.Cells, cellOf(tf, r, now))
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
