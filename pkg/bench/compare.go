package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// Figure is one measured quantity for every server, one value per round.
type Figure struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	// Higher tells whether a larger value is better (ops/s) or worse
	// (latency, memory).
	Higher bool `json:"higher_is_better"`
	// Values maps a server name to its value in each round, in order.
	Values map[string][]float64 `json:"values"`
	// Chart, when set, puts the figure on that chart as the point
	// (X, median) of each server's series.
	Chart string  `json:"chart,omitempty"`
	X     float64 `json:"x,omitempty"`
	// Errors counts protocol errors per server over all rounds; a figure
	// with errors is not a fair comparison and the table says so.
	Errors map[string]int64 `json:"errors,omitempty"`
}

// Limit is a physical ceiling printed next to the figures it bounds.
type Limit struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// ChartAxes names the axes of a chart.
type ChartAxes struct {
	Title  string `json:"title"`
	XLabel string `json:"x_label"`
	YLabel string `json:"y_label"`
	LogX   bool   `json:"log_x"`
}

// Comparison is a side-by-side run: the first server is the one measured
// (cote), the others its peers; ratios are first/peer.
type Comparison struct {
	Date     string      `json:"date"`
	Machine  string      `json:"machine"`
	Servers  []string    `json:"servers"`
	Rounds   int         `json:"rounds"`
	Figures  []*Figure   `json:"figures"`
	Limits   []Limit     `json:"limits"`
	Charts   []ChartAxes `json:"charts"`
	Commands []string    `json:"commands"`
	Notes    []string    `json:"notes,omitempty"`
}

// Add records one value of a figure for a server, creating the figure on
// first use (later calls keep its unit and direction).
func (c *Comparison) Add(name, unit string, higher bool, server string, v float64) *Figure {
	f := c.Figure(name)
	if f == nil {
		f = &Figure{Name: name, Unit: unit, Higher: higher, Values: map[string][]float64{}}
		c.Figures = append(c.Figures, f)
	}
	f.Values[server] = append(f.Values[server], v)
	return f
}

// Figure returns the figure of that name, or nil.
func (c *Comparison) Figure(name string) *Figure {
	for _, f := range c.Figures {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// AddErrors counts protocol errors of a server against a figure.
func (f *Figure) AddErrors(server string, n int64) {
	if n == 0 {
		return
	}
	if f.Errors == nil {
		f.Errors = map[string]int64{}
	}
	f.Errors[server] += n
}

// Spread returns the minimum, median and maximum of vs (NaN when empty).
func Spread(vs []float64) (lo, med, hi float64) {
	if len(vs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	med = s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[0], med, s[len(s)-1]
}

// Ratios returns a/b for each round both servers have a value for.
func (f *Figure) Ratios(a, b string) []float64 {
	av, bv := f.Values[a], f.Values[b]
	var out []float64
	for i := range min(len(av), len(bv)) {
		if bv[i] != 0 {
			out = append(out, av[i]/bv[i])
		}
	}
	return out
}

// Behind reports whether server a does worse than b on the figure by more
// than tolerance (0.1 = 10%), comparing medians of the per-round ratios.
func (f *Figure) Behind(a, b string, tolerance float64) bool {
	_, med, _ := Spread(f.Ratios(a, b))
	if math.IsNaN(med) {
		return false
	}
	if f.Higher {
		return med < 1-tolerance
	}
	return med > 1+tolerance
}

// WriteTable prints every figure: the median of each server and, for each
// peer, the ratio first/peer as min/median/max over the rounds. A "<"
// marks figures where the first server is behind by more than 10%.
func (c *Comparison) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%s  %s  %d rounds, servers alternated (%s)\n", c.Date, c.Machine, c.Rounds, strings.Join(c.Servers, " "))
	if len(c.Servers) == 0 {
		return
	}
	head := fmt.Sprintf("%-40s %-8s", "figure", "unit")
	for _, s := range c.Servers {
		head += fmt.Sprintf(" %12s", s)
	}
	for _, p := range c.Servers[1:] {
		head += fmt.Sprintf("  %-24s", c.Servers[0]+"/"+p+" min/med/max")
	}
	fmt.Fprintln(w, head)
	for _, f := range c.Figures {
		line := fmt.Sprintf("%-40s %-8s", f.Name, f.Unit)
		for _, s := range c.Servers {
			_, med, _ := Spread(f.Values[s])
			if math.IsNaN(med) {
				line += fmt.Sprintf(" %12s", "-")
			} else {
				line += fmt.Sprintf(" %12s", num(med))
			}
		}
		for _, p := range c.Servers[1:] {
			lo, med, hi := Spread(f.Ratios(c.Servers[0], p))
			if math.IsNaN(med) {
				line += fmt.Sprintf("  %-24s", "-")
				continue
			}
			mark := " "
			if f.Behind(c.Servers[0], p, 0.1) {
				mark = "<"
			}
			line += fmt.Sprintf("  %s %-22s", mark, fmt.Sprintf("%.2f/%.2f/%.2f", lo, med, hi))
		}
		if len(f.Errors) > 0 {
			keys := make([]string, 0, len(f.Errors))
			for k := range f.Errors {
				keys = append(keys, fmt.Sprintf("%s:%d", k, f.Errors[k]))
			}
			sort.Strings(keys)
			line += "  ERRORS " + strings.Join(keys, " ")
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if len(c.Limits) > 0 {
		fmt.Fprintln(w, "physical limits:")
		for _, l := range c.Limits {
			fmt.Fprintf(w, "  %-38s %12s %s\n", l.Name, num(l.Value), l.Unit)
		}
	}
	for _, n := range c.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	fmt.Fprintf(w, "ratios are %s/peer: above 1 is better for higher-is-better figures (ops/s), below 1 for the others (ms, KiB); '<' marks %s behind by more than 10%%\n", c.Servers[0], c.Servers[0])
}

func num(v float64) string {
	switch {
	case v >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// WriteJSON writes the comparison to path.
func (c *Comparison) WriteJSON(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Series returns, for a chart, each server's points (X, median value)
// sorted by X.
func (c *Comparison) Series(chart string) []Series {
	var out []Series
	for _, s := range c.Servers {
		var pts []Point
		for _, f := range c.Figures {
			if f.Chart != chart {
				continue
			}
			_, med, _ := Spread(f.Values[s])
			if !math.IsNaN(med) {
				pts = append(pts, Point{f.X, med})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
		out = append(out, Series{Name: s, Points: pts})
	}
	return out
}

// WriteSVG draws every chart of the comparison, one under the other.
func (c *Comparison) WriteSVG(w io.Writer) error {
	var charts []Chart
	for _, a := range c.Charts {
		charts = append(charts, Chart{ChartAxes: a, Series: c.Series(a.Title)})
	}
	return WriteSVG(w, charts)
}
