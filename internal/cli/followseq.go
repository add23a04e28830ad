package cli

import "time"

// Rows become visible in commit order, not seq order: on Postgres two replicas
// committing at the same moment can make seq 101 visible after seq 102, and a follower
// that only asks for seq > 102 would skip 101 for good. seqTracker remembers the holes
// below the highest seq seen for a short settle time, and the follower re-reads from
// the lowest open hole, printing only rows it has not printed.
const (
	followSettle  = 10 * time.Second // a hole still empty after this is a rolled-back insert or another filter's row
	followMaxHole = 4096             // a larger jump is not tracked seq by seq (only its first followMaxHole seqs)
)

type seqTracker struct {
	max     int64               // highest seq printed (or the start cursor)
	holes   map[int64]time.Time // seqs below max not seen yet -> when first noticed
	printed map[int64]bool      // seqs printed at or above the lowest open hole
}

func newSeqTracker(cursor int64) *seqTracker {
	return &seqTracker{max: cursor, holes: map[int64]time.Time{}, printed: map[int64]bool{}}
}

// from is the AfterSeq of the next read: just below the lowest open hole.
func (t *seqTracker) from(now time.Time) int64 {
	low := t.max
	for s, at := range t.holes {
		if now.Sub(at) >= followSettle {
			delete(t.holes, s)
			continue
		}
		low = min(low, s-1)
	}
	for s := range t.printed {
		if s <= low {
			delete(t.printed, s)
		}
	}
	return low
}

// see reports whether the row with this seq is new (to be printed) and records it.
func (t *seqTracker) see(seq int64, now time.Time) bool {
	if t.printed[seq] || (seq <= t.max && !t.isHole(seq)) {
		return false
	}
	delete(t.holes, seq)
	if seq > t.max {
		for s := t.max + 1; s < seq && s <= t.max+followMaxHole; s++ {
			t.holes[s] = now
		}
		t.max = seq
	}
	if len(t.holes) > 0 {
		t.printed[seq] = true
	}
	return true
}

func (t *seqTracker) isHole(seq int64) bool { _, ok := t.holes[seq]; return ok }
