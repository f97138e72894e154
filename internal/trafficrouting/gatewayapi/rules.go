package gatewayapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// records is the decoded ManagedRulesAnnotation: Rollout key to managed
// route name to the rules added for it.
type records map[string]map[string][]any

func readRecords(obj *unstructured.Unstructured) (records, error) {
	raw, ok := obj.GetAnnotations()[ManagedRulesAnnotation]
	if !ok {
		return records{}, nil
	}
	// utiljson, unlike encoding/json, decodes whole numbers as int64, the
	// type the API client gives unstructured objects, so recorded rules
	// compare equal to the rules read from the route.
	var m map[string]any
	if err := utiljson.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("annotation %s does not parse: %w", ManagedRulesAnnotation, err)
	}
	out := records{}
	for ro, v := range m {
		routes, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("annotation %s: entry %q is not an object", ManagedRulesAnnotation, ro)
		}
		out[ro] = map[string][]any{}
		for name, rs := range routes {
			list, ok := rs.([]any)
			if !ok {
				return nil, fmt.Errorf("annotation %s: entry %q/%q is not a list", ManagedRulesAnnotation, ro, name)
			}
			out[ro][name] = list
		}
	}
	return out, nil
}

// writeRecords replaces key's entry with added and stores the annotation,
// removing it when no Rollout has rules recorded, so a route the
// controller is done with carries nothing of it.
func writeRecords(obj *unstructured.Unstructured, all records, key string, added map[string][]any) error {
	// An unchanged entry leaves the annotation byte for byte as it is, so
	// an annotation another writer encoded differently causes no write.
	if len(added) == len(all[key]) && (len(added) == 0 || equality.Semantic.DeepEqual(added, all[key])) {
		return nil
	}
	_, had := obj.GetAnnotations()[ManagedRulesAnnotation]
	if len(added) == 0 {
		delete(all, key)
	} else {
		all[key] = added
	}
	if len(all) == 0 && !had {
		return nil
	}
	ann := obj.GetAnnotations()
	if len(all) == 0 {
		delete(ann, ManagedRulesAnnotation)
		if len(ann) == 0 {
			ann = nil
		}
		obj.SetAnnotations(ann)
		return nil
	}
	b, err := json.Marshal(all)
	if err != nil {
		return err
	}
	if ann == nil {
		ann = map[string]string{}
	}
	ann[ManagedRulesAnnotation] = string(b)
	obj.SetAnnotations(ann)
	return nil
}

// removeManaged returns rules without the rules recorded as added (each
// recorded rule removes one equal rule). A rule named after a managed route
// that sends only to the canary is removed too: that is what the
// controller adds, so it is found even when the annotation was lost or the
// rules were added by the Argo Rollouts plugin before a migration.
func removeManaged(rules []any, recorded map[string][]any, managed []string, canary, stable string) []any {
	var pending []any
	for _, rs := range recorded {
		pending = append(pending, rs...)
	}
	names := map[string]bool{}
	for _, n := range managed {
		names[n] = true
	}
	for n := range recorded {
		names[n] = true
	}
	out := make([]any, 0, len(rules))
	for _, rule := range rules {
		if i := indexEqual(pending, rule); i >= 0 {
			pending = append(pending[:i], pending[i+1:]...)
			continue
		}
		if m, ok := rule.(map[string]any); ok && isManagedName(names, m["name"]) && refsService(m, canary) && !refsService(m, stable) {
			continue
		}
		out = append(out, rule)
	}
	return out
}

// indexEqual finds v among the recorded rules. A rule without a name also
// matches a recorded rule that differs only by its name: an API server
// whose Gateway API CRDs predate named rules drops the field, and the rule
// must still be found, or every Sync would add another copy.
func indexEqual(list []any, v any) int {
	vm, _ := v.(map[string]any)
	_, named := vm["name"]
	for i := range list {
		if equality.Semantic.DeepEqual(list[i], v) {
			return i
		}
		if lm, ok := list[i].(map[string]any); ok && vm != nil && !named {
			lm = runtime.DeepCopyJSON(lm)
			delete(lm, "name")
			if equality.Semantic.DeepEqual(lm, vm) {
				return i
			}
		}
	}
	return -1
}

// isManagedName matches a managed route name and the "<name>-<n>" names
// given to the further rules of one managed route.
func isManagedName(names map[string]bool, v any) bool {
	s, ok := v.(string)
	if !ok || s == "" {
		return false
	}
	if names[s] {
		return true
	}
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		if _, err := strconv.Atoi(s[i+1:]); err == nil {
			return names[s[:i]]
		}
	}
	return false
}

func backendRefs(rule map[string]any) []any {
	refs, _ := rule["backendRefs"].([]any)
	return refs
}

func refName(ref any) string {
	m, _ := ref.(map[string]any)
	s, _ := m["name"].(string)
	return s
}

func refsService(rule map[string]any, svc string) bool {
	for _, ref := range backendRefs(rule) {
		if refName(ref) == svc {
			return true
		}
	}
	return false
}

// sourceRules are the rules sending to both Services: the ones weighted
// and the ones header routes are cloned from.
func sourceRules(rules []any, canary, stable string) []map[string]any {
	var out []map[string]any
	for _, rule := range rules {
		if m, ok := rule.(map[string]any); ok && refsService(m, canary) && refsService(m, stable) {
			out = append(out, m)
		}
	}
	return out
}

// setWeights sets the weight of every backendRef to either Service, in
// every rule (the plugin does so even in rules naming only one of them).
func setWeights(rules []any, canary, stable string, canaryWeight, stableWeight int64) {
	for _, rule := range rules {
		m, ok := rule.(map[string]any)
		if !ok {
			continue
		}
		for _, ref := range backendRefs(m) {
			rm, ok := ref.(map[string]any)
			if !ok {
				continue
			}
			switch rm["name"] {
			case canary:
				rm["weight"] = canaryWeight
			case stable:
				rm["weight"] = stableWeight
			}
		}
	}
}

// headerConditions converts each header route's match into Gateway API
// header matches. Gateway API has no prefix match, so a prefix becomes a
// regular expression, as the plugin does (quoted here, so a prefix such as
// "v1.2" does not match "v1x2").
func headerConditions(hrs []trafficrouting.HeaderRoute) ([][]any, error) {
	out := make([][]any, len(hrs))
	for i, hr := range hrs {
		if len(hr.Match) == 0 {
			// Without a condition the rule would take every request.
			return nil, trafficrouting.Errorf(routerType, "header route %q has no match", hr.Name)
		}
		for _, m := range hr.Match {
			if m.HeaderName == "" {
				return nil, trafficrouting.Errorf(routerType, "header route %q: a match has no headerName", hr.Name)
			}
			v := m.HeaderValue
			var typ, val string
			switch {
			case v == nil:
			case v.Exact != "":
				typ, val = "Exact", v.Exact
			case v.Prefix != "":
				typ, val = "RegularExpression", regexp.QuoteMeta(v.Prefix)+".*"
			case v.Regex != "":
				typ, val = "RegularExpression", v.Regex
			}
			if typ == "" {
				return nil, trafficrouting.Errorf(routerType, "header route %q: header %s needs an exact, prefix or regex value", hr.Name, m.HeaderName)
			}
			// The type is always written, though Exact is the default, so
			// the rule reads back as written and the next Sync sees no
			// difference.
			out[i] = append(out[i], map[string]any{"name": m.HeaderName, "type": typ, "value": val})
		}
	}
	return out, nil
}

// headerRules builds the rules of one managed header route: one per source
// rule, named name, name-1, name-2, ... (rule names must be unique within a
// route). Each keeps its source rule's matches (adding the header
// conditions), filters and other settings, so the canary is reached on the
// same paths and with the same rewrites as through the weighted rule, and
// sends to the canary alone.
func headerRules(name string, sources []map[string]any, conds []any, canary string) []any {
	out := make([]any, 0, len(sources))
	for i, src := range sources {
		rule := runtime.DeepCopyJSON(src)
		ruleName := name
		if i > 0 {
			ruleName = fmt.Sprintf("%s-%d", name, i)
		}
		rule["name"] = ruleName
		rule["matches"] = withHeaders(src["matches"], conds)
		rule["backendRefs"] = []any{canaryRef(src, canary)}
		out = append(out, rule)
	}
	return out
}

// withHeaders adds conds to every match; a source header condition on the
// same header (names are case-insensitive) gives way, since a match may
// name a header once.
func withHeaders(matches any, conds []any) []any {
	list, _ := matches.([]any)
	if len(list) == 0 {
		return []any{map[string]any{"headers": runtime.DeepCopyJSONValue(conds)}}
	}
	out := make([]any, 0, len(list))
	for _, m := range list {
		mm, ok := m.(map[string]any)
		if !ok {
			continue
		}
		mm = runtime.DeepCopyJSON(mm)
		headers := runtime.DeepCopyJSONValue(conds).([]any)
		old, _ := mm["headers"].([]any)
		for _, h := range old {
			if !namesHeader(conds, h) {
				headers = append(headers, h)
			}
		}
		mm["headers"] = headers
		out = append(out, mm)
	}
	return out
}

func namesHeader(conds []any, h any) bool {
	hm, _ := h.(map[string]any)
	hn, _ := hm["name"].(string)
	for _, c := range conds {
		cn, _ := c.(map[string]any)["name"].(string)
		if strings.EqualFold(cn, hn) {
			return true
		}
	}
	return false
}

// canaryRef copies the source rule's canary backendRef (port, namespace,
// filters) with weight 1: the weighted rule's canary weight may be 0, which
// would make the header rule answer with errors. Group and kind are
// written out with their API defaults so the rule reads back as written.
func canaryRef(src map[string]any, canary string) map[string]any {
	var ref map[string]any
	for _, r := range backendRefs(src) {
		if refName(r) == canary {
			ref = runtime.DeepCopyJSON(r.(map[string]any))
			break
		}
	}
	if _, ok := ref["group"]; !ok {
		ref["group"] = ""
	}
	if _, ok := ref["kind"]; !ok {
		ref["kind"] = "Service"
	}
	ref["weight"] = int64(1)
	return ref
}
