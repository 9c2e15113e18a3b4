package klinestream

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

// envelope is a combined-stream message, {"stream":"btcusdt@kline_1m","data":{...}}, or an answer
// to a control message, {"result":null,"id":1}. It is decoded in one pass, data included: a closed
// kline costs one json.Unmarshal.
type envelope struct {
	Stream string       `json:"stream"`
	Data   klineEvent   `json:"data"`
	ID     *json.Number `json:"id"`
}

// klineEvent is the data of a kline stream. encoding/json matches keys case-insensitively when no
// field matches exactly, so every key that differs only by case (e/E, t/T, l/L, v/V, q/Q) has a
// field, or the later key would overwrite the earlier one.
type klineEvent struct {
	Type      string `json:"e"`
	EventTime int64  `json:"E"`
	Symbol    string `json:"s"`
	K         struct {
		OpenTime  int64  `json:"t"`
		CloseTime int64  `json:"T"`
		Symbol    string `json:"s"`
		Interval  string `json:"i"`
		Open      string `json:"o"`
		Close     string `json:"c"`
		High      string `json:"h"`
		Low       string `json:"l"`
		LastTrade int64  `json:"L"`
		Volume    string `json:"v"`
		TakerBase string `json:"V"`
		Quote     string `json:"q"`
		TakerQ    string `json:"Q"`
		Closed    *bool  `json:"x"`
	} `json:"k"`
}

// openMarker is how the exchange writes an open candle's flag; such updates (one every second or two
// per stream) are skipped before any decoding.
var openMarker = []byte(`"x":false`)

// decode reads one message. A closed kline comes back with its stream, candle and event time.
func decode(data []byte) (Kline, string) {
	if bytes.Contains(data, openMarker) {
		return Kline{}, KindOpen
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Kline{}, KindMalformed
	}
	if env.Stream == "" {
		if env.ID != nil {
			return Kline{}, KindControl
		}
		return Kline{}, KindUnknown // an error answer, or a raw (not combined) event
	}
	ev := env.Data
	if ev.Type != "kline" {
		return Kline{}, KindUnknown
	}
	k := ev.K
	if k.Closed == nil || k.Symbol == "" || k.Interval == "" || k.OpenTime <= 0 || k.CloseTime <= k.OpenTime {
		return Kline{}, KindMalformed
	}
	s := Stream{Symbol: strings.ToUpper(k.Symbol), Interval: k.Interval}
	if env.Stream != s.Name() {
		return Kline{}, KindMalformed // the data is not what the stream name says
	}
	if !*k.Closed {
		return Kline{}, KindOpen
	}
	var prices [5]float64
	for i, raw := range []string{k.Open, k.High, k.Low, k.Close, k.Volume} {
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return Kline{}, KindMalformed
		}
		prices[i] = v
	}
	return Kline{
		Stream: s,
		Candle: market.Candle{
			OpenTime: time.UnixMilli(k.OpenTime).UTC(), CloseTime: time.UnixMilli(k.CloseTime).UTC(),
			Open: prices[0], High: prices[1], Low: prices[2], Close: prices[3], Volume: prices[4],
		},
		EventTime: time.UnixMilli(ev.EventTime).UTC(),
	}, KindClosed
}
