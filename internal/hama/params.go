package hama

import (
	"errors"
	"fmt"
)

// MAType is a kind of moving average.
type MAType string

// Moving average kinds.
const (
	EMA MAType = "EMA"
	SMA MAType = "SMA"
	WMA MAType = "WMA"
)

// Params are the script's inputs.
type Params struct {
	OpenType            MAType
	OpenLength          int
	HighType            MAType
	HighLength          int
	LowType             MAType
	LowLength           int
	CloseType           MAType
	CloseLength         int
	MALength            int
	BollingerLength     int
	BollingerMultiplier float64
}

// DefaultParams are the script's defaults.
func DefaultParams() Params {
	return Params{
		OpenType: EMA, OpenLength: 45,
		HighType: EMA, HighLength: 20,
		LowType: EMA, LowLength: 20,
		CloseType: WMA, CloseLength: 40,
		MALength:            100,
		BollingerLength:     400,
		BollingerMultiplier: 2.0,
	}
}

// Validate reports the first unusable parameter.
func (p Params) Validate() error {
	var errs []error
	for _, c := range []struct {
		name string
		t    MAType
		n    int
	}{{"open", p.OpenType, p.OpenLength}, {"high", p.HighType, p.HighLength},
		{"low", p.LowType, p.LowLength}, {"close", p.CloseType, p.CloseLength}} {
		if c.t != EMA && c.t != SMA && c.t != WMA {
			errs = append(errs, fmt.Errorf("%s type %q is not EMA, SMA or WMA", c.name, c.t))
		}
		if c.n < 1 {
			errs = append(errs, fmt.Errorf("%s length %d must be at least 1", c.name, c.n))
		}
	}
	if p.MALength < 1 {
		errs = append(errs, fmt.Errorf("ma length %d must be at least 1", p.MALength))
	}
	if p.BollingerLength < 2 {
		errs = append(errs, fmt.Errorf("bollinger length %d must be at least 2", p.BollingerLength))
	}
	if !(p.BollingerMultiplier > 0) {
		errs = append(errs, fmt.Errorf("bollinger multiplier %v must be greater than 0", p.BollingerMultiplier))
	}
	return errors.Join(errs...)
}

// MinCandles is how many candles make every output of the last bar defined, including the values of
// the bar before it that colour, slope and crosses compare with.
func (p Params) MinCandles() int {
	return max(
		p.OpenLength+2, // SourceOpen is na on the first bar, and the colour compares with the bar before
		p.HighLength+1, p.LowLength+1, p.CloseLength+1,
		p.MALength+strengthEMALength, // ma, its EMA(3) and the bar before
		p.BollingerLength,
	)
}

// InsufficientDataError says how many candles an analysis needs.
type InsufficientDataError struct{ Have, Need int }

func (e *InsufficientDataError) Error() string {
	return fmt.Sprintf("need at least %d closed candles, have %d", e.Need, e.Have)
}
