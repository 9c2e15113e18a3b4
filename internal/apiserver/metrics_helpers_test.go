package apiserver

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// gatheredValue reads one series from the fixture's registry: the counter or gauge whose labels
// include want; 0 when absent.
func gatheredValue(t *testing.T, f *fixture, name string, want map[string]string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, want) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

// apiRequests is the value of hama_api_requests_total for a route and code.
func apiRequests(t *testing.T, f *fixture, route, code string) float64 {
	t.Helper()
	return gatheredValue(t, f, "hama_api_requests_total", map[string]string{"route": route, "code": code})
}
