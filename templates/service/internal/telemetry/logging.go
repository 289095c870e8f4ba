package telemetry

import (
	"io"
	"log/slog"
	"strings"
	"time"
)

// Log formats (LOG_FORMAT).
const (
	// LogFormatJSON is slog's JSON: time, level, msg and the service's own short keys.
	LogFormatJSON = "json"
	// LogFormatECS is Elastic Common Schema: @timestamp, log.level, message, ecs.version and
	// ECS (or, where ECS has none, OpenTelemetry semantic-convention) names for the rest, so
	// Filebeat/Elastic Agent ship lines without an ingest pipeline to rename fields.
	LogFormatECS = "ecs"
)

// LogFormats lists the LOG_FORMAT values.
var LogFormats = []string{LogFormatJSON, LogFormatECS}

// ECSVersion is the Elastic Common Schema release the ecs format follows.
const ECSVersion = "8.11.0"

// ecsNames maps the service's log keys to their ECS names. Every key the service logs with
// is here or is already unambiguous; two service keys never map to one ECS name, so a line
// keeps unique keys in either format.
var ecsNames = map[string]string{
	"service":             "service.name",
	"instance":            "service.node.name",
	"version":             "service.version",
	"request_id":          "http.request.id",
	"trace_id":            "trace.id",
	"span_id":             "span.id",
	"method":              "http.request.method",
	"route":               "http.route",
	"path":                "url.path",
	"status":              "http.response.status_code",
	"bytes":               "http.response.body.bytes",
	"remote":              "client.address",
	"error":               "error.message",
	"addr":                "server.address",
	"downstream":          "destination.service.name",
	"downstream_instance": "destination.service.node.name",
}

// NewLogger returns the service's logger: one JSON object per line on w, at level and above,
// in format (LogFormatJSON or LogFormatECS).
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format != LogFormatECS {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	opts.ReplaceAttr = ecsAttr
	return slog.New(slog.NewJSONHandler(w, opts).WithAttrs([]slog.Attr{slog.String("ecs.version", ECSVersion)}))
}

// ecsAttr renames one attribute to its ECS name; slog calls it for every attribute, the
// built-in time, level and message included.
func ecsAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if t, ok := a.Value.Any().(time.Time); ok {
			return slog.String("@timestamp", t.UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
		}
		a.Key = "@timestamp"
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String("log.level", strings.ToLower(l.String()))
		}
		a.Key = "log.level"
	case slog.MessageKey:
		a.Key = "message"
	case "duration_ms":
		// ECS durations are integer nanoseconds.
		if a.Value.Kind() == slog.KindFloat64 {
			return slog.Int64("event.duration", int64(a.Value.Float64()*float64(time.Millisecond)))
		}
		a.Key = "event.duration_ms"
	default:
		if name, ok := ecsNames[a.Key]; ok {
			a.Key = name
		}
	}
	return a
}
