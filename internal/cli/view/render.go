package view

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// RenderOptions control how a snapshot is printed. Rendering reads nothing
// else, so the same snapshot and options always give the same bytes.
type RenderOptions struct {
	// Now is the time ages and remaining durations are computed against.
	Now time.Time
	// Color adds ANSI colours; only for terminals.
	Color bool
	// AllNamespaces adds the NAMESPACE column to lists.
	AllNamespaces bool
}

// Status icons. They match the public Argo Rollouts plugin so that people
// who know one tool can read the other at a glance.
const (
	iconHealthy      = "✔"
	iconProgressing  = "◌"
	iconPaused       = "॥"
	iconFailed       = "✖"
	iconError        = "⚠"
	iconInconclusive = "?"
	iconScaledDown   = "•"
)

// tone is the colour class of a piece of text.
type tone int

const (
	tonePlain tone = iota
	toneGood
	toneWait
	toneBad
	toneMuted
	toneStrong
)

var ansi = map[tone]string{
	toneGood:   "\x1b[32m",
	toneWait:   "\x1b[33m",
	toneBad:    "\x1b[31m",
	toneMuted:  "\x1b[90m",
	toneStrong: "\x1b[1m",
}

const ansiReset = "\x1b[0m"

// painter colours text when colour is on and passes it through otherwise.
type painter bool

func (p painter) paint(t tone, s string) string {
	if !p || t == tonePlain || s == "" {
		return s
	}
	return ansi[t] + s + ansiReset
}

// Render prints the `get rollout` view of t: a header, then the revisions
// with their objects as a tree.
func Render(w io.Writer, t Tree, opts RenderOptions) error {
	p := painter(opts.Color)
	var b strings.Builder
	icon, tn := rolloutIcon(t.Phase)
	h := header{}
	h.add("Name", t.Name)
	h.add("Namespace", t.Namespace)
	h.add("Status", p.paint(tn, icon+" "+phaseText(string(t.Phase))))
	if t.Message != "" {
		h.add("Message", t.Message)
	}
	h.add("Strategy", cmp.Or(t.Strategy, "-"))
	if t.Step != nil {
		text := fmt.Sprintf("%d/%d", t.Step.Current, t.Step.Total)
		if w := t.Step.Written; w != nil {
			text += p.paint(toneBad, fmt.Sprintf(" (status.currentStepIndex is %d)", *w))
		}
		h.add("Step", text)
	}
	if t.SetWeight != nil {
		h.add("SetWeight", strconv.Itoa(int(*t.SetWeight)))
	}
	if t.ActualWeight != nil {
		h.add("ActualWeight", strconv.Itoa(int(*t.ActualWeight)))
	}
	if len(t.Images) == 0 {
		h.add("Images", "-")
	}
	for i, img := range t.Images {
		label := ""
		if i == 0 {
			label = "Images"
		}
		text := img.Name
		if len(img.Roles) > 0 {
			text += " " + p.paint(toneStrong, "("+strings.Join(img.Roles, ", ")+")")
		}
		h.add(label, text)
	}
	r := t.Replicas
	reps := table{gap: 2}
	reps.row(plain("DESIRED"), plain("CURRENT"), plain("UPDATED"), plain("READY"), plain("AVAILABLE"))
	reps.row(num(r.Desired), num(r.Current), num(r.Updated), num(r.Ready), num(r.Available))
	for i, line := range reps.lines(p) {
		label := ""
		if i == 0 {
			label = "Replicas"
		}
		h.add(label, line)
	}
	h.write(&b)

	var nodes []node
	for _, rev := range t.Revisions {
		nodes = append(nodes, revisionNode(rev, opts))
	}
	b.WriteString("\n")
	writeTree(&b, nodes, p)
	_, err := io.WriteString(w, b.String())
	return err
}

// RenderExperiment prints the `get experiment` view of e: a header, then its
// ReplicaSets and AnalysisRuns as a tree.
func RenderExperiment(w io.Writer, e Experiment, opts RenderOptions) error {
	p := painter(opts.Color)
	var b strings.Builder
	icon, tn := analysisIcon(e.Phase)
	h := header{}
	h.add("Name", e.Name)
	h.add("Namespace", e.Namespace)
	h.add("Status", p.paint(tn, icon+" "+string(e.Phase)))
	if e.Message != "" {
		h.add("Message", e.Message)
	}
	if e.Duration != "" {
		d := e.Duration
		if rem := remaining(e); rem != "-" {
			d += " (" + rem + " remaining)"
		}
		h.add("Duration", d)
	}
	h.write(&b)
	b.WriteString("\n")
	writeTree(&b, experimentChildren(e, opts), p)
	_, err := io.WriteString(w, b.String())
	return err
}

// RenderRolloutList prints the `list rollouts` table.
func RenderRolloutList(w io.Writer, rows []RolloutSummary, opts RenderOptions) error {
	p := painter(opts.Color)
	t := table{gap: 3}
	head := []cell{plain("NAME"), plain("STRATEGY"), plain("STATUS"), plain("STEP"), plain("SET-WEIGHT"),
		plain("READY"), plain("DESIRED"), plain("UP-TO-DATE"), plain("AVAILABLE")}
	if opts.AllNamespaces {
		head = append([]cell{plain("NAMESPACE")}, head...)
	}
	t.row(head...)
	for _, r := range rows {
		_, tn := rolloutIcon(r.Phase)
		step, weight := "-", "-"
		if r.Step != nil {
			step = fmt.Sprintf("%d/%d", r.Step.Current, r.Step.Total)
		}
		if r.SetWeight != nil {
			weight = strconv.Itoa(int(*r.SetWeight))
		}
		cells := []cell{plain(r.Name), plain(cmp.Or(r.Strategy, "-")), toned(tn, phaseText(string(r.Phase))),
			plain(step), plain(weight), plain(fmt.Sprintf("%d/%d", r.Replicas.Ready, r.Replicas.Current)),
			num(r.Replicas.Desired), num(r.Replicas.Updated), num(r.Replicas.Available)}
		if opts.AllNamespaces {
			cells = append([]cell{plain(r.Namespace)}, cells...)
		}
		t.row(cells...)
	}
	_, err := io.WriteString(w, strings.Join(t.lines(p), "\n")+"\n")
	return err
}

// RenderExperimentList prints the `list experiments` table.
func RenderExperimentList(w io.Writer, rows []Experiment, opts RenderOptions) error {
	p := painter(opts.Color)
	t := table{gap: 3}
	head := []cell{plain("NAME"), plain("STATUS"), plain("DURATION"), plain("REMAINING"), plain("AGE")}
	if opts.AllNamespaces {
		head = append([]cell{plain("NAMESPACE")}, head...)
	}
	t.row(head...)
	for _, e := range rows {
		_, tn := analysisIcon(e.Phase)
		cells := []cell{plain(e.Name), toned(tn, string(e.Phase)), plain(cmp.Or(e.Duration, "-")),
			plain(remaining(e)), plain(age(opts.Now, e.CreatedAt))}
		if opts.AllNamespaces {
			cells = append([]cell{plain(e.Namespace)}, cells...)
		}
		t.row(cells...)
	}
	_, err := io.WriteString(w, strings.Join(t.lines(p), "\n")+"\n")
	return err
}

// remaining prints how much of an Experiment's duration is left; "-" when
// the read model has no figure.
func remaining(e Experiment) string {
	if e.Remaining == nil {
		return "-"
	}
	return duration.HumanDuration(*e.Remaining)
}

// header is the "Label:  value" block at the top of a view.
type header struct{ rows [][2]string }

func (h *header) add(label, value string) { h.rows = append(h.rows, [2]string{label, value}) }

func (h *header) write(b *strings.Builder) {
	width := 0
	for _, r := range h.rows {
		width = max(width, len(r[0])+1)
	}
	for _, r := range h.rows {
		label := r[0]
		if label != "" {
			label += ":"
		}
		fmt.Fprintf(b, "%-*s  %s\n", width, label, r[1])
	}
}

// span is a run of text in one tone.
type span struct {
	text string
	tone tone
}

// cell is one table cell; its spans may have different tones, and its
// width is that of the plain text.
type cell []span

func plain(s string) cell         { return cell{{text: s}} }
func toned(t tone, s string) cell { return cell{{text: s, tone: t}} }
func num(n int32) cell            { return plain(strconv.Itoa(int(n))) }
func (c cell) paint(p painter) string {
	var b strings.Builder
	for _, s := range c {
		b.WriteString(p.paint(s.tone, s.text))
	}
	return b.String()
}

func (c cell) width() int {
	n := 0
	for _, s := range c {
		n += utf8.RuneCountInString(s.text)
	}
	return n
}

// table aligns cells by their visible width. text/tabwriter is not used
// because colour codes would count towards its widths.
type table struct {
	gap  int
	rows [][]cell
}

func (t *table) row(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *table) lines(p painter) []string {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], c.width())
		}
	}
	out := make([]string, 0, len(t.rows))
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c.paint(p))
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-c.width()+t.gap))
			}
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}

// node is one line of the object tree before layout.
type node struct {
	// label is the object column without the tree prefix.
	label cell
	// status is the icon and status word, already toned.
	status cell
	age    string
	info   cell
	kids   []node
}

// writeTree lays the nodes out as a tree with aligned columns. Top-level
// nodes (revisions) have no branch; their children hang off them.
func writeTree(b *strings.Builder, nodes []node, p painter) {
	t := table{gap: 2}
	t.row(toned(toneStrong, "OBJECT"), toned(toneStrong, "STATUS"), toned(toneStrong, "AGE"), toned(toneStrong, "INFO"))
	var walk func(ns []node, prefix string, top bool)
	walk = func(ns []node, prefix string, top bool) {
		for i, n := range ns {
			branch, next := "", ""
			if !top {
				branch, next = "├─ ", "│  "
				if i == len(ns)-1 {
					branch, next = "└─ ", "   "
				}
			}
			label := append(cell{{text: prefix + branch, tone: toneMuted}}, n.label...)
			t.row(label, n.status, plain(n.age), n.info)
			walk(n.kids, prefix+next, false)
		}
	}
	walk(nodes, "", true)
	for _, l := range t.lines(p) {
		b.WriteString(l)
		b.WriteString("\n")
	}
}

func revisionNode(rev Revision, opts RenderOptions) node {
	name := "revision " + strconv.FormatInt(rev.Number, 10)
	if rev.Number == 0 {
		name = "revision unknown"
	}
	n := node{label: toned(toneStrong, name)}
	for _, rs := range rev.ReplicaSets {
		n.kids = append(n.kids, replicaSetNode(rs, opts))
	}
	for _, ex := range rev.Experiments {
		icon, tn := analysisIcon(ex.Phase)
		n.kids = append(n.kids, node{
			label:  plain("Experiment " + ex.Name),
			status: toned(tn, icon+" "+string(ex.Phase)),
			age:    age(opts.Now, ex.CreatedAt),
			kids:   experimentChildren(ex, opts),
		})
	}
	for _, run := range rev.AnalysisRuns {
		n.kids = append(n.kids, analysisRunNode(run, opts))
	}
	return n
}

func experimentChildren(ex Experiment, opts RenderOptions) []node {
	var kids []node
	for _, rs := range ex.ReplicaSets {
		kids = append(kids, replicaSetNode(rs, opts))
	}
	for _, run := range ex.AnalysisRuns {
		kids = append(kids, analysisRunNode(run, opts))
	}
	return kids
}

func replicaSetNode(rs ReplicaSet, opts RenderOptions) node {
	icon, tn := replicaSetIcon(rs.Status)
	var info cell
	for i, r := range rs.Roles {
		if i > 0 {
			info = append(info, span{text: ", "})
		}
		info = append(info, span{text: r, tone: toneStrong})
	}
	if rs.Template != "" {
		if len(info) > 0 {
			info = append(info, span{text: " "})
		}
		text := "template " + rs.Template
		if rs.TemplateStatus != "" {
			text += " (" + rs.TemplateStatus + ")"
		}
		if rs.Service != "" {
			text += ", service " + rs.Service
		}
		info = append(info, span{text: text})
	}
	if len(rs.Config) > 0 {
		if len(info) > 0 {
			info = append(info, span{text: ", "})
		}
		info = append(info, span{text: "config " + strings.Join(rs.Config, ", ")})
	}
	n := node{
		label:  plain("ReplicaSet " + rs.Name),
		status: toned(tn, icon+" "+rs.Status),
		age:    age(opts.Now, rs.CreatedAt),
		info:   info,
	}
	for _, pd := range rs.Pods {
		icon, tn := podIcon(pd)
		n.kids = append(n.kids, node{
			label:  plain("Pod " + pd.Name),
			status: toned(tn, icon+" "+pd.Status),
			age:    age(opts.Now, pd.CreatedAt),
			info:   plain(fmt.Sprintf("ready %d/%d, restarts %d", pd.Ready, pd.Total, pd.Restarts)),
		})
	}
	return n
}

func analysisRunNode(run AnalysisRun, opts RenderOptions) node {
	icon, tn := analysisIcon(run.Phase)
	var info cell
	for _, c := range []struct {
		icon string
		tone tone
		n    int32
	}{
		{iconHealthy, toneGood, run.Successful},
		{iconFailed, toneBad, run.Failed},
		{iconInconclusive, toneWait, run.Inconclusive},
		{iconError, toneBad, run.Error},
	} {
		// Zero counts are left out so the ones that matter stand out.
		if c.n == 0 {
			continue
		}
		if len(info) > 0 {
			info = append(info, span{text: " "})
		}
		info = append(info, span{text: c.icon, tone: c.tone}, span{text: " " + strconv.Itoa(int(c.n))})
	}
	n := node{
		label:  plain("AnalysisRun " + run.Name),
		status: toned(tn, icon+" "+string(run.Phase)),
		age:    age(opts.Now, run.CreatedAt),
		info:   info,
	}
	for _, j := range run.Jobs {
		icon, tn := jobIcon(j.Status)
		n.kids = append(n.kids, node{
			label:  plain("Job " + j.Name),
			status: toned(tn, icon+" "+j.Status),
			age:    age(opts.Now, j.CreatedAt),
		})
	}
	return n
}

func rolloutIcon(phase v1alpha1.RolloutPhase) (string, tone) {
	switch phase {
	case v1alpha1.RolloutPhaseHealthy:
		return iconHealthy, toneGood
	case v1alpha1.RolloutPhaseProgressing:
		return iconProgressing, toneWait
	case v1alpha1.RolloutPhasePaused:
		return iconPaused, toneWait
	case v1alpha1.RolloutPhaseDegraded:
		return iconFailed, toneBad
	}
	return iconInconclusive, toneMuted
}

func analysisIcon(phase v1alpha1.AnalysisPhase) (string, tone) {
	switch phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		return iconHealthy, toneGood
	case v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhasePending:
		return iconProgressing, toneWait
	case v1alpha1.AnalysisPhaseFailed:
		return iconFailed, toneBad
	case v1alpha1.AnalysisPhaseError:
		return iconError, toneBad
	}
	return iconInconclusive, toneWait
}

func replicaSetIcon(status string) (string, tone) {
	switch status {
	case RSHealthy:
		return iconHealthy, toneGood
	case RSScaledDown:
		return iconScaledDown, toneMuted
	case RSDegraded:
		return iconFailed, toneBad
	}
	return iconProgressing, toneWait
}

func jobIcon(status string) (string, tone) {
	switch status {
	case JobSuccessful:
		return iconHealthy, toneGood
	case JobFailed:
		return iconFailed, toneBad
	}
	return iconProgressing, toneWait
}

// podIcon reads the kubectl-style status: running and ready is healthy,
// the usual start-up and shut-down words are progress, anything else is a
// failure worth a look.
func podIcon(p Pod) (string, tone) {
	switch {
	case p.Status == "Running" && p.Total > 0 && p.Ready == p.Total, p.Status == "Completed", p.Status == "Succeeded":
		return iconHealthy, toneGood
	case p.Status == "Running", p.Status == "Pending", p.Status == "ContainerCreating",
		p.Status == "PodInitializing", p.Status == "Terminating", isInitProgress(p.Status):
		return iconProgressing, toneWait
	case p.Status == "Unknown":
		return iconInconclusive, toneMuted
	}
	return iconFailed, toneBad
}

// isInitProgress matches "Init:1/3", the status of a Pod whose init
// containers are still running normally.
func isInitProgress(s string) bool {
	rest, ok := strings.CutPrefix(s, "Init:")
	if !ok {
		return false
	}
	a, b, ok := strings.Cut(rest, "/")
	_, errA := strconv.Atoi(a)
	_, errB := strconv.Atoi(b)
	return ok && errA == nil && errB == nil
}

// phaseText shows an empty phase as Unknown: the controller has not
// reported on the object yet.
func phaseText(phase string) string { return cmp.Or(phase, "Unknown") }

// age is how long ago t was, as kubectl prints it; "-" for an unknown time.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}
