package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Labels of every generated object.
const (
	// LabelManagedBy marks the objects hagate's control plane manages.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is its value.
	ManagedBy = "hagate-controller"
	// LabelGatewayNamespace names the Gateway's namespace on
	// cluster-scoped objects (the ClusterRoleBinding).
	LabelGatewayNamespace = "gateway.hagate.io/gateway-namespace"
)

// DataPlaneClusterRole is the ClusterRole (installed by deploy/) every
// Gateway's agent is bound to: read what Gateways refer to, write their
// statuses.
const DataPlaneClusterRole = "hagate-data-plane"

// Container paths of the data plane Pod (the image's layout).
const (
	ConfigDir    = "/etc/haproxy"
	RunDir       = "/run/haproxy"
	MasterSocket = RunDir + "/master.sock"
	StateVolume  = "/var/lib/hagate"
	StateDir     = StateVolume + "/state"
	HagateBin    = "/usr/local/bin/hagate"
	HAProxyStart = "/usr/local/bin/haproxy-start"
	MetricsPort  = 9090
	// HAProxyMetricsPort is where the data plane's HAProxy serves its
	// Prometheus exporter (/metrics), unless a listener uses that port.
	HAProxyMetricsPort = 8405
)

// Options are what the control plane knows beyond the Gateway and its
// parameters.
type Options struct {
	// Image is the data plane image when the parameters name none (the
	// control plane's own).
	Image string
	// ControllerName is the agents' --controller-name.
	ControllerName string
	// ListenerSetPorts are the ports of the listeners of the ListenerSets
	// the Gateway accepts (render.ListenerSetPorts): the data plane
	// serves them as well.
	ListenerSetPorts []int32
}

// DataPlane is the objects of one Gateway's data plane, in the order they
// are applied.
type DataPlane struct {
	ServiceAccount     *corev1.ServiceAccount
	Role               *rbacv1.Role
	RoleBinding        *rbacv1.RoleBinding
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
	Deployment         *appsv1.Deployment
	Service            *corev1.Service
}

// Name is the name of a Gateway's namespaced data plane objects:
// "hagate-<gateway>" (dots replaced, with a hash), shortened with a hash to fit 63 characters (a
// Service name is a DNS label).
func Name(gateway string) string {
	if strings.Contains(gateway, ".") {
		// A Gateway name may hold dots, a Service name may not: dots
		// become dashes, and a hash of the real name keeps names apart.
		sum := sha256.Sum256([]byte(gateway))
		return shorten("hagate-"+strings.ReplaceAll(gateway, ".", "-")+"-"+hex.EncodeToString(sum[:4]), 63)
	}
	return shorten("hagate-"+gateway, 63)
}

// ClusterRoleBindingName names a Gateway's ClusterRoleBinding:
// "hagate-data-plane.<namespace>.<gateway>", unambiguous since a namespace
// name holds no dot.
func ClusterRoleBindingName(namespace, gateway string) string {
	return shorten("hagate-data-plane."+namespace+"."+gateway, 253)
}

// GatewayLabelValue is the gateway-name label value of a Gateway: its
// name, shortened with a hash when longer than a label value may be.
func GatewayLabelValue(gateway string) string { return shorten(gateway, 63) }

func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:5])
	head := s[:max-len(h)-1]
	for len(head) > 0 && (head[len(head)-1] == '-' || head[len(head)-1] == '.') {
		head = head[:len(head)-1]
	}
	return head + "-" + h
}

// SelectorLabels select a Gateway's data plane Pods: stable, so that the
// Deployment's selector (immutable) never changes.
func SelectorLabels(gw *gwapiv1.Gateway) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "hagate",
		"app.kubernetes.io/component": "data-plane",
		gwapiv1.GatewayNameLabelKey:   GatewayLabelValue(gw.Name),
	}
}

// ListenerPorts are a Gateway's distinct listener ports, with those of
// its ListenerSets' listeners (extra), sorted.
func ListenerPorts(gw *gwapiv1.Gateway, extra ...int32) []int32 {
	var ports []int32
	for _, l := range gw.Spec.Listeners {
		if p := int32(l.Port); p > 0 && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	for _, p := range extra {
		if p > 0 && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	slices.Sort(ports)
	return ports
}

// Build returns the data plane of a Gateway with its (merged) parameters.
func Build(gw *gwapiv1.Gateway, p *Parameters, o Options) *DataPlane {
	if p == nil {
		p = &Parameters{}
	}
	name := Name(gw.Name)
	labels := SelectorLabels(gw)
	labels[LabelManagedBy] = ManagedBy
	var annotations map[string]string
	if inf := gw.Spec.Infrastructure; inf != nil {
		for k, v := range inf.Labels {
			if _, ours := labels[string(k)]; !ours {
				labels[string(k)] = string(v)
			}
		}
		if len(inf.Annotations) > 0 {
			annotations = map[string]string{}
			for k, v := range inf.Annotations {
				annotations[string(k)] = string(v)
			}
		}
	}
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: n, Namespace: gw.Namespace,
			Labels: maps.Clone(labels), Annotations: maps.Clone(annotations),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: gwapiv1.GroupVersion.String(), Kind: "Gateway", Name: gw.Name, UID: gw.UID,
				Controller: new(true), BlockOwnerDeletion: new(true),
			}},
		}
	}
	dp := &DataPlane{}
	dp.ServiceAccount = &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: meta(name),
		// The token is mounted into the agent container only.
		AutomountServiceAccountToken: new(false),
	}
	dp.Role = &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: meta(name),
		Rules: []rbacv1.PolicyRule{
			// Leader election among the Gateway's replicas: one Lease.
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
			// Events on the Gateway (ApplyFailed).
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
			{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		},
	}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: gw.Namespace}}
	dp.RoleBinding = &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta(name),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects:   subject,
	}
	crbMeta := meta(ClusterRoleBindingName(gw.Namespace, gw.Name))
	// Cluster-scoped: no namespace, and no owner reference to a namespaced
	// object (the control plane deletes it with its Gateway).
	crbMeta.Namespace, crbMeta.OwnerReferences = "", nil
	crbMeta.Labels[LabelGatewayNamespace] = gw.Namespace
	dp.ClusterRoleBinding = &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: crbMeta,
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: DataPlaneClusterRole},
		Subjects:   subject,
	}
	dp.Deployment = deployment(gw, p, o, meta(name), labels, annotations)
	dp.Service = service(gw, p, o, meta(name))
	return dp
}

func deployment(gw *gwapiv1.Gateway, p *Parameters, o Options, m metav1.ObjectMeta, labels, annotations map[string]string) *appsv1.Deployment {
	image := o.Image
	if p.Image != "" {
		image = p.Image
	}
	pull := p.ImagePullPolicy
	if pull == "" {
		pull = corev1.PullIfNotPresent
	}
	haproxyRes := corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}
	if p.Resources != nil {
		haproxyRes = *p.Resources
	}
	agentRes := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		// Includes the memory-backed volumes the agent writes (config,
		// state): certificates and keys stay off the node's disk.
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	if p.AgentResources != nil {
		agentRes = *p.AgentResources
	}
	args := []string{
		"run",
		"--state-dir=" + StateDir,
		"--config-dir=" + ConfigDir,
		"--haproxy-master-socket=" + MasterSocket,
		"--metrics-bind-address=:" + strconv.Itoa(MetricsPort),
		"--gateway=" + gw.Namespace + "/" + gw.Name,
		"--provisioned",
		"--leader-elect",
		"--leader-election-namespace=" + gw.Namespace,
	}
	if o.ControllerName != "" {
		args = append(args, "--controller-name="+o.ControllerName)
	}
	if p.Threads > 0 {
		args = append(args, fmt.Sprintf("--haproxy-threads=%d", p.Threads))
	}
	if p.Maxconn > 0 {
		args = append(args, fmt.Sprintf("--haproxy-maxconn=%d", p.Maxconn))
	}
	if p.LogLevel != nil {
		args = append(args, fmt.Sprintf("--verbosity=%d", *p.LogLevel))
	}
	if p.AccessLog != "" {
		args = append(args, "--access-log="+p.AccessLog.String())
	}
	if p.AccessLogFormat != "" {
		args = append(args, "--access-log-format="+string(p.AccessLogFormat))
	}
	var ports []corev1.ContainerPort
	listenerPorts := ListenerPorts(gw, o.ListenerSetPorts...)
	for _, port := range listenerPorts {
		ports = append(ports, corev1.ContainerPort{Name: portName(port), ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
	if !slices.Contains(listenerPorts, HAProxyMetricsPort) {
		args = append(args, "--haproxy-metrics-address=:"+strconv.Itoa(HAProxyMetricsPort))
		ports = append(ports, corev1.ContainerPort{Name: "haproxy-metrics", ContainerPort: HAProxyMetricsPort, Protocol: corev1.ProtocolTCP})
	}
	restricted := &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	mem := func(name, size string) corev1.Volume {
		q := resource.MustParse(size)
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &q}}}
	}
	tmpSize := resource.MustParse("64Mi")
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: m,
		Spec: appsv1.DeploymentSpec{
			Replicas: p.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(gw)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				// A new Pod serves (the agent's /readyz) before an old one
				// stops.
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: new(intstr.FromInt32(1)), MaxUnavailable: new(intstr.FromInt32(0)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels), Annotations: maps.Clone(annotations)},
				Spec: corev1.PodSpec{
					ServiceAccountName: Name(gw.Name),
					// The API token goes to the agent container only
					// (kube-api-access below): the internet-facing
					// HAProxy never sees it.
					AutomountServiceAccountToken:  new(false),
					EnableServiceLinks:            new(false),
					TerminationGracePeriodSeconds: new(int64(60)),
					NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: new(true), RunAsUser: new(int64(65532)), RunAsGroup: new(int64(65532)), FSGroup: new(int64(65532)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						// Non-root processes of this Pod's network namespace
						// may bind ports below 1024 (a safe sysctl).
						Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
					},
					Containers: []corev1.Container{
						{
							Name:            "haproxy",
							Image:           image,
							ImagePullPolicy: pull,
							Command:         []string{HAProxyStart},
							Env: []corev1.EnvVar{
								{Name: "HAPROXY_CONFIG_DIR", Value: ConfigDir},
								{Name: "HAPROXY_MASTER_SOCKET", Value: MasterSocket},
							},
							Ports:     ports,
							Resources: haproxyRes,
							Lifecycle: &corev1.Lifecycle{
								// The agent starts once the master CLI exists.
								PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c",
									"i=0; while [ ! -S " + MasterSocket + " ] && [ \"$i\" -lt 300 ]; do sleep 0.1; i=$((i+1)); done"}}},
								// Leave the load balancer, then soft-stop.
								PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c",
									"sleep 5; kill -USR1 1; while kill -0 1 2>/dev/null; do sleep 1; done"}}},
							},
							SecurityContext: restricted.DeepCopy(),
							VolumeMounts: []corev1.VolumeMount{
								{Name: "config", MountPath: ConfigDir},
								{Name: "run", MountPath: RunDir},
							},
						},
						{
							Name:            "hagate",
							Image:           image,
							ImagePullPolicy: pull,
							Command:         []string{HagateBin},
							Args:            args,
							Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
								FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
							Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP}},
							ReadinessProbe: &corev1.Probe{
								// Ready while HAProxy runs the Gateway's current
								// configuration.
								ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("metrics")}},
								PeriodSeconds:    5,
								FailureThreshold: 3,
							},
							LivenessProbe: &corev1.Probe{
								ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("metrics")}},
								PeriodSeconds:    10,
								FailureThreshold: 3,
							},
							Resources:       agentRes,
							SecurityContext: restricted.DeepCopy(),
							VolumeMounts: []corev1.VolumeMount{
								{Name: "config", MountPath: ConfigDir},
								{Name: "run", MountPath: RunDir},
								{Name: "state", MountPath: StateVolume},
								{Name: "tmp", MountPath: "/tmp"},
								{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
							},
						},
					},
					Volumes: []corev1.Volume{
						// Shared: haproxy.cfg, crt-lists, certs (private
						// keys: memory-backed), maps, the Runtime API socket.
						mem("config", "256Mi"),
						// Shared: the master CLI socket.
						mem("run", "1Mi"),
						// The agent's state: the staging copy checked with
						// haproxy -c (keys too).
						mem("state", "256Mi"),
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmpSize}}},
						{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
							DefaultMode: new(int32(0o444)),
							Sources: []corev1.VolumeProjection{
								{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: new(int64(3600))}},
								{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
									Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
								{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
									{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
							},
						}}},
					},
				},
			},
		},
	}
}

func service(gw *gwapiv1.Gateway, p *Parameters, o Options, m metav1.ObjectMeta) *corev1.Service {
	typ := p.ServiceType
	if typ == "" {
		typ = corev1.ServiceTypeLoadBalancer
	}
	if len(p.ServiceAnnotations) > 0 {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		for k, v := range p.ServiceAnnotations {
			m.Annotations[k] = v
		}
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: m,
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: SelectorLabels(gw),
		},
	}
	for _, port := range ListenerPorts(gw, o.ListenerSetPorts...) {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: portName(port), Port: port, TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP,
		})
	}
	if typ != corev1.ServiceTypeClusterIP {
		svc.Spec.ExternalTrafficPolicy = p.ExternalTrafficPolicy
	}
	// The Gateway's requested addresses: one IP becomes the load
	// balancer's requested IP (the field most load balancer controllers
	// read); all of them are listed in an annotation for those that take
	// several.
	if ips := RequestedIPs(gw); len(ips) > 0 {
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[AnnotationRequestedAddresses] = strings.Join(ips, ",")
		if typ == corev1.ServiceTypeLoadBalancer && len(ips) == 1 {
			svc.Spec.LoadBalancerIP = ips[0]
		}
	}
	return svc
}

// AnnotationRequestedAddresses lists a Gateway's requested IP addresses
// (spec.addresses of type IPAddress) on its Service.
const AnnotationRequestedAddresses = "gateway.hagate.io/requested-addresses"

// RequestedIPs are the IPAddress values of a Gateway's spec.addresses, in
// order, without empty values.
func RequestedIPs(gw *gwapiv1.Gateway) []string {
	var out []string
	for _, a := range gw.Spec.Addresses {
		if (a.Type == nil || *a.Type == gwapiv1.IPAddressType) && a.Value != "" && !slices.Contains(out, a.Value) {
			out = append(out, a.Value)
		}
	}
	return out
}

// portName names a listener port ("port-8443").
func portName(p int32) string { return "port-" + strconv.Itoa(int(p)) }
