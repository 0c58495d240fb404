// Package provision decides what a Gateway's own data plane is: the
// Kubernetes objects (ServiceAccount, RBAC bindings, a Deployment running
// HAProxy and the hagate agent side by side, a Service exposing the
// listener ports) hagate's control plane keeps in step with each Gateway,
// and the parameters (GatewayClass and Gateway parametersRef) that shape
// them. It is pure: the controller reads the cluster and applies what this
// package returns.
package provision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"hagate.io/hagate/render/ir"
)

// Parameters are hagate's provisioning parameters, from the data of a
// ConfigMap referenced by GatewayClass.spec.parametersRef or
// Gateway.spec.infrastructure.parametersRef. A zero field leaves the
// default. The keys of the ConfigMap are the names in the comments.
type Parameters struct {
	// Replicas ("replicas"): HAProxy Pods of the Gateway. Unset, hagate
	// does not manage the count (1 at creation; an HPA may own it).
	Replicas *int32
	// Image ("image"): the image of both containers (HAProxy and agent).
	Image string
	// ImagePullPolicy ("imagePullPolicy"): Always, IfNotPresent or Never.
	ImagePullPolicy corev1.PullPolicy
	// Resources ("resources", YAML of a ResourceRequirements): the HAProxy
	// container's; AgentResources ("agentResources") the agent's.
	Resources, AgentResources *corev1.ResourceRequirements
	// ServiceType ("serviceType"): LoadBalancer (default), NodePort or
	// ClusterIP.
	ServiceType corev1.ServiceType
	// ServiceAnnotations ("serviceAnnotations", YAML map): added to the
	// Service (load balancer settings).
	ServiceAnnotations map[string]string
	// ExternalTrafficPolicy ("externalTrafficPolicy"): Cluster or Local,
	// for LoadBalancer and NodePort Services.
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy
	// Threads ("haproxyThreads") and Maxconn ("haproxyMaxconn"): HAProxy's
	// nbthread and maxconn.
	Threads, Maxconn int32
	// LogLevel ("logLevel"): the agent's log verbosity, 0 to 5.
	LogLevel *int
	// AccessLog ("accessLog"): HAProxy's access log, as hagate run
	// --access-log takes it (stdout, off, a syslog address or socket).
	AccessLog ir.AccessLog
	// AccessLogFormat ("accessLogFormat"): json or haproxy, as hagate run
	// --access-log-format takes it.
	AccessLogFormat ir.AccessLogFormat
}

// Keys are the keys a parameters ConfigMap may hold.
var Keys = []string{"accessLog", "accessLogFormat", "agentResources", "externalTrafficPolicy", "haproxyMaxconn", "haproxyThreads", "image",
	"imagePullPolicy", "logLevel", "replicas", "resources", "serviceAnnotations", "serviceType"}

// ParamsKind is the kind parametersRef must name: a core ConfigMap.
const ParamsKind = "ConfigMap"

// Parse reads a parameters ConfigMap. Every key must be known and every
// value valid: a ConfigMap with a mistake is refused whole, and the error
// says which key and why.
func Parse(cm *corev1.ConfigMap) (*Parameters, error) {
	p := &Parameters{}
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := p.set(k, strings.TrimSpace(cm.Data[k])); err != nil {
			return nil, fmt.Errorf("key %q: %v", k, err)
		}
	}
	if len(cm.BinaryData) > 0 {
		return nil, fmt.Errorf("binaryData is not read; put the parameters under data")
	}
	return p, nil
}

func (p *Parameters) set(k, v string) error {
	switch k {
	case "replicas":
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a count of replicas (0 or more)", v)
		}
		r := int32(n)
		p.Replicas = &r
	case "image":
		if v == "" || strings.ContainsAny(v, " \t\r\n") {
			return fmt.Errorf("%q is not an image reference", v)
		}
		p.Image = v
	case "imagePullPolicy":
		switch pp := corev1.PullPolicy(v); pp {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
			p.ImagePullPolicy = pp
		default:
			return fmt.Errorf("%q is not Always, IfNotPresent or Never", v)
		}
	case "resources", "agentResources":
		var r corev1.ResourceRequirements
		if err := yaml.UnmarshalStrict([]byte(v), &r); err != nil {
			return fmt.Errorf("not a ResourceRequirements (requests, limits): %v", err)
		}
		for name := range r.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory && name != corev1.ResourceEphemeralStorage {
				return fmt.Errorf("resource %q is not cpu, memory or ephemeral-storage", name)
			}
		}
		for name, q := range r.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory && name != corev1.ResourceEphemeralStorage {
				return fmt.Errorf("resource %q is not cpu, memory or ephemeral-storage", name)
			}
			if l, ok := r.Limits[name]; ok && q.Cmp(l) > 0 {
				return fmt.Errorf("the %s request %s is over its limit %s", name, q.String(), l.String())
			}
		}
		if k == "resources" {
			p.Resources = &r
		} else {
			p.AgentResources = &r
		}
	case "serviceType":
		switch t := corev1.ServiceType(v); t {
		case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP:
			p.ServiceType = t
		default:
			return fmt.Errorf("%q is not LoadBalancer, NodePort or ClusterIP", v)
		}
	case "serviceAnnotations":
		m := map[string]string{}
		if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil {
			return fmt.Errorf("not a map of annotations: %v", err)
		}
		for ak := range m {
			if errs := validation.IsQualifiedName(ak); len(errs) > 0 {
				return fmt.Errorf("annotation %q: %s", ak, strings.Join(errs, "; "))
			}
		}
		p.ServiceAnnotations = m
	case "externalTrafficPolicy":
		switch t := corev1.ServiceExternalTrafficPolicy(v); t {
		case corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal:
			p.ExternalTrafficPolicy = t
		default:
			return fmt.Errorf("%q is not Cluster or Local", v)
		}
	case "haproxyThreads", "haproxyMaxconn":
		n, err := strconv.ParseInt(v, 10, 32)
		max := int64(1 << 20)
		if k == "haproxyThreads" {
			max = 64
		}
		if err != nil || n < 1 || n > max {
			return fmt.Errorf("%q is not a number from 1 to %d", v, max)
		}
		if k == "haproxyThreads" {
			p.Threads = int32(n)
		} else {
			p.Maxconn = int32(n)
		}
	case "logLevel":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 5 {
			return fmt.Errorf("%q is not a verbosity from 0 to 5", v)
		}
		p.LogLevel = &n
	case "accessLog":
		a, err := ir.ParseAccessLog(v)
		if err != nil || v == "" {
			return fmt.Errorf("%q is not stdout, off, a syslog server's IP address with an optional port, or a unix socket path", v)
		}
		p.AccessLog = a
	case "accessLogFormat":
		f, err := ir.ParseAccessLogFormat(v)
		if err != nil || v == "" {
			return fmt.Errorf("%q is not json or haproxy", v)
		}
		p.AccessLogFormat = f
	default:
		return fmt.Errorf("unknown key (known: %s)", strings.Join(Keys, ", "))
	}
	return nil
}

// Merge returns the class's parameters overridden, key by key, by the
// Gateway's (either may be nil).
func Merge(class, gw *Parameters) *Parameters {
	out := &Parameters{}
	for _, p := range []*Parameters{class, gw} {
		if p == nil {
			continue
		}
		if p.Replicas != nil {
			out.Replicas = p.Replicas
		}
		if p.Image != "" {
			out.Image = p.Image
		}
		if p.ImagePullPolicy != "" {
			out.ImagePullPolicy = p.ImagePullPolicy
		}
		if p.Resources != nil {
			out.Resources = p.Resources
		}
		if p.AgentResources != nil {
			out.AgentResources = p.AgentResources
		}
		if p.ServiceType != "" {
			out.ServiceType = p.ServiceType
		}
		if p.ServiceAnnotations != nil {
			out.ServiceAnnotations = p.ServiceAnnotations
		}
		if p.ExternalTrafficPolicy != "" {
			out.ExternalTrafficPolicy = p.ExternalTrafficPolicy
		}
		if p.Threads != 0 {
			out.Threads = p.Threads
		}
		if p.Maxconn != 0 {
			out.Maxconn = p.Maxconn
		}
		if p.LogLevel != nil {
			out.LogLevel = p.LogLevel
		}
		if p.AccessLog != "" {
			out.AccessLog = p.AccessLog
		}
		if p.AccessLogFormat != "" {
			out.AccessLogFormat = p.AccessLogFormat
		}
	}
	return out
}

// Lookup finds a ConfigMap by namespace and name; nil when absent.
type Lookup func(namespace, name string) *corev1.ConfigMap

// ClassParameters resolves GatewayClass.spec.parametersRef: nil
// Parameters and no error when there is none.
func ClassParameters(gc *gwapiv1.GatewayClass, get Lookup) (*Parameters, error) {
	ref := gc.Spec.ParametersRef
	if ref == nil {
		return nil, nil
	}
	ns := ""
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if ns == "" {
		return nil, fmt.Errorf("parametersRef to %s %q has no namespace (a ConfigMap is namespaced)", ref.Kind, ref.Name)
	}
	return resolve(string(ref.Group), string(ref.Kind), ns, ref.Name, get)
}

// GatewayParameters resolves Gateway.spec.infrastructure.parametersRef
// (a ConfigMap of the Gateway's namespace).
func GatewayParameters(gw *gwapiv1.Gateway, get Lookup) (*Parameters, error) {
	if gw.Spec.Infrastructure == nil || gw.Spec.Infrastructure.ParametersRef == nil {
		return nil, nil
	}
	ref := gw.Spec.Infrastructure.ParametersRef
	return resolve(string(ref.Group), string(ref.Kind), gw.Namespace, ref.Name, get)
}

func resolve(group, kind, ns, name string, get Lookup) (*Parameters, error) {
	if group != "" || kind != ParamsKind {
		g := group
		if g == "" {
			g = "core"
		}
		return nil, fmt.Errorf("parametersRef names kind %s of group %s; hagate's parameters are a core ConfigMap", kind, g)
	}
	cm := get(ns, name)
	if cm == nil {
		return nil, fmt.Errorf("parametersRef names ConfigMap %s/%s, which does not exist", ns, name)
	}
	p, err := Parse(cm)
	if err != nil {
		return nil, fmt.Errorf("parameters ConfigMap %s/%s: %v", ns, name, err)
	}
	return p, nil
}
