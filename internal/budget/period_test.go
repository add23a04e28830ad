package budget

import (
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPeriodBoundaries(t *testing.T) {
	for _, c := range []struct {
		p          Period
		t          string
		start, end string
	}{
		{Month, "2026-11-30T23:59:59Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
		{Month, "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{Month, "2026-12-31T23:59:59.999Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{Month, "2028-02-29T12:00:00Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"},
		// Another zone: the UTC calendar decides (still 30 Nov in UTC).
		{Month, "2026-12-01T05:00:00+06:00", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
		{Week, "2026-11-30T00:00:00Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"}, // a Monday
		{Week, "2026-11-29T23:59:59Z", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"}, // a Sunday
		{Week, "2026-12-31T10:00:00Z", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"}, // across the year
		{Week, "2027-01-03T10:00:00Z", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"},
		{Day, "2026-12-31T23:59:59Z", "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z"},
		{Day, "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"},
	} {
		s := c.p.Start(at(c.t))
		if !s.Equal(at(c.start)) || s.Location() != time.UTC {
			t.Errorf("%s.Start(%s) = %v, want %s", c.p, c.t, s, c.start)
		}
		if e := c.p.End(s); !e.Equal(at(c.end)) {
			t.Errorf("%s.End(%s) = %v, want %s", c.p, c.start, e, c.end)
		}
		if got := c.p.StartMS(at(c.t)); got != at(c.start).UnixMilli() {
			t.Errorf("%s.StartMS(%s) = %d", c.p, c.t, got)
		}
	}
	if !None.Start(at("2026-11-30T12:00:00Z")).IsZero() || None.StartMS(time.Now()) != 0 || !None.End(time.Time{}).IsZero() {
		t.Error("a lifetime budget has no period start or end")
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Period{"": None, "none": None, "NONE": None, " month ": Month, "week": Week, "day": Day} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Parse("year"); err == nil || !strings.Contains(err.Error(), "none, day, week or month") {
		t.Errorf("Parse(year) = %v", err)
	}
	if None.String() != "none" || Month.String() != "month" {
		t.Error("String")
	}
}

func TestExhaustedMessage(t *testing.T) {
	got := Exhausted("key_1", 5, 5.25, Month, at("2026-11-17T08:00:00Z"))
	want := "This key has spent $5.25 of $5.00 for November 2026; it resets on 2026-12-01 00:00 UTC. Raise it with `runestone keys update key_1 --budget USD`."
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := Exhausted("key_1", 1, 1, Week, at("2026-12-31T08:00:00Z")); !strings.Contains(got, "for the week of 2026-12-28; it resets on 2027-01-04 00:00 UTC") {
		t.Error(got)
	}
	if got := Exhausted("key_1", 5, 5, None, time.Now()); got != "This key has spent its budget of $5.00. Raise it with `runestone keys update key_1 --budget USD`." {
		t.Error(got)
	}
	if got := Exhausted("k", 0.004, 0.0040000001, Day, at("2026-11-30T08:00:00Z")); !strings.HasPrefix(got, "This key has spent $0.004 of $0.004 for 2026-11-30;") {
		t.Error(got)
	}
	if a := For("k", Day, at("2026-11-30T13:00:00Z")); a != (Account{"k", at("2026-11-30T00:00:00Z").UnixMilli()}) {
		t.Error(a)
	}
}
