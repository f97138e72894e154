package alb

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

func TestLeftovers(t *testing.T) {
	ing := albIngress("web")
	ing.Annotations[actionKey] = `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"80","Weight":30},{"ServiceName":"guestbook-stable","ServicePort":"80","Weight":70}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":300}}}`
	ing.Annotations[betaCond] = `[{"field":"http-header"}]`
	ing.Annotations[ManagedAnnotationsKey] = `{"guestbook":["` + actionKey + `","` + betaCond + `"],"other":["alb.ingress.kubernetes.io/actions.other"]}`
	untouched := albIngress("assets")

	ro := rollout(nil)
	ro.Spec.Strategy.Canary.TrafficRouting = nil
	got := Leftovers(ro, []networkingv1.Ingress{*ing, *untouched})
	if len(got) != 1 || got[0].Before.GetName() != "web" {
		t.Fatalf("Leftovers = %+v, want Ingress web only", got)
	}
	after := got[0].After.(*networkingv1.Ingress)
	want := `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-stable","ServicePort":"80","Weight":100}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":300}}}`
	if a := after.Annotations[actionKey]; a != want {
		t.Fatalf("action = %s\nwant     %s", a, want)
	}
	if r := after.Annotations[ManagedAnnotationsKey]; r != `{"other":["alb.ingress.kubernetes.io/actions.other"]}` {
		t.Fatalf("record = %s", r)
	}
	if after.Annotations[betaCond] == "" {
		t.Fatal("the condition annotation went; Argo Rollouts leaves it")
	}

	// The last entry takes the record with it.
	ing.Annotations[ManagedAnnotationsKey] = `{"guestbook":["` + actionKey + `"]}`
	got = Leftovers(ro, []networkingv1.Ingress{*ing})
	if _, ok := got[0].After.(*networkingv1.Ingress).Annotations[ManagedAnnotationsKey]; ok {
		t.Fatal("an empty record was kept")
	}

	// A Rollout still routing through the Ingress, or an action that
	// cannot be read, leaves it.
	if got := Leftovers(rollout(nil), []networkingv1.Ingress{*ing}); len(got) != 0 {
		t.Fatalf("Leftovers of a Rollout using the Ingress = %+v", got)
	}
	ing.Annotations[actionKey] = "not json"
	if got := Leftovers(ro, []networkingv1.Ingress{*ing}); len(got) != 0 {
		t.Fatalf("Leftovers with an unreadable action = %+v", got)
	}
}
