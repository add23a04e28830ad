// Package budget holds the calendar arithmetic of budget periods: a key's budget is
// either for its lifetime or for the current UTC day, week (from Monday) or month,
// and spend is booked per (key, period start) so a new period starts from zero.
package budget

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Period is how often a key's budget starts over. The zero value is None.
type Period string

// The periods a key may have. None is a lifetime budget (booked at period start 0).
const (
	None  Period = ""
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// Parse reads a period as the CLI and the keys table spell it ("" and "none" are
// None).
func Parse(s string) (Period, error) {
	switch p := Period(strings.ToLower(strings.TrimSpace(s))); p {
	case None, "none", "lifetime":
		return None, nil
	case Day, Week, Month:
		return p, nil
	}
	return None, fmt.Errorf("budget period %q: want none, day, week or month", s)
}

// String is the period's name: "none" for a lifetime budget.
func (p Period) String() string {
	if p == None {
		return "none"
	}
	return string(p)
}

// Start returns the start of the period holding t (UTC); the zero time for None.
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch p {
	case Day:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case Week:
		// Weekdays count from Sunday = 0; a week here starts on Monday.
		back := (int(t.Weekday()) + 6) % 7
		return time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// End returns when the period starting at start ends (the next one starts); the zero
// time for None. time.Date normalises, so December rolls into January.
func (p Period) End(start time.Time) time.Time {
	y, m, d := start.UTC().Date()
	switch p {
	case Day:
		return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	case Week:
		return time.Date(y, m, d+7, 0, 0, 0, 0, time.UTC)
	case Month:
		return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// StartMS is Start in unix milliseconds, the ledger's period_start: 0 for None.
func (p Period) StartMS(t time.Time) int64 {
	if p == None {
		return 0
	}
	return p.Start(t).UnixMilli()
}

// Label names the period starting at start for people: "November 2026", "the week
// of 2026-11-30", "2026-11-30"; "" for None.
func (p Period) Label(start time.Time) string {
	start = start.UTC()
	switch p {
	case Day:
		return start.Format(time.DateOnly)
	case Week:
		return "the week of " + start.Format(time.DateOnly)
	case Month:
		return start.Format("January 2006")
	}
	return ""
}

// Account names one key's spend in one period: Start is the period's start in unix
// milliseconds, 0 for a lifetime budget. Every priced request is booked to its key's
// lifetime account and, when the key has a period, to that period's account too.
type Account struct {
	Key   string
	Start int64
}

// For returns the account a key with period p spends from at time t.
func For(key string, p Period, t time.Time) Account {
	return Account{Key: key, Start: p.StartMS(t)}
}

// Exhausted is the message of the 429 insufficient_quota a key at its budget gets:
// it names the period and when it resets, and how to raise the budget.
func Exhausted(keyID string, budget, spent float64, p Period, now time.Time) string {
	raise := " Raise it with `runestone keys update " + keyID + " --budget USD`."
	if p == None {
		return "This key has spent its budget of $" + usd(budget) + "." + raise
	}
	start := p.Start(now)
	return "This key has spent $" + usd(spent) + " of $" + usd(budget) + " for " + p.Label(start) +
		"; it resets on " + p.End(start).Format("2006-01-02 15:04") + " UTC." + raise
}

// usd prints dollars and cents; amounts under a cent keep up to six decimals, so a
// $0.004 budget does not read as "$0.00".
func usd(v float64) string {
	if v > 0 && v < 0.005 {
		return strings.TrimRight(strconv.FormatFloat(v, 'f', 6, 64), "0")
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// MarshalText spells the period as the CLI does ("none" for a lifetime budget).
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what MarshalText wrote (and "" as none).
func (p *Period) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
