package devcluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Pod behaviour switches understood by the local cluster. Tests in other
// packages put them on Pod templates to simulate failures that a real
// kubelet would report.
const (
	// SimulateLabel is the Pod label that selects a simulated outcome.
	SimulateLabel = "kanaria.dev/simulate"
	// SimulateFail, as the value of SimulateLabel on a Pod owned by a Job,
	// makes the Pod's containers exit with code 1 about a second after they
	// start, so the Pod ends Failed (and a Job with backoffLimit 0 fails).
	// On a Pod not owned by a Job the label has no effect.
	SimulateFail = "fail"
	// SimulateNeverReady, as the value of SimulateLabel, keeps the Pod
	// Running with its containers started but never ready, forever, like a
	// failing readiness probe.
	SimulateNeverReady = "never-ready"
	// SimulateRunForever, as the value of SimulateLabel on a Pod owned by a
	// Job, keeps the Pod Running and ready forever, like a test that hangs
	// or runs far longer than anything waits for it; its Job never
	// finishes. On a Pod not owned by a Job it behaves like any other.
	SimulateRunForever = "run-forever"
	// NeverReadyImageMarker in the image of a Pod's first container has the
	// same effect as SimulateNeverReady, so that a rollout to a "bad image"
	// (e.g. registry.example/app:never-ready) can be simulated without
	// touching labels.
	NeverReadyImageMarker = "never-ready"
)

// Node shape of the fake nodes.
const (
	// NodeLabelType and NodeLabelTypeValue label every fake node, as in
	// kwok's own examples, so that workloads can select them.
	NodeLabelType      = "type"
	NodeLabelTypeValue = "kwok"
	// kwokNodeAnnotation marks a node as fake for kwok.
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	nodeCPU            = "1000"
	nodeMemory         = "4Ti"
)

// Simulation modes computed by modeExpression. Every Pod has exactly one,
// which keeps the Pod stages below mutually exclusive: when several stages
// match, kwok picks one at random, so overlap would make behaviour flaky.
const (
	modeNormal     = "normal"
	modeFail       = "fail"
	modeNeverReady = "never-ready"
	modeRunForever = "run-forever"
)

// modeExpression is a jq program that classifies a Pod. Never-ready wins
// over the other markers so that a Pod carrying several cannot flip between
// stages.
var modeExpression = fmt.Sprintf(
	`(.metadata.labels[%s] // "") as $sim`+
		` | ((.spec.containers[0].image // "") | contains(%s)) as $image`+
		` | if $sim == %s or $image then %s elif $sim == %s then %s elif $sim == %s then %s else %s end`,
	strconv.Quote(SimulateLabel), strconv.Quote(NeverReadyImageMarker),
	strconv.Quote(SimulateNeverReady), strconv.Quote(modeNeverReady),
	strconv.Quote(SimulateFail), strconv.Quote(modeFail),
	strconv.Quote(SimulateRunForever), strconv.Quote(modeRunForever), strconv.Quote(modeNormal))

// The types below mirror the parts of kwok's Stage API
// (kwok.x-k8s.io/v1alpha1) that this package uses.
type kwokStage struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   kwokMeta      `json:"metadata"`
	Spec       kwokStageSpec `json:"spec"`
}

type kwokMeta struct {
	Name string `json:"name"`
}

type kwokStageSpec struct {
	ResourceRef kwokResourceRef `json:"resourceRef"`
	Selector    kwokSelector    `json:"selector"`
	Delay       *kwokDelay      `json:"delay,omitempty"`
	Next        kwokNext        `json:"next"`
}

type kwokResourceRef struct {
	APIGroup string `json:"apiGroup"`
	Kind     string `json:"kind"`
}

type kwokSelector struct {
	MatchExpressions []kwokExpression `json:"matchExpressions"`
}

type kwokExpression struct {
	JQ kwokJQ `json:"jq"`
}

type kwokJQ struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

type kwokDelay struct {
	DurationMilliseconds       int64 `json:"durationMilliseconds"`
	JitterDurationMilliseconds int64 `json:"jitterDurationMilliseconds,omitempty"`
}

type kwokNext struct {
	Patches    []kwokPatch     `json:"patches,omitempty"`
	Finalizers *kwokFinalizers `json:"finalizers,omitempty"`
	Delete     bool            `json:"delete,omitempty"`
}

type kwokPatch struct {
	Subresource string `json:"subresource"`
	Root        string `json:"root"`
	Type        string `json:"type"`
	Template    string `json:"template"`
}

type kwokFinalizers struct {
	Empty bool `json:"empty"`
}

func jq(key, operator string, values ...string) kwokExpression {
	return kwokExpression{JQ: kwokJQ{Key: key, Operator: operator, Values: values}}
}

func statusPatch(template string) []kwokPatch {
	return []kwokPatch{{Subresource: "status", Root: "status", Type: "strategic", Template: template}}
}

func stage(name, kind string, delay *kwokDelay, next kwokNext, exprs ...kwokExpression) kwokStage {
	return kwokStage{
		APIVersion: "kwok.x-k8s.io/v1alpha1",
		Kind:       "Stage",
		Metadata:   kwokMeta{Name: name},
		Spec: kwokStageSpec{
			ResourceRef: kwokResourceRef{APIGroup: "v1", Kind: kind},
			Selector:    kwokSelector{MatchExpressions: exprs},
			Delay:       delay,
			Next:        next,
		},
	}
}

// Templates are Go templates rendered by kwok against the object, producing
// a strategic-merge patch of its status. Functions such as Now, Quote,
// NodeConditions, NodeIPWith and PodIPWith are kwok's.

// nodeStatusTemplate brings a node up. Values already in the status (set
// when the node is created) win over the fallbacks.
const nodeStatusTemplate = `{{ $now := Now }}
{{ $since := or .metadata.creationTimestamp $now }}
conditions:
{{ range NodeConditions }}
- type: {{ .type | Quote }}
  status: {{ .status | Quote }}
  reason: {{ .reason | Quote }}
  message: {{ .message | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $since | Quote }}
{{ end }}
addresses:
{{ with .status.addresses }}
{{ YAML . 1 }}
{{ else }}
- type: InternalIP
  address: {{ NodeIP | Quote }}
- type: Hostname
  address: {{ .metadata.name | Quote }}
{{ end }}
capacity:
{{ with .status.capacity }}
{{ YAML . 1 }}
{{ else }}
  cpu: @CPU@
  memory: @MEMORY@
  pods: @PODS@
{{ end }}
allocatable:
{{ with .status.allocatable }}
{{ YAML . 1 }}
{{ else }}
  cpu: @CPU@
  memory: @MEMORY@
  pods: @PODS@
{{ end }}
{{ $info := or .status.nodeInfo dict }}
{{ $version := printf "kwok-%s" Version }}
nodeInfo:
  architecture: {{ or $info.architecture "amd64" }}
  operatingSystem: {{ or $info.operatingSystem "linux" }}
  kubeletVersion: {{ or $info.kubeletVersion $version }}
  kubeProxyVersion: {{ or $info.kubeProxyVersion $version }}
  containerRuntimeVersion: {{ or $info.containerRuntimeVersion $version }}
  kernelVersion: {{ or $info.kernelVersion $version }}
  osImage: {{ or $info.osImage $version }}
  bootID: ""
  machineID: ""
  systemUUID: ""
phase: Running
`

// nodeHeartbeatTemplate refreshes the condition timestamps now and then.
// Liveness itself comes from the node leases kwok renews, which is why this
// runs only every ten minutes or so.
const nodeHeartbeatTemplate = `{{ $now := Now }}
{{ $since := or .metadata.creationTimestamp $now }}
conditions:
{{ range NodeConditions }}
- type: {{ .type | Quote }}
  status: {{ .status | Quote }}
  reason: {{ .reason | Quote }}
  message: {{ .message | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $since | Quote }}
{{ end }}
`

// podStartedTemplate starts every container; @READY@ (a bool) and
// @STATUS@ (the matching condition status) decide whether they pass their
// readiness checks.
const podStartedTemplate = `{{ $now := Now }}
conditions:
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Ready
  status: "@STATUS@"
  reason: "@REASON@"
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "@STATUS@"
  reason: "@REASON@"
  lastTransitionTime: {{ $now | Quote }}
{{ range .spec.readinessGates }}
- type: {{ .conditionType | Quote }}
  status: "@STATUS@"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  restartCount: 0
  {{ if eq .restartPolicy "Always" }}
  ready: @READY@
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
  {{ else }}
  ready: true
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
  {{ end }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  restartCount: 0
  ready: @READY@
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
`

// podTerminatedTemplate ends every container with @EXIT@; a kubelet marks
// a finished Pod not ready, and so does this.
const podTerminatedTemplate = `{{ $now := Now }}
{{ $started := or .status.startTime $now }}
conditions:
- type: Ready
  status: "False"
  reason: "@REASON@"
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: "@REASON@"
  lastTransitionTime: {{ $now | Quote }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  restartCount: 0
  ready: false
  started: false
  state:
    terminated:
      exitCode: @EXIT@
      reason: "@TERMREASON@"
      message: "@MESSAGE@"
      startedAt: {{ $started | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: @PHASE@
`

func fill(template string, pairs ...string) string {
	return strings.NewReplacer(pairs...).Replace(template)
}

// kwokStages returns the stages the local cluster runs with. kwok replaces
// its built-in stages for a resource kind as soon as the configuration holds
// any stage for that kind, so this is the complete behaviour of nodes and
// Pods.
func kwokStages(podsPerNode int) []kwokStage {
	nodeValues := []string{"@CPU@", nodeCPU, "@MEMORY@", nodeMemory, "@PODS@", strconv.Itoa(podsPerNode)}
	readyStatus := `.status.conditions.[] | select( .type == "Ready" ) | .status`
	notDeleted := jq(".metadata.deletionTimestamp", "DoesNotExist")
	notStarted := jq(".status.podIP", "DoesNotExist")
	running := jq(".status.phase", "In", "Running")
	ownedByJob := jq(".metadata.ownerReferences.[].kind", "In", "Job")
	mode := func(modes ...string) kwokExpression { return jq(modeExpression, "In", modes...) }
	second := &kwokDelay{DurationMilliseconds: 1000}

	return []kwokStage{
		stage("node-initialize", "Node", nil,
			kwokNext{Patches: statusPatch(fill(nodeStatusTemplate, nodeValues...))},
			jq(readyStatus, "NotIn", "True")),
		stage("node-heartbeat-with-lease", "Node",
			&kwokDelay{DurationMilliseconds: 600000, JitterDurationMilliseconds: 610000},
			kwokNext{Patches: statusPatch(nodeHeartbeatTemplate)},
			jq(".status.phase", "In", "Running"),
			jq(readyStatus, "In", "True")),

		// Job Pods that will fail or succeed start ready too, as a real
		// container that runs for a second would; a run-forever Pod has no
		// stage after this one, so it stays Running.
		stage("pod-ready", "Pod", nil,
			kwokNext{Patches: statusPatch(fill(podStartedTemplate, "@READY@", "true", "@STATUS@", "True", "@REASON@", ""))},
			notDeleted, notStarted, mode(modeNormal, modeFail, modeRunForever)),
		stage("pod-never-ready", "Pod", nil,
			kwokNext{Patches: statusPatch(fill(podStartedTemplate, "@READY@", "false", "@STATUS@", "False", "@REASON@", "ContainersNotReady"))},
			notDeleted, notStarted, mode(modeNeverReady)),
		stage("pod-job-succeeded", "Pod", second,
			kwokNext{Patches: statusPatch(fill(podTerminatedTemplate,
				"@REASON@", "PodCompleted", "@EXIT@", "0", "@TERMREASON@", "Completed",
				"@MESSAGE@", "", "@PHASE@", "Succeeded"))},
			notDeleted, running, ownedByJob, mode(modeNormal)),
		stage("pod-job-failed", "Pod", second,
			kwokNext{Patches: statusPatch(fill(podTerminatedTemplate,
				"@REASON@", "PodFailed", "@EXIT@", "1", "@TERMREASON@", "Error",
				"@MESSAGE@", "simulated failure ("+SimulateLabel+"="+SimulateFail+")", "@PHASE@", "Failed"))},
			notDeleted, running, ownedByJob, mode(modeFail)),
		// Nothing runs, so a deleted Pod can go at once; its finalizers
		// are dropped as a kubelet-less node would never clear them.
		stage("pod-delete", "Pod", nil,
			kwokNext{Finalizers: &kwokFinalizers{Empty: true}, Delete: true},
			jq(".metadata.deletionTimestamp", "Exists")),
	}
}

// kwokConfig renders the stages as a multi-document file for kwok's
// --config. JSON documents are valid YAML and need no YAML library.
func kwokConfig(podsPerNode int) ([]byte, error) {
	var buf bytes.Buffer
	for i, s := range kwokStages(podsPerNode) {
		if i > 0 {
			buf.WriteString("---\n")
		}
		data, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode kwok stage %s: %w", s.Metadata.Name, err)
		}
		buf.Write(data)
		buf.WriteString("\n")
	}
	return buf.Bytes(), nil
}
