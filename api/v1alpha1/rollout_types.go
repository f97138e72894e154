package v1alpha1

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels and annotations that other tools read; their names are part of the
// API contract with Argo Rollouts and must not change.
const (
	// DefaultRolloutUniqueLabelKey is the label that carries the pod-template
	// hash on ReplicaSets, their Pods and the selectors of managed Services.
	DefaultRolloutUniqueLabelKey = "rollouts-pod-template-hash"
	// DefaultReplicaSetScaleDownDeadlineAnnotationKey holds the time after which
	// a previous ReplicaSet may be scaled down.
	DefaultReplicaSetScaleDownDeadlineAnnotationKey = "scale-down-deadline"
	// ManagedByRolloutsKey marks a Service or router object that a Rollout
	// manages without owning it; the value is the Rollout's name.
	ManagedByRolloutsKey = "argo-rollouts.argoproj.io/managed-by-rollouts"
	// DefaultReplicaSetRestartAnnotationKey records on a ReplicaSet the restart
	// time its Pods were last restarted for.
	DefaultReplicaSetRestartAnnotationKey = "argo-rollouts.argoproj.io/restarted-after"
	// LabelKeyControllerInstanceID selects which controller instance handles an
	// object when several run in one cluster.
	LabelKeyControllerInstanceID = "argo-rollouts.argoproj.io/controller-instance-id"
	// RevisionAnnotation holds a ReplicaSet's (and the Rollout's) revision number.
	RevisionAnnotation = "rollout.argoproj.io/revision"
	// WorkloadGenerationAnnotation holds, on a Rollout with a workloadRef, the
	// referenced workload's generation; Argo CD compares it with
	// status.workloadObservedGeneration.
	WorkloadGenerationAnnotation = "rollout.argoproj.io/workload-generation"
	// RolloutTypeLabel tells on an AnalysisRun which part of a Rollout made it.
	RolloutTypeLabel = "rollout-type"
	// RolloutTypeStepLabel is the rollout-type value of a canary step analysis.
	RolloutTypeStepLabel = "Step"
	// RolloutTypeBackgroundRunLabel is the rollout-type value of a background analysis.
	RolloutTypeBackgroundRunLabel = "Background"
	// RolloutTypePrePromotionLabel is the rollout-type value of a blue-green pre-promotion analysis.
	RolloutTypePrePromotionLabel = "PrePromotion"
	// RolloutTypePostPromotionLabel is the rollout-type value of a blue-green post-promotion analysis.
	RolloutTypePostPromotionLabel = "PostPromotion"
	// RolloutCanaryStepIndexLabel records the index of the step that made an AnalysisRun.
	RolloutCanaryStepIndexLabel = "step-index"
)

// Values of ObjectRef.ScaleDown: what happens to a referenced Deployment.
const (
	// ScaleDownNever leaves the referenced Deployment as it is.
	ScaleDownNever = "never"
	// ScaleDownOnSuccess scales the Deployment to zero once the Rollout is healthy.
	ScaleDownOnSuccess = "onsuccess"
	// ScaleDownProgressively scales the Deployment down as the Rollout's Pods become available.
	ScaleDownProgressively = "progressively"
)

// Rollout replaces a Deployment with a canary or blue-green release.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=rollouts,shortName=ro
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.HPAReplicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Desired",type="integer",JSONPath=".spec.replicas",description="Number of desired pods"
// +kubebuilder:printcolumn:name="Current",type="integer",JSONPath=".status.replicas",description="Total number of non-terminated pods of the rollout"
// +kubebuilder:printcolumn:name="Up-to-date",type="integer",JSONPath=".status.updatedReplicas",description="Pods that run the desired template"
// +kubebuilder:printcolumn:name="Available",type="integer",JSONPath=".status.availableReplicas",description="Pods ready for at least minReadySeconds"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since the rollout was created"
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RolloutSpec   `json:"spec"`
	Status RolloutStatus `json:"status,omitempty"`

	// DecodeError is set, on this side of the API only, when the stored
	// object could not be decoded into these types: a value the schema let
	// through, such as a number beyond int32 or a string where a number
	// belongs in the open Pod template. The object then holds only what
	// could be read (its metadata, and its status when that decodes), and
	// the controller reports the error instead of acting on it, so one such
	// object cannot stop the controller from reading all the others.
	DecodeError string `json:"-"`
}

// RolloutList is a list of Rollouts.
//
// +kubebuilder:object:root=true
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []Rollout `json:"items"`
}

// RolloutSpec is what a user asks of a Rollout.
type RolloutSpec struct {
	// Replicas is the desired number of Pods; nil means 1.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Selector selects the Pods of the Rollout and must match the template's labels.
	// +optional
	Selector *metav1.LabelSelector `json:"selector"`
	// Template is the Pod template of the current version. Its schema is left
	// open in the CRD so that the CRD stays small; the API server still
	// validates Pods when ReplicaSets create them.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Template corev1.PodTemplateSpec `json:"template"`
	// WorkloadRef takes the Pod template from another workload (a Deployment).
	// +optional
	WorkloadRef *ObjectRef `json:"workloadRef,omitempty"`
	// MinReadySeconds is how long a new Pod must be ready to count as available.
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// RollbackWindow is how many recent revisions a rollback goes to at once, without steps.
	// +optional
	RollbackWindow *RollbackWindowSpec `json:"rollbackWindow,omitempty"`
	// Strategy is the canary or blue-green release strategy.
	// +optional
	Strategy RolloutStrategy `json:"strategy"`
	// RevisionHistoryLimit is how many old ReplicaSets are kept; nil means 10.
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Paused stops the Rollout where it is until it is set back to false.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// ProgressDeadlineSeconds is how long an update may go without progress
	// before it is reported as failed; nil means 600.
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// ProgressDeadlineAbort aborts the update when the progress deadline passes.
	// +optional
	ProgressDeadlineAbort bool `json:"progressDeadlineAbort,omitempty"`
	// RestartAt asks for every Pod created before this time to be restarted.
	// +optional
	RestartAt *metav1.Time `json:"restartAt,omitempty"`
	// Analysis sets how many finished AnalysisRuns and Experiments are kept.
	// +optional
	Analysis *AnalysisRunStrategy `json:"analysis,omitempty"`
}

// ObjectRef points at the workload a Rollout takes its Pod template from.
type ObjectRef struct {
	// APIVersion of the workload, e.g. apps/v1.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the workload, e.g. Deployment.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the workload in the Rollout's namespace.
	// +optional
	Name string `json:"name,omitempty"`
	// ScaleDown is never, onsuccess or progressively.
	// +optional
	ScaleDown string `json:"scaleDown,omitempty"`
}

// RollbackWindowSpec sets the rollback window.
type RollbackWindowSpec struct {
	// Revisions is the number of recent revisions inside the window.
	// +optional
	Revisions int32 `json:"revisions,omitempty"`
}

// RolloutStrategy holds exactly one of the two release strategies.
type RolloutStrategy struct {
	// BlueGreen runs the new version beside the old and switches traffic at once.
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
	// Canary moves traffic to the new version step by step.
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
}

// BlueGreenStrategy configures a blue-green release.
type BlueGreenStrategy struct {
	// ActiveService is the Service that production traffic goes through.
	ActiveService string `json:"activeService"`
	// PreviewService is the Service that selects the new version before promotion.
	// +optional
	PreviewService string `json:"previewService,omitempty"`
	// PreviewReplicaCount is how many Pods the new version runs before promotion.
	// +optional
	PreviewReplicaCount *int32 `json:"previewReplicaCount,omitempty"`
	// AutoPromotionEnabled promotes once the new version is available; nil means true.
	// +optional
	AutoPromotionEnabled *bool `json:"autoPromotionEnabled,omitempty"`
	// AutoPromotionSeconds delays auto-promotion after the new version became available.
	// +optional
	AutoPromotionSeconds int32 `json:"autoPromotionSeconds,omitempty"`
	// MaxUnavailable bounds unavailable Pods during a restart; nil means 25%.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// ScaleDownDelaySeconds keeps the previous version up after the switch; nil means 30.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit bounds how many old ReplicaSets may wait for their delay.
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// PrePromotionAnalysis must succeed before the active Service switches.
	// +optional
	PrePromotionAnalysis *RolloutAnalysis `json:"prePromotionAnalysis,omitempty"`
	// AntiAffinity keeps new Pods away from the nodes of the old ones.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// PostPromotionAnalysis runs after the switch; its failure switches back.
	// +optional
	PostPromotionAnalysis *RolloutAnalysis `json:"postPromotionAnalysis,omitempty"`
	// PreviewMetadata is put on Pods while they are the preview.
	// +optional
	PreviewMetadata *PodTemplateMetadata `json:"previewMetadata,omitempty"`
	// ActiveMetadata is put on Pods while they are active.
	// +optional
	ActiveMetadata *PodTemplateMetadata `json:"activeMetadata,omitempty"`
	// AbortScaleDownDelaySeconds scales the new version down that long after an
	// abort; 0 keeps it; nil means 30.
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
}

// AntiAffinity asks for anti-affinity of new Pods against the old version's Pods.
type AntiAffinity struct {
	// PreferredDuringSchedulingIgnoredDuringExecution adds a preferred rule with a weight.
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution *PreferredDuringSchedulingIgnoredDuringExecution `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// RequiredDuringSchedulingIgnoredDuringExecution adds a required rule.
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *RequiredDuringSchedulingIgnoredDuringExecution `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PreferredDuringSchedulingIgnoredDuringExecution is a preferred anti-affinity rule.
type PreferredDuringSchedulingIgnoredDuringExecution struct {
	// Weight of the rule, 1 to 100.
	Weight int32 `json:"weight"`
}

// RequiredDuringSchedulingIgnoredDuringExecution is a required anti-affinity rule.
type RequiredDuringSchedulingIgnoredDuringExecution struct{}

// CanaryStrategy configures a canary release.
type CanaryStrategy struct {
	// CanaryService is the Service that selects only the canary's Pods.
	// +optional
	CanaryService string `json:"canaryService,omitempty"`
	// StableService is the Service that selects only the stable version's Pods.
	// +optional
	StableService string `json:"stableService,omitempty"`
	// Steps are the stages the canary walks through.
	// +optional
	Steps []CanaryStep `json:"steps,omitempty"`
	// TrafficRouting shapes traffic through a mesh or ingress instead of Pod counts.
	// +optional
	TrafficRouting *RolloutTrafficRouting `json:"trafficRouting,omitempty"`
	// MaxUnavailable bounds Pods below the desired count during the update; nil means 25%.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge bounds Pods above the desired count during the update; nil means 25%.
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
	// Analysis runs in the background while the steps execute.
	// +optional
	Analysis *RolloutAnalysisBackground `json:"analysis,omitempty"`
	// AntiAffinity keeps canary Pods away from the nodes of stable Pods.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// CanaryMetadata is put on Pods while they are the canary.
	// +optional
	CanaryMetadata *PodTemplateMetadata `json:"canaryMetadata,omitempty"`
	// StableMetadata is put on Pods while they are stable.
	// +optional
	StableMetadata *PodTemplateMetadata `json:"stableMetadata,omitempty"`
	// ScaleDownDelaySeconds keeps the previous stable up after a routed
	// promotion so proxies catch up; nil means 30.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit bounds how many old ReplicaSets may wait for their delay.
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// AbortScaleDownDelaySeconds scales the canary down that long after an
	// abort with traffic routing; 0 keeps it; nil means 30.
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
	// DynamicStableScale shrinks the stable as the canary takes traffic.
	// +optional
	DynamicStableScale bool `json:"dynamicStableScale,omitempty"`
	// PingPong alternates two Services between the stable and canary roles.
	// +optional
	PingPong *PingPongSpec `json:"pingPong,omitempty"`
	// MinPodsPerReplicaSet is the least number of Pods of a ReplicaSet that runs at all.
	// +optional
	MinPodsPerReplicaSet *int32 `json:"minPodsPerReplicaSet,omitempty"`
}

// PingPongSpec names the two Services of a ping-pong canary.
type PingPongSpec struct {
	// PingService is the name of the ping Service.
	PingService string `json:"pingService"`
	// PongService is the name of the pong Service.
	PongService string `json:"pongService"`
}

// PingPongType says which of the ping-pong Services is stable.
type PingPongType string

// The two ping-pong roles.
const (
	// PPPing means the ping Service is stable.
	PPPing PingPongType = "ping"
	// PPPong means the pong Service is stable.
	PPPong PingPongType = "pong"
)

// AnalysisRunStrategy sets the history kept of finished AnalysisRuns and Experiments.
type AnalysisRunStrategy struct {
	// SuccessfulRunHistoryLimit is how many successful runs are kept.
	// +optional
	SuccessfulRunHistoryLimit *int32 `json:"successfulRunHistoryLimit,omitempty"`
	// UnsuccessfulRunHistoryLimit is how many failed, errored or inconclusive runs are kept.
	// +optional
	UnsuccessfulRunHistoryLimit *int32 `json:"unsuccessfulRunHistoryLimit,omitempty"`
}

// RolloutTrafficRouting names the traffic router and its configuration.
type RolloutTrafficRouting struct {
	// Istio routes through VirtualServices and DestinationRules.
	// +optional
	Istio *IstioTrafficRouting `json:"istio,omitempty"`
	// Nginx routes through a canary Ingress of the NGINX ingress controller.
	// +optional
	Nginx *NginxTrafficRouting `json:"nginx,omitempty"`
	// ALB routes through the AWS Load Balancer Controller's action annotations.
	// +optional
	ALB *ALBTrafficRouting `json:"alb,omitempty"`
	// SMI routes through an SMI TrafficSplit.
	// +optional
	SMI *SMITrafficRouting `json:"smi,omitempty"`
	// Ambassador routes through Ambassador Mappings.
	// +optional
	Ambassador *AmbassadorTrafficRouting `json:"ambassador,omitempty"`
	// AppMesh routes through AWS App Mesh.
	// +optional
	AppMesh *AppMeshTrafficRouting `json:"appMesh,omitempty"`
	// Traefik routes through a weighted TraefikService.
	// +optional
	Traefik *TraefikTrafficRouting `json:"traefik,omitempty"`
	// ManagedRoutes lists the header and mirror routes the controller owns, in precedence order.
	// +optional
	ManagedRoutes []MangedRoutes `json:"managedRoutes,omitempty"`
	// Apisix routes through an ApisixRoute.
	// +optional
	Apisix *ApisixTrafficRouting `json:"apisix,omitempty"`
	// Plugins holds router plugin configurations keyed by plugin name, e.g.
	// argoproj-labs/gatewayAPI.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Plugins map[string]json.RawMessage `json:"plugins,omitempty"`
	// MaxTrafficWeight is the total weight that stands for 100%; nil means 100.
	// +optional
	MaxTrafficWeight *int32 `json:"maxTrafficWeight,omitempty"`
}

// MangedRoutes names one managed route. The misspelt type name is the
// published one and is kept so generated clients line up.
type MangedRoutes struct {
	// Name of the route.
	Name string `json:"name"`
}

// TraefikTrafficRouting configures Traefik.
type TraefikTrafficRouting struct {
	// WeightedTraefikServiceName is the TraefikService whose weights are set.
	WeightedTraefikServiceName string `json:"weightedTraefikServiceName"`
}

// ApisixTrafficRouting configures Apache APISIX.
type ApisixTrafficRouting struct {
	// Route is the ApisixRoute to change.
	// +optional
	Route *ApisixRoute `json:"route,omitempty"`
}

// ApisixRoute names an ApisixRoute and the rules in it to change.
type ApisixRoute struct {
	// Name of the ApisixRoute.
	Name string `json:"name"`
	// Rules are the names of the HTTP rules to change.
	// +optional
	Rules []string `json:"rules,omitempty"`
}

// AmbassadorTrafficRouting configures Ambassador.
type AmbassadorTrafficRouting struct {
	// Mappings are the names of the Mappings to split.
	Mappings []string `json:"mappings"`
}

// SMITrafficRouting configures an SMI TrafficSplit.
type SMITrafficRouting struct {
	// RootService is the Service clients call.
	// +optional
	RootService string `json:"rootService,omitempty"`
	// TrafficSplitName is the name of the TrafficSplit; defaults to the Rollout's name.
	// +optional
	TrafficSplitName string `json:"trafficSplitName,omitempty"`
}

// NginxTrafficRouting configures the NGINX ingress controller.
type NginxTrafficRouting struct {
	// AnnotationPrefix is the ingress controller's annotation prefix; defaults to nginx.ingress.kubernetes.io.
	// +optional
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// StableIngress is the Ingress that routes to the stable Service.
	// +optional
	StableIngress string `json:"stableIngress,omitempty"`
	// AdditionalIngressAnnotations are added to the canary Ingress, without the prefix.
	// +optional
	AdditionalIngressAnnotations map[string]string `json:"additionalIngressAnnotations,omitempty"`
	// CanaryIngressAnnotations are added to the canary Ingress as given.
	// +optional
	CanaryIngressAnnotations map[string]string `json:"canaryIngressAnnotations,omitempty"`
	// StableIngresses are several stable Ingresses.
	// +optional
	StableIngresses []string `json:"stableIngresses,omitempty"`
}

// ALBTrafficRouting configures the AWS Load Balancer Controller.
type ALBTrafficRouting struct {
	// Ingress is the Ingress whose action annotation is set.
	// +optional
	Ingress string `json:"ingress,omitempty"`
	// ServicePort is the Service port the action forwards to.
	ServicePort int32 `json:"servicePort"`
	// RootService is the Service named in the Ingress rules; defaults to the stable Service.
	// +optional
	RootService string `json:"rootService,omitempty"`
	// AnnotationPrefix is the controller's annotation prefix; defaults to alb.ingress.kubernetes.io.
	// +optional
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// StickinessConfig sets target-group stickiness.
	// +optional
	StickinessConfig *StickinessConfig `json:"stickinessConfig,omitempty"`
	// Ingresses are several Ingresses.
	// +optional
	Ingresses []string `json:"ingresses,omitempty"`
}

// StickinessConfig sets duration-based stickiness of ALB target groups.
type StickinessConfig struct {
	// Enabled turns stickiness on.
	Enabled bool `json:"enabled"`
	// DurationSeconds is how long a client sticks to a target group.
	DurationSeconds int64 `json:"durationSeconds"`
}

// IstioTrafficRouting configures Istio.
type IstioTrafficRouting struct {
	// VirtualService is the VirtualService whose routes are weighted.
	// +optional
	VirtualService *IstioVirtualService `json:"virtualService,omitempty"`
	// DestinationRule selects subset-level splitting.
	// +optional
	DestinationRule *IstioDestinationRule `json:"destinationRule,omitempty"`
	// VirtualServices are several VirtualServices.
	// +optional
	VirtualServices []IstioVirtualService `json:"virtualServices,omitempty"`
}

// IstioVirtualService names a VirtualService and the routes in it to weight.
type IstioVirtualService struct {
	// Name of the VirtualService.
	Name string `json:"name"`
	// Routes are the names of HTTP routes; empty means the only one.
	// +optional
	Routes []string `json:"routes,omitempty"`
	// TLSRoutes select TLS routes by port and SNI hosts.
	// +optional
	TLSRoutes []TLSRoute `json:"tlsRoutes,omitempty"`
	// TCPRoutes select TCP routes by port.
	// +optional
	TCPRoutes []TCPRoute `json:"tcpRoutes,omitempty"`
}

// TLSRoute selects a TLS route of a VirtualService.
type TLSRoute struct {
	// Port of the route.
	// +optional
	Port int64 `json:"port,omitempty"`
	// SNIHosts of the route.
	// +optional
	SNIHosts []string `json:"sniHosts,omitempty"`
}

// TCPRoute selects a TCP route of a VirtualService.
type TCPRoute struct {
	// Port of the route.
	// +optional
	Port int64 `json:"port,omitempty"`
}

// IstioDestinationRule names a DestinationRule and its canary and stable subsets.
type IstioDestinationRule struct {
	// Name of the DestinationRule.
	Name string `json:"name"`
	// CanarySubsetName is the subset that gets the canary's hash.
	CanarySubsetName string `json:"canarySubsetName"`
	// StableSubsetName is the subset that gets the stable's hash.
	StableSubsetName string `json:"stableSubsetName"`
}

// AppMeshTrafficRouting configures AWS App Mesh.
type AppMeshTrafficRouting struct {
	// VirtualService is the App Mesh virtual service and its router.
	// +optional
	VirtualService *AppMeshVirtualService `json:"virtualService,omitempty"`
	// VirtualNodeGroup names the canary and stable virtual nodes.
	// +optional
	VirtualNodeGroup *AppMeshVirtualNodeGroup `json:"virtualNodeGroup,omitempty"`
}

// AppMeshVirtualService names an App Mesh virtual service and its routes.
type AppMeshVirtualService struct {
	// Name of the virtual service.
	Name string `json:"name"`
	// Routes are the routes to weight; empty means the only one.
	// +optional
	Routes []string `json:"routes,omitempty"`
}

// AppMeshVirtualNodeGroup names the canary and stable virtual nodes.
type AppMeshVirtualNodeGroup struct {
	// CanaryVirtualNodeRef is the canary's virtual node.
	CanaryVirtualNodeRef *AppMeshVirtualNodeReference `json:"canaryVirtualNodeRef"`
	// StableVirtualNodeRef is the stable's virtual node.
	StableVirtualNodeRef *AppMeshVirtualNodeReference `json:"stableVirtualNodeRef"`
}

// AppMeshVirtualNodeReference names a VirtualNode.
type AppMeshVirtualNodeReference struct {
	// Name of the VirtualNode.
	Name string `json:"name"`
}

// CanaryStep is one stage of a canary; exactly one field is set.
type CanaryStep struct {
	// SetWeight is the share of traffic, in percent, for the canary.
	// +optional
	SetWeight *int32 `json:"setWeight,omitempty"`
	// Pause waits for a duration, or until promoted when it has none.
	// +optional
	Pause *RolloutPause `json:"pause,omitempty"`
	// Experiment runs an Experiment and waits for it.
	// +optional
	Experiment *RolloutExperimentStep `json:"experiment,omitempty"`
	// Analysis runs an AnalysisRun and waits for its verdict.
	// +optional
	Analysis *RolloutAnalysis `json:"analysis,omitempty"`
	// SetCanaryScale sets the canary's Pod count apart from its traffic weight.
	// +optional
	SetCanaryScale *SetCanaryScale `json:"setCanaryScale,omitempty"`
	// SetHeaderRoute sends requests that match headers to the canary.
	// +optional
	SetHeaderRoute *SetHeaderRoute `json:"setHeaderRoute,omitempty"`
	// SetMirrorRoute mirrors matching requests to the canary.
	// +optional
	SetMirrorRoute *SetMirrorRoute `json:"setMirrorRoute,omitempty"`
}

// RolloutPause is a pause step.
type RolloutPause struct {
	// Duration is seconds as a number, or a string such as 30s, 5m or 1h; nil
	// pauses until promoted.
	// +optional
	Duration *intstr.IntOrString `json:"duration,omitempty"`
}

// SetCanaryScale sets the canary's Pod count apart from its traffic weight.
type SetCanaryScale struct {
	// Weight is a percentage of spec.replicas.
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Replicas is an absolute Pod count.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MatchTrafficWeight goes back to scaling by the traffic weight.
	// +optional
	MatchTrafficWeight bool `json:"matchTrafficWeight,omitempty"`
}

// SetHeaderRoute sends requests whose headers match to the canary.
type SetHeaderRoute struct {
	// Name of the managed route.
	// +optional
	Name string `json:"name,omitempty"`
	// Match lists the header conditions; empty removes the route.
	// +optional
	Match []HeaderRoutingMatch `json:"match,omitempty"`
}

// HeaderRoutingMatch is one header condition.
type HeaderRoutingMatch struct {
	// HeaderName is the request header.
	HeaderName string `json:"headerName"`
	// HeaderValue is how its value must match.
	HeaderValue *StringMatch `json:"headerValue"`
}

// SetMirrorRoute mirrors matching requests to the canary.
type SetMirrorRoute struct {
	// Name of the managed route.
	Name string `json:"name"`
	// Match lists the request conditions; empty removes the route.
	// +optional
	Match []RouteMatch `json:"match,omitempty"`
	// Percentage of matching requests to mirror.
	// +optional
	Percentage *int32 `json:"percentage,omitempty"`
}

// RouteMatch is a request condition of a mirror route.
type RouteMatch struct {
	// Method matches the HTTP method.
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// Path matches the URL path.
	// +optional
	Path *StringMatch `json:"path,omitempty"`
	// Headers match request headers by name.
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// StringMatch matches a string exactly, by prefix or by regular expression.
type StringMatch struct {
	// Exact match.
	// +optional
	Exact string `json:"exact,omitempty"`
	// Prefix match.
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Regex match.
	// +optional
	Regex string `json:"regex,omitempty"`
}

// RolloutAnalysisBackground is an analysis that runs beside the steps.
type RolloutAnalysisBackground struct {
	RolloutAnalysis `json:",inline"`
	// StartingStep is the step index from which the analysis runs; nil means 0.
	// +optional
	StartingStep *int32 `json:"startingStep,omitempty"`
}

// RolloutAnalysis names the templates and arguments of an AnalysisRun.
type RolloutAnalysis struct {
	// Templates are merged into one AnalysisRun.
	// +optional
	Templates []RolloutAnalysisTemplate `json:"templates,omitempty"`
	// Args are the arguments passed to the templates.
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// DryRun lists metrics that are measured but never decide.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements of a metric are kept.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// AnalysisRunMetadata is put on the AnalysisRuns.
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
}

// RolloutAnalysisTemplate references an AnalysisTemplate or ClusterAnalysisTemplate.
type RolloutAnalysisTemplate struct {
	// TemplateName is the template's name.
	// +optional
	TemplateName string `json:"templateName"`
	// ClusterScope looks the name up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// AnalysisRunArgument is an argument a Rollout passes to an AnalysisRun.
type AnalysisRunArgument struct {
	// Name of the argument.
	Name string `json:"name"`
	// Value given literally; one of value and valueFrom.
	// +optional
	Value string `json:"value,omitempty"`
	// ValueFrom takes the value from the Rollout.
	// +optional
	ValueFrom *ArgumentValueFrom `json:"valueFrom,omitempty"`
}

// ArgumentValueFrom takes an argument's value from the Rollout.
type ArgumentValueFrom struct {
	// PodTemplateHashValue is Stable or Latest: the hash of that ReplicaSet.
	// +optional
	PodTemplateHashValue *ValueFromPodTemplateHash `json:"podTemplateHashValue,omitempty"`
	// FieldRef reads a field of the Rollout.
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// ValueFromPodTemplateHash says which ReplicaSet's hash an argument takes.
type ValueFromPodTemplateHash string

// The ReplicaSets an argument can take the hash of.
const (
	// Stable is the stable ReplicaSet's hash.
	Stable ValueFromPodTemplateHash = "Stable"
	// Latest is the newest ReplicaSet's hash.
	Latest ValueFromPodTemplateHash = "Latest"
)

// AnalysisRunMetadata is put on AnalysisRuns.
type AnalysisRunMetadata struct {
	// Labels to add.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PodTemplateMetadata is extra Pod metadata for one side of a release.
type PodTemplateMetadata struct {
	// Labels to add.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RolloutExperimentStep runs an Experiment as a canary step.
type RolloutExperimentStep struct {
	// Templates are the ReplicaSets of the Experiment.
	Templates []RolloutExperimentTemplate `json:"templates"`
	// Duration the Experiment runs, e.g. 30s, 5m or 1h.
	// +optional
	Duration DurationString `json:"duration,omitempty"`
	// Analyses run with the Experiment.
	// +optional
	Analyses []RolloutExperimentStepAnalysisTemplateRef `json:"analyses,omitempty"`
	// DryRun lists metrics that are measured but never decide.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// AnalysisRunMetadata is put on the Experiment's AnalysisRuns.
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
}

// RolloutExperimentStepAnalysisTemplateRef is an analysis of an experiment step.
type RolloutExperimentStepAnalysisTemplateRef struct {
	// Name of this analysis within the Experiment.
	Name string `json:"name"`
	// TemplateName is the AnalysisTemplate's name.
	TemplateName string `json:"templateName"`
	// ClusterScope looks the name up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
	// Args are passed to the AnalysisRun.
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// RequiredForCompletion makes the Experiment wait for this analysis.
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// RolloutExperimentTemplate is one ReplicaSet of an experiment step.
type RolloutExperimentTemplate struct {
	// Name of the template.
	Name string `json:"name"`
	// SpecRef is canary or stable: whose Pod template to run.
	SpecRef ReplicaSetSpecRef `json:"specRef"`
	// Replicas is the Pod count; nil means 1.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Metadata is put on the template's Pods.
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`
	// Selector overrides the Rollout's selector for this ReplicaSet.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Weight is the traffic share of this template with a traffic router.
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Service asks for a Service in front of the template's Pods.
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// ReplicaSetSpecRef says which version an experiment template runs.
type ReplicaSetSpecRef string

// The versions an experiment template can run.
const (
	// CanarySpecRef runs the canary's Pod template.
	CanarySpecRef ReplicaSetSpecRef = "canary"
	// StableSpecRef runs the stable's Pod template.
	StableSpecRef ReplicaSetSpecRef = "stable"
)

// PauseReason says why the controller paused a Rollout.
type PauseReason string

// The reasons a Rollout pauses.
const (
	// PauseReasonInconclusiveAnalysis pauses on an inconclusive AnalysisRun.
	PauseReasonInconclusiveAnalysis PauseReason = "InconclusiveAnalysisRun"
	// PauseReasonInconclusiveExperiment pauses on an inconclusive Experiment.
	PauseReasonInconclusiveExperiment PauseReason = "InconclusiveExperiment"
	// PauseReasonCanaryPauseStep pauses at a canary pause step.
	PauseReasonCanaryPauseStep PauseReason = "CanaryPauseStep"
	// PauseReasonBlueGreenPause pauses a blue-green release before promotion.
	PauseReasonBlueGreenPause PauseReason = "BlueGreenPause"
)

// PauseCondition is why and since when a Rollout is paused; clients clear
// the list to resume.
type PauseCondition struct {
	// Reason of the pause.
	Reason PauseReason `json:"reason"`
	// StartTime of the pause.
	StartTime metav1.Time `json:"startTime"`
}

// RolloutPhase is the summary state of a Rollout.
type RolloutPhase string

// The phases of a Rollout.
const (
	// RolloutPhaseHealthy means the desired version runs fully and is available.
	RolloutPhaseHealthy RolloutPhase = "Healthy"
	// RolloutPhaseDegraded means the Rollout failed, was aborted or is invalid.
	RolloutPhaseDegraded RolloutPhase = "Degraded"
	// RolloutPhaseProgressing means an update is under way.
	RolloutPhaseProgressing RolloutPhase = "Progressing"
	// RolloutPhasePaused means the update waits for time or a person.
	RolloutPhasePaused RolloutPhase = "Paused"
)

// RolloutStatus is what the controller observed and decided.
type RolloutStatus struct {
	// Abort, set by a client, sends the Rollout back to the stable version.
	// +optional
	Abort bool `json:"abort,omitempty"`
	// PauseConditions are the controller's reasons for pausing; clients clear
	// them to promote past a pause.
	// +optional
	PauseConditions []PauseCondition `json:"pauseConditions,omitempty"`
	// ControllerPause is true once the controller paused the Rollout, so a
	// cleared pauseConditions list can be told apart from no pause.
	// +optional
	ControllerPause bool `json:"controllerPause,omitempty"`
	// AbortedAt is when the controller handled an abort.
	// +optional
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`
	// CurrentPodHash is the hash of the desired Pod template.
	// +optional
	CurrentPodHash string `json:"currentPodHash,omitempty"`
	// CurrentStepHash is the hash of the steps, to notice when they change.
	// +optional
	CurrentStepHash string `json:"currentStepHash,omitempty"`
	// Replicas is the number of non-terminated Pods of the Rollout.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// UpdatedReplicas is the number of Pods running the desired template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// ReadyReplicas is the number of ready Pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// AvailableReplicas is the number of Pods ready for at least minReadySeconds.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// CurrentStepIndex is the index of the step being executed.
	// +optional
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`
	// CollisionCount counts hash collisions when naming ReplicaSets.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// ObservedGeneration is the metadata.generation the status describes, as a string.
	// +optional
	ObservedGeneration string `json:"observedGeneration,omitempty"`
	// Conditions of the Rollout.
	// +optional
	Conditions []RolloutCondition `json:"conditions,omitempty"`
	// Canary is the state of a canary release.
	// +optional
	Canary CanaryStatus `json:"canary,omitempty"`
	// BlueGreen is the state of a blue-green release.
	// +optional
	BlueGreen BlueGreenStatus `json:"blueGreen,omitempty"`
	// HPAReplicas is the number of Pods that take production traffic, read
	// through the scale subresource.
	// +optional
	HPAReplicas int32 `json:"HPAReplicas,omitempty"`
	// Selector selects the Pods that take production traffic, as a string.
	// +optional
	Selector string `json:"selector,omitempty"`
	// StableRS is the hash of the stable ReplicaSet.
	// +optional
	StableRS string `json:"stableRS,omitempty"`
	// RestartedAt is when the last restart finished.
	// +optional
	RestartedAt *metav1.Time `json:"restartedAt,omitempty"`
	// PromoteFull, set by a client, skips every remaining step, pause and analysis.
	// +optional
	PromoteFull bool `json:"promoteFull,omitempty"`
	// Phase summarises the Rollout; valid when observedGeneration matches.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// WorkloadObservedGeneration is the referenced workload's generation the status describes.
	// +optional
	WorkloadObservedGeneration string `json:"workloadObservedGeneration,omitempty"`
	// ALB holds the load balancer and target groups of ALB routing.
	// +optional
	ALB *ALBStatus `json:"alb,omitempty"`
	// ALBs holds them for several Ingresses.
	// +optional
	ALBs []ALBStatus `json:"albs,omitempty"`
	// Duration times the most recent release, the initial deploy included,
	// in progress or finished.
	// +optional
	Duration *RolloutDurationStatus `json:"duration,omitempty"`
}

// RolloutDurationStatus times one release: from the moment the controller
// starts moving to a new template until it is promoted, aborted, rolled
// back or replaced, with the time it spent waiting for a person counted
// apart.
type RolloutDurationStatus struct {
	// RolloutStartedAt is when the release started.
	// +optional
	RolloutStartedAt *metav1.Time `json:"rolloutStartedAt,omitempty"`
	// ManualPauseStartedAt is when the wait for a person now under way
	// began (spec.paused, an indefinite pause step, a blue-green promotion
	// without autoPromotion, an inconclusive analysis); nil when none is.
	// +optional
	ManualPauseStartedAt *metav1.Time `json:"manualPauseStartedAt,omitempty"`
	// TotalManualPauseDuration adds up, in seconds, the waits for a person
	// that have ended; nil when the release has not waited for one.
	// +optional
	TotalManualPauseDuration *int64 `json:"totalManualPauseDuration,omitempty"`
	// FinishedAt is when the release ended; nil while it runs.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// CompletionStatus is how the release ended. A rollback carries its
	// kind already while it runs, since it is known from the moment the
	// template goes back.
	// +optional
	CompletionStatus *CompletionStatus `json:"completionStatus,omitempty"`
}

// GetCompletionStatus returns how the release ended, or "" when it has not
// or there is no release, so callers need not check each pointer.
func (d *RolloutDurationStatus) GetCompletionStatus() CompletionStatus {
	if d == nil || d.CompletionStatus == nil {
		return ""
	}
	return *d.CompletionStatus
}

// CompletionStatus is how a release ended; the values are the ones the
// reference's duration metrics carry in their status label.
type CompletionStatus string

// The ways a release ends.
const (
	// CompletionStatusPromoted means the new version became stable after its steps.
	CompletionStatusPromoted CompletionStatus = "promoted"
	// CompletionStatusFastPromoted means a full promotion skipped the remaining steps.
	CompletionStatusFastPromoted CompletionStatus = "fast-promoted"
	// CompletionStatusAborted means the release was aborted and the stable version kept.
	CompletionStatusAborted CompletionStatus = "aborted"
	// CompletionStatusSuperseded means a newer template replaced the one being released.
	CompletionStatusSuperseded CompletionStatus = "superseded"
	// CompletionStatusRollbacked means a template older than the stable
	// version, outside spec.rollbackWindow, became stable again after its steps.
	CompletionStatusRollbacked CompletionStatus = "rollbacked"
	// CompletionStatusFastRollbacked means the stable template came back
	// in the middle of a release, or an older one within
	// spec.rollbackWindow became stable without its steps.
	CompletionStatusFastRollbacked CompletionStatus = "fast-rollbacked"
)

// BlueGreenStatus is the state of a blue-green release.
type BlueGreenStatus struct {
	// PreviewSelector is the hash the preview Service selects.
	// +optional
	PreviewSelector string `json:"previewSelector,omitempty"`
	// ActiveSelector is the hash the active Service selects.
	// +optional
	ActiveSelector string `json:"activeSelector,omitempty"`
	// ScaleUpPreviewCheckPoint records that a reduced preview may be scaled up.
	// +optional
	ScaleUpPreviewCheckPoint bool `json:"scaleUpPreviewCheckPoint,omitempty"`
	// PrePromotionAnalysisRunStatus is the pre-promotion AnalysisRun's state.
	// +optional
	PrePromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"prePromotionAnalysisRunStatus,omitempty"`
	// PostPromotionAnalysisRunStatus is the post-promotion AnalysisRun's state.
	// +optional
	PostPromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"postPromotionAnalysisRunStatus,omitempty"`
}

// CanaryStatus is the state of a canary release.
type CanaryStatus struct {
	// CurrentStepAnalysisRunStatus is the current step analysis's state.
	// +optional
	CurrentStepAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentStepAnalysisRunStatus,omitempty"`
	// CurrentBackgroundAnalysisRunStatus is the background analysis's state.
	// +optional
	CurrentBackgroundAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentBackgroundAnalysisRunStatus,omitempty"`
	// CurrentExperiment is the name of the running Experiment.
	// +optional
	CurrentExperiment string `json:"currentExperiment,omitempty"`
	// Weights is the traffic split actually reached.
	// +optional
	Weights *TrafficWeights `json:"weights,omitempty"`
	// StablePingPong says which ping-pong Service is stable.
	// +optional
	StablePingPong PingPongType `json:"stablePingPong,omitempty"`
}

// TrafficWeights is a traffic split.
type TrafficWeights struct {
	// Canary is the canary's share.
	Canary WeightDestination `json:"canary"`
	// Stable is the stable's share.
	Stable WeightDestination `json:"stable"`
	// Additional are shares of other ReplicaSets, e.g. an experiment's.
	// +optional
	Additional []WeightDestination `json:"additional,omitempty"`
	// Verified is whether the router confirmed the weights.
	// +optional
	Verified *bool `json:"verified,omitempty"`
}

// WeightDestination is one destination's share of traffic.
type WeightDestination struct {
	// Weight in percent.
	Weight int32 `json:"weight"`
	// ServiceName is the destination Service.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// PodTemplateHash is the destination ReplicaSet's hash.
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// RolloutAnalysisRunStatus is the state of an AnalysisRun the Rollout waits on.
type RolloutAnalysisRunStatus struct {
	// Name of the AnalysisRun.
	Name string `json:"name"`
	// Status is its phase.
	Status AnalysisPhase `json:"status"`
	// Message is its message.
	// +optional
	Message string `json:"message,omitempty"`
}

// ALBStatus names the AWS resources of ALB routing.
type ALBStatus struct {
	// LoadBalancer is the load balancer.
	// +optional
	LoadBalancer AwsResourceRef `json:"loadBalancer,omitempty"`
	// CanaryTargetGroup is the canary's target group.
	// +optional
	CanaryTargetGroup AwsResourceRef `json:"canaryTargetGroup,omitempty"`
	// StableTargetGroup is the stable's target group.
	// +optional
	StableTargetGroup AwsResourceRef `json:"stableTargetGroup,omitempty"`
	// Ingress is the Ingress these belong to.
	// +optional
	Ingress string `json:"ingress,omitempty"`
}

// AwsResourceRef names an AWS resource.
type AwsResourceRef struct {
	// Name of the resource.
	Name string `json:"name"`
	// ARN of the resource.
	ARN string `json:"arn"`
	// FullName of the resource.
	// +optional
	FullName string `json:"fullName"`
}

// RolloutConditionType is the type of a Rollout condition.
type RolloutConditionType string

// The condition types of a Rollout.
const (
	// InvalidSpec means the spec cannot be acted on until it is fixed.
	InvalidSpec RolloutConditionType = "InvalidSpec"
	// RolloutAvailable means production has enough available Pods.
	RolloutAvailable RolloutConditionType = "Available"
	// RolloutProgressing means an update is making progress, or failed to.
	RolloutProgressing RolloutConditionType = "Progressing"
	// RolloutReplicaFailure means Pods could not be created or deleted.
	RolloutReplicaFailure RolloutConditionType = "ReplicaFailure"
	// RolloutPaused means the Rollout is paused.
	RolloutPaused RolloutConditionType = "Paused"
	// RolloutCompleted means the desired revision is fully rolled out.
	RolloutCompleted RolloutConditionType = "Completed"
	// RolloutHealthy means completed and every Pod is available.
	RolloutHealthy RolloutConditionType = "Healthy"
)

// RolloutCondition is one observed condition of a Rollout.
type RolloutCondition struct {
	// Type of the condition.
	Type RolloutConditionType `json:"type"`
	// Status is True, False or Unknown.
	Status corev1.ConditionStatus `json:"status"`
	// LastUpdateTime is when the condition was last written.
	LastUpdateTime metav1.Time `json:"lastUpdateTime"`
	// LastTransitionTime is when the status last changed.
	LastTransitionTime metav1.Time `json:"lastTransitionTime"`
	// Reason is a one-word cause.
	Reason string `json:"reason"`
	// Message explains the condition to a person.
	Message string `json:"message"`
}

func init() {
	SchemeBuilder.Register(&Rollout{}, &RolloutList{})
}
