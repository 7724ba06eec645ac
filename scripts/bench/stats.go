package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// series is one measured quantity of one runtime.
type series []float64

func (s series) sorted() []float64 { return slices.Sorted(slices.Values(s)) }

// quantile is the q-quantile by linear interpolation between closest
// ranks; NaN for an empty series.
func (s series) quantile(q float64) float64 {
	v := s.sorted()
	if len(v) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return v[lo] + (v[hi]-v[lo])*(pos-float64(lo))
}

func (s series) median() float64 { return s.quantile(0.5) }

func (s series) min() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Min(s)
}

func (s series) max() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Max(s)
}

// spread is the interquartile range: how far the middle half of the
// measurements lie apart.
func (s series) spread() float64 { return s.quantile(0.75) - s.quantile(0.25) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rotation returns the order of the runtimes in round r: each round
// starts one runtime later, so none is always first (cold caches) or
// always after the same neighbour.
func rotation(n, r int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = (i + r) % n
	}
	return out
}

// row is one line of the table: a metric and its value per runtime.
type row struct {
	name   string
	unit   string
	values []float64 // per runtime, NaN when not measured
	// precision of the printed value
	prec int
}

// table renders rows with a column per runtime and the ratio of the first
// runtime to each named reference runtime.
func table(names []string, rows []row, refs []int) string {
	head := []string{"metric"}
	head = append(head, names...)
	for _, r := range refs {
		head = append(head, fmt.Sprintf("%s/%s", names[0], names[r]))
	}
	lines := [][]string{head}
	for _, r := range rows {
		line := []string{r.name}
		if r.unit != "" {
			line[0] += " (" + r.unit + ")"
		}
		for _, v := range r.values {
			line = append(line, format(v, r.prec))
		}
		for _, ref := range refs {
			line = append(line, ratio(r.values[0], r.values[ref]))
		}
		lines = append(lines, line)
	}
	width := make([]int, len(head))
	for _, l := range lines {
		for i, c := range l {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for n, l := range lines {
		for i, c := range l {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "  %*s", width[i], c)
			}
		}
		b.WriteString("\n")
		if n == 0 {
			total := len(width)*2 - 2
			for _, w := range width {
				total += w
			}
			b.WriteString(strings.Repeat("-", total) + "\n")
		}
	}
	return b.String()
}

func format(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
