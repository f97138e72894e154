package simulate

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// checkExpectations judges the scenario's expectations against the states
// and events of a finished run.
func checkExpectations(sc *Scenario, r *Result) []Failure {
	var out []Failure
	for _, e := range sc.Expect {
		where := fmt.Sprintf("%s:%d", sc.file, e.line)
		if f := judge(e, r); f != "" {
			out = append(out, Failure{Where: where, What: e.describe(), Got: f})
		}
	}
	return out
}

// judge returns why the expectation failed, or "".
func judge(e Expectation, r *Result) string {
	states := r.states
	if len(states) == 0 {
		return "the simulation recorded no state"
	}
	switch {
	case e.At != nil:
		t := e.At.D()
		if t > r.End {
			return fmt.Sprintf("the simulation ended at %s, before %s", fmtOffset(r.End), fmtOffset(t))
		}
		st := stateAt(states, t)
		return mismatch(e, st, r, t)
	case e.End:
		return mismatch(e, states[len(states)-1], r, r.End)
	case e.Before != nil:
		t := e.Before.D()
		var last string
		for _, st := range states {
			if st.At >= t {
				break
			}
			if last = mismatch(e, st, r, st.At); last == "" {
				return ""
			}
		}
		if last == "" {
			return fmt.Sprintf("no state before %s", fmtOffset(t))
		}
		return fmt.Sprintf("never before %s; last state before it: %s", fmtOffset(t), last)
	case e.Always:
		for _, st := range window(states, e.From) {
			if m := mismatch(e, st, r, st.At); m != "" {
				return fmt.Sprintf("at %s: %s", fmtOffset(st.At), m)
			}
		}
		return ""
	case e.Never:
		for _, st := range window(states, e.From) {
			if mismatch(e, st, r, st.At) == "" {
				return fmt.Sprintf("at %s it did: %s", fmtOffset(st.At), st.Line())
			}
		}
		return ""
	}
	return "the expectation says neither when nor what"
}

// window is the states that held from a moment on: the one in force then
// and every later one; all of them without a moment.
func window(states []State, from *Duration) []State {
	if from == nil {
		return states
	}
	i := sort.Search(len(states), func(i int) bool { return states[i].At > from.D() })
	if i > 0 {
		i--
	}
	return states[i:]
}

// stateAt is the state that held at t: the last one recorded at or before.
func stateAt(states []State, t time.Duration) State {
	i := sort.Search(len(states), func(i int) bool { return states[i].At > t })
	if i == 0 {
		return states[0]
	}
	return states[i-1]
}

// mismatch says which of the expectation's conditions the state fails, or
// "" when it meets them all.
func mismatch(e Expectation, st State, r *Result, t time.Duration) string {
	var bad []string
	if e.Phase != "" && st.Phase != e.Phase {
		got := st.Phase
		if st.Message != "" {
			got += fmt.Sprintf(" (%s)", st.Message)
		}
		bad = append(bad, fmt.Sprintf("phase: want %s, got %s", e.Phase, got))
	}
	if e.Aborted != nil && st.Aborted != *e.Aborted {
		bad = append(bad, fmt.Sprintf("aborted: want %v, got %v", *e.Aborted, st.Aborted))
	}
	if e.Step != nil && (st.Step == nil || *st.Step != *e.Step) {
		bad = append(bad, fmt.Sprintf("step: want %d, got %s", *e.Step, optInt(st.Step)))
	}
	if e.Weight != nil {
		w := st.ActualWeight
		if w == nil {
			w = st.SetWeight
		}
		if w == nil || *w != *e.Weight {
			bad = append(bad, fmt.Sprintf("weight: want %d, got %s", *e.Weight, optInt(w)))
		}
	}
	if e.StableRevision != nil && st.StableRevision != *e.StableRevision {
		bad = append(bad, fmt.Sprintf("stableRevision: want %d, got %d", *e.StableRevision, st.StableRevision))
	}
	for _, name := range sortedKeys(e.Services) {
		want := e.Services[name]
		got, found := 0, false
		for _, sv := range st.Services {
			if sv.Name == name {
				got, found = sv.Revision, true
			}
		}
		if !found {
			bad = append(bad, fmt.Sprintf("services.%s: the Service does not exist", name))
		} else if got != want {
			bad = append(bad, fmt.Sprintf("services.%s: want revision %d, got %d", name, want, got))
		}
	}
	if e.MinAvailable != nil && st.Available < *e.MinAvailable && reached(r.states, st.At, *e.MinAvailable) {
		bad = append(bad, fmt.Sprintf("available Pods: want at least %d, got %d", *e.MinAvailable, st.Available))
	}
	if e.StableMinReplicas != nil {
		for _, rv := range st.Revisions {
			if rv.Revision == st.StableRevision && updating(st) && rv.Desired < *e.StableMinReplicas {
				bad = append(bad, fmt.Sprintf("stable revision %d wants %d Pods before promotion, fewer than %d", rv.Revision, rv.Desired, *e.StableMinReplicas))
			}
		}
	}
	for _, rev := range sortedInts(e.Replicas) {
		want := e.Replicas[rev]
		got := int32(0)
		for _, rv := range st.Revisions {
			if rv.Revision == rev {
				got = rv.Desired
			}
		}
		if got != want {
			bad = append(bad, fmt.Sprintf("replicas of revision %d: want %d, got %d", rev, want, got))
		}
	}
	if e.Analysis != "" {
		got := "none"
		if n := len(st.Analyses); n > 0 {
			got = st.Analyses[n-1].Phase
		}
		if got != e.Analysis {
			bad = append(bad, fmt.Sprintf("analysis: want %s, got %s", e.Analysis, got))
		}
	}
	if e.Event != "" {
		found := false
		for _, en := range r.Entries {
			if en.Kind == KindEvent && en.Reason == e.Event && en.At <= t {
				found = true
				break
			}
		}
		if !found {
			bad = append(bad, fmt.Sprintf("event %s: not recorded by %s", e.Event, fmtOffset(t)))
		}
	}
	return strings.Join(bad, "; ")
}

// reached reports whether some state up to t had at least n available
// Pods: "never fewer than n available" counts from the first moment there
// were n, since a first deploy starts from none.
func reached(states []State, t time.Duration, n int32) bool {
	for _, st := range states {
		if st.At > t {
			return false
		}
		if st.Available >= n {
			return true
		}
	}
	return false
}

// updating reports whether a new version is on its way: some revision other
// than the stable one has a role.
func updating(st State) bool {
	for _, rv := range st.Revisions {
		if rv.Revision != st.StableRevision && len(rv.Roles) > 0 {
			return true
		}
	}
	return false
}

func optInt(p *int32) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

func sortedInts[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// describe renders an expectation as a person wrote it.
func (e Expectation) describe() string {
	var when string
	switch {
	case e.At != nil:
		when = "at " + e.At.String()
	case e.Before != nil:
		when = "before " + e.Before.String()
	case e.End:
		when = "at the end"
	case e.Always:
		when = "always"
	case e.Never:
		when = "never"
	}
	if e.From != nil {
		when += " from " + e.From.String()
	}
	var what []string
	if e.Phase != "" {
		what = append(what, "phase "+e.Phase)
	}
	if e.Aborted != nil {
		what = append(what, fmt.Sprintf("aborted %v", *e.Aborted))
	}
	if e.Step != nil {
		what = append(what, fmt.Sprintf("step %d", *e.Step))
	}
	if e.Weight != nil {
		what = append(what, fmt.Sprintf("weight %d", *e.Weight))
	}
	if e.StableRevision != nil {
		what = append(what, fmt.Sprintf("stable revision %d", *e.StableRevision))
	}
	for _, k := range sortedKeys(e.Services) {
		what = append(what, fmt.Sprintf("%s selects revision %d", k, e.Services[k]))
	}
	if e.MinAvailable != nil {
		what = append(what, fmt.Sprintf("at least %d available Pods", *e.MinAvailable))
	}
	if e.StableMinReplicas != nil {
		what = append(what, fmt.Sprintf("stable wants at least %d Pods before promotion", *e.StableMinReplicas))
	}
	for _, rev := range sortedInts(e.Replicas) {
		what = append(what, fmt.Sprintf("revision %d wants %d Pods", rev, e.Replicas[rev]))
	}
	if e.Event != "" {
		what = append(what, "event "+e.Event)
	}
	if e.Analysis != "" {
		what = append(what, "analysis "+e.Analysis)
	}
	return when + ": " + strings.Join(what, ", ")
}
