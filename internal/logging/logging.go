// Package logging builds the structured logger every part of Kanaria writes
// through: one key/value line per decision, as text for people or JSON for
// log pipelines.
package logging

import (
	"fmt"
	"io"
	"strings"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Formats lists the accepted values of the log format flag.
var Formats = []string{"text", "json"}

// Levels lists the accepted values of the log level flag.
var Levels = []string{"debug", "info", "warn", "error"}

// New returns a logger that writes lines at or above level ("debug", "info",
// "warn", "error") to w, in format "text" or "json".
func New(w io.Writer, level, format string) (logr.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil || !contains(Levels, strings.ToLower(level)) {
		return logr.Discard(), fmt.Errorf("unknown log level %q: use one of %s", level, strings.Join(Levels, ", "))
	}
	var enc zap.Opts
	switch strings.ToLower(format) {
	case "json":
		enc = zap.JSONEncoder(func(c *zapcore.EncoderConfig) { c.EncodeTime = zapcore.ISO8601TimeEncoder })
	case "text":
		enc = zap.ConsoleEncoder(func(c *zapcore.EncoderConfig) { c.EncodeTime = zapcore.ISO8601TimeEncoder })
	default:
		return logr.Discard(), fmt.Errorf("unknown log format %q: use one of %s", format, strings.Join(Formats, ", "))
	}
	return zap.New(zap.WriteTo(w), zap.Level(lvl), enc, zap.StacktraceLevel(zapcore.DPanicLevel)), nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
