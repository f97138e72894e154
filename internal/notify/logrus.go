package notify

import (
	"io"
	"sync"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
)

var routeOnce sync.Once

// RouteEngineLogs sends what notifications-engine logs through logrus into
// log, as structured lines like the controller's own, instead of logrus'
// text on stderr. Debug lines go to verbosity 1.
func RouteEngineLogs(log logr.Logger) {
	routeOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.InfoLevel)
		logrus.AddHook(&logrHook{log: log})
	})
}

// logrHook forwards logrus entries to a logr.Logger.
type logrHook struct{ log logr.Logger }

// Levels implements logrus.Hook.
func (h *logrHook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook.
func (h *logrHook) Fire(e *logrus.Entry) error {
	kv := make([]interface{}, 0, 2*len(e.Data)+2)
	kv = append(kv, "level", e.Level.String())
	for k, v := range e.Data {
		kv = append(kv, k, v)
	}
	l := h.log
	if e.Level >= logrus.DebugLevel {
		l = l.V(1)
	}
	l.Info(e.Message, kv...)
	return nil
}
