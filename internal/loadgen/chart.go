package loadgen

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
)

// writeChart writes an SVG chart of a burst: queue depth (left axis) and accept and drain rates
// (right axis) over time. Hand-written SVG, no dependencies.
func writeChart(path string, r *Result, samples []Sample) error {
	if err := os.WriteFile(path, renderChart(r, samples), 0o644); err != nil {
		return fmt.Errorf("writing chart: %w", err)
	}
	return nil
}

func renderChart(r *Result, samples []Sample) []byte {
	const (
		w, h                   = 960, 480
		left, right, top, bott = 80, 90, 50, 60
		pw, ph                 = w - left - right, h - top - bott
	)
	var tMax, dMax, rMax float64
	for _, s := range samples {
		tMax = max(tMax, s.T)
		dMax = max(dMax, float64(s.Depth))
		rMax = max(rMax, s.AcceptRate, s.DrainRate)
	}
	tMax, dMax, rMax = niceCeil(tMax), niceCeil(dMax), niceCeil(rMax)
	x := func(t float64) float64 { return left + t/tMax*pw }
	yD := func(v float64) float64 { return top + ph - v/dMax*ph }
	yR := func(v float64) float64 { return top + ph - v/rMax*ph }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	title := fmt.Sprintf("burst of %d messages on %s (%s): accepted %.0f msg/s, drain capped at %.0f msg/s",
		r.Params.Messages, r.Target, r.Endpoint, r.SendRate, r.Params.DrainRate)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	// Grid and axes.
	for i := 0; i <= 5; i++ {
		f := float64(i) / 5
		y := top + ph - f*ph
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#1f77b4">%s</text>`+"\n", left-6, y+4, short(f*dMax))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#555">%s</text>`+"\n", left+pw+6, y+4, short(f*rMax))
		xt := left + f*pw
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xt, top+ph+18, short(f*tMax))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">time (s)</text>`+"\n", left+pw/2, h-20)
	fmt.Fprintf(&b, `<text transform="translate(20 %d) rotate(-90)" text-anchor="middle" fill="#1f77b4">queue depth (messages)</text>`+"\n", top+ph/2)
	fmt.Fprintf(&b, `<text transform="translate(%d %d) rotate(90)" text-anchor="middle" fill="#555">rate (msg/s)</text>`+"\n", w-20, top+ph/2)
	series := []struct {
		name, color string
		y           func(Sample) float64
	}{
		{"queue depth", "#1f77b4", func(s Sample) float64 { return yD(float64(s.Depth)) }},
		{"accept rate", "#2ca02c", func(s Sample) float64 { return yR(s.AcceptRate) }},
		{"drain rate", "#ff7f0e", func(s Sample) float64 { return yR(s.DrainRate) }},
	}
	for i, s := range series {
		b.WriteString(`<polyline fill="none" stroke-width="2" stroke="` + s.color + `" points="`)
		for j, p := range samples {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(p.T), s.y(p))
		}
		b.WriteString("\"/>\n")
		lx := left + 10 + i*150
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`, lx, top+14, lx+24, top+14, s.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+30, top+18, s.name)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.4gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.4gk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
