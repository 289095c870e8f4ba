package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// viaSlog is the access line as the service's slog logger writes it: the specification
// AccessLog is held to.
func viaSlog(w *bytes.Buffer, format string, level slog.Level, e AccessEntry) {
	logger := NewLogger(w, slog.LevelDebug, format).With("service", "orders", "instance", "orders-1")
	attrs := []slog.Attr{
		slog.String("method", e.Method),
		slog.String("route", e.Route),
		slog.String("path", e.Path),
		slog.Int("status", e.Status),
		slog.Int64("bytes", e.Bytes),
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.String("remote", e.Remote),
		slog.String("request_id", e.RequestID),
	}
	if e.TraceID.IsValid() {
		attrs = append(attrs, slog.String("trace_id", e.TraceID.String()), slog.String("span_id", e.SpanID.String()))
	}
	// The record's time is the entry's (now when it has none), as AccessLog takes it.
	when := e.Time
	if when.IsZero() {
		when = time.Now()
	}
	r := slog.NewRecord(when, level, "request", 0)
	r.AddAttrs(attrs...)
	_ = logger.Handler().Handle(context.Background(), r)
}

func traceID(h string) trace.TraceID {
	id, err := trace.TraceIDFromHex(h)
	if err != nil {
		panic(err)
	}
	return id
}

func spanID(h string) trace.SpanID {
	id, err := trace.SpanIDFromHex(h)
	if err != nil {
		panic(err)
	}
	return id
}

// The line's time reuses the text of its second; whatever the order of the times, their
// zones and fractions, it is what the layout writes.
func TestAccessTimeIsTheLayoutsText(t *testing.T) {
	cet, ny := time.FixedZone("CET", 3600), time.FixedZone("NY", -5*3600-30*60)
	base := time.Date(2026, 12, 6, 20, 31, 9, 0, time.UTC)
	var times []time.Time
	for _, ns := range []int{0, 1, 10, 100, 120_000_000, 123_456_789, 999_999_999, 500_000_000, 0} {
		for _, at := range []time.Time{base, base.Add(time.Second), base.Add(-time.Second)} {
			t := at.Add(time.Duration(ns))
			times = append(times, t, t.In(cet), t.In(ny), t.In(time.Local), t)
		}
	}
	times = append(times, time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 5, cet),
		time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC), time.Time{}, base)
	for _, format := range LogFormats {
		a := NewAccessLog(discard{}, slog.LevelInfo, format)
		for _, tm := range times {
			want := string(tm.AppendFormat(nil, time.RFC3339Nano))
			if format == LogFormatECS {
				tm = tm.UTC()
				want = string(tm.AppendFormat(nil, "2006-01-02T15:04:05.000000Z07:00"))
			}
			if got := string(a.appendTime(nil, tm)); got != want {
				t.Errorf("%s: %v written %q, want %q", format, tm, got, want)
			}
		}
	}
}

var timestamp = regexp.MustCompile(`^\{"(time|@timestamp)":"([^"]*)"`)

func TestAccessLineIsTheLineSlogWritesInBothFormats(t *testing.T) {
	entries := []AccessEntry{
		{Time: time.Date(2026, 12, 6, 20, 31, 9, 123456789, time.FixedZone("CET", 3600)),
			Method: "GET", Route: "GET /{$}", Path: "/", Status: 200, Bytes: 57, Duration: 1234567 * time.Nanosecond,
			Remote: "127.0.0.1:50312", RequestID: "0f8fad5b-d9cb-469f-a165-70867728950e",
			TraceID: traceID("4bf92f3577b34da6a3ce929d0e0e4736"), SpanID: spanID("00f067aa0ba902b7")},
		{Time: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
			Method: "POST", Route: "POST /v1/orders", Path: "/v1/orders", Status: 503, Bytes: 0, Duration: 0,
			Remote: "[::1]:1", RequestID: "r"},
		{Method: "BREW", Route: "unmatched", Path: "/a\"b\\c\n\r\t\x01\x7f<&>\u2028\u2029é\xff/日本", Status: 404,
			Bytes: 1 << 40, Duration: 90 * time.Second, Remote: "", RequestID: ""},
		{Method: "GET", Route: "GET /healthz", Path: "/healthz", Status: 200, Duration: 999 * time.Nanosecond},
		{Method: "GET", Route: "GET /healthz", Path: "/healthz", Status: 200, Duration: 1500 * time.Microsecond},
	}
	for _, format := range LogFormats {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
			for i, e := range entries {
				var want, got bytes.Buffer
				viaSlog(&want, format, level, e)
				NewAccessLog(&got, slog.LevelDebug, format, "service", "orders", "instance", "orders-1").Write(level, &e)
				w, g := want.String(), got.String()
				if !strings.HasSuffix(g, "}\n") || strings.Count(g, "\n") != 1 {
					t.Fatalf("%s entry %d: not one line: %q", format, i, g)
				}
				if !json.Valid([]byte(g)) {
					t.Fatalf("%s entry %d: not JSON: %s", format, i, g)
				}
				wm, gm := timestamp.FindStringSubmatch(w), timestamp.FindStringSubmatch(g)
				if wm == nil || gm == nil || wm[1] != gm[1] {
					t.Fatalf("%s entry %d: timestamps differ in form:\nslog:   %s\naccess: %s", format, i, w, g)
				}
				layout := time.RFC3339Nano
				if format == LogFormatECS {
					layout = "2006-01-02T15:04:05.000000Z07:00"
				}
				if _, err := time.Parse(layout, gm[2]); err != nil {
					t.Fatalf("%s entry %d: timestamp %q: %v", format, i, gm[2], err)
				}
				if w[len(wm[0]):] != g[len(gm[0]):] {
					t.Errorf("%s %s entry %d differs:\nslog:   %s\naccess: %s", format, level, i, w, g)
				}
				if !e.Time.IsZero() && w != g {
					t.Errorf("%s %s entry %d: the entry's time is written otherwise:\nslog:   %s\naccess: %s", format, level, i, w, g)
				}
			}
		}
	}
}

func TestAccessLogHonoursTheLevelAndANilLogWritesNothing(t *testing.T) {
	var buf bytes.Buffer
	a := NewAccessLog(&buf, slog.LevelWarn, LogFormatJSON)
	if a.Enabled(slog.LevelInfo) || !a.Enabled(slog.LevelWarn) {
		t.Fatalf("LOG_LEVEL=warn: info %v, warn %v", a.Enabled(slog.LevelInfo), a.Enabled(slog.LevelWarn))
	}
	var none *AccessLog
	if none.Enabled(slog.LevelError) {
		t.Fatal("a nil access log is enabled")
	}
}

// The logger's lines and the access lines share one LineWriter and never interleave.
func TestLoggerAndAccessLinesNeverInterleave(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	out := NewLineWriter(&buf)
	logger := NewLogger(out, slog.LevelInfo, LogFormatJSON).With("service", "orders")
	access := NewAccessLog(out, slog.LevelInfo, LogFormatJSON, "service", "orders")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				logger.Info("something happened", "i", i, "text", strings.Repeat("x", 300))
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				access.Write(slog.LevelInfo, &AccessEntry{Method: "GET", Route: "GET /{$}", Path: strings.Repeat("/p", 200), Status: 200})
			}
		}()
	}
	wg.Wait()
	if err := out.Close(); err != nil { // the last access lines may still wait
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("interleaved or broken line: %.200s", l)
		}
	}
}

// writeCalls records each Write it is given as one string.
type writeCalls struct {
	mu    sync.Mutex
	calls []string
}

func (w *writeCalls) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writeCalls) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

// Access lines wait to be written together; the logger's next line takes them along, in order,
// in the same single write.
func TestAccessLinesGoOutTogetherBeforeTheNextLoggerLine(t *testing.T) {
	var w writeCalls
	out := NewLineWriter(&w)
	defer out.Close()
	logger := NewLogger(out, slog.LevelInfo, LogFormatJSON)
	access := NewAccessLog(out, slog.LevelInfo, LogFormatJSON)
	for _, path := range []string{"/a", "/b", "/c"} {
		access.Write(slog.LevelInfo, &AccessEntry{Method: "GET", Route: "GET /{x}", Path: path, Status: 200})
	}
	logger.Warn("something went wrong")
	calls := w.get()
	if len(calls) != 1 {
		t.Fatalf("%d writes, want the three access lines and the warning in one: %q", len(calls), calls)
	}
	var order []string
	for _, line := range strings.Split(strings.TrimSuffix(calls[0], "\n"), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("not one JSON object: %s", line)
		}
		order = append(order, fmt.Sprint(entry["msg"], entry["path"]))
	}
	if want := "[request/a request/b request/c something went wrong<nil>]"; fmt.Sprint(order) != want {
		t.Errorf("lines in the write: %v, want %s", order, want)
	}
}

// A lone access line is written accessLinger after it was logged, not later: run on the
// synctest bubble's clock, so "after" and "not before" are exact.
func TestALoneAccessLineIsWrittenWithinTheLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w writeCalls
		out := NewLineWriter(&w)
		access := NewAccessLog(out, slog.LevelInfo, LogFormatJSON)
		access.Write(slog.LevelInfo, &AccessEntry{Method: "GET", Route: "GET /{$}", Path: "/", Status: 200})
		time.Sleep(accessLinger - time.Nanosecond)
		synctest.Wait()
		if calls := w.get(); len(calls) != 0 {
			t.Fatalf("written before the linger ran out: %q", calls)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if calls := w.get(); len(calls) != 1 || !strings.Contains(calls[0], `"msg":"request"`) {
			t.Fatalf("writes when the linger ran out: %q, want the access line", calls)
		}
		// Nothing waits, so nothing more is written.
		time.Sleep(time.Minute)
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		if calls := w.get(); len(calls) != 1 {
			t.Fatalf("%d writes, want 1", len(calls))
		}
	})
}

// A full batch is written at once, and after Close every line is: nothing waits for a timer
// once the service is shutting down. On the bubble's clock: the linger never runs out while
// the batch fills, however slow the machine (-race, coverage, a loaded CI runner).
func TestAFullBatchAndEveryLineAfterCloseAreWrittenAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w writeCalls
		out := NewLineWriter(&w)
		access := NewAccessLog(out, slog.LevelInfo, LogFormatJSON)
		e := AccessEntry{Method: "GET", Route: "GET /{$}", Path: "/" + strings.Repeat("p", 1000), Status: 200}
		written := 0
		for len(w.get()) == 0 {
			access.Write(slog.LevelInfo, &e)
			written++
			if written > accessBatch {
				t.Fatal("a full batch was never written")
			}
		}
		if got := strings.Count(w.get()[0], "\n"); got != written || len(w.get()[0]) < accessBatch {
			t.Fatalf("first write: %d lines, %d bytes; want all %d lines written so far, at least %d bytes", got, len(w.get()[0]), written, accessBatch)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		access.Write(slog.LevelInfo, &e)
		if calls := w.get(); len(calls) != 2 || strings.Count(calls[1], "\n") != 1 {
			t.Fatalf("after Close: %d writes, want the line written at once", len(calls))
		}
	})
}

func BenchmarkAccessLine(b *testing.B) {
	e := AccessEntry{Method: "GET", Route: "GET /{$}", Path: "/", Status: 200, Bytes: 57, Duration: 1234567,
		Remote: "127.0.0.1:50312", RequestID: "0f8fad5b-d9cb-469f-a165-70867728950e",
		TraceID: traceID("4bf92f3577b34da6a3ce929d0e0e4736"), SpanID: spanID("00f067aa0ba902b7")}
	for _, format := range LogFormats {
		b.Run(format+"/access", func(b *testing.B) {
			a := NewAccessLog(discard{}, slog.LevelInfo, format, "service", "orders", "instance", "orders-1")
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				a.Write(slog.LevelInfo, &e)
			}
		})
		b.Run(format+"/slog", func(b *testing.B) {
			logger := NewLogger(discard{}, slog.LevelInfo, format).With("service", "orders", "instance", "orders-1")
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				logger.LogAttrs(ctx, slog.LevelInfo, "request",
					slog.String("method", e.Method), slog.String("route", e.Route), slog.String("path", e.Path),
					slog.Int("status", e.Status), slog.Int64("bytes", e.Bytes),
					slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
					slog.String("remote", e.Remote), slog.String("request_id", e.RequestID),
					slog.String("trace_id", e.TraceID.String()), slog.String("span_id", e.SpanID.String()))
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
