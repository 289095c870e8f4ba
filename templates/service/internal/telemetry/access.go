package telemetry

import (
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
)

// AccessLog writes the access line, one per request, as the same JSON object the service's
// slog logger would write for
//
//	logger.LogAttrs(ctx, level, "request", method, route, path, status, bytes, duration_ms,
//	    remote, request_id[, trace_id, span_id])
//
// in either LOG_FORMAT, with the logger's own attributes (service, instance) in the same
// place. It is encoded by hand because it is the one line written for every request: through
// slog it costs a slog.Record whose ten attributes spill out of the five it holds inline, a
// handler state, and json.Marshal for the float duration_ms. Here it is one pooled buffer and
// one Write. Every other line goes through slog (NewLogger); a test holds the two to the same
// output.
type AccessLog struct {
	w io.Writer
	// lines is w when it is a LineWriter, which takes access lines with WriteSoon.
	lines *LineWriter
	level slog.Leveler
	ecs   bool
	// attrs is the logger's own attributes, encoded once: `,"service":"orders",…`.
	attrs []byte
	// keys is each field's `,"name":` in the log format, encoded once.
	keys accessKeys
	// stamp is the time's text up to the second, kept for the second it was made in.
	stamp atomic.Pointer[timeStamp]
	bufs  sync.Pool
}

// accessKeys is the access line's keys, each encoded as `,"name":`.
type accessKeys struct {
	method, route, path, status, bytes, remote, requestID, traceID, spanID []byte
}

// timeStamp is a second's text in the line's time layout, without the fraction: the date and
// clock (`2026-12-06T20:31:09`) and the zone after the fraction (`Z`, `+01:00`). Every line
// of one second in one location shares them, so only the fraction is formatted per line.
type timeStamp struct {
	unix       int64
	loc        *time.Location
	clock      []byte
	zoneSuffix []byte
}

// AccessEntry is one finished request.
type AccessEntry struct {
	// Time is the line's time, when the request finished; zero means now.
	Time      time.Time
	Method    string
	Route     string
	Path      string
	Status    int
	Bytes     int64
	Duration  time.Duration
	Remote    string
	RequestID string
	// TraceID and SpanID are left out of the line when the trace ID is invalid (no span).
	TraceID trace.TraceID
	SpanID  trace.SpanID
}

// NewAccessLog returns the access line writer for w, at level and above, in format
// (LogFormatJSON or LogFormatECS), carrying the logger's attributes: key, value pairs as
// given to slog.Logger.With (service, instance). w must take each line in one Write, as the
// logger's does: share a LineWriter between the two, which also gathers the access lines into
// few writes (LineWriter.WriteSoon).
func NewAccessLog(w io.Writer, level slog.Leveler, format string, keyValues ...string) *AccessLog {
	a := &AccessLog{w: w, level: level, ecs: format == LogFormatECS}
	a.lines, _ = w.(*LineWriter)
	if a.ecs {
		a.attrs = appendString(append(a.attrs, `,"ecs.version":`...), ECSVersion)
	}
	for i := 0; i+1 < len(keyValues); i += 2 {
		a.attrs = a.appendKey(a.attrs, keyValues[i])
		a.attrs = appendString(a.attrs, keyValues[i+1])
	}
	key := func(name string) []byte { return a.appendKey(nil, name) }
	a.keys = accessKeys{
		method: key("method"), route: key("route"), path: key("path"), status: key("status"),
		bytes: key("bytes"), remote: key("remote"), requestID: key("request_id"),
		traceID: key("trace_id"), spanID: key("span_id"),
	}
	a.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return a
}

// Enabled reports whether a line at level is written.
func (a *AccessLog) Enabled(level slog.Level) bool {
	return a != nil && level >= a.level.Level()
}

// Write writes e's line at level (callers check Enabled first). A failed write is dropped, as
// slog drops it.
func (a *AccessLog) Write(level slog.Level, e *AccessEntry) {
	bp := a.bufs.Get().(*[]byte)
	now := e.Time
	if now.IsZero() {
		now = time.Now()
	}
	b := a.encode((*bp)[:0], now, level, e)
	if a.lines != nil {
		a.lines.WriteSoon(b)
	} else {
		_, _ = a.w.Write(b)
	}
	if cap(b) <= 64<<10 {
		*bp = b
		a.bufs.Put(bp)
	}
}

func (a *AccessLog) encode(b []byte, now time.Time, level slog.Level, e *AccessEntry) []byte {
	if a.ecs {
		b = append(b, `{"@timestamp":"`...)
		b = a.appendTime(b, now.UTC())
		b = append(b, `","log.level":`...)
		b = appendString(b, ecsLevel(level))
		b = append(b, `,"message":"request"`...)
	} else {
		b = append(b, `{"time":"`...)
		b = a.appendTime(b, now)
		b = append(b, `","level":`...)
		b = appendString(b, level.String())
		b = append(b, `,"msg":"request"`...)
	}
	b = append(b, a.attrs...)
	b = appendString(append(b, a.keys.method...), e.Method)
	b = appendString(append(b, a.keys.route...), e.Route)
	b = appendString(append(b, a.keys.path...), e.Path)
	b = strconv.AppendInt(append(b, a.keys.status...), int64(e.Status), 10)
	b = strconv.AppendInt(append(b, a.keys.bytes...), e.Bytes, 10)
	if a.ecs {
		// ECS durations are integer nanoseconds, of the millisecond figure slog would log.
		ms := float64(e.Duration.Microseconds()) / 1000
		b = strconv.AppendInt(append(b, `,"event.duration":`...), int64(ms*float64(time.Millisecond)), 10)
	} else {
		// encoding/json's form for a float in [1e-6, 1e21) or 0, which every duration is.
		b = strconv.AppendFloat(append(b, `,"duration_ms":`...), float64(e.Duration.Microseconds())/1000, 'f', -1, 64)
	}
	b = appendString(append(b, a.keys.remote...), e.Remote)
	b = appendString(append(b, a.keys.requestID...), e.RequestID)
	if e.TraceID.IsValid() {
		// Hex needs no escaping: written straight from the IDs' bytes.
		b = append(append(b, a.keys.traceID...), '"')
		b = append(appendHex(b, e.TraceID[:]), '"')
		b = append(append(b, a.keys.spanID...), '"')
		b = append(appendHex(b, e.SpanID[:]), '"')
	}
	return append(b, "}\n"...)
}

// ecsLevel is the level's name as the ECS format writes it, without allocating for the four
// named levels.
func ecsLevel(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelInfo:
		return "info"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return strings.ToLower(l.String())
}

// appendKey appends `,"key":` with the key's name in the log format.
func (a *AccessLog) appendKey(b []byte, key string) []byte {
	if a.ecs {
		if name, ok := ecsNames[key]; ok {
			key = name
		}
	}
	b = appendString(append(b, ','), key)
	return append(b, ':')
}

// appendString appends s as a JSON string, escaped as slog's JSON handler escapes it
// (encoding/json's rules with HTML characters kept).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendHex appends p in lower-case hex, as TraceID.String and SpanID.String write it.
func appendHex(b, p []byte) []byte {
	for _, c := range p {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendTime appends t in the line's layout: RFC 3339 with nanoseconds, trailing zeros
// dropped (what slog's JSON handler writes), or for ECS with exactly six fraction digits
// (t is UTC then). The text up to the second is made once per second and reused.
func (a *AccessLog) appendTime(b []byte, t time.Time) []byte {
	st := a.stamp.Load()
	if st == nil || st.unix != t.Unix() || st.loc != t.Location() {
		if y := t.Year(); y < 0 || y > 9999 {
			// The split below assumes a four-digit year.
			if a.ecs {
				return t.AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
			}
			return t.AppendFormat(b, time.RFC3339Nano)
		}
		st = newTimeStamp(t)
		a.stamp.Store(st)
	}
	b = append(b, st.clock...)
	ns := t.Nanosecond()
	if a.ecs {
		b = appendDigits(append(b, '.'), ns/1000, 6)
	} else if ns != 0 {
		// Nine digits less the trailing zeros, as time.RFC3339Nano writes them.
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = appendDigits(append(b, '.'), ns, digits)
	}
	return append(b, st.zoneSuffix...)
}

// newTimeStamp formats t's second, split around where the fraction goes. Without a fraction
// both layouts are time.RFC3339: the date and clock, then the zone.
func newTimeStamp(t time.Time) *timeStamp {
	text := t.AppendFormat(nil, time.RFC3339)
	const clockLen = len("2006-01-02T15:04:05")
	return &timeStamp{unix: t.Unix(), loc: t.Location(), clock: text[:clockLen], zoneSuffix: text[clockLen:]}
}

// appendDigits appends v as exactly n decimal digits, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	var buf [9]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:n]...)
}

// Access lines wait in a LineWriter at most accessLinger, or until accessBatch bytes of them
// are waiting, whichever comes first. Under load the access log costs one write per few hundred
// requests instead of a write per request (a system call, about a sixth of a small request's
// CPU time); at a trickle a line still appears within accessLinger, long before any log
// shipper reads it.
const (
	accessLinger = 10 * time.Millisecond
	accessBatch  = 64 << 10
)

// LineWriter serialises whole lines to w, so the logger's lines and the access lines never
// interleave whatever w is, and keeps them in the order they were written. Access lines
// (WriteSoon) are gathered and written together, at most accessLinger late; every other line
// (Write: the logger's) is written at once, after the access lines waiting before it, so a
// warning or an error is never held back. Flush (or Close, at shutdown) writes what waits.
type LineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	pending []byte
	timer   *time.Timer // flushes pending accessLinger after the first line waits
	armed   bool        // the timer is set
	closed  bool        // after Close every line is written at once
}

// NewLineWriter wraps w.
func NewLineWriter(w io.Writer) *LineWriter {
	l := &LineWriter{w: w}
	l.timer = time.AfterFunc(time.Hour, func() { _ = l.Flush() })
	l.timer.Stop()
	return l
}

// Write writes the access lines waiting, then p, in one call to w, under the lock.
func (l *LineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) == 0 {
		return l.w.Write(p)
	}
	l.pending = append(l.pending, p...)
	if err := l.flushLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteSoon queues the line p (copied) to be written within accessLinger. A failed write is
// dropped, as slog drops it.
func (l *LineWriter) WriteSoon(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, p...)
	switch {
	case l.closed || len(l.pending) >= accessBatch:
		_ = l.flushLocked()
	case !l.armed:
		l.armed = true
		l.timer.Reset(accessLinger)
	}
}

// Flush writes the lines waiting.
func (l *LineWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

// Close writes the lines waiting and makes every later line go out at once; w stays open.
func (l *LineWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.flushLocked()
}

func (l *LineWriter) flushLocked() error {
	if l.armed {
		l.armed = false
		l.timer.Stop()
	}
	if len(l.pending) == 0 {
		return nil
	}
	_, err := l.w.Write(l.pending)
	if cap(l.pending) > 4*accessBatch {
		l.pending = nil // a burst of long lines grew it: let it go
	} else {
		l.pending = l.pending[:0]
	}
	return err
}
