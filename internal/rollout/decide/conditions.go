package decide

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Condition reasons; the strings are the ones Argo Rollouts users and Argo CD
// already know.
const (
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonNewRSCreated     = "NewReplicaSetCreated"
	ReasonRSUpdated        = "ReplicaSetUpdated"
	ReasonNewRSAvailable   = "NewReplicaSetAvailable"
	ReasonProgressDeadline = "ProgressDeadlineExceeded"
	ReasonPaused           = "RolloutPaused"
	ReasonResumed          = "RolloutResumed"
	ReasonAborted          = "RolloutAborted"
	ReasonCompleted        = "RolloutCompleted"
	ReasonNotCompleted     = "RolloutNotCompleted"
	ReasonHealthy          = "RolloutHealthy"
	ReasonNotHealthy       = "RolloutNotHealthy"
	ReasonAvailable        = "AvailableReason"
	ReasonNotAvailable     = "NotAvailableReason"
	ReasonReplicaFailure   = "ReplicaSetCreateError"
	ReasonStepCompleted    = "RolloutStepCompleted"
)

// FindCondition returns the condition of type t in st, or nil.
func FindCondition(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func removeCondition(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) {
	out := st.Conditions[:0]
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
	if len(out) == 0 {
		st.Conditions = nil
	}
}

// setCondition records a condition. The transition time moves only when the
// status changes; the update time only when anything changes, so an
// unchanged condition does not cause a status write.
func (d *decider) setCondition(t v1alpha1.RolloutConditionType, status corev1.ConditionStatus, reason, msg string) {
	if c := FindCondition(d.st, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return
		}
		if c.Status != status {
			c.LastTransitionTime = d.now
		}
		c.Status, c.Reason, c.Message, c.LastUpdateTime = status, reason, msg, d.now
		return
	}
	d.st.Conditions = append(d.st.Conditions, v1alpha1.RolloutCondition{
		Type: t, Status: status, Reason: reason, Message: msg, LastUpdateTime: d.now, LastTransitionTime: d.now,
	})
}
