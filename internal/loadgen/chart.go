package loadgen

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
)

// lineChart is a hand-written SVG line chart (no dependencies): a time axis, a left axis, an
// optional right axis, and series drawn against either.
type lineChart struct {
	title  string
	xLabel string
	left   chartAxis
	right  *chartAxis
	series []chartSeries
}

// chartAxis is a y axis. A log axis spans whole decades from the smallest positive value.
type chartAxis struct {
	label, color string
	log          bool
}

// chartSeries is one polyline.
type chartSeries struct {
	name, color string
	dashed      bool
	onRight     bool
	points      [][2]float64 // (x, y)
}

func (c *lineChart) write(path string) error {
	if err := os.WriteFile(path, c.render(), 0o644); err != nil {
		return fmt.Errorf("writing chart: %w", err)
	}
	return nil
}

// yScale maps a value to its height in [0, 1] on an axis, and gives the axis's ticks.
type yScale struct {
	lo, hi float64
	log    bool
}

func newYScale(log bool, vals []float64) yScale {
	s := yScale{log: log}
	if !log {
		var hi float64
		for _, v := range vals {
			hi = max(hi, v)
		}
		s.hi = niceCeil(hi)
		return s
	}
	lo, hi := math.Inf(1), 0.0
	for _, v := range vals {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	s.lo = math.Pow(10, math.Floor(math.Log10(lo)))
	s.hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if s.hi <= s.lo {
		s.hi = s.lo * 10
	}
	return s
}

func (s yScale) frac(v float64) float64 {
	if !s.log {
		return v / s.hi
	}
	v = max(v, s.lo)
	return (math.Log10(v) - math.Log10(s.lo)) / (math.Log10(s.hi) - math.Log10(s.lo))
}

// ticks returns tick positions in [0, 1] and their values.
func (s yScale) ticks() (fs, vs []float64) {
	if !s.log {
		for i := 0; i <= 5; i++ {
			f := float64(i) / 5
			fs, vs = append(fs, f), append(vs, f*s.hi)
		}
		return fs, vs
	}
	for v := s.lo; v <= s.hi*1.0001; v *= 10 {
		fs, vs = append(fs, s.frac(v)), append(vs, v)
	}
	return fs, vs
}

func (c *lineChart) render() []byte {
	const (
		w, h                   = 960, 480
		left, right, top, bott = 80, 90, 50, 60
		pw, ph                 = w - left - right, h - top - bott
	)
	var tMax float64
	var lv, rv []float64
	for _, s := range c.series {
		for _, p := range s.points {
			tMax = max(tMax, p[0])
			if s.onRight {
				rv = append(rv, p[1])
			} else {
				lv = append(lv, p[1])
			}
		}
	}
	tMax = niceCeil(tMax)
	ls := newYScale(c.left.log, lv)
	var rs yScale
	if c.right != nil {
		rs = newYScale(c.right.log, rv)
	}
	x := func(t float64) float64 { return left + t/tMax*pw }
	y := func(s yScale, v float64) float64 { return top + ph - s.frac(v)*ph }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(c.title))
	// Grid and axes.
	fs, vs := ls.ticks()
	for i, f := range fs {
		yy := top + ph - f*ph
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, yy, left+pw, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>`+"\n", left-6, yy+4, c.left.color, short(vs[i]))
	}
	if c.right != nil {
		fs, vs := rs.ticks()
		for i, f := range fs {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="%s">%s</text>`+"\n", left+pw+6, top+ph-f*ph+4, c.right.color, short(vs[i]))
		}
	}
	for i := 0; i <= 5; i++ {
		f := float64(i) / 5
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", left+f*pw, top+ph+18, short(f*tMax))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", left+pw/2, h-20, html.EscapeString(c.xLabel))
	fmt.Fprintf(&b, `<text transform="translate(20 %d) rotate(-90)" text-anchor="middle" fill="%s">%s</text>`+"\n", top+ph/2, c.left.color, html.EscapeString(c.left.label))
	if c.right != nil {
		fmt.Fprintf(&b, `<text transform="translate(%d %d) rotate(90)" text-anchor="middle" fill="%s">%s</text>`+"\n", w-20, top+ph/2, c.right.color, html.EscapeString(c.right.label))
	}
	for i, s := range c.series {
		sc := ls
		if s.onRight {
			sc = rs
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		b.WriteString(`<polyline fill="none" stroke-width="2" stroke="` + s.color + `"` + dash + ` points="`)
		for j, p := range s.points {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(p[0]), y(sc, p[1]))
		}
		b.WriteString("\"/>\n")
		lx := left + 10 + (i%4)*190
		ly := top + 14 + (i/4)*18
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>`, lx, ly, lx+24, ly, s.color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+30, ly+4, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// writeChart writes an SVG chart of a burst: queue depth (left axis) and accept and drain rates
// (right axis) over time.
func writeChart(path string, r *Result, samples []Sample) error {
	title := fmt.Sprintf("burst of %d messages on %s (%s): accepted %.0f msg/s, drain capped at %.0f msg/s",
		r.Params.Messages, r.Target, r.Endpoint, r.SendRate, r.Params.DrainRate)
	return depthChart(title, "drain rate", samples).write(path)
}

// depthChart draws samples: depth on the left axis, accept and drain rates on the right;
// drainName names the drain rate's series.
func depthChart(title, drainName string, samples []Sample) *lineChart {
	c := &lineChart{title: title, xLabel: "time (s)",
		left:  chartAxis{label: "queue depth (messages)", color: "#1f77b4"},
		right: &chartAxis{label: "rate (msg/s)", color: "#555"}}
	depth := chartSeries{name: "queue depth", color: "#1f77b4"}
	accept := chartSeries{name: "accept rate", color: "#2ca02c", onRight: true}
	drain := chartSeries{name: drainName, color: "#ff7f0e", onRight: true}
	for _, s := range samples {
		depth.points = append(depth.points, [2]float64{s.T, float64(s.Depth)})
		accept.points = append(accept.points, [2]float64{s.T, s.AcceptRate})
		drain.points = append(drain.points, [2]float64{s.T, s.DrainRate})
	}
	c.series = []chartSeries{depth, accept, drain}
	return c
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
