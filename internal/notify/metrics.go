package notify

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count notifications by outcome under the reference's names.
type Metrics struct {
	success, failure *prometheus.CounterVec
}

// NewMetrics registers the counters with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"namespace", "name", "type", "reason"}
	m := &Metrics{
		success: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notification_send_success",
			Help: "Notifications sent successfully, by the object and the decision's event type and reason.",
		}, labels),
		failure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notification_send_error",
			Help: "Notifications that could not be sent (a broken service, template or configuration, or a full queue), by the object and the decision's event type and reason.",
		}, labels),
	}
	for _, c := range []prometheus.Collector{m.success, m.failure} {
		if err := reg.Register(c); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				if c == m.success {
					m.success = are.ExistingCollector.(*prometheus.CounterVec)
				} else {
					m.failure = are.ExistingCollector.(*prometheus.CounterVec)
				}
				continue
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) sent(j job) {
	if m != nil {
		m.success.WithLabelValues(j.namespace, j.name, j.notice.Type, j.notice.Reason).Inc()
	}
}

func (m *Metrics) failed(j job) {
	if m != nil {
		m.failure.WithLabelValues(j.namespace, j.name, j.notice.Type, j.notice.Reason).Inc()
	}
}

// Forget removes the counters of an object that is gone, so a deleted
// Rollout's series leave /metrics instead of staying forever.
func (m *Metrics) Forget(namespace, name string) {
	if m != nil {
		match := prometheus.Labels{"namespace": namespace, "name": name}
		m.success.DeletePartialMatch(match)
		m.failure.DeletePartialMatch(match)
	}
}
