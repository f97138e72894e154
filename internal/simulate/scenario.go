package simulate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenario scripts what the world does around a Rollout: when a new
// template arrives, how Pods and test Jobs behave, what metrics return, what
// people do, and what must hold. docs/simulate.md documents every field.
type Scenario struct {
	// Name is printed above the timeline.
	Name string `yaml:"name"`
	// Duration is how much virtual time to simulate; when unset, the
	// simulation ends once nothing is left to happen (at most MaxDuration).
	Duration Duration `yaml:"duration"`
	// Rollout names the Rollout to simulate when the manifests hold several.
	Rollout string `yaml:"rollout"`
	// Pods sets how Pods start and fail.
	Pods PodBehaviour `yaml:"pods"`
	// Jobs scripts the outcome of analysis Jobs, by metric name.
	Jobs map[string][]JobOutcome `yaml:"jobs"`
	// Metrics scripts what metric providers return, by metric name.
	Metrics map[string][]MetricSegment `yaml:"metrics"`
	// Actions are the updates and user actions, at their times.
	Actions []Action `yaml:"actions"`
	// Expect lists what must hold; the safety invariants are checked too.
	Expect []Expectation `yaml:"expect"`

	// file is where the scenario was read from, for messages.
	file string
}

// MaxDuration bounds a simulation without a duration.
const MaxDuration = 24 * time.Hour

// PodBehaviour is how the simulated kubelet treats Pods.
type PodBehaviour struct {
	// ReadyAfter is how long a new Pod takes to become ready; 1s when unset.
	ReadyAfter *Duration `yaml:"readyAfter"`
	// Revisions override the behaviour for the Pods of one revision.
	Revisions []RevisionBehaviour `yaml:"revisions"`
}

// RevisionBehaviour is how the Pods of one Rollout revision behave.
type RevisionBehaviour struct {
	// Revision is the Rollout revision (1 is the first template, 2 the
	// first update, ...).
	Revision int `yaml:"revision"`
	// ReadyAfter overrides pods.readyAfter for this revision.
	ReadyAfter *Duration `yaml:"readyAfter"`
	// NeverReady keeps the revision's Pods running and never ready.
	NeverReady bool `yaml:"neverReady"`
	// CrashAfter makes a Pod stop being ready this long after it became
	// ready, for good.
	CrashAfter *Duration `yaml:"crashAfter"`
	line       int
}

// JobOutcome is what the Jobs of a metric do, one entry per measurement; the
// last entry repeats.
type JobOutcome struct {
	// Result is succeed, fail or hang.
	Result string `yaml:"result"`
	// RunsFor is how long the Job runs before it ends; 1s when unset.
	RunsFor *Duration `yaml:"runsFor"`
	line    int
}

// Job results.
const (
	// JobSucceed completes the Job.
	JobSucceed = "succeed"
	// JobFail fails the Job.
	JobFail = "fail"
	// JobHang never ends the Job by itself.
	JobHang = "hang"
)

// MetricSegment is what a metric returns from a moment on: a constant, a
// ramp, a table of successive results, or a provider error.
type MetricSegment struct {
	// From is when the segment starts; 0 when unset.
	From Duration `yaml:"from"`
	// Value is returned as the measurement's result: a number, a list of
	// numbers (a Prometheus vector), a string, a bool or a map.
	Value any `yaml:"value"`
	// Ramp moves a number linearly.
	Ramp *Ramp `yaml:"ramp"`
	// Table gives successive results, one per measurement taken in the
	// segment; the last repeats.
	Table []any `yaml:"table"`
	// Error makes the provider fail with this message.
	Error string `yaml:"error"`
	line  int
}

// Ramp is a number moving linearly from From to To over Over, then staying.
type Ramp struct {
	// From is the value at the segment's start.
	From float64 `yaml:"from"`
	// To is the value once Over has passed.
	To float64 `yaml:"to"`
	// Over is how long the move takes.
	Over Duration `yaml:"over"`
	// Vector makes each result a one-element list, as a Prometheus query
	// that returns a vector gives.
	Vector bool `yaml:"vector"`
}

// Action is one thing that happens at a time: exactly one field besides At
// is set.
type Action struct {
	// At is when it happens.
	At Duration `yaml:"at"`
	// Update applies a new Pod template.
	Update *TemplateChange `yaml:"update"`
	// Promote is `kanaria promote`.
	Promote bool `yaml:"promote"`
	// PromoteFull is `kanaria promote --full`.
	PromoteFull bool `yaml:"promoteFull"`
	// Abort is `kanaria abort`.
	Abort bool `yaml:"abort"`
	// Retry is `kanaria retry rollout`.
	Retry bool `yaml:"retry"`
	// Pause is `kanaria pause`.
	Pause bool `yaml:"pause"`
	// Scale sets spec.replicas.
	Scale *int32 `yaml:"scale"`
	// DeleteService deletes the Service of this name.
	DeleteService string `yaml:"deleteService"`
	line          int
}

// TemplateChange is a new Pod template: images and labels changed.
type TemplateChange struct {
	// Image sets the first container's image.
	Image string `yaml:"image"`
	// Images sets images by container name.
	Images map[string]string `yaml:"images"`
	// Labels are set on the Pod template; an empty value removes a label.
	Labels map[string]string `yaml:"labels"`
	// Env sets an environment variable of the first container, a common
	// way to make a new revision without a new image.
	Env map[string]string `yaml:"env"`
	// SecretNames points Secret volumes, by volume name, at other Secrets.
	SecretNames map[string]string `yaml:"secretNames"`
}

// Expectation is a check on the timeline. Exactly one of At, Before, End,
// Always and Never says when; the remaining fields say what.
type Expectation struct {
	// At checks the state at this moment.
	At *Duration `yaml:"at"`
	// Before checks that the state held at some moment before this time.
	Before *Duration `yaml:"before"`
	// End checks the state when the simulation ends.
	End bool `yaml:"end"`
	// Always checks every state.
	Always bool `yaml:"always"`
	// Never checks that no state matches.
	Never bool `yaml:"never"`
	// From limits always and never to the states from this moment on.
	From *Duration `yaml:"from"`

	// Phase is status.phase.
	Phase string `yaml:"phase"`
	// Aborted is status.abort.
	Aborted *bool `yaml:"aborted"`
	// Step is status.currentStepIndex.
	Step *int32 `yaml:"step"`
	// Weight is the canary's actual weight.
	Weight *int32 `yaml:"weight"`
	// StableRevision is the revision status.stableRS names.
	StableRevision *int `yaml:"stableRevision"`
	// Services maps a Service name to the revision it selects (0: none).
	Services map[string]int `yaml:"services"`
	// MinAvailable: at least this many of the Rollout's Pods are available.
	MinAvailable *int32 `yaml:"minAvailable"`
	// StableMinReplicas: before the update is promoted, the stable
	// ReplicaSet wants at least this many Pods.
	StableMinReplicas *int32 `yaml:"stableMinReplicas"`
	// Replicas maps a revision to the Pods its ReplicaSet wants.
	Replicas map[int]int32 `yaml:"replicas"`
	// Event is the reason of an Event recorded at or before the moment.
	Event string `yaml:"event"`
	// Analysis is the phase of the newest AnalysisRun.
	Analysis string `yaml:"analysis"`
	line     int
}

// Duration is a Go duration written as "90s", "10m" or "1h30m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads "10m" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration such as 30s or 10m is expected", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		var secs float64
		if _, serr := fmt.Sscanf(n.Value, "%g", &secs); serr != nil || fmt.Sprint(secs) != n.Value {
			return fmt.Errorf("line %d: %q is not a duration (write 30s, 10m or 1h30m)", n.Line, n.Value)
		}
		v = time.Duration(secs * float64(time.Second))
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// String prints the duration as the timeline does.
func (d Duration) String() string { return fmtOffset(time.Duration(d)) }

// UnmarshalYAML records the line of the entry, for messages, and refuses
// unknown fields.
func (r *RevisionBehaviour) UnmarshalYAML(n *yaml.Node) error {
	type plain RevisionBehaviour
	if err := decodeStrict(n, (*plain)(r)); err != nil {
		return err
	}
	r.line = n.Line
	return nil
}

// UnmarshalYAML records the line of the entry.
func (j *JobOutcome) UnmarshalYAML(n *yaml.Node) error {
	type plain JobOutcome
	if err := decodeStrict(n, (*plain)(j)); err != nil {
		return err
	}
	j.line = n.Line
	return nil
}

// UnmarshalYAML records the line of the entry.
func (m *MetricSegment) UnmarshalYAML(n *yaml.Node) error {
	type plain MetricSegment
	if err := decodeStrict(n, (*plain)(m)); err != nil {
		return err
	}
	m.line = n.Line
	return nil
}

// UnmarshalYAML records the line of the entry.
func (a *Action) UnmarshalYAML(n *yaml.Node) error {
	type plain Action
	if err := decodeStrict(n, (*plain)(a)); err != nil {
		return err
	}
	a.line = n.Line
	return nil
}

// UnmarshalYAML records the line of the entry.
func (e *Expectation) UnmarshalYAML(n *yaml.Node) error {
	type plain Expectation
	if err := decodeStrict(n, (*plain)(e)); err != nil {
		return err
	}
	e.line = n.Line
	return nil
}

// decodeStrict decodes a node refusing unknown fields; Node.Decode alone
// does not inherit the decoder's KnownFields setting.
func decodeStrict(n *yaml.Node, into any) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a mapping (key: value) is expected", n.Line)
	}
	known := yamlFields(into)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !known[k.Value] {
			return fmt.Errorf("line %d: unknown field %q", k.Line, k.Value)
		}
	}
	return n.Decode(into)
}

// ParseScenario reads a scenario, refusing unknown fields and bad values
// with the file and line.
func ParseScenario(file string, data []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the scenario is empty", file)
		}
		msg := cleanYAMLError(err)
		if m := lineRef.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("%s:%s: %s", file, m[1], msg[len(m[0]):])
		}
		return nil, fmt.Errorf("%s: %s", file, msg)
	}
	s.file = file
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// notFound is yaml.v3's wording of an unknown field, with a Go type name
// that means nothing to the scenario's author.
var notFound = regexp.MustCompile(`field (\S+) not found in type \S+`)

func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	msg = notFound.ReplaceAllString(msg, "unknown field $1")
	return strings.ReplaceAll(msg, "\n  ", "; ")
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the scenario: %w", err)
	}
	return ParseScenario(path, data)
}

// validate checks what the YAML types cannot: one verb per action, one
// timing per expectation, known job results.
func (s *Scenario) validate() error {
	var errs []string
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s:%d: %s", s.file, line, fmt.Sprintf(format, args...)))
	}
	for _, r := range s.Pods.Revisions {
		if r.Revision < 1 {
			bad(r.line, "pods.revisions: revision must be 1 or more")
		}
	}
	for metric, outs := range s.Jobs {
		for _, o := range outs {
			switch o.Result {
			case JobSucceed, JobFail, JobHang:
			default:
				bad(o.line, "jobs.%s: result %q is not one of succeed, fail, hang", metric, o.Result)
			}
		}
	}
	for metric, segs := range s.Metrics {
		for i, m := range segs {
			n := 0
			for _, set := range []bool{m.Value != nil, m.Ramp != nil, m.Table != nil, m.Error != ""} {
				if set {
					n++
				}
			}
			if n != 1 {
				bad(m.line, "metrics.%s: give exactly one of value, ramp, table, error", metric)
			}
			if i > 0 && m.From < segs[i-1].From {
				bad(m.line, "metrics.%s: segments must be in time order (from)", metric)
			}
		}
	}
	for _, a := range s.Actions {
		n := 0
		for _, set := range []bool{a.Update != nil, a.Promote, a.PromoteFull, a.Abort, a.Retry, a.Pause, a.Scale != nil, a.DeleteService != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad(a.line, "actions: give exactly one of update, promote, promoteFull, abort, retry, pause, scale, deleteService")
		}
		if a.Update != nil && a.Update.Image == "" && len(a.Update.Images) == 0 && len(a.Update.Labels) == 0 && len(a.Update.Env) == 0 && len(a.Update.SecretNames) == 0 {
			bad(a.line, "actions: update changes nothing (give image, images, labels, env or secretNames)")
		}
		if a.Scale != nil && *a.Scale < 0 {
			bad(a.line, "actions: scale must not be negative")
		}
	}
	for _, e := range s.Expect {
		n := 0
		for _, set := range []bool{e.At != nil, e.Before != nil, e.End, e.Always, e.Never} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad(e.line, "expect: give exactly one of at, before, end, always, never")
		}
		if e.From != nil && !e.Always && !e.Never {
			bad(e.line, "expect: from applies to always and never only")
		}
		if e.checks() == 0 {
			bad(e.line, "expect: nothing to check (give phase, aborted, step, weight, stableRevision, services, minAvailable, stableMinReplicas, replicas, event or analysis)")
		}
		if e.Phase != "" && !knownPhases[e.Phase] {
			bad(e.line, "expect: phase %q is not one of Progressing, Paused, Healthy, Degraded", e.Phase)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

var knownPhases = map[string]bool{"Progressing": true, "Paused": true, "Healthy": true, "Degraded": true}

// checks counts the conditions an expectation sets.
func (e *Expectation) checks() int {
	n := 0
	for _, set := range []bool{e.Phase != "", e.Aborted != nil, e.Step != nil, e.Weight != nil, e.StableRevision != nil,
		e.Services != nil, e.MinAvailable != nil, e.StableMinReplicas != nil, e.Replicas != nil, e.Event != "", e.Analysis != ""} {
		if set {
			n++
		}
	}
	return n
}

// UnmarshalYAML refuses unknown fields.
func (t *TemplateChange) UnmarshalYAML(n *yaml.Node) error {
	type plain TemplateChange
	return decodeStrict(n, (*plain)(t))
}

// UnmarshalYAML refuses unknown fields.
func (r *Ramp) UnmarshalYAML(n *yaml.Node) error {
	type plain Ramp
	return decodeStrict(n, (*plain)(r))
}

// yamlFields lists the yaml keys of the struct into points at.
func yamlFields(into any) map[string]bool {
	t := reflect.TypeOf(into).Elem()
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			out[tag] = true
		}
	}
	return out
}

// lineRef turns yaml's "line N: " into "N: " after the file name.
var lineRef = regexp.MustCompile(`^line (\d+): `)
