package decide

import "strings"

// abortUnacted reports whether the decision p concluded that the update
// must abort (a step or pre-promotion analysis failed, the progress
// deadline passed with progressDeadlineAbort) while it acted on the update
// as it was: its status would read Degraded before any Service, weight or
// ReplicaSet went back to the stable version.
func abortUnacted(s Snapshot, p Plan) bool {
	return p.Status.Abort && p.Status.AbortedAt == nil && !s.Rollout.Status.Abort &&
		s.Rollout.DeletionTimestamp.IsZero()
}

// decideAbort decides again from the status first reached, in which the
// update is aborted, so that the abort's own writes (the Services and the
// traffic back to stable first) precede the status write that shows the
// phase Degraded, as when a person aborts. The first pass's writes are
// dropped: they served the update that no longer goes on. Its Events that
// explain the abort are kept; those that announce a dropped write (the
// routine ones, a run created) are not.
func decideAbort(s Snapshot, first Plan) Plan {
	again := s
	ro := s.Rollout.DeepCopy()
	ro.Status = *first.Status.DeepCopy()
	again.Rollout = ro
	p := decideOnce(again)

	var events []Event
	for _, e := range first.Events {
		if e.Routine || e.Reason == reasonRunCreated && !createsRunNamedIn(p, e.Message) {
			continue
		}
		events = append(events, e)
	}
	p.Events = append(events, p.Events...)
	return p
}

// reasonRunCreated is the Event reason of a new AnalysisRun.
const reasonRunCreated = "AnalysisRunCreated"

// createsRunNamedIn reports whether p creates the AnalysisRun whose name
// ends msg.
func createsRunNamedIn(p Plan, msg string) bool {
	for _, a := range p.Actions {
		if c, ok := a.(CreateAnalysisRun); ok && strings.HasSuffix(msg, " "+c.Run.Name) {
			return true
		}
	}
	return false
}
