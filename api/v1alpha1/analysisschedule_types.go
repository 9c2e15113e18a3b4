/*
Copyright 2026 The hama-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RefreshRequestedAtAnnotation asks for one immediate run; every new value triggers exactly one run,
// echoed afterwards in status.lastHandledRefreshAt (the Flux requestedAt pattern).
const RefreshRequestedAtAnnotation = "analysis.hama-operator.io/refresh-requested-at"

// Condition types, with kstatus semantics.
const (
	// ConditionReady is True when the last run refreshed every symbol.
	ConditionReady = "Ready"
	// ConditionReconciling is True while a run is in progress.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the schedule cannot make progress until its spec changes.
	ConditionStalled = "Stalled"
	// ConditionCacheDegraded is True while Redis is configured but unavailable: results are held in
	// the operator's memory and copied to Redis when it recovers.
	ConditionCacheDegraded = "CacheDegraded"
	// ConditionStreaming is True while a stream-mode schedule receives every stream it asked for.
	ConditionStreaming = "Streaming"
)

// Exchange names a market data source.
// +kubebuilder:validation:Enum=binance;binance-futures;simulated
type Exchange string

const (
	// ExchangeBinance is Binance spot (GET /api/v3/klines).
	ExchangeBinance Exchange = "binance"
	// ExchangeBinanceFutures is Binance USDⓈ-M futures (GET /fapi/v1/klines).
	ExchangeBinanceFutures Exchange = "binance-futures"
	// ExchangeSimulated is a deterministic offline random walk, for demos and tests.
	ExchangeSimulated Exchange = "simulated"
)

// Symbol is an exchange symbol such as BTCUSDT.
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=30
// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Z0-9]{2,30}$')",message="symbols must be 2 to 30 uppercase letters or digits, like BTCUSDT (lowercase is rejected, not converted)"
type Symbol string

// Timeframe is a Binance kline interval.
// +kubebuilder:validation:Enum="1m";"3m";"5m";"15m";"30m";"1h";"2h";"4h";"6h";"8h";"12h";"1d";"3d";"1w";"1M"
type Timeframe string

// MovingAverage is the kind of moving average used for a HAMA candle component.
// +kubebuilder:validation:Enum=EMA;SMA;WMA
type MovingAverage string

// SourceSpec says where candles come from.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'stream' || !has(self.exchange) || self.exchange != 'simulated'",message="mode stream needs a Binance exchange (binance or binance-futures): the simulator has no streams"
type SourceSpec struct {
	// exchange is the market data source.
	// +kubebuilder:default=binance
	// +optional
	Exchange Exchange `json:"exchange,omitempty"`

	// baseURL overrides the exchange's REST endpoint (a mirror, a testnet, a local test server).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="baseURL must be an absolute http or https URL, like https://api.binance.com"
	// +optional
	BaseURL string `json:"baseURL,omitempty"`

	// mode is how results are kept fresh: poll fetches candles over REST every interval; stream
	// listens to the exchange's WebSocket kline streams and analyses each candle at its close, with a
	// REST resync every interval that heals anything the stream missed.
	// +kubebuilder:default=poll
	// +optional
	Mode SourceMode `json:"mode,omitempty"`

	// streamURL overrides the exchange's WebSocket endpoint in stream mode (a mirror, a local test
	// server); the default is the public stream endpoint of spot or futures.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['ws', 'wss'] && url(self).getHostname() != ''",message="streamURL must be an absolute ws or wss URL, like wss://stream.binance.com:9443"
	// +optional
	StreamURL string `json:"streamURL,omitempty"`
}

// SourceMode is how a schedule gets its candles.
// +kubebuilder:validation:Enum=poll;stream
type SourceMode string

const (
	// ModePoll fetches candles over REST every interval.
	ModePoll SourceMode = "poll"
	// ModeStream analyses each candle at its close from the exchange's WebSocket kline streams.
	ModeStream SourceMode = "stream"
)

// HAMAParameters are the inputs of the "NSDT HAMA Candles with Bollinger Bands" script; the
// defaults are the script's.
type HAMAParameters struct {
	// +kubebuilder:default=EMA
	// +optional
	OpenType MovingAverage `json:"openType,omitempty"`
	// +kubebuilder:default=45
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=400
	// +optional
	OpenLength int32 `json:"openLength,omitempty"`
	// +kubebuilder:default=EMA
	// +optional
	HighType MovingAverage `json:"highType,omitempty"`
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=400
	// +optional
	HighLength int32 `json:"highLength,omitempty"`
	// +kubebuilder:default=EMA
	// +optional
	LowType MovingAverage `json:"lowType,omitempty"`
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=400
	// +optional
	LowLength int32 `json:"lowLength,omitempty"`
	// +kubebuilder:default=WMA
	// +optional
	CloseType MovingAverage `json:"closeType,omitempty"`
	// +kubebuilder:default=40
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=400
	// +optional
	CloseLength int32 `json:"closeLength,omitempty"`
	// maLength is the length of the WMA line the HAMA close crosses.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	// +optional
	MALength int32 `json:"maLength,omitempty"`
	// bollingerLength is the SMA/stdev length of the Bollinger Bands.
	// +kubebuilder:default=400
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=999
	// +optional
	BollingerLength int32 `json:"bollingerLength,omitempty"`
	// bollingerMultiplier is the band width in standard deviations, as a decimal string.
	// +kubebuilder:default="2.0"
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0 && double(self) <= 10.0",message="bollingerMultiplier must be greater than 0 and at most 10"
	// +optional
	BollingerMultiplier string `json:"bollingerMultiplier,omitempty"`
}

// TopGainersSpec follows the exchange's biggest 24-hour gainers instead of a fixed list.
type TopGainersSpec struct {
	// limit is how many gainers to analyse, the biggest first.
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	Limit int32 `json:"limit,omitempty"`

	// quoteAsset keeps the pairs quoted in this asset, as USDT keeps BTCUSDT and drops ETHBTC.
	// +kubebuilder:default=USDT
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=10
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Z0-9]{2,10}$')",message="quoteAsset must be 2 to 10 uppercase letters or digits, like USDT"
	// +optional
	QuoteAsset string `json:"quoteAsset,omitempty"`

	// minQuoteVolume drops pairs that traded less than this over 24 hours, in the quote asset
	// (1000000 with USDT: at least a million dollars).
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinQuoteVolume int64 `json:"minQuoteVolume,omitempty"`
}

// AnalysisScheduleSpec is what a user asks for: which symbols to keep analysed, how often and how.
// +kubebuilder:validation:XValidation:rule="has(self.symbols) != has(self.topGainers)",message="set exactly one of symbols (a fixed list) and topGainers (the exchange's biggest gainers, resolved at every run)"
// +kubebuilder:validation:XValidation:rule="!has(self.ttl) || duration(self.ttl) >= duration(self.interval)",message="ttl must be at least the interval, or cached results expire between two refreshes"
// +kubebuilder:validation:XValidation:rule="!has(self.hama) || self.candles > self.hama.bollingerLength",message="candles must be greater than hama.bollingerLength, or the Bollinger Bands cannot be computed"
type AnalysisScheduleSpec struct {
	// symbols to analyse, uppercase as the exchange spells them. Exactly one of symbols and
	// topGainers is set.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +listType=set
	// +optional
	Symbols []Symbol `json:"symbols,omitempty"`

	// topGainers analyses the exchange's biggest 24-hour gainers (spec.source.exchange's market),
	// resolved again at every run; symbols that leave the list are no longer refreshed and expire
	// after their ttl.
	// +optional
	TopGainers *TopGainersSpec `json:"topGainers,omitempty"`

	// interval between two refreshes; at least 10s.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="interval must be at least 10s"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// ttl of each cached result; at least the interval. Defaults to three intervals, so a result
	// survives two failed refreshes before it expires.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	TTL *metav1.Duration `json:"ttl,omitempty"`

	// timeframes are the candle intervals to analyse each symbol on.
	// +kubebuilder:default={"15m"}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	// +listType=set
	// +optional
	Timeframes []Timeframe `json:"timeframes,omitempty"`

	// candles fetched per symbol and timeframe; the Bollinger Bands need 400.
	// +kubebuilder:default=500
	// +kubebuilder:validation:Minimum=450
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Candles int32 `json:"candles,omitempty"`

	// concurrency is how many symbols of this schedule are fetched at once.
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	// +optional
	Concurrency int32 `json:"concurrency,omitempty"`

	// suspend stops refreshes; cached results are kept until their ttl.
	// +kubebuilder:default=false
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// source of the candles.
	// +kubebuilder:default={}
	// +optional
	Source SourceSpec `json:"source,omitempty"`

	// hama holds the indicator's parameters.
	// +kubebuilder:default={}
	// +optional
	HAMA HAMAParameters `json:"hama,omitempty"`
}

// SymbolCounts summarises the last run.
type SymbolCounts struct {
	// +optional
	Total int32 `json:"total,omitempty"`
	// +optional
	Succeeded int32 `json:"succeeded,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
}

// SymbolFailure tells why one symbol failed in the last run.
type SymbolFailure struct {
	Symbol string `json:"symbol"`
	// reason is a CamelCase cause, such as InvalidSymbol, RateLimited or InsufficientData.
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// MaxFailedSymbols bounds status.failedSymbols so the object stays small.
const MaxFailedSymbols = 20

// AnalysisScheduleStatus is what the operator observed.
type AnalysisScheduleStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// +optional
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`
	// +optional
	LastSuccessfulRunTime *metav1.Time `json:"lastSuccessfulRunTime,omitempty"`
	// nextRunTime is when the next refresh is planned; empty while suspended.
	// +optional
	NextRunTime *metav1.Time `json:"nextRunTime,omitempty"`
	// +optional
	LastRunDuration *metav1.Duration `json:"lastRunDuration,omitempty"`

	// +optional
	Symbols SymbolCounts `json:"symbols,omitempty"`

	// failedSymbols lists up to 20 symbols that failed in the last run.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	FailedSymbols []SymbolFailure `json:"failedSymbols,omitempty"`

	// resolvedSymbols are the symbols the last run of a topGainers schedule analysed, biggest gainer
	// first.
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	// +optional
	ResolvedSymbols []Symbol `json:"resolvedSymbols,omitempty"`

	// cacheBackend is the cache backend that took the last run's results: redis or memory.
	// +optional
	CacheBackend string `json:"cacheBackend,omitempty"`

	// lastHandledRefreshAt is the last refresh-requested-at annotation value acted on.
	// +optional
	LastHandledRefreshAt string `json:"lastHandledRefreshAt,omitempty"`

	// stream is the health of the WebSocket streams of a stream-mode schedule; empty in poll mode.
	// +optional
	Stream *StreamStatus `json:"stream,omitempty"`
}

// StreamStatus is the health of a stream-mode schedule's WebSocket streams.
type StreamStatus struct {
	// connections open to the exchange now.
	// +optional
	Connections int32 `json:"connections,omitempty"`
	// streams subscribed (one per symbol and timeframe).
	// +optional
	Streams int32 `json:"streams,omitempty"`
	// lastMessageTime is when the last message arrived from the exchange.
	// +optional
	LastMessageTime *metav1.Time `json:"lastMessageTime,omitempty"`
	// lastCloseTime is the close time of the newest candle analysed from the stream.
	// +optional
	LastCloseTime *metav1.Time `json:"lastCloseTime,omitempty"`
	// lastLag is how long the last candle close took from the exchange's event time to the cache.
	// +optional
	LastLag *metav1.Duration `json:"lastLag,omitempty"`
	// reconnects counted since the stream started in this operator process.
	// +optional
	Reconnects int64 `json:"reconnects,omitempty"`
	// gapsHealed counts missed candles fetched over REST since the stream started.
	// +optional
	GapsHealed int64 `json:"gapsHealed,omitempty"`
}

// AnalysisSchedule keeps HAMA analyses of a list of symbols fresh in the cache.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=asched,categories=hama
// +kubebuilder:printcolumn:name="Symbols",type=integer,JSONPath=`.status.symbols.total`,description="Symbols of the last run"
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.interval`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.source.mode`,priority=1
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Last Run",type=string,JSONPath=`.status.lastRunTime`,description="Start of the last refresh (a timestamp, like Next Run)"
// +kubebuilder:printcolumn:name="Next Run",type=string,JSONPath=`.status.nextRunTime`,description="Planned start of the next refresh (a timestamp: kubectl shows future dates as <invalid>)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AnalysisSchedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AnalysisScheduleSpec   `json:"spec"`
	Status AnalysisScheduleStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions; with SetConditions it lets one helper set the
// conditions of every kind.
func (o *AnalysisSchedule) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *AnalysisSchedule) SetConditions(conditions []metav1.Condition) {
	o.Status.Conditions = conditions
}

// AnalysisScheduleList is a list of AnalysisSchedules.
// +kubebuilder:object:root=true
type AnalysisScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisSchedule `json:"items"`
}
