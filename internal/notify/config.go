// Package notify sends notifications about Kanaria's decisions through
// argoproj/notifications-engine, configured the way Argo Rollouts users
// already configure it: the argo-rollouts-notification-configmap ConfigMap
// and argo-rollouts-notification-secret Secret, and
// notifications.argoproj.io/subscribe.<trigger>.<service> annotations.
//
// The reconcilers hand it the decisions of a reconcile once that reconcile's
// writes have succeeded; sending happens on a bounded queue served by a few
// workers, so a slow or broken notification service never delays a release.
package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/argoproj/notifications-engine/pkg/api"
	"github.com/argoproj/notifications-engine/pkg/services"
	"github.com/argoproj/notifications-engine/pkg/templates"
	"github.com/argoproj/notifications-engine/pkg/triggers"
	corev1 "k8s.io/api/core/v1"
)

const (
	// ConfigMapName is the ConfigMap the reference reads its notification
	// settings from; Kanaria reads the same one.
	ConfigMapName = "argo-rollouts-notification-configmap"
	// SecretName is the Secret whose keys the ConfigMap's service settings
	// reference as $key.
	SecretName = "argo-rollouts-notification-secret"
)

// Problem is one entry of a notification ConfigMap that could not be used.
// The entry is left out and the rest of the configuration keeps working.
type Problem struct {
	// Key is the ConfigMap key, e.g. service.slack or trigger.on-x.
	Key string
	// Err says what is wrong with it.
	Err error
}

func (p Problem) String() string { return fmt.Sprintf("%s: %v", p.Key, p.Err) }

// Config is a notification configuration parsed from one namespace's
// ConfigMap and Secret, with the unusable entries left out.
type Config struct {
	// Namespace is where the ConfigMap lives.
	Namespace string
	// API is the engine built from the usable entries.
	API api.API
	// Problems are the entries left out, sorted by key.
	Problems []Problem
	// secrets are the Secret's values, masked out of what is logged or
	// reported: a service's error may quote its URL or token.
	secrets []string
}

// mask replaces the Secret's values in s.
func (c *Config) mask(s string) string {
	for _, v := range c.secrets {
		s = strings.ReplaceAll(s, v, "*****")
	}
	return s
}

// problemFor returns the problems that make trigger unusable for service:
// the trigger, a template it sends, or the service itself.
func (c *Config) problemFor(trigger, service string) []Problem {
	var out []Problem
	for _, p := range c.Problems {
		switch p.Key {
		case "trigger." + trigger, "subscriptions", "defaultTriggers":
			out = append(out, p)
		default:
			if strings.HasPrefix(p.Key, "service.") && serviceName(p.Key) == service {
				out = append(out, p)
			}
		}
	}
	return out
}

// serviceName is the name a service.<type>[.<name>] key registers.
func serviceName(key string) string {
	parts := strings.Split(key, ".")
	return parts[len(parts)-1]
}

// Parse builds the engine from a ConfigMap and Secret. The engine itself
// refuses the whole configuration when one entry is bad; Parse checks each
// entry on its own first (a service type the engine does not know, a
// template that does not parse, a trigger whose condition does not compile
// or that sends a template that is missing) and leaves the bad ones out, so
// one mistake silences only what depends on it.
func Parse(cm *corev1.ConfigMap, secret *corev1.Secret) (*Config, error) {
	if cm == nil {
		cm = &corev1.ConfigMap{}
	}
	if secret == nil {
		secret = &corev1.Secret{}
	}
	var problems []Problem
	good := map[string]string{}
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	one := func(k string) (*api.Config, error) {
		c := &corev1.ConfigMap{Data: map[string]string{k: cm.Data[k]}}
		c.Namespace = cm.Namespace
		return api.ParseConfig(c, secret)
	}
	// Templates and services first: triggers are checked against the
	// templates that survived.
	templateNames := map[string]bool{}
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "template."):
			cfg, err := one(k)
			if err == nil {
				_, err = templates.NewService(cfg.Templates)
			}
			if err != nil {
				problems = append(problems, Problem{Key: k, Err: fmt.Errorf("template does not parse: %w", err)})
				continue
			}
			templateNames[strings.TrimPrefix(k, "template.")] = true
			good[k] = cm.Data[k]
		case strings.HasPrefix(k, "service."):
			cfg, err := one(k)
			if err == nil {
				for _, build := range cfg.Services {
					if _, err = build(); err != nil {
						break
					}
				}
			}
			if err != nil {
				problems = append(problems, Problem{Key: k, Err: fmt.Errorf("service cannot be built: %w", err)})
				continue
			}
			good[k] = cm.Data[k]
		case k == "subscriptions", k == "defaultTriggers", strings.HasPrefix(k, "defaultTriggers."):
			if _, err := one(k); err != nil {
				problems = append(problems, Problem{Key: k, Err: fmt.Errorf("does not parse: %w", err)})
				continue
			}
			good[k] = cm.Data[k]
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "trigger.") {
			continue
		}
		cfg, err := one(k)
		if err == nil {
			_, err = triggers.NewService(cfg.Triggers)
		}
		if err == nil {
			err = missingTemplates(cfg.Triggers, templateNames)
		}
		if err != nil {
			problems = append(problems, Problem{Key: k, Err: fmt.Errorf("trigger cannot be used: %w", err)})
			continue
		}
		good[k] = cm.Data[k]
	}
	filtered := cm.DeepCopy()
	filtered.Data = good
	cfg, err := api.ParseConfig(filtered, secret)
	if err != nil {
		return nil, fmt.Errorf("parsing notification configuration: %w", err)
	}
	engine, err := api.NewAPI(*cfg, getVars)
	if err != nil {
		return nil, fmt.Errorf("building notification engine: %w", err)
	}
	var values []string
	for _, v := range secret.Data {
		// Very short values would mask ordinary words.
		if len(v) >= 4 {
			values = append(values, string(v))
		}
	}
	// Longer first, so a value that contains another is masked whole.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	return &Config{Namespace: cm.Namespace, API: engine, Problems: problems, secrets: values}, nil
}

// missingTemplates reports a trigger condition that sends a template the
// configuration does not define.
func missingTemplates(ts map[string][]triggers.Condition, have map[string]bool) error {
	for _, conds := range ts {
		for _, c := range conds {
			for _, t := range c.Send {
				if !have[t] {
					return fmt.Errorf("template %q is not defined", t)
				}
			}
		}
	}
	return nil
}

// Keys of the data the notifier hands to the engine, which passes it to
// getVars unchanged.
const (
	dataObject       = "object"
	dataView         = "view"
	dataAnalysisRuns = "analysisRuns"
)

// getVars gives templates and conditions what the reference gives them:
// the object as rollout, the time helpers and, for a Rollout, the
// AnalysisRuns of its current revision as analysisRuns; an AnalysisRun is
// also available as analysisRun. A Rollout's read model (the step, weights,
// images and Pods every Kanaria reader shows) is available as view.
func getVars(data map[string]interface{}, _ services.Destination) map[string]interface{} {
	obj, _ := data[dataObject].(map[string]interface{})
	vars := map[string]interface{}{"rollout": obj, "time": timeFuncs}
	if obj["kind"] == "AnalysisRun" {
		vars["analysisRun"] = obj
	}
	for _, k := range []string{dataView, dataAnalysisRuns} {
		if v, ok := data[k]; ok {
			vars[k] = v
		}
	}
	return vars
}

// timeFuncs are the reference's time helpers: time.Now() and
// time.Parse(rfc3339).
var timeFuncs = map[string]interface{}{
	"Now":   func() time.Time { return time.Now() },
	"Parse": parseTime,
}

// parseTime panics on a bad timestamp as the reference does: expression
// and template evaluation turn the panic into an error, so the condition
// is not triggered or the send fails and is counted.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
