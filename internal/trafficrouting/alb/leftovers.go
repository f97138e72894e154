package alb

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// actionInfix separates an action annotation's prefix from the name of
// the Service it forwards to by default.
const actionInfix = "/actions."

// Leftovers returns the Ingresses among ings whose managed-annotations
// record lists ro but that ro no longer routes through with ALB, reset as
// Argo Rollouts' Ingress watch resets them: each action annotation the
// Rollout wrote forwards everything to the Service it is named after (the
// root or stable Service, on the port it had, keeping stickiness), and the
// Rollout's entry leaves the record (the record goes when it is empty).
// Condition annotations and paths are left, as there. An Ingress whose
// action cannot be read is left alone: guessing could cut its traffic.
func Leftovers(ro *v1alpha1.Rollout, ings []networkingv1.Ingress) []trafficrouting.Leftover {
	var current []string
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil && c.TrafficRouting.ALB != nil {
		a := c.TrafficRouting.ALB
		current = append(current, a.Ingresses...)
		if a.Ingress != "" {
			current = append(current, a.Ingress)
		}
	}
	var out []trafficrouting.Leftover
	for i := range ings {
		ing := &ings[i]
		if slices.Contains(current, ing.Name) {
			continue
		}
		record, err := readManaged(ing)
		if err != nil {
			continue
		}
		keys, ok := record[ro.Name]
		if !ok {
			continue
		}
		after := ing.DeepCopy()
		reset := true
		for _, k := range keys {
			if !strings.Contains(k, actionInfix) {
				continue
			}
			v, ok := resetAction(ing.Annotations[k], k[strings.Index(k, actionInfix)+len(actionInfix):])
			if !ok {
				reset = false
				break
			}
			after.Annotations[k] = v
		}
		if !reset {
			continue
		}
		delete(record, ro.Name)
		if len(record) == 0 {
			delete(after.Annotations, ManagedAnnotationsKey)
		} else {
			b, err := json.Marshal(record)
			if err != nil {
				continue
			}
			after.Annotations[ManagedAnnotationsKey] = string(b)
		}
		out = append(out, trafficrouting.Leftover{
			Router: Type, Kind: "Ingress", Before: ing, After: after,
			What: fmt.Sprintf("the Rollout's weights (its actions forward everything to their Service again) and its entry in %s", ManagedAnnotationsKey),
		})
	}
	return out
}

// resetAction returns the forward action sending all traffic to service on
// the port the action gave it, keeping stickiness; false when the action
// cannot be read or names no port for service.
func resetAction(old, service string) (string, bool) {
	var a action
	if err := json.Unmarshal([]byte(old), &a); err != nil {
		return "", false
	}
	port := ""
	for _, tg := range a.ForwardConfig.TargetGroups {
		if tg.ServiceName == service {
			port = tg.ServicePort
		}
	}
	if port == "" {
		return "", false
	}
	all := int64(100)
	out := action{Type: "forward", ForwardConfig: forwardConfig{
		TargetGroups:                []targetGroup{{ServiceName: service, ServicePort: port, Weight: &all}},
		TargetGroupStickinessConfig: a.ForwardConfig.TargetGroupStickinessConfig,
	}}
	b, err := json.Marshal(out)
	if err != nil {
		return "", false
	}
	return string(b), true
}
