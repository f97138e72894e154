// Package logging builds the structured logger every part of Kanaria writes
// through: one key/value line per decision, as text for people or JSON for
// log pipelines.
package logging

import (
	"fmt"
	"io"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	uzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Formats lists the accepted values of the log format flag.
var Formats = []string{"text", "json"}

// Levels lists the accepted values of the log level flag.
var Levels = []string{"debug", "info", "warn", "error"}

// New returns a logger that writes lines at or above level ("debug", "info",
// "warn", "error") to w, in format "text" or "json".
//
// Every line is written. controller-runtime's own zap constructor samples
// outside development mode (after 100 lines of one message in a second it
// keeps one in 100), which under a burst of aborts would drop the lines of
// most decisions; a log that is one line per decision must not. The core is
// therefore built here, with controller-runtime's encoder that names
// Kubernetes objects by namespace and name.
func New(w io.Writer, level, format string) (logr.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil || !contains(Levels, strings.ToLower(level)) {
		return logr.Discard(), fmt.Errorf("unknown log level %q: use one of %s", level, strings.Join(Levels, ", "))
	}
	var enc zapcore.Encoder
	switch strings.ToLower(format) {
	case "json":
		c := uzap.NewProductionEncoderConfig()
		c.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(c)
	case "text":
		c := uzap.NewDevelopmentEncoderConfig()
		c.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewConsoleEncoder(c)
	default:
		return logr.Discard(), fmt.Errorf("unknown log format %q: use one of %s", format, strings.Join(Formats, ", "))
	}
	sink := zapcore.AddSync(w)
	core := zapcore.NewCore(&zap.KubeAwareEncoder{Encoder: enc}, sink, lvl)
	return zapr.NewLogger(uzap.New(core, uzap.ErrorOutput(sink), uzap.AddStacktrace(zapcore.DPanicLevel))), nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
