package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Point is one (x, y) value of a series.
type Point struct{ X, Y float64 }

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []Point
}

// Chart is one line chart: its axes and its series.
type Chart struct {
	ChartAxes
	Series []Series
}

// Chart geometry, in SVG user units.
const (
	svgW, svgH               = 720, 380
	svgLeft, svgRight        = 80, 150
	svgTop, svgBottom        = 40, 50
	svgPlotW                 = svgW - svgLeft - svgRight
	svgPlotH                 = svgH - svgTop - svgBottom
	svgTicks                 = 5
	svgMarker                = 3.5
	svgFont                  = "font-family=\"sans-serif\" font-size=\"12\""
	svgTitleFont             = "font-family=\"sans-serif\" font-size=\"14\" font-weight=\"bold\""
	svgAxisColor, svgGridCol = "#333", "#ddd"
)

var svgColors = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"}

// WriteSVG draws the charts one under the other as one SVG document: axes
// with round-numbered ticks, one polyline with markers per series, a
// legend. No plotting library: the benchmark tooling depends on nothing
// outside the standard library for its pictures.
func WriteSVG(w io.Writer, charts []Chart) error {
	bw := bufio.NewWriter(w)
	h := svgH * max(len(charts), 1)
	fmt.Fprintf(bw, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", svgW, h, svgW, h)
	fmt.Fprintf(bw, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", svgW, h)
	for i, c := range charts {
		fmt.Fprintf(bw, "<g transform=\"translate(0,%d)\">\n", i*svgH)
		drawChart(bw, c)
		bw.WriteString("</g>\n")
	}
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

func drawChart(w *bufio.Writer, c Chart) {
	esc := html.EscapeString
	fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" %s>%s</text>\n", svgLeft, svgTop-15, svgTitleFont, esc(c.Title))
	var xs, ys []float64
	for _, s := range c.Series {
		for _, p := range s.Points {
			xs = append(xs, p.X)
			ys = append(ys, p.Y)
		}
	}
	if len(xs) == 0 {
		fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" %s>no data</text>\n", svgLeft+svgPlotW/2, svgTop+svgPlotH/2, svgFont)
		return
	}
	xmin, xmax := minMax(xs)
	_, ymax := minMax(ys)
	logX := c.LogX && xmin > 0
	tx := func(x float64) float64 {
		if logX {
			x, xmin, xmax := math.Log10(x), math.Log10(xmin), math.Log10(xmax)
			if xmax == xmin {
				return svgLeft + svgPlotW/2
			}
			return svgLeft + (x-xmin)/(xmax-xmin)*svgPlotW
		}
		if xmax == xmin {
			return svgLeft + svgPlotW/2
		}
		return svgLeft + (x-xmin)/(xmax-xmin)*svgPlotW
	}
	ytop := niceCeil(ymax)
	ty := func(y float64) float64 { return svgTop + svgPlotH - y/ytop*svgPlotH }

	// Grid and y ticks.
	for i := 0; i <= svgTicks; i++ {
		v := ytop * float64(i) / svgTicks
		y := ty(v)
		fmt.Fprintf(w, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n", svgLeft, y, svgLeft+svgPlotW, y, svgGridCol)
		fmt.Fprintf(w, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" %s>%s</text>\n", svgLeft-6, y+4, svgFont, num(v))
	}
	// X ticks at the measured x values (client or connection counts).
	seen := map[float64]bool{}
	for _, x := range xs {
		if seen[x] {
			continue
		}
		seen[x] = true
		px := tx(x)
		fmt.Fprintf(w, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n", px, svgTop+svgPlotH, px, svgTop+svgPlotH+5, svgAxisColor)
		fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" %s>%s</text>\n", px, svgTop+svgPlotH+18, svgFont, num(x))
	}
	// Axes and labels.
	fmt.Fprintf(w, "<polyline points=\"%d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"%s\"/>\n",
		svgLeft, svgTop, svgLeft, svgTop+svgPlotH, svgLeft+svgPlotW, svgTop+svgPlotH, svgAxisColor)
	fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" %s>%s</text>\n", svgLeft+svgPlotW/2, svgTop+svgPlotH+38, svgFont, esc(c.XLabel))
	fmt.Fprintf(w, "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\" %s>%s</text>\n", 18, svgTop+svgPlotH/2, svgFont, esc(c.YLabel))
	// Series and legend.
	for i, s := range c.Series {
		col := svgColors[i%len(svgColors)]
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", tx(p.X), ty(p.Y)))
		}
		fmt.Fprintf(w, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", strings.Join(pts, " "), col)
		for _, p := range s.Points {
			fmt.Fprintf(w, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"><title>%s %s: %s</title></circle>\n",
				tx(p.X), ty(p.Y), svgMarker, col, esc(s.Name), num(p.X), num(p.Y))
		}
		ly := svgTop + 10 + i*20
		lx := svgLeft + svgPlotW + 20
		fmt.Fprintf(w, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n", lx, ly, lx+20, ly, col)
		fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" %s>%s</text>\n", lx+26, ly+4, svgFont, esc(s.Name))
	}
}

func minMax(vs []float64) (lo, hi float64) {
	lo, hi = vs[0], vs[0]
	for _, v := range vs {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
