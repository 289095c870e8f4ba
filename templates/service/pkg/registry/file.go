package registry

// The file registry: one JSON file shared with hale's Rust side, byte for byte the same format
// (hale's docs/contracts.md, "Registry formats"). Every read-modify-write holds an exclusive flock(2) on the
// sidecar PATH.lock, readers a shared one; writes go to PATH.tmp.<pid> and are renamed into
// place, so a reader never sees half a document. The TTL is enforced on read: expired entries
// are invisible to readers and dropped by writers, with no daemon.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// filePollInterval is how often Watch re-reads the file; expiry is time based, so polling is
// also what notices a TTL running out.
const filePollInterval = 250 * time.Millisecond

type fileDocument struct {
	Version   int         `json:"version"`
	Instances []fileEntry `json:"instances"`
}

// fileEntry's field order is the on-disk order the Rust side writes too.
type fileEntry struct {
	Name          string            `json:"name"`
	ID            string            `json:"id"`
	Address       string            `json:"address"`
	Port          int               `json:"port"`
	Tags          []string          `json:"tags"`
	Meta          map[string]string `json:"meta"`
	Check         string            `json:"check"`
	TTLMs         int64             `json:"ttl_ms"`
	ExpiresUnixMs int64             `json:"expires_unix_ms"`
	UpdatedUnixMs int64             `json:"updated_unix_ms"`
}

func (e fileEntry) live(nowMs int64) bool { return nowMs < e.ExpiresUnixMs }

func (e fileEntry) instance() Instance {
	inst := Instance{
		Name: e.Name, ID: e.ID, Address: e.Address, Port: e.Port,
		Tags: e.Tags, Meta: e.Meta, Check: e.Check,
		TTL: time.Duration(e.TTLMs) * time.Millisecond,
	}
	if inst.Tags == nil {
		inst.Tags = []string{}
	}
	if inst.Meta == nil {
		inst.Meta = map[string]string{}
	}
	return inst
}

func entryOf(inst Instance, nowMs int64) fileEntry {
	ttl := inst.TTL.Milliseconds()
	return fileEntry{
		Name: inst.Name, ID: inst.ID, Address: inst.Address, Port: inst.Port,
		Tags: inst.Tags, Meta: inst.Meta, Check: inst.Check,
		TTLMs: ttl, ExpiresUnixMs: nowMs + ttl, UpdatedUnixMs: nowMs,
	}
}

type fileRegistry struct {
	path string
}

func newFileRegistry(path string) *fileRegistry { return &fileRegistry{path: path} }

func nowUnixMs() int64 { return time.Now().UnixMilli() }

// lock takes the lock on PATH.lock (flock(2) on unix, LockFileEx on windows; lock_*.go),
// shared or exclusive, creating it and the parent folder if missing. It polls without
// blocking so a stuck holder cannot outlast ctx.
func (f *fileRegistry) lock(ctx context.Context, exclusive bool) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(f.path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for pause := time.Millisecond; ; pause = min(pause*2, 20*time.Millisecond) {
		busy, err := tryLock(lf, exclusive)
		if err != nil {
			lf.Close()
			return nil, fmt.Errorf("locking %s.lock: %w", f.path, err)
		}
		if !busy {
			return lf, nil
		}
		if !sleep(ctx, pause) {
			lf.Close()
			return nil, fmt.Errorf("waiting for the lock on %s.lock: %w", f.path, ctx.Err())
		}
	}
}

// unlock releases the lock; closing the descriptor would too, but say it explicitly.
func unlock(lf *os.File) {
	_ = unlockFile(lf)
	_ = lf.Close()
}

func (f *fileRegistry) readDocument() (fileDocument, error) {
	text, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(bytes.TrimSpace(text)) == 0) {
		return fileDocument{Version: 1}, nil
	}
	if err != nil {
		return fileDocument{}, err
	}
	var doc fileDocument
	if err := json.Unmarshal(text, &doc); err != nil {
		return fileDocument{}, fmt.Errorf("%s is not a hale registry file (%v); remove it or point REGISTRY elsewhere", f.path, err)
	}
	return doc, nil
}

// read returns the document under a shared lock.
func (f *fileRegistry) read(ctx context.Context) (fileDocument, error) {
	lf, err := f.lock(ctx, false)
	if err != nil {
		return fileDocument{}, err
	}
	defer unlock(lf)
	return f.readDocument()
}

// update is the read-modify-write under the exclusive lock: expired entries are dropped, the
// result sorted by name and id, written to PATH.tmp.<pid> and renamed over PATH. change failing
// leaves the file untouched.
func (f *fileRegistry) update(ctx context.Context, change func(doc *fileDocument, nowMs int64) error) error {
	lf, err := f.lock(ctx, true)
	if err != nil {
		return err
	}
	defer unlock(lf)
	doc, err := f.readDocument()
	if err != nil {
		return err
	}
	now := nowUnixMs()
	doc.Version = 1
	kept := doc.Instances[:0]
	for _, e := range doc.Instances {
		if e.live(now) {
			kept = append(kept, e)
		}
	}
	doc.Instances = kept
	if err := change(&doc, now); err != nil {
		return err
	}
	sort.Slice(doc.Instances, func(i, j int) bool {
		a, b := doc.Instances[i], doc.Instances[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	for i := range doc.Instances {
		// The Rust side rejects null here; always write [] and {}.
		if doc.Instances[i].Tags == nil {
			doc.Instances[i].Tags = []string{}
		}
		if doc.Instances[i].Meta == nil {
			doc.Instances[i].Meta = map[string]string{}
		}
	}
	if doc.Instances == nil {
		doc.Instances = []fileEntry{}
	}
	return f.writeDocument(doc)
}

// writeDocument writes what serde_json::to_writer_pretty plus a newline writes on the Rust side.
func (f *fileRegistry) writeDocument(doc fileDocument) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	tmp := f.path + ".tmp." + strconv.Itoa(os.Getpid())
	err := func() error {
		out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := out.Write(buf.Bytes()); err != nil {
			out.Close()
			return err
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		return os.Rename(tmp, f.path)
	}()
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	return nil
}

// register upserts by (name, id): a restarted instance simply takes its entry over.
func (f *fileRegistry) register(ctx context.Context, inst Instance) error {
	return f.update(ctx, func(doc *fileDocument, now int64) error {
		doc.Instances = removeEntry(doc.Instances, inst.Name, inst.ID)
		doc.Instances = append(doc.Instances, entryOf(inst, now))
		return nil
	})
}

func (f *fileRegistry) heartbeat(ctx context.Context, inst Instance) error {
	return f.update(ctx, func(doc *fileDocument, now int64) error {
		for i := range doc.Instances {
			e := &doc.Instances[i]
			if e.Name == inst.Name && e.ID == inst.ID {
				e.ExpiresUnixMs = now + e.TTLMs
				e.UpdatedUnixMs = now
				return nil
			}
		}
		return errLost
	})
}

func (f *fileRegistry) deregister(ctx context.Context, inst Instance) error {
	return f.update(ctx, func(doc *fileDocument, _ int64) error {
		doc.Instances = removeEntry(doc.Instances, inst.Name, inst.ID)
		return nil
	})
}

func (f *fileRegistry) close() error { return nil }

func removeEntry(entries []fileEntry, name, id string) []fileEntry {
	kept := entries[:0]
	for _, e := range entries {
		if e.Name != name || e.ID != id {
			kept = append(kept, e)
		}
	}
	return kept
}

// discover lists the live instances of service.
func (f *fileRegistry) discover(ctx context.Context, service string) ([]Instance, error) {
	doc, err := f.read(ctx)
	if err != nil {
		return nil, err
	}
	now := nowUnixMs()
	list := []Instance{}
	for _, e := range doc.Instances {
		if e.Name == service && e.live(now) {
			list = append(list, e.instance())
		}
	}
	return list, nil
}

func (f *fileRegistry) follow(ctx context.Context, service string, s *sender, logger *slog.Logger) {
	trouble := watchFailures{logger: logger}
	for {
		list, err := f.discover(ctx, service)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// A broken file is retried on the next tick: another writer may be fixing it.
			trouble.failed(ctx, err, filePollInterval)
		} else {
			trouble.succeeded()
			s.send(list)
		}
		if !sleep(ctx, filePollInterval) {
			return
		}
	}
}
