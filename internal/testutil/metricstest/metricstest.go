// Package metricstest reads Prometheus metrics in tests.
package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Counter sums the counter name over its series, or only over the series
// with a label of value label when label is not empty.
func Counter(t testing.TB, g prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	var sum float64
	for _, m := range series(t, g, name, label) {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// HistogramMeanMillis is the mean of the histogram name (its series with a
// label of value label, or all), in milliseconds; 0 without samples.
func HistogramMeanMillis(t testing.TB, g prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	var sum float64
	var n uint64
	for _, m := range series(t, g, name, label) {
		sum += m.GetHistogram().GetSampleSum()
		n += m.GetHistogram().GetSampleCount()
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n) * 1000
}

func series(t testing.TB, g prometheus.Gatherer, name, label string) []*dto.Metric {
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if label == "" || hasLabel(m, label) {
				out = append(out, m)
			}
		}
	}
	return out
}

func hasLabel(m *dto.Metric, value string) bool {
	for _, l := range m.Label {
		if l.GetValue() == value {
			return true
		}
	}
	return false
}

// Gauge is the value of the gauge name's series whose labels include
// every pair of labels, and whether there is one.
func Gauge(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	for _, m := range series(t, g, name, "") {
		ok := true
		for k, v := range labels {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
