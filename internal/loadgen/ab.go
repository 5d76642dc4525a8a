package loadgen

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ABReport is an interleaved comparison: runs on targets A and B alternate (A, B, A, B, ...),
// so a noisy machine slows both alike, and each metric is compared by its median.
type ABReport struct {
	TargetA string             `json:"target_a"`
	TargetB string             `json:"target_b"`
	Rounds  int                `json:"rounds"`
	A       []*Result          `json:"a"`
	B       []*Result          `json:"b"`
	MedianA map[string]float64 `json:"median_a"`
	MedianB map[string]float64 `json:"median_b"`
	// Ratio is median B / median A per metric (absent when A's median is 0).
	Ratio map[string]float64 `json:"ratio_b_over_a"`
}

// RunAB runs cfg against cfg.Target (A) and against b (B, with server pids pidsB) in turn for the
// given rounds. onRun, if not nil, sees each result as it comes.
func RunAB(ctx context.Context, cfg Config, b string, pidsB []int, rounds int, onRun func(label string, r *Result)) (*ABReport, error) {
	cfg.Defaults()
	if rounds < 1 {
		rounds = 1
	}
	cfgB := cfg
	cfgB.Target, cfgB.ServerPIDs = b, pidsB
	if err := cfgB.Validate(); err != nil {
		return nil, err
	}
	rep := &ABReport{TargetA: cfg.Target, TargetB: b, Rounds: rounds}
	for i := range rounds {
		for _, side := range []struct {
			label string
			cfg   Config
			out   *[]*Result
		}{{"A", cfg, &rep.A}, {"B", cfgB, &rep.B}} {
			c := side.cfg
			if c.Chart != "" {
				c.Chart = fmt.Sprintf("%s.%s%d.svg", strings.TrimSuffix(c.Chart, ".svg"), side.label, i+1)
			}
			r, err := Run(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", i+1, side.label, err)
			}
			*side.out = append(*side.out, r)
			if onRun != nil {
				onRun(fmt.Sprintf("%s%d", side.label, i+1), r)
			}
		}
	}
	rep.MedianA, rep.MedianB = medians(rep.A), medians(rep.B)
	rep.Ratio = map[string]float64{}
	for k, a := range rep.MedianA {
		if b, ok := rep.MedianB[k]; ok && a != 0 {
			rep.Ratio[k] = b / a
		}
	}
	return rep, nil
}

func medians(rs []*Result) map[string]float64 {
	vals := map[string][]float64{}
	for _, r := range rs {
		for k, v := range r.Metrics() {
			vals[k] = append(vals[k], v)
		}
	}
	out := map[string]float64{}
	for k, v := range vals {
		out[k] = median(v)
	}
	return out
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Table renders the medians and ratios as a text table.
func (a *ABReport) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "A = %s\nB = %s\n%d rounds, interleaved A,B; medians:\n", a.TargetA, a.TargetB, a.Rounds)
	fmt.Fprintf(&b, "%-28s %14s %14s %8s\n", "metric", "A", "B", "B/A")
	keys := slices.Sorted(maps.Keys(a.MedianA))
	for k := range a.MedianB {
		if _, ok := a.MedianA[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		ratio := "n/a"
		if r, ok := a.Ratio[k]; ok {
			ratio = fmt.Sprintf("%.3f", r)
		}
		fmt.Fprintf(&b, "%-28s %14s %14s %8s\n", k, num(a.MedianA, k), num(a.MedianB, k), ratio)
	}
	return b.String()
}

func num(m map[string]float64, k string) string {
	v, ok := m[k]
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}
