package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"

	"github.com/hama-operator/hama-operator/internal/testenv"
)

// manifest builds an AnalysisSchedule the way kubectl sends it: untyped, so zero values such as
// concurrency: 0 reach the API server instead of being dropped by omitempty.
func manifest(name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "analysis.hama-operator.io/v1alpha1",
		"kind":       "AnalysisSchedule",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec":       spec,
	}}
	return u
}

func validSpec(overrides map[string]any) map[string]any {
	return withOverrides(map[string]any{"symbols": []any{"BTCUSDT", "ETHUSDT"}}, overrides)
}

// withOverrides sets each override in spec; a nil override removes the field.
func withOverrides(spec, overrides map[string]any) map[string]any {
	for k, v := range overrides {
		if v == nil {
			delete(spec, k)
			continue
		}
		spec[k] = v
	}
	return spec
}

// samples reads the files of config/samples that match pattern, each set in namespace default.
func samples(pattern string) map[string]*unstructured.Unstructured {
	GinkgoHelper()
	root, err := testenv.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", pattern))
	Expect(err).NotTo(HaveOccurred())
	Expect(files).NotTo(BeEmpty())
	out := make(map[string]*unstructured.Unstructured, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal(raw, &u.Object)).To(Succeed())
		u.SetNamespace("default")
		out[f] = u
	}
	return out
}

func manySymbols(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("SYM%dUSDT", i)
	}
	return out
}

var _ = Describe("AnalysisSchedule validation", func() {
	ctx := context.Background()

	// Each bad spec must be refused by the API server itself, with a message a person understands.
	DescribeTable("rejects a bad spec with a readable message",
		func(spec map[string]any, wantMessage string) {
			err := k8sClient.Create(ctx, manifest("bad-spec", spec))
			Expect(err).To(HaveOccurred(), "the API server accepted a bad spec")
			Expect(err.Error()).To(ContainSubstring(wantMessage))
			GinkgoWriter.Printf("REJECTED | %s\n", err.Error())
		},
		Entry("no symbols field", validSpec(map[string]any{"symbols": nil}),
			`set exactly one of symbols (a fixed list) and topGainers (the exchange's biggest gainers, resolved at every run)`),
		Entry("both symbols and topGainers", validSpec(map[string]any{"topGainers": map[string]any{"limit": 10}}),
			`set exactly one of symbols (a fixed list) and topGainers`),
		Entry("topGainers limit 0", validSpec(map[string]any{"symbols": nil, "topGainers": map[string]any{"limit": 0}}),
			`spec.topGainers.limit: Invalid value: 0: spec.topGainers.limit in body should be greater than or equal to 1`),
		Entry("topGainers limit 101", validSpec(map[string]any{"symbols": nil, "topGainers": map[string]any{"limit": 101}}),
			`spec.topGainers.limit in body should be less than or equal to 100`),
		Entry("lowercase quote asset", validSpec(map[string]any{"symbols": nil, "topGainers": map[string]any{"quoteAsset": "usdt"}}),
			`quoteAsset must be 2 to 10 uppercase letters or digits, like USDT`),
		Entry("negative minimum volume", validSpec(map[string]any{"symbols": nil, "topGainers": map[string]any{"minQuoteVolume": -1}}),
			`spec.topGainers.minQuoteVolume in body should be greater than or equal to 0`),
		Entry("empty symbols", validSpec(map[string]any{"symbols": []any{}}),
			`spec.symbols in body should have at least 1 items`),
		Entry("duplicate symbols", validSpec(map[string]any{"symbols": []any{"BTCUSDT", "BTCUSDT"}}),
			`spec.symbols[1]: Duplicate value: "BTCUSDT"`),
		Entry("lowercase symbol", validSpec(map[string]any{"symbols": []any{"btcusdt"}}),
			`symbols must be 2 to 30 uppercase letters or digits, like BTCUSDT (lowercase is rejected, not converted)`),
		Entry("symbol with a slash", validSpec(map[string]any{"symbols": []any{"BTC/USDT"}}),
			`symbols must be 2 to 30 uppercase letters or digits`),
		Entry("1001 symbols", validSpec(map[string]any{"symbols": manySymbols(1001)}),
			`spec.symbols: Too many: 1001: must have at most 1000 items`),
		Entry("interval 1s", validSpec(map[string]any{"interval": "1s"}),
			`spec.interval: Invalid value: "1s": interval must be at least 10s`),
		Entry("interval that is not a duration", validSpec(map[string]any{"interval": "five minutes"}),
			`spec.interval in body should match`),
		Entry("ttl shorter than interval", validSpec(map[string]any{"interval": "5m", "ttl": "1m"}),
			`ttl must be at least the interval, or cached results expire between two refreshes`),
		Entry("unknown timeframe", validSpec(map[string]any{"timeframes": []any{"2m"}}),
			`spec.timeframes[0]: Unsupported value: "2m"`),
		Entry("six timeframes", validSpec(map[string]any{"timeframes": []any{"1m", "5m", "15m", "1h", "4h", "1d"}}),
			`spec.timeframes: Too many: 6: must have at most 5 items`),
		Entry("duplicate timeframes", validSpec(map[string]any{"timeframes": []any{"15m", "15m"}}),
			`spec.timeframes[1]: Duplicate value: "15m"`),
		Entry("candles 100", validSpec(map[string]any{"candles": 100}),
			`spec.candles: Invalid value: 100: spec.candles in body should be greater than or equal to 450`),
		Entry("candles 5000", validSpec(map[string]any{"candles": 5000}),
			`spec.candles in body should be less than or equal to 1000`),
		Entry("concurrency 0", validSpec(map[string]any{"concurrency": 0}),
			`spec.concurrency: Invalid value: 0: spec.concurrency in body should be greater than or equal to 1`),
		Entry("concurrency 65", validSpec(map[string]any{"concurrency": 65}),
			`spec.concurrency in body should be less than or equal to 64`),
		Entry("unknown exchange", validSpec(map[string]any{"source": map[string]any{"exchange": "kraken"}}),
			`spec.source.exchange: Unsupported value: "kraken"`),
		Entry("baseURL without scheme", validSpec(map[string]any{"source": map[string]any{"baseURL": "api.binance.com"}}),
			`baseURL must be an absolute http or https URL, like https://api.binance.com`),
		Entry("baseURL with another scheme", validSpec(map[string]any{"source": map[string]any{"baseURL": "ftp://mirror.example"}}),
			`baseURL must be an absolute http or https URL`),
		Entry("unknown mode", validSpec(map[string]any{"source": map[string]any{"mode": "push"}}),
			`spec.source.mode: Unsupported value: "push": supported values: "poll", "stream"`),
		Entry("streamURL over http", validSpec(map[string]any{"source": map[string]any{"mode": "stream", "streamURL": "https://stream.example"}}),
			`streamURL must be an absolute ws or wss URL, like wss://stream.binance.com:9443`),
		Entry("stream mode on the simulator", validSpec(map[string]any{"source": map[string]any{"mode": "stream", "exchange": "simulated"}}),
			`mode stream needs a Binance exchange (binance or binance-futures): the simulator has no streams`),
		Entry("unknown moving average", validSpec(map[string]any{"hama": map[string]any{"openType": "HMA"}}),
			`spec.hama.openType: Unsupported value: "HMA"`),
		Entry("Bollinger length not covered by candles", validSpec(map[string]any{"candles": 500, "hama": map[string]any{"bollingerLength": 600}}),
			`candles must be greater than hama.bollingerLength, or the Bollinger Bands cannot be computed`),
		Entry("negative Bollinger multiplier", validSpec(map[string]any{"hama": map[string]any{"bollingerMultiplier": "-2"}}),
			`spec.hama.bollingerMultiplier in body should match`),
		Entry("zero Bollinger multiplier", validSpec(map[string]any{"hama": map[string]any{"bollingerMultiplier": "0"}}),
			`bollingerMultiplier must be greater than 0 and at most 10`),
	)

	It("accepts 1000 symbols and fills in the defaults", func() {
		u := manifest("max-symbols", validSpec(map[string]any{"symbols": manySymbols(1000), "suspend": true}))
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, u)).To(Succeed()) })
		spec := u.Object["spec"].(map[string]any)
		Expect(spec["interval"]).To(Equal("5m"))
		Expect(spec["timeframes"]).To(Equal([]any{"15m"}))
		Expect(spec["candles"]).To(BeEquivalentTo(500))
		Expect(spec["concurrency"]).To(BeEquivalentTo(8))
		Expect(spec["source"]).To(Equal(map[string]any{"exchange": "binance", "mode": "poll"}))
		Expect(spec["hama"]).To(HaveKeyWithValue("openLength", BeEquivalentTo(45)))
		Expect(spec["hama"]).To(HaveKeyWithValue("bollingerMultiplier", "2.0"))
	})

	It("accepts topGainers without symbols and fills in its defaults", func() {
		u := manifest("gainers-defaults", validSpec(map[string]any{"symbols": nil, "topGainers": map[string]any{}, "suspend": true}))
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, u)).To(Succeed()) })
		spec := u.Object["spec"].(map[string]any)
		Expect(spec["topGainers"]).To(And(HaveKeyWithValue("limit", BeEquivalentTo(20)), HaveKeyWithValue("quoteAsset", "USDT")))
		Expect(spec).NotTo(HaveKey("symbols"))
	})

	It("accepts every SignalAlert sample in config/samples", func() {
		for f, u := range samples("analysis_v1alpha1_signalalert*.yaml") {
			Expect(k8sClient.Create(ctx, u)).To(Succeed(), "sample %s", f)
			Expect(k8sClient.Delete(ctx, u)).To(Succeed())
		}
	})

	It("accepts every AnalysisSchedule sample in config/samples, and runs it", func() {
		for f, u := range samples("analysis_v1alpha1_analysisschedule*.yaml") {
			Expect(k8sClient.Create(ctx, u)).To(Succeed(), "sample %s", f)
			key := client.ObjectKeyFromObject(u)
			Eventually(func(g Gomega) {
				s := &analysisv1alpha1.AnalysisSchedule{}
				g.Expect(k8sClient.Get(ctx, key, s)).To(Succeed())
				g.Expect(s.Status.LastSuccessfulRunTime).NotTo(BeNil())
				g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, analysisv1alpha1.ConditionReady)).To(BeTrue())
				g.Expect(s.Status.Symbols.Total).To(BeEquivalentTo(len(s.Spec.Symbols)))
			}, "30s", "200ms").Should(Succeed(), "sample %s did not complete a run", f)
			Expect(k8sClient.Delete(ctx, u)).To(Succeed())
		}
	})
})
