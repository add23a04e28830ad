package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/budget"
)

// Key formats. A secret is SecretPrefix followed by SecretRandLen random base62
// characters; an id is "key_" followed by 12.
const (
	SecretPrefix  = "sk-rs-"
	SecretRandLen = 40
	SecretLen     = len(SecretPrefix) + SecretRandLen
	keyIDPrefix   = "key_"
	keyIDRandLen  = 12
	// displayPrefixLen is how much of the secret is kept for the masked form: "sk-rs-abcd".
	displayPrefixLen = len(SecretPrefix) + 4
	displaySuffixLen = 4
)

// ErrAmbiguous is returned by GetKey when a prefix matches more than one key.
var ErrAmbiguous = errors.New("ambiguous")

// NewKey describes a key to create. Nil limits mean "use the gateway defaults"; a
// limit of 0 means "unlimited for this key".
type NewKey struct {
	Name       string
	Project    string
	RPM        *int
	RPH        *int
	TPM        *int
	Concurrent *int
	Models     []string // allowed models; empty = every model
	BudgetUSD  *float64 // nil = no budget
	// BudgetPeriod is how often the budget starts over (budget.None: never).
	BudgetPeriod budget.Period
	ExpiresAt    time.Time // zero = never
}

// Key is a stored API key as the CLI and the gateway see it. It never holds the
// secret, and its JSON (the stable `--json` shape) never holds the hash.
//
// Limits are pointers: null/nil means the key follows the gateway's default limits,
// 0 means unlimited for this key, N > 0 is the key's own limit.
type Key struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Project    string   `json:"project"`
	Masked     string   `json:"masked"` // "sk-rs-abcd…wxyz"
	RPM        *int     `json:"rpm"`
	RPH        *int     `json:"rph"`
	TPM        *int     `json:"tpm"`
	Concurrent *int     `json:"concurrent"`
	Models     []string `json:"models"` // [] = every model
	BudgetUSD  *float64 `json:"budget_usd"`
	// BudgetPeriod is "none" (a lifetime budget), "day", "week" or "month" (UTC).
	BudgetPeriod budget.Period `json:"budget_period"`
	ExpiresAt    *time.Time    `json:"expires_at"`
	CreatedAt    time.Time     `json:"created_at"`
	LastUsedAt   *time.Time    `json:"last_used_at"`
	RevokedAt    *time.Time    `json:"revoked_at"`

	hash [32]byte
}

// Hash is the SHA-256 of the key's secret (for the authenticator's in-memory index).
func (k *Key) Hash() [32]byte { return k.hash }

// Revoked reports whether the key was revoked.
func (k *Key) Revoked() bool { return k.RevokedAt != nil }

// Expired reports whether the key has an expiry at or before now.
func (k *Key) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// Active reports whether the key can authenticate at now.
func (k *Key) Active(now time.Time) bool { return !k.Revoked() && !k.Expired(now) }

// HashSecret returns the SHA-256 a secret is stored and looked up by.
func HashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// MaskSecret returns the display form of a secret: "sk-rs-abcd…wxyz".
func MaskSecret(secret string) string {
	if len(secret) < displayPrefixLen+displaySuffixLen {
		return "…"
	}
	return secret[:displayPrefixLen] + "…" + secret[len(secret)-displaySuffixLen:]
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randBase62 returns n characters drawn uniformly from base62 using crypto/rand.
// Bytes >= 248 (4*62) are rejected so the modulo has no bias.
func randBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

func validateNewKey(nk NewKey) error {
	if strings.TrimSpace(nk.Name) == "" {
		return errors.New("a key needs a name")
	}
	for _, l := range []struct {
		name string
		v    *int
	}{{"rpm", nk.RPM}, {"rph", nk.RPH}, {"tpm", nk.TPM}, {"concurrent", nk.Concurrent}} {
		if l.v != nil && *l.v < 0 {
			return fmt.Errorf("%s must be 0 (unlimited) or more, not %d", l.name, *l.v)
		}
	}
	if nk.BudgetUSD != nil && (*nk.BudgetUSD < 0 || math.IsNaN(*nk.BudgetUSD) || math.IsInf(*nk.BudgetUSD, 0)) {
		return fmt.Errorf("budget must be 0 or more USD, not %v", *nk.BudgetUSD)
	}
	if _, err := budget.Parse(string(nk.BudgetPeriod)); err != nil {
		return err
	}
	return nil
}

func keyCleanModels(models []string) []string {
	out := make([]string, 0, len(models))
	for _, m := range models {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// CreateKey stores a new key and returns it with its secret. The secret is returned
// only here: the database keeps its SHA-256 and a display prefix/suffix.
func (s *Store) CreateKey(ctx context.Context, nk NewKey) (Key, string, error) {
	if err := validateNewKey(nk); err != nil {
		return Key{}, "", err
	}
	randPart, err := randBase62(SecretRandLen)
	if err != nil {
		return Key{}, "", err
	}
	idPart, err := randBase62(keyIDRandLen)
	if err != nil {
		return Key{}, "", err
	}
	secret := SecretPrefix + randPart
	models := keyCleanModels(nk.Models)
	modelsJSON, err := json.Marshal(models)
	if err != nil {
		return Key{}, "", fmt.Errorf("encode models: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	k := Key{
		ID:         keyIDPrefix + idPart,
		Name:       strings.TrimSpace(nk.Name),
		Project:    strings.TrimSpace(nk.Project),
		Masked:     MaskSecret(secret),
		RPM:        keyCopyInt(nk.RPM),
		RPH:        keyCopyInt(nk.RPH),
		TPM:        keyCopyInt(nk.TPM),
		Concurrent: keyCopyInt(nk.Concurrent),
		Models:     models,
		CreatedAt:  now,
		hash:       HashSecret(secret),
	}
	if nk.BudgetUSD != nil {
		b := *nk.BudgetUSD
		k.BudgetUSD = &b
	}
	k.BudgetPeriod, _ = budget.Parse(string(nk.BudgetPeriod)) // validated above
	if !nk.ExpiresAt.IsZero() {
		e := nk.ExpiresAt.UTC().Truncate(time.Millisecond)
		k.ExpiresAt = &e
	}
	err = s.tx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO keys
			(id, name, project, hash, prefix, suffix, rpm, rph, tpm, concurrent, models, budget_usd, budget_period, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.Project, k.hash[:], secret[:displayPrefixLen], secret[len(secret)-displaySuffixLen:],
			keyNullInt(k.RPM), keyNullInt(k.RPH), keyNullInt(k.TPM), keyNullInt(k.Concurrent), string(modelsJSON),
			keyNullFloat(k.BudgetUSD), string(k.BudgetPeriod), keyNullTime(k.ExpiresAt), k.CreatedAt.UnixMilli())
		return err
	})
	if err != nil {
		if isUniqueViolation(err) {
			return Key{}, "", fmt.Errorf("create key: %w", ErrDuplicate)
		}
		return Key{}, "", fmt.Errorf("create key: %w", err)
	}
	return k, secret, nil
}

const keyColumns = `id, name, project, hash, prefix, suffix, rpm, rph, tpm, concurrent, models,
	budget_usd, budget_period, expires_at, created_at, last_used_at, revoked_at`

type keyRowScanner interface{ Scan(dest ...any) error }

func scanKey(r keyRowScanner) (Key, error) {
	var (
		k                                     Key
		hash                                  []byte
		prefix, suffix, models, period        string
		rpm, rph, tpm, conc                   sql.NullInt64
		budgetUSD                             sql.NullFloat64
		expires, created, lastUsed, revokedAt sql.NullInt64
	)
	if err := r.Scan(&k.ID, &k.Name, &k.Project, &hash, &prefix, &suffix, &rpm, &rph, &tpm, &conc, &models,
		&budgetUSD, &period, &expires, &created, &lastUsed, &revokedAt); err != nil {
		return Key{}, err
	}
	copy(k.hash[:], hash)
	k.Masked = prefix + "…" + suffix
	k.RPM, k.RPH, k.TPM, k.Concurrent = keyIntPtr(rpm), keyIntPtr(rph), keyIntPtr(tpm), keyIntPtr(conc)
	k.Models = []string{}
	if models != "" {
		if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
			return Key{}, fmt.Errorf("key %s: decode models: %w", k.ID, err)
		}
		if k.Models == nil {
			k.Models = []string{}
		}
	}
	if budgetUSD.Valid {
		b := budgetUSD.Float64
		k.BudgetUSD = &b
	}
	// An unknown period (a newer binary's) reads as lifetime rather than failing.
	k.BudgetPeriod, _ = budget.Parse(period)
	k.ExpiresAt = keyTimePtr(expires)
	k.CreatedAt = time.UnixMilli(created.Int64).UTC()
	k.LastUsedAt = keyTimePtr(lastUsed)
	k.RevokedAt = keyTimePtr(revokedAt)
	return k, nil
}

func (s *Store) queryKeys(ctx context.Context, where string, args ...any) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+keyColumns+" FROM keys "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query keys: %w", err)
	}
	defer rows.Close()
	keys := []Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return keys, nil
}

// ListKeys returns keys oldest first; revoked keys only when includeRevoked.
// (Expired keys are listed: they are not revoked, and their expiry shows why they fail.)
func (s *Store) ListKeys(ctx context.Context, includeRevoked bool) ([]Key, error) {
	where := "WHERE revoked_at IS NULL " + s.keyOrder()
	if includeRevoked {
		where = s.keyOrder()
	}
	return s.queryKeys(ctx, where)
}

// GetKey finds one key by, in order: its exact id; its full secret; its masked form
// ("sk-rs-abcd…wxyz") or display prefix ("sk-rs-abcd"); a unique prefix of its id.
// It returns ErrNotFound when nothing matches and ErrAmbiguous (wrapped) when a
// prefix matches several keys.
func (s *Store) GetKey(ctx context.Context, idOrPrefix string) (Key, error) {
	q := strings.TrimSpace(idOrPrefix)
	if q == "" {
		return Key{}, ErrNotFound
	}
	one := func(keys []Key, err error) (Key, error) {
		switch {
		case err != nil:
			return Key{}, err
		case len(keys) == 0:
			return Key{}, ErrNotFound
		case len(keys) > 1:
			return Key{}, fmt.Errorf("%w: %q matches %d keys", ErrAmbiguous, q, len(keys))
		}
		return keys[0], nil
	}
	k, err := one(s.queryKeys(ctx, "WHERE id = ?", q))
	if !errors.Is(err, ErrNotFound) {
		return k, err
	}
	if strings.HasPrefix(q, SecretPrefix) {
		switch {
		case len(q) == SecretLen:
			return s.KeyByHash(ctx, HashSecret(q))
		case len(q) == displayPrefixLen:
			return one(s.queryKeys(ctx, "WHERE prefix = ?  "+s.keyOrder(), q))
		}
		if p, suf, ok := strings.Cut(q, "…"); ok && len(p) == displayPrefixLen && len(suf) == displaySuffixLen {
			return one(s.queryKeys(ctx, "WHERE prefix = ? AND suffix = ?  "+s.keyOrder(), p, suf))
		}
		return Key{}, ErrNotFound
	}
	// substr, not LIKE: "_" in ids is a LIKE wildcard.
	return one(s.queryKeys(ctx, "WHERE substr(id, 1, ?) = ?  "+s.keyOrder(), len(q), q))
}

// KeyByHash returns the key whose secret hashes to h, revoked or not (ErrNotFound).
func (s *Store) KeyByHash(ctx context.Context, h [32]byte) (Key, error) {
	keys, err := s.queryKeys(ctx, "WHERE hash = ?", h[:])
	if err != nil {
		return Key{}, err
	}
	if len(keys) == 0 {
		return Key{}, ErrNotFound
	}
	return keys[0], nil
}

// RevokeKey marks the key with this exact id revoked. Revoking a revoked key keeps its
// first revocation time and is not an error; an unknown id is ErrNotFound.
func (s *Store) RevokeKey(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
			time.Now().UnixMilli(), id)
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, "SELECT 1 FROM keys WHERE id = ?", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
}

// TouchKeys records last-used times in one transaction (the gateway batches them).
// A time never moves last_used_at backwards; unknown ids are ignored.
func (s *Store) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *Tx) error {
		stmt, err := tx.PrepareContext(ctx,
			"UPDATE keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)")
		if err != nil {
			return fmt.Errorf("touch keys: %w", err)
		}
		defer stmt.Close()
		for id, t := range used {
			if _, err := stmt.ExecContext(ctx, t.UnixMilli(), id, t.UnixMilli()); err != nil {
				return fmt.Errorf("touch key %s: %w", id, err)
			}
		}
		return nil
	})
}

// KeysVersion returns a counter that changes whenever a key is created, revoked,
// edited or deleted, by any process, but not when last_used_at moves. Unlike SQLite's
// data_version it is comparable across pooled connections and ignores request-log
// writes, so the gateway polls it to know when to reload its key index.
func (s *Store) KeysVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.QueryRowContext(ctx, "SELECT v FROM keys_version WHERE id = 1").Scan(&v); err != nil {
		return 0, fmt.Errorf("read keys version: %w", err)
	}
	return v, nil
}

func keyCopyInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func keyNullInt(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

func keyNullFloat(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func keyNullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func keyIntPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

func keyTimePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.UnixMilli(n.Int64).UTC()
	return &t
}
