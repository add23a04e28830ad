package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
)

// KeyUpdate changes some of a key's settings; nil fields stay as they are. A limit
// set to a negative value goes back to the gateway default (NULL).
type KeyUpdate struct {
	Name, Project             *string
	RPM, RPH, TPM, Concurrent *int
	Models                    *[]string
	BudgetUSD                 *float64 // < 0: no budget
	BudgetPeriod              *budget.Period
	ExpiresAt                 *time.Time
	ClearExpiry               bool
}

// UpdateKey applies u to the key with this exact id and returns the key as stored.
// Running gateways pick the change up like a revocation (keys_version trigger).
func (s *Store) UpdateKey(ctx context.Context, id string, u KeyUpdate) (Key, error) {
	var sets []string
	var args []any
	set := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
	if u.Name != nil {
		n := strings.TrimSpace(*u.Name)
		if n == "" {
			return Key{}, errors.New("a key needs a name")
		}
		set("name", n)
	}
	if u.Project != nil {
		set("project", strings.TrimSpace(*u.Project))
	}
	for _, l := range []struct {
		col string
		v   *int
	}{{"rpm", u.RPM}, {"rph", u.RPH}, {"tpm", u.TPM}, {"concurrent", u.Concurrent}} {
		switch {
		case l.v == nil:
		case *l.v < 0:
			set(l.col, nil)
		default:
			set(l.col, *l.v)
		}
	}
	if u.Models != nil {
		b, err := json.Marshal(keyCleanModels(*u.Models))
		if err != nil {
			return Key{}, err
		}
		set("models", string(b))
	}
	if u.BudgetUSD != nil {
		switch b := *u.BudgetUSD; {
		case math.IsNaN(b) || math.IsInf(b, 0):
			return Key{}, fmt.Errorf("budget must be a number of USD, not %v", b)
		case b < 0:
			set("budget_usd", nil)
		default:
			set("budget_usd", b)
		}
	}
	if u.BudgetPeriod != nil {
		p, err := budget.Parse(string(*u.BudgetPeriod))
		if err != nil {
			return Key{}, err
		}
		set("budget_period", string(p))
	}
	switch {
	case u.ClearExpiry:
		set("expires_at", nil)
	case u.ExpiresAt != nil:
		set("expires_at", u.ExpiresAt.UTC().UnixMilli())
	}
	if len(sets) == 0 {
		return Key{}, errors.New("nothing to change")
	}
	err := s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE keys SET "+strings.Join(sets, ", ")+" WHERE id = ?", append(args, id)...)
		if err != nil {
			return fmt.Errorf("update key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	return s.GetKey(ctx, id)
}
