// Package store owns the database: the embedded SQLite file by default (opened safely
// for the gateway and CLI commands at once: WAL, busy timeout, immediate write
// transactions) or a shared PostgreSQL for several replicas; schema migrations for
// both dialects, and typed methods. No SQL lives outside this package.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// FileName is the database file inside the home folder.
const FileName = "runestone.db"

// Errors the store maps driver errors to.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("already exists")
)

// Store is an open database.
type Store struct {
	db    conn
	path  string
	stmts stmtCache // SQLite statements of the request-log writer, prepared once
}

// Open opens (creating 0600 if needed) the database at path and applies migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database file: %w", err)
	}
	_ = f.Close()

	// _txlock=immediate makes every write transaction take the write lock up front, so
	// two processes never deadlock upgrading read locks; busy_timeout makes a writer
	// wait for the other instead of failing with "database is locked".
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Statement journals in memory: each multi-row INSERT of the request log keeps
	// one (a later row could still fail), and in a temporary file that was a write
	// syscall per page — a fifth of the log writer's CPU.
	q.Add("_pragma", "temp_store(MEMORY)")
	// Checkpoint every 256 WAL pages (1 MiB) instead of SQLite's 1000: a checkpoint
	// runs inside the commit that crosses the mark and copies every page in one call
	// that cannot yield, so on one core the default held requests up for ~10ms.
	q.Add("_pragma", "wal_autocheckpoint(256)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := &Store{db: conn{db: db}, path: path}
	// Two processes creating a fresh file at once can see SQLITE_BUSY while one of them
	// switches it to WAL (that lock does not wait on busy_timeout): retry briefly.
	for attempt := 0; ; attempt++ {
		err = s.migrate(ctx)
		if err == nil || !IsBusy(err) || attempt == 50 {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.close()
	return s.db.Close()
}

// tx runs fn in a write transaction, rolling back on error.
func (s *Store) tx(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(&Tx{tx: tx, pg: s.db.pg, db: s.db.db, stmts: &s.stmts}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
