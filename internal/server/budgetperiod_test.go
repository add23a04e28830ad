package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/store"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/tidwall/gjson"
)

// fakeClock is a settable clock for budget periods: the test rolls a month over
// without waiting for it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// TestBudgetPeriodResets: a key with a monthly budget is refused once it has spent it,
// with a message naming the month and when it resets; the first request of the next
// month starts from 0, is served, and the reset is logged once. The ledger books each
// month apart and the lifetime total across both.
func TestBudgetPeriodResets(t *testing.T) {
	u := testutil.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		// 1M prompt tokens at $1 per million: each answer costs $1.00.
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000000,"completion_tokens":0,"total_tokens":1000000}}`)
	})
	cfg := "[pricing.\"m\"]\ninput = 1.0\noutput = 1.0\n[[providers]]\nname = \"fake\"\nkind = \"openai\"\nbase_url = \"" +
		u.URL + "/v1\"\napi_key = \"x\"\nmodels = [\"m\"]\n"
	home := t.TempDir()
	st := openStore(t, home)
	one := 1.0
	k, secret, err := st.CreateKey(context.Background(), store.NewKey{Name: "monthly", BudgetUSD: &one, BudgetPeriod: budget.Month})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)}
	logs := &syncBuf{}
	g := startIn(t, home, cfg, nil, server.Options{Version: "test", Now: clock.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	g.Key = secret
	chat := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	if status, _, body := g.do("POST", "/v1/chat/completions", chat, nil); status != 200 {
		t.Fatalf("first request: %d %s", status, body)
	}
	status, _, body := g.do("POST", "/v1/chat/completions", chat, nil)
	msg := gjson.GetBytes(body, "error.message").String()
	if status != 429 || gjson.GetBytes(body, "error.code").String() != "insufficient_quota" ||
		!strings.Contains(msg, "spent $1.00 of $1.00 for November 2026; it resets on 2026-12-01 00:00 UTC") ||
		!strings.Contains(msg, "runestone keys update "+k.ID+" --budget USD") {
		t.Fatalf("at the monthly budget: %d %s", status, body)
	}
	if n := logs.count("budget period reset"); n != 0 {
		t.Fatalf("reset logged %d times before the month ended", n)
	}
	clock.Set(time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC))
	for i := range 2 { // both served would need $0 then $1 < $1: only the first is
		status, _, body := g.do("POST", "/v1/chat/completions", chat, nil)
		if want := []int{200, 429}[i]; status != want {
			t.Fatalf("december request %d: %d %s", i, status, body)
		}
	}
	if n := logs.count("budget period reset"); n != 1 {
		t.Fatalf("reset logged %d times, want once:\n%s", n, logs.b.String())
	}
	// The dashboard's view: December's spend, and the period.
	for _, kl := range g.Srv.Gateway.KeyLimits(context.Background()) {
		if kl.KeyID == k.ID && (kl.SpentUSD != 1 || kl.BudgetPeriod != "month") {
			t.Fatalf("key limits %+v", kl)
		}
	}
	// The ledger (written by the log writer within ~100 ms) has each month apart.
	want := map[budget.Account]float64{
		{Key: k.ID}: 2,
		{Key: k.ID, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}: 1,
		{Key: k.ID, Start: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}: 1,
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ok := true
		for a, v := range want {
			got, err := st.SpendOf(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			ok = ok && math.Abs(got-v) < 1e-9
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			got, _ := st.SpendSince(context.Background(), time.Time{})
			t.Fatalf("ledger %v, want %v", got, want)
		}
	}
}

// TestScaleOutBudgetPeriod: with Redis and Postgres shared by two replicas, a monthly
// budget is checked in the admission script against the month's own Redis total; the
// refusal names the month, and on the 1st both replicas serve the key again (from 0)
// and each logs the reset once.
func TestScaleOutBudgetPeriod(t *testing.T) {
	up, _ := fakeUpstream(t, 0, 1000) // $0.002 a request
	c := newCluster(t, fakeProviderTOML(up.URL), nil)
	// Next year's November: Redis expires a period's total a day after the period ends
	// on the real clock, so a fixed past month's total would vanish as soon as written.
	y := time.Now().UTC().Year() + 1
	clock := &fakeClock{t: time.Date(y, 11, 30, 23, 0, 0, 0, time.UTC)}
	c.clock = clock.Now
	lim := 0.004
	k, secret, err := c.store().CreateKey(context.Background(), store.NewKey{Name: "p", BudgetUSD: &lim, BudgetPeriod: budget.Month})
	if err != nil {
		t.Fatal(err)
	}
	logs := []*syncBuf{{}, {}}
	rs := []*gw{c.replica(logs[0]), c.replica(logs[1])}
	for i, want := range []int{200, 200, 429, 429} {
		st, body := scaleChat(rs[i%2].URL, secret, "m", nil)
		if st != want {
			t.Fatalf("november request %d: %d %s", i, st, body)
		}
		if st == 429 && !strings.Contains(body, fmt.Sprintf("spent $0.004 of $0.004 for November %d; it resets on %d-12-01 00:00 UTC", y, y)) {
			t.Fatalf("november refusal: %s", body)
		}
	}
	clock.Set(time.Date(y, 12, 1, 0, 0, 0, 0, time.UTC))
	for i, want := range []int{200, 200, 429} {
		if st, body := scaleChat(rs[i%2].URL, secret, "m", nil); st != want {
			t.Fatalf("december request %d: %d %s", i, st, body)
		}
	}
	for i, l := range logs {
		if n := l.count("budget period reset"); n != 1 {
			t.Fatalf("replica %d logged the reset %d times", i, n)
		}
	}
	dec := budget.Account{Key: k.ID, Start: time.Date(y, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}
	if got := rs[0].Srv.Gateway.KeyLimits(context.Background()); len(got) == 0 {
		t.Fatal("no key limits")
	}
	for _, kl := range rs[1].Srv.Gateway.KeyLimits(context.Background()) {
		if kl.KeyID == k.ID && math.Abs(kl.SpentUSD-0.004) > 1e-9 {
			t.Fatalf("december spend in redis: %+v", kl)
		}
	}
	st := c.store()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v, err := st.SpendOf(context.Background(), dec)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(v-0.004) < 1e-9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("december in the ledger: %v", v)
		}
	}
}
