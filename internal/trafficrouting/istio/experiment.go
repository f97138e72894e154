package istio

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// ExperimentDestinationsAnnotation records, on a VirtualService, the hosts
// of the experiment Services the controller added to its weighted routes,
// as a JSON list. Destinations the controller did not add are kept (unlike
// in the reference, which drops them), so this record is how it tells its
// own experiment destinations apart when the experiment ends.
const ExperimentDestinationsAnnotation = "rollouts.kanaria.dev/experiment-destinations"

// CarriesAdditionalDestinations reports that Istio can send to an
// experiment's Services: each is one more destination of every weighted
// route.
func (r *Router) CarriesAdditionalDestinations() bool { return true }

var _ trafficrouting.AdditionalDestinations = (*Router)(nil)

// syncExperimentDestinations makes every weighted route of obj send want's
// shares to the experiment Services, as destinations addressed by host (as
// the reference writes them, with a DestinationRule too) on the canary
// destination's port, and removes the experiment destinations an earlier
// sync added that want no longer lists. The record annotation is updated
// in the same object, so a crash between two syncs never loses track of a
// destination.
func syncExperimentDestinations(obj *unstructured.Unstructured, routes []weighted, want []trafficrouting.Destination) error {
	var added []string
	if v, ok := obj.GetAnnotations()[ExperimentDestinationsAnnotation]; ok && v != "" {
		if err := json.Unmarshal([]byte(v), &added); err != nil {
			return fmt.Errorf("annotation %s is not a JSON list of hosts: %w", ExperimentDestinationsAnnotation, err)
		}
	}
	wanted := map[string]int32{}
	var hosts []string
	for _, a := range want {
		if _, dup := wanted[a.ServiceName]; !dup {
			hosts = append(hosts, a.ServiceName)
		}
		wanted[a.ServiceName] = a.Weight
	}
	for _, w := range routes {
		dests, _ := w.route["route"].([]any)
		kept := make([]any, 0, len(dests)+len(want))
		seen := map[string]bool{}
		for _, e := range dests {
			entry, _ := e.(map[string]any)
			host := destinationHost(entry)
			weight, isWanted := wanted[host]
			switch {
			case entry == nil || sameEntry(entry, w.canary) || sameEntry(entry, w.stable):
				kept = append(kept, e)
			case isWanted && !seen[host]:
				setWeight(entry, weight)
				seen[host] = true
				kept = append(kept, e)
			case slices.Contains(added, host):
				// An experiment destination of ours that is over.
			default:
				kept = append(kept, e)
			}
		}
		for _, host := range hosts {
			if seen[host] {
				continue
			}
			dest := map[string]any{"host": host}
			if cd, ok := w.canary["destination"].(map[string]any); ok && cd["port"] != nil {
				dest["port"] = cd["port"]
			}
			kept = append(kept, map[string]any{"destination": dest, "weight": int64(wanted[host])})
		}
		if len(kept) != len(dests) || len(hosts) > 0 {
			w.route["route"] = kept
		}
	}
	ann := obj.GetAnnotations()
	switch {
	case len(hosts) > 0:
		b, err := json.Marshal(hosts)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", ExperimentDestinationsAnnotation, err)
		}
		if ann == nil {
			ann = map[string]string{}
		}
		ann[ExperimentDestinationsAnnotation] = string(b)
		obj.SetAnnotations(ann)
	case ann != nil:
		if _, ok := ann[ExperimentDestinationsAnnotation]; ok {
			delete(ann, ExperimentDestinationsAnnotation)
			obj.SetAnnotations(ann)
		}
	}
	return nil
}

// sameEntry reports whether a and b are the same destination entry of the
// object being edited (not merely equal ones).
func sameEntry(a, b map[string]any) bool {
	return b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// destinationHost is the host of a weighted destination entry, "" when it
// has none.
func destinationHost(entry map[string]any) string {
	d, _ := entry["destination"].(map[string]any)
	h, _ := d["host"].(string)
	return h
}
