package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kanaria-rollouts/kanaria/internal/cli/view"
)

// WriteText prints the timeline and the verdict for a person.
func WriteText(w io.Writer, r *Result, verbose bool) error {
	var b strings.Builder
	title := r.Scenario
	if title == "" {
		title = "scenario"
	}
	fmt.Fprintf(&b, "Rollout %s: %s\n", r.Rollout, title)
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "  (not simulated: %s)\n", s)
	}
	for _, e := range r.Entries {
		if e.Routine && !verbose {
			continue
		}
		fmt.Fprintf(&b, "%9s  %s\n", fmtOffset(e.At), e.text())
	}
	writeVerdict(&b, r)
	_, err := io.WriteString(w, b.String())
	return err
}

// text renders an entry without its time.
func (e Entry) text() string {
	switch e.Kind {
	case KindState:
		return "state    " + e.State.Line()
	case KindAction:
		return fmt.Sprintf("action   %s: %s", e.Reason, e.Message)
	case KindEvent:
		return fmt.Sprintf("event    %s %s: %s", e.Object, e.Reason, e.Message)
	case KindMeasurement:
		return fmt.Sprintf("measure  %s %s: %s", e.Object, e.Reason, e.Message)
	case KindViolation:
		return "VIOLATED " + e.Message
	}
	return e.Kind + " " + e.Message
}

func writeVerdict(b *strings.Builder, r *Result) {
	if r.Passed() {
		fmt.Fprintf(b, "PASS: every expectation and safety invariant held (simulated %s)\n", fmtOffset(r.End))
		return
	}
	fmt.Fprintf(b, "FAIL: %d expectation(s) or invariant(s) did not hold (simulated %s)\n", len(r.Failures), fmtOffset(r.End))
	for _, f := range r.Failures {
		fmt.Fprintf(b, "  %s: %s\n", f.Where, f.What)
		fmt.Fprintf(b, "    - want: %s\n", f.What)
		fmt.Fprintf(b, "    + got:  %s\n", f.Got)
	}
}

// jsonResult is Result with durations in seconds, for tools.
type jsonResult struct {
	Scenario   string      `json:"scenario"`
	Rollout    string      `json:"rollout"`
	EndSeconds float64     `json:"endSeconds"`
	Passed     bool        `json:"passed"`
	Timeline   []jsonEntry `json:"timeline"`
	Failures   []Failure   `json:"failures"`
	Skipped    []string    `json:"skipped,omitempty"`
	// AnalysisRunStatusWrites is the analysis controller's status writes.
	AnalysisRunStatusWrites int `json:"analysisRunStatusWrites"`
}

type jsonEntry struct {
	AtSeconds float64 `json:"atSeconds"`
	Entry
}

// WriteJSON prints the result as one JSON document.
func WriteJSON(w io.Writer, r *Result) error {
	out := jsonResult{Scenario: r.Scenario, Rollout: r.Rollout, EndSeconds: r.End.Seconds(), Passed: r.Passed(),
		Failures: r.Failures, Skipped: r.Skipped, Timeline: []jsonEntry{}, AnalysisRunStatusWrites: r.AnalysisRunStatusWrites}
	if out.Failures == nil {
		out.Failures = []Failure{}
	}
	for _, e := range r.Entries {
		out.Timeline = append(out.Timeline, jsonEntry{AtSeconds: e.At.Seconds(), Entry: e})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// Watch draws each frame as `kanaria get rollout -w` would, pausing
// between frames for the virtual time between them divided by speed, at
// most maxPause; sleep is time.Sleep outside tests. On a terminal each
// frame replaces the last, in colour; elsewhere frames follow each other.
func Watch(w io.Writer, r *Result, speed float64, maxPause time.Duration, terminal bool, sleep func(time.Duration)) error {
	var prev time.Duration
	for i, f := range r.Frames {
		if i > 0 && speed > 0 {
			pause := time.Duration(float64(f.At-prev) / speed)
			sleep(min(pause, maxPause))
		}
		prev = f.At
		var b strings.Builder
		switch {
		case i > 0 && terminal:
			b.WriteString("\x1b[H\x1b[2J")
		case i > 0:
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Simulated time: %s\n", fmtOffset(f.At))
		if _, err := io.WriteString(w, b.String()); err != nil {
			return fmt.Errorf("drawing: %w", err)
		}
		if err := view.Render(w, f.Tree, view.RenderOptions{Now: Start.Add(f.At), Color: terminal}); err != nil {
			return fmt.Errorf("drawing: %w", err)
		}
	}
	var b strings.Builder
	writeVerdict(&b, r)
	_, err := io.WriteString(w, "\n"+b.String())
	return err
}
