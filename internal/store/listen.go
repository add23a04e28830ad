package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// ListenKeys reports key changes pushed by Postgres (LISTEN runestone_keys; the
// keys_version trigger sends NOTIFY), so replicas reload at once instead of at their
// next poll. It returns a nil channel for SQLite. The listener holds one connection,
// reconnects after failures, and stops when stop is called (which waits for it).
func (s *Store) ListenKeys(ctx context.Context) (changed <-chan struct{}, stop func()) {
	if !s.db.pg {
		return nil, func() {}
	}
	ch := make(chan struct{}, 1)
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for lctx.Err() == nil {
			_ = s.listenOnce(lctx, ch)
			select {
			case <-lctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return ch, func() { cancel(); wg.Wait() }
}

func (s *Store) listenOnce(ctx context.Context, ch chan struct{}) error {
	c, err := s.db.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("not a pgx connection")
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN runestone_keys"); err != nil {
			return err
		}
		// A change may have happened before LISTEN took effect: report one anyway.
		select {
		case ch <- struct{}{}:
		default:
		}
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				_ = pc.Close(context.Background()) // never hand a LISTENing connection back to the pool
				return err
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	})
}
