package controller

import (
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// maxInterned bounds the strings interned: past it a string is most likely
// one object's own text, and interning it would add an entry to the
// process-wide table without any other object sharing it.
const maxInterned = 128

// intern returns s backed by the one copy of its text every interned
// string shares. Decoding gives every string of every object its own
// copy, so the label keys, namespace, images and condition texts that
// thousands of cached objects hold alike were each kept thousands of times.
func intern(s string) string {
	if s == "" || len(s) > maxInterned {
		return s
	}
	return unique.Make(s).Value()
}

func internAs[T ~string](s T) T { return T(intern(string(s))) }

// internMap interns m's keys and, with values, its values. Assigning to an
// existing key replaces the key kept by the map too, so no entry moves.
func internMap(m map[string]string, values bool) {
	for k, v := range m {
		if values {
			v = intern(v)
		}
		m[intern(k)] = v
	}
}

// internStrings interns, in an object about to be cached, the strings that
// objects of a cluster most often hold alike: the namespace, label keys
// and values, annotation keys, owner kinds, and the parts of Pod templates
// and conditions that repeat from one Rollout to the next. An object's
// own strings (name, UID, resourceVersion) stay as decoded: interning a
// string only one object holds would cost a table entry for nothing.
func internStrings(in any) {
	obj, ok := in.(metav1.Object)
	if !ok {
		return
	}
	obj.SetNamespace(intern(obj.GetNamespace()))
	internMap(obj.GetLabels(), true)
	internMap(obj.GetAnnotations(), false)
	refs := obj.GetOwnerReferences()
	for i := range refs {
		refs[i].APIVersion = intern(refs[i].APIVersion)
		refs[i].Kind = intern(refs[i].Kind)
	}
	switch o := in.(type) {
	case *v1alpha1.Rollout:
		internSelector(o.Spec.Selector)
		internTemplate(&o.Spec.Template)
		for i := range o.Status.Conditions {
			c := &o.Status.Conditions[i]
			internCondition(&c.Type, &c.Status, &c.Reason, &c.Message)
		}
	case *appsv1.ReplicaSet:
		internSelector(o.Spec.Selector)
		internTemplate(&o.Spec.Template)
	case *corev1.Pod:
		internContainers(o.Spec.InitContainers)
		internContainers(o.Spec.Containers)
		for i := range o.Status.Conditions {
			c := &o.Status.Conditions[i]
			internCondition(&c.Type, &c.Status, &c.Reason, &c.Message)
		}
		for _, cs := range [][]corev1.ContainerStatus{o.Status.InitContainerStatuses, o.Status.ContainerStatuses} {
			for i := range cs {
				cs[i].Name, cs[i].Image, cs[i].ImageID = intern(cs[i].Name), intern(cs[i].Image), intern(cs[i].ImageID)
			}
		}
	case *corev1.Service:
		internMap(o.Spec.Selector, true)
	}
}

// internCondition interns the four texts every kind's conditions carry;
// the kinds' condition structs differ only in their other fields.
func internCondition[T, S ~string](typ *T, status *S, reason, message *string) {
	*typ, *status = internAs(*typ), internAs(*status)
	*reason, *message = intern(*reason), intern(*message)
}

func internSelector(s *metav1.LabelSelector) {
	if s != nil {
		internMap(s.MatchLabels, true)
	}
}

// internTemplate interns what a Pod template of a Rollout or ReplicaSet
// shares with its siblings: labels, annotation keys, and its containers'
// names, images and the defaults the API server fills in.
func internTemplate(t *corev1.PodTemplateSpec) {
	internMap(t.Labels, true)
	internMap(t.Annotations, false)
	internContainers(t.Spec.InitContainers)
	internContainers(t.Spec.Containers)
	t.Spec.RestartPolicy = internAs(t.Spec.RestartPolicy)
	t.Spec.DNSPolicy = internAs(t.Spec.DNSPolicy)
	t.Spec.SchedulerName = intern(t.Spec.SchedulerName)
	t.Spec.ServiceAccountName = intern(t.Spec.ServiceAccountName)
}

func internContainers(cs []corev1.Container) {
	for i := range cs {
		c := &cs[i]
		c.Name, c.Image = intern(c.Name), intern(c.Image)
		c.ImagePullPolicy = internAs(c.ImagePullPolicy)
		c.TerminationMessagePath = intern(c.TerminationMessagePath)
		c.TerminationMessagePolicy = internAs(c.TerminationMessagePolicy)
	}
}
