package v1alpha1

import (
	"encoding/json"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ClusterAnalysisTemplate is an AnalysisTemplate that Rollouts and
// Experiments of every namespace can use.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=clusteranalysistemplates,scope=Cluster,shortName=cat
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since resource was created"
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
//
// +kubebuilder:object:root=true
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []ClusterAnalysisTemplate `json:"items"`
}

// AnalysisTemplate describes how to analyse a release: which metrics to
// measure, how often, and which results pass or fail.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=analysistemplates,shortName=at
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since resource was created"
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// AnalysisTemplateList is a list of AnalysisTemplates.
//
// +kubebuilder:object:root=true
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []AnalysisTemplate `json:"items"`
}

// AnalysisTemplateSpec is the content of an AnalysisTemplate or
// ClusterAnalysisTemplate.
type AnalysisTemplateSpec struct {
	// Metrics to measure.
	// +optional
	Metrics []Metric `json:"metrics,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// Args the template accepts; referenced as {{args.NAME}}.
	// +optional
	Args []Argument `json:"args,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// DryRun lists metrics whose results never decide the outcome.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty" patchStrategy:"merge" patchMergeKey:"metricName"`
	// MeasurementRetention sets how many measurements of a metric are kept.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty" patchStrategy:"merge" patchMergeKey:"metricName"`
	// Templates are further templates whose metrics and args are merged
	// into this one.
	// +optional
	Templates []AnalysisTemplateRef `json:"templates,omitempty" patchStrategy:"merge" patchMergeKey:"templateName"`
}

// AnalysisTemplateRef names an AnalysisTemplate or ClusterAnalysisTemplate.
type AnalysisTemplateRef struct {
	// TemplateName is the template's name.
	// +optional
	TemplateName string `json:"templateName"`
	// ClusterScope looks the name up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// DurationString is a Go duration such as 30s, 5m or 1h.
type DurationString string

// Duration parses d with time.ParseDuration: a bare number without a unit
// is an error.
func (d DurationString) Duration() (time.Duration, error) {
	return time.ParseDuration(string(d))
}

// Metric is one measurement an analysis takes, repeatedly, from a provider.
type Metric struct {
	// Name of the metric, unique within the analysis.
	Name string `json:"name"`
	// Interval between measurements, e.g. 30s; empty means one measurement.
	// +optional
	Interval DurationString `json:"interval,omitempty"`
	// InitialDelay before the first measurement.
	// +optional
	InitialDelay DurationString `json:"initialDelay,omitempty"`
	// Count is how many measurements to take. Unset with no interval means
	// one; unset with an interval means until the analysis is stopped.
	// +optional
	Count *intstr.IntOrString `json:"count,omitempty"`
	// SuccessCondition is an expression over `result` that marks a
	// measurement Successful.
	// +optional
	SuccessCondition string `json:"successCondition,omitempty"`
	// FailureCondition is an expression over `result` that marks a
	// measurement Failed. A result that meets neither condition is
	// Inconclusive.
	// +optional
	FailureCondition string `json:"failureCondition,omitempty"`
	// FailureLimit is how many failed measurements are tolerated before the
	// metric fails (default 0; -1 disables it).
	// +optional
	FailureLimit *intstr.IntOrString `json:"failureLimit,omitempty"`
	// InconclusiveLimit is how many inconclusive measurements are tolerated
	// before the metric is Inconclusive (default 0).
	// +optional
	InconclusiveLimit *intstr.IntOrString `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many errors in a row are tolerated before
	// the metric errors (default 4).
	// +optional
	ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`
	// ConsecutiveSuccessLimit, when above 0, makes the metric succeed after
	// this many successful measurements in a row (default 0: off).
	// +optional
	ConsecutiveSuccessLimit *intstr.IntOrString `json:"consecutiveSuccessLimit,omitempty"`
	// Provider is the system that takes the measurement.
	Provider MetricProvider `json:"provider"`
}

// EffectiveCount is the number of measurements the metric takes: 1 when
// neither count nor interval is set, nil (unbounded) when only interval is
// set, and Count otherwise.
func (m *Metric) EffectiveCount() *intstr.IntOrString {
	if m.Count == nil || m.Count.IntValue() == 0 {
		if m.Interval == "" {
			one := intstr.FromInt32(1)
			return &one
		}
		return nil
	}
	return m.Count
}

// DryRun marks metrics whose results are recorded but never decide.
type DryRun struct {
	// MetricName is a metric name or a regular expression such as ".*".
	MetricName string `json:"metricName"`
}

// MeasurementRetention sets how many measurements of matching metrics are
// kept in the status.
type MeasurementRetention struct {
	// MetricName is a metric name or a regular expression such as ".*".
	MetricName string `json:"metricName"`
	// Limit is the number of measurements kept.
	Limit int32 `json:"limit"`
}

// MetricProvider says where a metric's measurements come from. Exactly one
// field should be set.
type MetricProvider struct {
	// Prometheus runs a PromQL query.
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// Kayenta runs a Kayenta canary judgement.
	// +optional
	Kayenta *KayentaMetric `json:"kayenta,omitempty"`
	// Web calls an HTTP endpoint.
	// +optional
	Web *WebMetric `json:"web,omitempty"`
	// Datadog runs a Datadog query.
	// +optional
	Datadog *DatadogMetric `json:"datadog,omitempty"`
	// Wavefront runs a Wavefront query.
	// +optional
	Wavefront *WavefrontMetric `json:"wavefront,omitempty"`
	// NewRelic runs an NRQL query.
	// +optional
	NewRelic *NewRelicMetric `json:"newRelic,omitempty"`
	// Job runs a Kubernetes Job; it succeeds if the Job does.
	// +optional
	Job *JobMetric `json:"job,omitempty"`
	// CloudWatch runs AWS CloudWatch metric data queries.
	// +optional
	CloudWatch *CloudWatchMetric `json:"cloudWatch,omitempty"`
	// Graphite runs a Graphite query.
	// +optional
	Graphite *GraphiteMetric `json:"graphite,omitempty"`
	// Influxdb runs an InfluxDB Flux query.
	// +optional
	Influxdb *InfluxdbMetric `json:"influxdb,omitempty"`
	// SkyWalking runs an Apache SkyWalking GraphQL query.
	// +optional
	SkyWalking *SkyWalkingMetric `json:"skywalking,omitempty"`
	// Plugin configures metric plugins, keyed by plugin name; each value
	// is the plugin's own configuration.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Plugin map[string]json.RawMessage `json:"plugin,omitempty"`
}

// AnalysisPhase is the state of an AnalysisRun, a metric or a measurement.
type AnalysisPhase string

// The phases of an analysis.
const (
	// AnalysisPhasePending has not started yet.
	AnalysisPhasePending AnalysisPhase = "Pending"
	// AnalysisPhaseRunning is in progress.
	AnalysisPhaseRunning AnalysisPhase = "Running"
	// AnalysisPhaseSuccessful completed and passed.
	AnalysisPhaseSuccessful AnalysisPhase = "Successful"
	// AnalysisPhaseFailed completed and failed.
	AnalysisPhaseFailed AnalysisPhase = "Failed"
	// AnalysisPhaseError could not measure.
	AnalysisPhaseError AnalysisPhase = "Error"
	// AnalysisPhaseInconclusive completed without passing or failing.
	AnalysisPhaseInconclusive AnalysisPhase = "Inconclusive"
)

// Completed reports whether p is a final phase: Successful, Failed, Error
// or Inconclusive.
func (p AnalysisPhase) Completed() bool {
	switch p {
	case AnalysisPhaseSuccessful, AnalysisPhaseFailed, AnalysisPhaseError, AnalysisPhaseInconclusive:
		return true
	}
	return false
}

// PrometheusMetric is a Prometheus query.
type PrometheusMetric struct {
	// Address of the Prometheus server, e.g. http://prometheus:9090.
	// +optional
	Address string `json:"address,omitempty"`
	// Query is the PromQL expression.
	// +optional
	Query string `json:"query,omitempty"`
	// Authentication to the server: AWS SigV4 (Amazon Managed Prometheus)
	// or OAuth2 client credentials.
	// +optional
	Authentication Authentication `json:"authentication,omitempty"`
	// Timeout of the query in seconds.
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
	// Insecure skips TLS certificate verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// Headers added to the request.
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty" patchStrategy:"merge" patchMergeKey:"key"`
	// RangeQuery makes the query a range query.
	// +optional
	RangeQuery *PrometheusRangeQueryArgs `json:"rangeQuery,omitempty"`
}

// PrometheusRangeQueryArgs is the time range of a Prometheus range query.
type PrometheusRangeQueryArgs struct {
	// Start is an expression giving the start time, e.g. now() - duration("1h").
	// +optional
	Start string `json:"start,omitempty"`
	// End is an expression giving the end time, e.g. now().
	// +optional
	End string `json:"end,omitempty"`
	// Step is the resolution, a duration such as 1m.
	// +optional
	Step string `json:"step,omitempty"`
}

// Authentication is how a provider authenticates to its server.
type Authentication struct {
	// Sigv4 signs requests with AWS Signature Version 4.
	// +optional
	Sigv4 Sigv4Config `json:"sigv4,omitempty"`
	// OAuth2 gets a bearer token with the client-credentials grant.
	// +optional
	OAuth2 OAuth2Config `json:"oauth2,omitempty"`
}

// Sigv4Config configures AWS SigV4 request signing.
type Sigv4Config struct {
	// Region is the AWS region to sign for.
	// +optional
	Region string `json:"region,omitempty"`
	// Profile is the AWS credentials profile.
	// +optional
	Profile string `json:"profile,omitempty"`
	// RoleARN is an IAM role to assume for signing.
	// +optional
	RoleARN string `json:"roleArn,omitempty"`
}

// OAuth2Config configures the OAuth2 client-credentials grant.
type OAuth2Config struct {
	// TokenURL is the token endpoint.
	// +optional
	TokenURL string `json:"tokenUrl,omitempty"`
	// ClientID is the OAuth2 client ID.
	// +optional
	ClientID string `json:"clientId,omitempty"`
	// ClientSecret is the OAuth2 client secret.
	// +optional
	ClientSecret string `json:"clientSecret,omitempty"`
	// Scopes requested with the token.
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// WavefrontMetric is a Wavefront query.
type WavefrontMetric struct {
	// Address of the Wavefront server.
	// +optional
	Address string `json:"address,omitempty"`
	// Query is the Wavefront query.
	// +optional
	Query string `json:"query,omitempty"`
}

// NewRelicMetric is a New Relic NRQL query.
type NewRelicMetric struct {
	// Profile is the name of the Secret with the New Relic account settings.
	// +optional
	Profile string `json:"profile,omitempty"`
	// Query is the NRQL query.
	Query string `json:"query"`
	// Timeout of the query in seconds.
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
}

// JobMetric runs a Job as a measurement.
type JobMetric struct {
	// Metadata holds labels and annotations for the Job.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	Metadata metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec of the Job.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Spec batchv1.JobSpec `json:"spec"`
}

// GraphiteMetric is a Graphite query.
type GraphiteMetric struct {
	// Address of the Graphite server.
	// +optional
	Address string `json:"address,omitempty"`
	// Query is the Graphite query.
	// +optional
	Query string `json:"query,omitempty"`
}

// InfluxdbMetric is an InfluxDB Flux query.
type InfluxdbMetric struct {
	// Profile is the name of the Secret with the InfluxDB settings.
	// +optional
	Profile string `json:"profile,omitempty"`
	// Query is the Flux query.
	// +optional
	Query string `json:"query,omitempty"`
}

// SkyWalkingMetric is an Apache SkyWalking query.
type SkyWalkingMetric struct {
	// Address of the SkyWalking server.
	// +optional
	Address string `json:"address,omitempty"`
	// Query is the GraphQL query.
	// +optional
	Query string `json:"query,omitempty"`
	// Interval is the time window the query covers.
	// +optional
	Interval DurationString `json:"interval,omitempty"`
}

// CloudWatchMetric is a set of AWS CloudWatch metric data queries.
type CloudWatchMetric struct {
	// Interval is the time window queried, ending now (default 5m).
	// +optional
	Interval DurationString `json:"interval,omitempty"`
	// MetricDataQueries are the GetMetricData queries.
	MetricDataQueries []CloudWatchMetricDataQuery `json:"metricDataQueries"`
}

// CloudWatchMetricDataQuery is one CloudWatch MetricDataQuery.
type CloudWatchMetricDataQuery struct {
	// Id of the query, unique in the request.
	// +optional
	Id string `json:"id,omitempty"`
	// Expression is a metric math expression.
	// +optional
	Expression *string `json:"expression,omitempty"`
	// Label of the returned series.
	// +optional
	Label *string `json:"label,omitempty"`
	// MetricStat selects a metric and a statistic.
	// +optional
	MetricStat *CloudWatchMetricStat `json:"metricStat,omitempty"`
	// Period of the returned points, in seconds.
	// +optional
	Period *intstr.IntOrString `json:"period,omitempty"`
	// ReturnData says whether the query's results are returned.
	// +optional
	ReturnData *bool `json:"returnData,omitempty"`
}

// CloudWatchMetricStat is a CloudWatch metric with a statistic.
type CloudWatchMetricStat struct {
	// Metric is the metric.
	// +optional
	Metric CloudWatchMetricStatMetric `json:"metric,omitempty"`
	// Period of the statistic, in seconds.
	// +optional
	Period intstr.IntOrString `json:"period,omitempty"`
	// Stat is the statistic, e.g. Average or p99.
	// +optional
	Stat string `json:"stat,omitempty"`
	// Unit of the returned values.
	// +optional
	Unit string `json:"unit,omitempty"`
}

// CloudWatchMetricStatMetric identifies a CloudWatch metric.
type CloudWatchMetricStatMetric struct {
	// Dimensions of the metric.
	// +optional
	Dimensions []CloudWatchMetricStatMetricDimension `json:"dimensions,omitempty"`
	// MetricName is the metric's name.
	// +optional
	MetricName string `json:"metricName,omitempty"`
	// Namespace of the metric, e.g. AWS/EC2.
	// +optional
	Namespace *string `json:"namespace,omitempty"`
}

// CloudWatchMetricStatMetricDimension is a name and value of a CloudWatch
// dimension.
type CloudWatchMetricStatMetricDimension struct {
	// Name of the dimension.
	// +optional
	Name string `json:"name,omitempty"`
	// Value of the dimension.
	// +optional
	Value string `json:"value,omitempty"`
}

// KayentaMetric is a Kayenta canary judgement.
type KayentaMetric struct {
	// Address of the Kayenta server.
	Address string `json:"address"`
	// Application is the Kayenta application.
	Application string `json:"application"`
	// CanaryConfigName is the Kayenta canary configuration.
	CanaryConfigName string `json:"canaryConfigName"`
	// MetricsAccountName is the Kayenta metrics account.
	MetricsAccountName string `json:"metricsAccountName"`
	// ConfigurationAccountName is the Kayenta configuration account.
	ConfigurationAccountName string `json:"configurationAccountName"`
	// StorageAccountName is the Kayenta storage account.
	StorageAccountName string `json:"storageAccountName"`
	// Threshold is the score needed to pass.
	Threshold KayentaThreshold `json:"threshold"`
	// Scopes are the control and experiment scopes compared.
	Scopes []KayentaScope `json:"scopes"`
}

// KayentaThreshold holds the Kayenta score thresholds.
type KayentaThreshold struct {
	// Pass is the score at or above which the canary passes.
	Pass int64 `json:"pass"`
	// Marginal is the score below which the canary fails.
	Marginal int64 `json:"marginal"`
}

// KayentaScope is a named pair of control and experiment scopes.
type KayentaScope struct {
	// Name of the scope.
	Name string `json:"name"`
	// ControlScope is the baseline.
	ControlScope ScopeDetail `json:"controlScope"`
	// ExperimentScope is the canary.
	ExperimentScope ScopeDetail `json:"experimentScope"`
}

// ScopeDetail is a Kayenta scope: what and when to compare.
type ScopeDetail struct {
	// Scope is the Kayenta scope expression.
	Scope string `json:"scope"`
	// Region of the scope.
	Region string `json:"region"`
	// Step is the sampling interval in seconds.
	Step int64 `json:"step"`
	// Start time of the scope.
	Start string `json:"start"`
	// End time of the scope.
	End string `json:"end"`
}

// WebMetric is an HTTP request whose response is the measurement.
type WebMetric struct {
	// Method is GET, POST or PUT; empty means GET.
	// +optional
	Method WebMetricMethod `json:"method,omitempty"`
	// URL to call.
	URL string `json:"url"`
	// Headers added to the request.
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty" patchStrategy:"merge" patchMergeKey:"key"`
	// Body of a POST or PUT request, as text.
	// +optional
	Body string `json:"body,omitempty"`
	// TimeoutSeconds of the request (default 10).
	// +optional
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
	// JSONPath selects the result from the response (default "{$}").
	// +optional
	JSONPath string `json:"jsonPath,omitempty"`
	// Insecure skips TLS certificate verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// JSONBody of a POST or PUT request, as JSON.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	JSONBody json.RawMessage `json:"jsonBody,omitempty"`
	// Authentication to the endpoint.
	// +optional
	Authentication Authentication `json:"authentication,omitempty"`
}

// WebMetricMethod is the HTTP method of a WebMetric.
type WebMetricMethod string

// The HTTP methods a WebMetric can use.
const (
	// WebMetricMethodGet is an HTTP GET.
	WebMetricMethodGet WebMetricMethod = "GET"
	// WebMetricMethodPost is an HTTP POST.
	WebMetricMethodPost WebMetricMethod = "POST"
	// WebMetricMethodPut is an HTTP PUT.
	WebMetricMethodPut WebMetricMethod = "PUT"
)

// WebMetricHeader is an HTTP header.
type WebMetricHeader struct {
	// Key is the header name.
	Key string `json:"key"`
	// Value is the header value.
	Value string `json:"value"`
}

// DatadogMetric is a Datadog query.
type DatadogMetric struct {
	// Interval is the time window queried (default 5m); not the polling
	// interval.
	// +optional
	// +kubebuilder:default="5m"
	Interval DurationString `json:"interval,omitempty"`
	// Query is a single metric query.
	// +optional
	Query string `json:"query,omitempty"`
	// Queries are named queries for Formula (API v2 only).
	// +optional
	// +kubebuilder:validation:Type=object
	Queries map[string]string `json:"queries,omitempty"`
	// Formula combines Queries by name (API v2 only).
	// +optional
	Formula string `json:"formula,omitempty"`
	// ApiVersion is the Datadog API version, v1 or v2 (default v1).
	// +optional
	// +kubebuilder:validation:Enum=v1;v2
	// +kubebuilder:default=v1
	ApiVersion string `json:"apiVersion,omitempty"`
	// Aggregator reduces a series to one value (API v2 only).
	// +optional
	// +kubebuilder:validation:Enum=avg;min;max;sum;last;percentile;mean;l2norm;area
	Aggregator string `json:"aggregator,omitempty"`
	// SecretRef names the Secret with the Datadog keys.
	// +optional
	SecretRef SecretRef `json:"secretRef,omitempty"`
}

// SecretRef names a Secret with a provider's credentials.
type SecretRef struct {
	// Name of the Secret.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespaced reads the Secret from the analysis's namespace instead of
	// the controller's.
	// +optional
	Namespaced bool `json:"namespaced,omitempty"`
}

// AnalysisRun is one execution of analysis templates; it ends Successful,
// Failed, Error or Inconclusive.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=analysisruns,shortName=ar
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.phase",description="AnalysisRun status"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since resource was created"
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AnalysisRunSpec   `json:"spec"`
	Status AnalysisRunStatus `json:"status,omitempty"`

	// DecodeError is set, on this side of the API only, when the stored
	// object could not be decoded into these types; see Rollout.DecodeError.
	DecodeError string `json:"-"`
}

// AnalysisRunList is a list of AnalysisRuns.
//
// +kubebuilder:object:root=true
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []AnalysisRun `json:"items"`
}

// AnalysisRunSpec is what an AnalysisRun measures.
type AnalysisRunSpec struct {
	// Metrics to measure.
	Metrics []Metric `json:"metrics" patchStrategy:"merge" patchMergeKey:"name"`
	// Args with their resolved values.
	// +optional
	Args []Argument `json:"args,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// Terminate, set by a client, stops the run early.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// DryRun lists metrics whose results never decide the outcome.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty" patchStrategy:"merge" patchMergeKey:"metricName"`
	// MeasurementRetention sets how many measurements of a metric are kept.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty" patchStrategy:"merge" patchMergeKey:"metricName"`
	// TTLStrategy deletes the run some time after it completes.
	// +optional
	TTLStrategy *TTLStrategy `json:"ttlStrategy,omitempty"`
}

// TTLStrategy says how long a completed AnalysisRun is kept.
type TTLStrategy struct {
	// SecondsAfterCompletion applies to every completed run.
	// +optional
	SecondsAfterCompletion *int32 `json:"secondsAfterCompletion,omitempty"`
	// SecondsAfterFailure applies to failed runs and wins over
	// SecondsAfterCompletion.
	// +optional
	SecondsAfterFailure *int32 `json:"secondsAfterFailure,omitempty"`
	// SecondsAfterSuccess applies to successful runs and wins over
	// SecondsAfterCompletion.
	// +optional
	SecondsAfterSuccess *int32 `json:"secondsAfterSuccess,omitempty"`
}

// Argument is an input of an analysis template.
type Argument struct {
	// Name of the argument.
	Name string `json:"name"`
	// Value of the argument; unset means the caller must supply it.
	// +optional
	Value *string `json:"value,omitempty"`
	// ValueFrom takes the value from a Secret or a field.
	// +optional
	ValueFrom *ValueFrom `json:"valueFrom,omitempty"`
}

// ValueFrom is where an argument's value comes from. One field is set.
type ValueFrom struct {
	// SecretKeyRef reads a key of a Secret in the run's namespace.
	// +optional
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
	// FieldRef reads a field of the object that created the run.
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// SecretKeyRef selects a key of a Secret.
type SecretKeyRef struct {
	// Name of the Secret.
	Name string `json:"name"`
	// Key within the Secret.
	Key string `json:"key"`
}

// FieldRef selects a field of an object by path.
type FieldRef struct {
	// FieldPath is the path, e.g. metadata.labels['env'].
	FieldPath string `json:"fieldPath"`
}

// AnalysisRunStatus is the observed state of an AnalysisRun.
type AnalysisRunStatus struct {
	// Phase of the run.
	Phase AnalysisPhase `json:"phase"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// MetricResults holds the results per metric.
	// +optional
	MetricResults []MetricResult `json:"metricResults,omitempty"`
	// StartedAt is when the run started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// RunSummary counts the metrics by outcome.
	// +optional
	RunSummary RunSummary `json:"runSummary,omitempty"`
	// DryRunSummary counts the dry-run metrics by outcome.
	// +optional
	DryRunSummary *RunSummary `json:"dryRunSummary,omitempty"`
	// CompletedAt is when the run completed.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// RunSummary counts the metrics of a run by outcome.
type RunSummary struct {
	// Count of metrics.
	// +optional
	Count int32 `json:"count,omitempty"`
	// Successful metrics.
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// Failed metrics.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Inconclusive metrics.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// Error metrics.
	// +optional
	Error int32 `json:"error,omitempty"`
}

// MetricResult is the state of one metric: its latest measurements and
// counters over all of them.
type MetricResult struct {
	// Name of the metric.
	Name string `json:"name"`
	// Phase of the metric.
	Phase AnalysisPhase `json:"phase"`
	// Measurements are the latest measurements, oldest first.
	// +optional
	Measurements []Measurement `json:"measurements,omitempty"`
	// Message explains the phase, e.g. an error.
	// +optional
	Message string `json:"message,omitempty"`
	// Count of measurements that did not error.
	// +optional
	Count int32 `json:"count,omitempty"`
	// Successful measurements.
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// Failed measurements.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Inconclusive measurements.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// Error measurements.
	// +optional
	Error int32 `json:"error,omitempty"`
	// ConsecutiveError counts errors since the last non-error measurement.
	// +optional
	ConsecutiveError int32 `json:"consecutiveError,omitempty"`
	// DryRun says whether the metric runs in dry-run mode.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// Metadata is provider state, e.g. the resolved query.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// ConsecutiveSuccess counts successes since the last other outcome.
	// +optional
	ConsecutiveSuccess int32 `json:"consecutiveSuccess,omitempty"`
}

// Measurement is one measured value of a metric.
type Measurement struct {
	// Phase of the measurement.
	Phase AnalysisPhase `json:"phase"`
	// Message explains the phase, e.g. an error.
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the measurement started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the value was taken.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Value measured.
	// +optional
	Value string `json:"value,omitempty"`
	// Metadata is provider state, e.g. a Job name or a Kayenta run ID.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// ResumeAt is when a measurement still in progress is checked again.
	// +optional
	ResumeAt *metav1.Time `json:"resumeAt,omitempty"`
}

func init() {
	SchemeBuilder.Register(
		&AnalysisTemplate{}, &AnalysisTemplateList{},
		&ClusterAnalysisTemplate{}, &ClusterAnalysisTemplateList{},
		&AnalysisRun{}, &AnalysisRunList{},
	)
}
