package cli

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/term"
)

// logCol says how a `logs` column gives way on a narrow terminal: shrink (with an
// ellipsis) down to min runes, 0 never; drop is the order columns leave when
// shrinking is not enough (1 first), 0 never. TIME, ID (what `logs show` takes),
// STATUS and COST always stay whole; --json and `logs show` keep every value.
type logCol struct{ min, drop int }

// logCols matches logHeader.
var logCols = []logCol{
	{}, {}, // TIME, ID
	{min: 5, drop: 3}, // KEY
	{min: 8},          // MODEL
	{min: 5, drop: 1}, // DIALECT
	{min: 5},          // PROVIDER
	{}, {drop: 4},     // STATUS, LATENCY
	{drop: 2}, // TOKENS
	{},        // COST
}

// logsWidth is the width `logs` fits its table to: the terminal's, else $COLUMNS,
// else 0 (a pipe or file gets whole values).
func (f *Factory) logsWidth() int {
	if file, ok := f.Out.(*os.File); ok && f.IsTTY {
		if w, _, err := term.GetSize(file.Fd()); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(f.getenv()("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

// fitColumns turns natural column widths into ones that fit width (0: no limit): the
// widest shrinkable column gives a rune at a time; when none can, the next column in
// drop order leaves (width -1) and the fit starts again from the natural widths.
func fitColumns(natural []int, width int) []int {
	w := make([]int, len(natural))
	for drops := 0; ; drops++ {
		copy(w, natural)
		for i, c := range logCols {
			if c.drop > 0 && c.drop <= drops {
				w[i] = -1
			}
		}
		if width <= 0 {
			return w
		}
		for lineWidth(w) > width {
			best := -1
			for i, c := range logCols {
				if w[i] > c.min && c.min > 0 && (best < 0 || w[i] > w[best]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			w[best]--
		}
		if lineWidth(w) <= width || drops >= len(logCols) {
			return w
		}
	}
}

// lineWidth is a row's width: its shown columns and two spaces between them.
func lineWidth(w []int) int {
	n, cols := 0, 0
	for _, x := range w {
		if x >= 0 {
			n += x
			cols++
		}
	}
	return n + 2*max(cols-1, 0)
}

// followWidths are the least widths of `logs -f` columns: rows arrive one at a time,
// so the widths come from these, the header and the first rows printed.
var followWidths = []int{8, 20, 8, 18, 8, 10, 6, 7, 9, 9}

// naturalWidths is the widest cell of each column, at least floor.
func naturalWidths(floor []int, rows ...[]string) []int {
	w := slices.Clone(floor)
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	return w
}

// fitRow lays cells out in widths: shown cells padded (the last not), dropped ones
// left out, and too-long ones cut with an ellipsis when cut is set (else they push
// the rest of the line out).
func fitRow(cells []string, widths []int, cut bool) string {
	var b strings.Builder
	last := len(cells) - 1
	for last > 0 && widths[last] < 0 {
		last--
	}
	first := true
	for i, c := range cells {
		w := widths[i]
		if w < 0 {
			continue
		}
		if !first {
			b.WriteString("  ")
		}
		first = false
		if cut {
			c = elide(c, w)
		}
		b.WriteString(c)
		if i < last {
			b.WriteString(strings.Repeat(" ", max(w-utf8.RuneCountInString(c), 0)))
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// elide cuts s to w runes, the last of them an ellipsis.
func elide(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	if w <= 0 {
		return ""
	}
	rs := []rune(s)
	return string(rs[:w-1]) + "…"
}
