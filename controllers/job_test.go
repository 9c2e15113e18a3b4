package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/gainers"
	"github.com/hama-operator/hama-operator/internal/market"
)

func TestEffectiveTTL(t *testing.T) {
	spec := analysisv1alpha1.AnalysisScheduleSpec{Interval: metav1.Duration{Duration: 5 * time.Minute}}
	if got := effectiveTTL(spec); got != 15*time.Minute {
		t.Fatalf("default ttl = %s, want three intervals (15m)", got)
	}
	spec.TTL = &metav1.Duration{Duration: time.Hour}
	if got := effectiveTTL(spec); got != time.Hour {
		t.Fatalf("ttl = %s, want the spec's 1h", got)
	}
}

func TestJobForRejectsTooFewCandlesForTheParameters(t *testing.T) {
	s := newSchedule("x", time.Minute, "BTCUSDT")
	s.Spec.Candles = 120 // the API server refuses this; an old object could still carry it
	_, err := jobFor(s)
	var invalid invalidSpecError
	if !errors.As(err, &invalid) {
		t.Fatalf("jobFor = %v, want an invalidSpecError", err)
	}
	if !strings.Contains(err.Error(), "spec.candles is 120 but these hama parameters need at least") {
		t.Fatalf("message %q does not explain the candle shortfall", err)
	}
}

func TestJobForRejectsAnUnparsableMultiplier(t *testing.T) {
	s := newSchedule("x", time.Minute, "BTCUSDT")
	s.Spec.Candles = 500
	s.Spec.HAMA.BollingerMultiplier = "two"
	if _, err := jobFor(s); err == nil || !strings.Contains(err.Error(), `bollingerMultiplier "two" is not a number`) {
		t.Fatalf("jobFor = %v, want a readable multiplier error", err)
	}
}

func TestJobForMapsTheSpec(t *testing.T) {
	s := newSchedule("x", time.Minute, "BTCUSDT", "ETHUSDT")
	s.Spec.Candles = 600
	s.Spec.Concurrency = 3
	s.Spec.Timeframes = []analysisv1alpha1.Timeframe{"1h"}
	s.Spec.Source.BaseURL = "http://127.0.0.1:9"
	s.Spec.HAMA = analysisv1alpha1.HAMAParameters{OpenType: "SMA", OpenLength: 30, MALength: 50, BollingerMultiplier: "2.5"}
	job, err := jobFor(s)
	if err != nil {
		t.Fatal(err)
	}
	if job.Schedule != "default/x" || job.Candles != 600 || job.Concurrency != 3 || job.BaseURL != "http://127.0.0.1:9" ||
		job.TTL != 3*time.Minute || job.Timeframes[0] != "1h" || len(job.Symbols) != 2 {
		t.Fatalf("job = %+v", job)
	}
	p := job.Params
	if p.OpenType != "SMA" || p.OpenLength != 30 || p.MALength != 50 || p.BollingerMultiplier != 2.5 ||
		p.HighLength != 20 || p.CloseType != "WMA" || p.BollingerLength != 400 {
		t.Fatalf("params = %+v: set fields must win, unset ones keep the script's defaults", p)
	}
}

// The CRD spells the exchange names out (its enum marker needs literals); they must be the ones the
// market data sources answer to.
func TestScheduleExchangesAreTheMarketSources(t *testing.T) {
	api := []analysisv1alpha1.Exchange{analysisv1alpha1.ExchangeBinance, analysisv1alpha1.ExchangeBinanceFutures,
		analysisv1alpha1.ExchangeSimulated}
	if len(api) != len(market.Exchanges) {
		t.Fatalf("api/v1alpha1 has %d exchanges, market %d", len(api), len(market.Exchanges))
	}
	for i, e := range api {
		if string(e) != market.Exchanges[i] {
			t.Errorf("exchange %d: api/v1alpha1 %q, market %q", i, e, market.Exchanges[i])
		}
	}
}

func TestJobForMapsTopGainers(t *testing.T) {
	s := newSchedule("g", time.Minute)
	s.Spec.Candles = 500
	s.Spec.Source.Exchange = analysisv1alpha1.ExchangeBinanceFutures
	s.Spec.TopGainers = &analysisv1alpha1.TopGainersSpec{Limit: 7, QuoteAsset: "USDC", MinQuoteVolume: 250000}
	job, err := jobFor(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Symbols) != 0 || job.TopGainers == nil || job.Exchange != market.BinanceFutures ||
		*job.TopGainers != (gainers.Query{Limit: 7, QuoteAsset: "USDC", MinQuoteVolume: 250000}) {
		t.Fatalf("job = %+v, gainers %+v", job, job.TopGainers)
	}
}
