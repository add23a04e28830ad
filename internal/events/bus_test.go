package events

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSlowSubscriberLosesEventsAndIsTold(t *testing.T) {
	b := NewBus()
	slow := b.Subscribe(2)
	fast := b.Subscribe(100)
	defer slow.Close()
	defer fast.Close()
	for i := 0; i < 10; i++ {
		b.Publish(Event{Kind: KindRequestStarted})
	}
	if len(fast.C) != 10 {
		t.Fatalf("fast got %d", len(fast.C))
	}
	if slow.Dropped() != 8 {
		t.Fatalf("slow dropped %d, want 8", slow.Dropped())
	}
	<-slow.C
	<-slow.C
	b.Publish(Event{Kind: KindRequestFinished})
	e := <-slow.C
	if e.Kind != KindDropped || e.Dropped != 8 {
		t.Fatalf("want a dropped notice of 8, got %+v", e)
	}
	if e := <-slow.C; e.Kind != KindRequestFinished {
		t.Fatalf("got %+v", e)
	}
}

func TestPublishNeverBlocks(t *testing.T) {
	b := NewBus()
	s := b.Subscribe(1)
	defer s.Close()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100000; i++ {
			b.Publish(Event{Kind: KindAttempt})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that never reads")
	}
}

func TestInactiveBusAndClose(t *testing.T) {
	b := NewBus()
	if b.Active() {
		t.Fatal("no subscribers yet")
	}
	s := b.Subscribe(1)
	s.Close()
	s.Close()
	if b.Active() {
		t.Fatal("closed subscriber still counted")
	}
	if _, ok := <-s.C; ok {
		t.Fatal("channel not closed")
	}
	b.Publish(Event{}) // no panic after close
}

func BenchmarkPublishNoSubscribers(b *testing.B) {
	bus := NewBus()
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(Event{Kind: KindRequestStarted})
	}
}

func BenchmarkPublishOneSubscriber(b *testing.B) {
	bus := NewBus()
	s := bus.Subscribe(1024)
	defer s.Close()
	go func() {
		for range s.C {
		}
	}()
	r := &Request{ID: "x"}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(Event{Kind: KindRequestFinished, Request: r})
	}
}
