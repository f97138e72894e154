package decide

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

func leftoverDR(name string) trafficrouting.Leftover {
	before := &unstructured.Unstructured{}
	before.SetName(name)
	before.SetNamespace("default")
	return trafficrouting.Leftover{Router: "istio", Kind: "DestinationRule", Before: before, After: before.DeepCopy(), What: "the hash labels"}
}

// TestRouterLeftoversAreCleanedUpLast: leftovers in the snapshot become
// clean-up writes at the end of the plan, after the decision's own writes,
// with a logged note; an invalid spec does not keep them.
func TestRouterLeftoversAreCleanedUpLast(t *testing.T) {
	s := newManualGatesSim(t)
	s.settle()
	s.setImage("rails:6.1")

	snap := s.snapshot()
	snap.RouterLeftovers = []trafficrouting.Leftover{leftoverDR("dr")}
	p := Decide(snap)
	if len(p.Actions) < 2 {
		t.Fatalf("plan %v, want the update's writes and the clean-up", describeAll(p.Actions))
	}
	last, ok := p.Actions[len(p.Actions)-1].(CleanUpRouterObject)
	if !ok || last.Leftover.Before.GetName() != "dr" {
		t.Fatalf("last action %v, want the clean-up of DestinationRule dr", describeAll(p.Actions))
	}
	if !strings.Contains(joinEvents(p.Events), ReasonRouterCleanedUp) {
		t.Fatalf("events %s lack %s", joinEvents(p.Events), ReasonRouterCleanedUp)
	}
	for _, e := range p.Events {
		if e.Reason == ReasonRouterCleanedUp && !e.Routine {
			t.Fatal("the clean-up is recorded as a Kubernetes Event; it is a routine decision")
		}
	}

	// An invalid spec still cleans up what is no longer used.
	snap = s.snapshot()
	snap.Rollout.Spec.Strategy.Canary.Steps[0].SetWeight = ptr(int32(-1))
	snap.RouterLeftovers = []trafficrouting.Leftover{leftoverDR("dr")}
	p = Decide(snap)
	if len(p.Actions) != 1 {
		t.Fatalf("plan of an invalid spec %v, want the clean-up only", describeAll(p.Actions))
	}
	if _, ok := p.Actions[0].(CleanUpRouterObject); !ok {
		t.Fatalf("plan of an invalid spec %v", describeAll(p.Actions))
	}

	// No leftovers, no clean-up.
	for _, a := range Decide(s.snapshot()).Actions {
		if _, ok := a.(CleanUpRouterObject); ok {
			t.Fatal("a clean-up was planned with nothing left behind")
		}
	}
}

func describeAll(as []Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Describe())
	}
	return out
}

func TestCleanUpAfterDeletion(t *testing.T) {
	owned := leftoverDR("canary-ingress")
	owned.After = nil
	got := CleanUpAfterDeletion([]trafficrouting.Leftover{leftoverDR("dr"), owned})
	if len(got) != 1 {
		t.Fatalf("plan %v, want the DestinationRule's clean-up only (owned objects go by garbage collection)", describeAll(got))
	}
	if c, ok := got[0].(CleanUpRouterObject); !ok || c.Leftover.Before.GetName() != "dr" {
		t.Fatalf("plan %v", describeAll(got))
	}
	if got := CleanUpAfterDeletion(nil); len(got) != 0 {
		t.Fatalf("plan with nothing left = %v", describeAll(got))
	}
}
