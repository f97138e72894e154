package notify

import (
	"strings"
	"unicode"
)

// reasonTriggers names the triggers of decisions whose reason differs from
// the reference's event for the same moment.
var reasonTriggers = map[string]string{
	// The reference announces a run once it reports Running; Kanaria
	// decides to start it, and it measures from creation on.
	"AnalysisRunCreated": "on-analysis-run-running",
}

// TriggerFor names the trigger a decision with the given event reason fires,
// the way the reference derives it: "on-" and the reason in kebab case, so
// RolloutStepCompleted fires on-rollout-step-completed.
func TriggerFor(reason string) string {
	if t, ok := reasonTriggers[reason]; ok {
		return t
	}
	return "on-" + kebab(reason)
}

// kebab turns CamelCase into camel-case, keeping runs of capitals together
// (HTTPError becomes http-error).
func kebab(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('-')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
