package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"

	"hagate.io/hagate/controller"
	"hagate.io/hagate/render/provision"
)

// The provisioning test's own names: no other test uses them. Its control
// plane answers to a controller name of its own, so that the Gateways
// other tests leave behind (class hagate) are not provisioned.
const (
	provNS         = "hagate-provision"
	provClass      = "hagate-provision"
	provController = "hagate.io/provision-test"
	provImage      = "hagate.io/hagate:test"
	classImage     = "registry.example/hagate:class"
	// provWait bounds every wait: generous, the work takes well under a
	// second.
	provWait = time.Minute
)

const provBaseYAML = `
apiVersion: v1
kind: Namespace
metadata: {name: hagate-provision}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate-provision}
spec: {controllerName: hagate.io/provision-test}
`

// gatewayYAML is a Gateway of the test's class with one HTTP listener per
// port, the infrastructure labels and annotations of the test, and
// a parametersRef when params is not "" (group "" and kind ConfigMap
// unless groupKind gives others).
func gatewayYAML(name string, ports []int, params string, groupKind ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: %s, namespace: %s}
spec:
  gatewayClassName: %s
  infrastructure:
    labels: {team: edge, example.com/tier: front}
    annotations: {example.com/owner: edge-team}
`, name, provNS, provClass)
	if params != "" {
		group, kind := "", "ConfigMap"
		if len(groupKind) == 2 {
			group, kind = groupKind[0], groupKind[1]
		}
		fmt.Fprintf(&b, "    parametersRef: {group: %q, kind: %s, name: %s}\n", group, kind, params)
	}
	b.WriteString("  listeners:\n")
	for _, p := range ports {
		fmt.Fprintf(&b, "  - {name: l%d, port: %d, protocol: HTTP}\n", p, p)
	}
	return b.String()
}

// configMapYAML is a ConfigMap of the test's namespace.
func configMapYAML(name string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata:\n", name, provNS)
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %q\n", k, data[k])
	}
	return b.String()
}

// provEnv reads the test API server directly (no cache).
type provEnv struct {
	c client.Client
}

// get reads an object into obj; false when it cannot (absent, or any
// error: callers poll).
func (e *provEnv) get(ns, name string, obj client.Object) bool {
	return e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj) == nil
}

func (e *provEnv) deployment(name string) *appsv1.Deployment {
	var d appsv1.Deployment
	if !e.get(provNS, name, &d) {
		return nil
	}
	return &d
}

func (e *provEnv) service(name string) *corev1.Service {
	var s corev1.Service
	if !e.get(provNS, name, &s) {
		return nil
	}
	return &s
}

// gateway reads a Gateway; a zero one when absent.
func (e *provEnv) gateway(name string) *gwapiv1.Gateway {
	var g gwapiv1.Gateway
	e.get(provNS, name, &g)
	return &g
}

// waitDeployment waits until the Deployment exists and cond holds,
// and returns it.
func (e *provEnv) waitDeployment(t *testing.T, name, what string, cond func(d *appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	eventually(t, what, provWait, func() bool {
		d = e.deployment(name)
		return d != nil && cond(d)
	})
	return d
}

func (e *provEnv) waitService(t *testing.T, name, what string, cond func(s *corev1.Service) bool) *corev1.Service {
	t.Helper()
	var s *corev1.Service
	eventually(t, what, provWait, func() bool {
		s = e.service(name)
		return s != nil && cond(s)
	})
	return s
}

// containerOf returns a container of the Deployment's Pod template.
func containerOf(d *appsv1.Deployment, name string) corev1.Container {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	return corev1.Container{}
}

func agentArgs(d *appsv1.Deployment) []string { return containerOf(d, "hagate").Args }

func hasArg(d *appsv1.Deployment, arg string) bool { return slices.Contains(agentArgs(d), arg) }

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return -1
	}
	return *d.Spec.Replicas
}

// replicasManagers lists the field managers of a Deployment's
// spec.replicas.
func replicasManagers(d *appsv1.Deployment) []string {
	var out []string
	for _, m := range d.ManagedFields {
		if m.FieldsV1 != nil && strings.Contains(string(m.FieldsV1.GetRawBytes()), `"f:replicas"`) {
			out = append(out, fmt.Sprintf("%s (%s %s)", m.Manager, m.Operation, m.Subresource))
		}
	}
	return out
}

func servicePorts(s *corev1.Service) []int32 {
	var out []int32
	for _, p := range s.Spec.Ports {
		out = append(out, p.Port)
	}
	return out
}

// gatewayCondition returns a Gateway's status condition of a type.
func gatewayCondition(g *gwapiv1.Gateway, typ string) *metav1.Condition {
	for i := range g.Status.Conditions {
		if g.Status.Conditions[i].Type == typ {
			return &g.Status.Conditions[i]
		}
	}
	return nil
}

func classCondition(e *provEnv, name string) (*gwapiv1.GatewayClass, *metav1.Condition) {
	var gc gwapiv1.GatewayClass
	if !e.get("", name, &gc) {
		return nil, nil
	}
	for i := range gc.Status.Conditions {
		if gc.Status.Conditions[i].Type == string(gwapiv1.GatewayClassConditionStatusAccepted) {
			return &gc, &gc.Status.Conditions[i]
		}
	}
	return &gc, nil
}

// hasEvent reports whether a Warning event of a reason, with msg in its
// message, was recorded on a Gateway of the test's namespace.
func hasEvent(c client.Client, gateway, reason, msg string) bool {
	var evs corev1.EventList
	if err := c.List(context.Background(), &evs, client.InNamespace(provNS)); err != nil {
		return false
	}
	return slices.ContainsFunc(evs.Items, func(ev corev1.Event) bool {
		return ev.Reason == reason && ev.Type == corev1.EventTypeWarning &&
			ev.InvolvedObject.Kind == "Gateway" && ev.InvolvedObject.Name == gateway && strings.Contains(ev.Message, msg)
	})
}

// TestProvisioning runs the control plane (hagate controller) against the
// test API server and checks the data plane objects it keeps for each
// Gateway. Nothing runs them: the API server has no controllers.
func TestProvisioning(t *testing.T) {
	c, err := client.New(cluster.Config, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	e := &provEnv{c: c}
	cluster.Apply(t, provBaseYAML)

	// The log goes to the test's until the control plane has stopped
	// (a line logged after the test ends would panic).
	var logMu sync.Mutex
	logging := true
	logLine := func(o string) {
		logMu.Lock()
		defer logMu.Unlock()
		if logging {
			t.Log(o)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- controller.RunControlPlane(ctx, controller.ControlPlaneOptions{
			Config: cluster.Config, ControllerName: provController, Image: provImage, HealthAddress: "0",
			Log: funcr.NewJSON(logLine, funcr.Options{}),
			// Longer than any wait: what is checked here comes from the
			// watches, not from a periodic pass.
			Resync: time.Hour,
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunControlPlane: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the control plane did not stop")
		}
		logMu.Lock()
		logging = false
		logMu.Unlock()
	})

	name := provision.Name("gw") // hagate-gw
	crbName := provision.ClusterRoleBindingName(provNS, "gw")
	cluster.Apply(t, gatewayYAML("gw", []int{8080, 8443}, ""))
	gw := e.gateway("gw")
	if gw.UID == "" {
		t.Fatal("Gateway gw not found")
	}

	t.Run("objects", func(t *testing.T) {
		objs := []struct {
			kind string
			obj  client.Object
			ns   string
		}{
			{"ServiceAccount", &corev1.ServiceAccount{}, provNS},
			{"Role", &rbacv1.Role{}, provNS},
			{"RoleBinding", &rbacv1.RoleBinding{}, provNS},
			{"Deployment", &appsv1.Deployment{}, provNS},
			{"Service", &corev1.Service{}, provNS},
			{"ClusterRoleBinding", &rbacv1.ClusterRoleBinding{}, ""},
		}
		for _, o := range objs {
			n := name
			if o.kind == "ClusterRoleBinding" {
				n = crbName
			}
			eventually(t, o.kind+" "+n, provWait, func() bool { return e.get(o.ns, n, o.obj) })
			for k, v := range map[string]string{
				gwapiv1.GatewayNameLabelKey: "gw", provision.LabelManagedBy: provision.ManagedBy,
				"team": "edge", "example.com/tier": "front",
			} {
				if got := o.obj.GetLabels()[k]; got != v {
					t.Errorf("%s %s: label %s = %q, want %q", o.kind, n, k, got, v)
				}
			}
			if got := o.obj.GetAnnotations()["example.com/owner"]; got != "edge-team" {
				t.Errorf("%s %s: annotation example.com/owner = %q, want edge-team", o.kind, n, got)
			}
			refs := o.obj.GetOwnerReferences()
			if o.ns == "" {
				if len(refs) != 0 {
					t.Errorf("%s %s: owner references %v on a cluster-scoped object", o.kind, n, refs)
				}
				continue
			}
			if len(refs) != 1 || refs[0].Kind != "Gateway" || refs[0].APIVersion != "gateway.networking.k8s.io/v1" ||
				refs[0].Name != "gw" || refs[0].UID != gw.UID || refs[0].Controller == nil || !*refs[0].Controller {
				t.Errorf("%s %s: owner references %+v, want the Gateway gw (uid %s) as controller", o.kind, n, refs, gw.UID)
			}
		}

		d := e.deployment(name)
		if d == nil {
			t.Fatal("no Deployment")
		}
		tmpl := d.Spec.Template
		if tmpl.Labels["team"] != "edge" || tmpl.Labels[gwapiv1.GatewayNameLabelKey] != "gw" || tmpl.Annotations["example.com/owner"] != "edge-team" {
			t.Errorf("Pod template labels %v, annotations %v", tmpl.Labels, tmpl.Annotations)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("replicas %v, want 1 (defaulted: hagate sets none)", d.Spec.Replicas)
		}
		for _, cn := range []string{"haproxy", "hagate"} {
			if img := containerOf(d, cn).Image; img != provImage {
				t.Errorf("container %s image %q, want %q", cn, img, provImage)
			}
		}
		for _, a := range []string{"--gateway=" + provNS + "/gw", "--provisioned", "--controller-name=" + provController} {
			if !hasArg(d, a) {
				t.Errorf("agent args %v lack %s", agentArgs(d), a)
			}
		}
		s := e.service(name)
		if got := servicePorts(s); !slices.Equal(got, []int32{8080, 8443}) {
			t.Errorf("Service ports %v, want [8080 8443]", got)
		}
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			t.Errorf("Service type %s, want LoadBalancer", s.Spec.Type)
		}
		var sa corev1.ServiceAccount
		var crb rbacv1.ClusterRoleBinding
		if e.get(provNS, name, &sa) && e.get("", crbName, &crb) {
			if crb.RoleRef.Name != provision.DataPlaneClusterRole || len(crb.Subjects) != 1 || crb.Subjects[0].Name != name || crb.Subjects[0].Namespace != provNS {
				t.Errorf("ClusterRoleBinding roleRef %+v subjects %+v", crb.RoleRef, crb.Subjects)
			}
		}
	})

	t.Run("GatewayClass status", func(t *testing.T) {
		var gc *gwapiv1.GatewayClass
		eventually(t, "GatewayClass Accepted=True", provWait, func() bool {
			var cond *metav1.Condition
			gc, cond = classCondition(e, provClass)
			return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == gc.Generation &&
				len(gc.Status.SupportedFeatures) > 0
		})
		var got []features.FeatureName
		for _, f := range gc.Status.SupportedFeatures {
			got = append(got, features.FeatureName(f.Name))
		}
		if !slices.Equal(got, controller.SupportedFeatures) {
			t.Errorf("supportedFeatures %v, want %v", got, controller.SupportedFeatures)
		}
	})

	t.Run("listeners make the Service ports", func(t *testing.T) {
		cluster.Apply(t, gatewayYAML("gw", []int{8080, 8443, 9443}, ""))
		e.waitService(t, name, "Service port 9443", func(s *corev1.Service) bool {
			return slices.Equal(servicePorts(s), []int32{8080, 8443, 9443})
		})
		e.waitDeployment(t, name, "container port 9443", func(d *appsv1.Deployment) bool {
			return slices.ContainsFunc(containerOf(d, "haproxy").Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == 9443 })
		})
		cluster.Apply(t, gatewayYAML("gw", []int{8080, 8443}, ""))
		e.waitService(t, name, "Service port 9443 gone", func(s *corev1.Service) bool {
			return slices.Equal(servicePorts(s), []int32{8080, 8443})
		})
	})

	t.Run("Gateway parameters", func(t *testing.T) {
		cluster.Apply(t, configMapYAML("gw-params", map[string]string{"replicas": "3", "serviceType": "ClusterIP", "haproxyMaxconn": "5000"}))
		cluster.Apply(t, gatewayYAML("gw", []int{8080, 8443}, "gw-params"))
		e.waitDeployment(t, name, "3 replicas and --haproxy-maxconn=5000", func(d *appsv1.Deployment) bool {
			return replicas(d) == 3 && hasArg(d, "--haproxy-maxconn=5000")
		})
		s := e.waitService(t, name, "a ClusterIP Service", func(s *corev1.Service) bool { return s.Spec.Type == corev1.ServiceTypeClusterIP })
		if !slices.Equal(servicePorts(s), []int32{8080, 8443}) {
			t.Errorf("Service ports %v", servicePorts(s))
		}
		cluster.Apply(t, configMapYAML("gw-params", map[string]string{"replicas": "2", "serviceType": "ClusterIP", "haproxyMaxconn": "5000"}))
		e.waitDeployment(t, name, "2 replicas", func(d *appsv1.Deployment) bool { return replicas(d) == 2 })
	})

	t.Run("GatewayClass parameters", func(t *testing.T) {
		cluster.Apply(t, configMapYAML("class-params", map[string]string{"image": classImage, "haproxyThreads": "2", "haproxyMaxconn": "1000"}))
		cluster.Apply(t, `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate-provision}
spec:
  controllerName: hagate.io/provision-test
  parametersRef: {group: "", kind: ConfigMap, name: class-params, namespace: hagate-provision}
`)
		d := e.waitDeployment(t, name, "the class's image and threads", func(d *appsv1.Deployment) bool {
			return containerOf(d, "haproxy").Image == classImage && containerOf(d, "hagate").Image == classImage && hasArg(d, "--haproxy-threads=2")
		})
		// Both set haproxyMaxconn: the Gateway's wins.
		if !hasArg(d, "--haproxy-maxconn=5000") || hasArg(d, "--haproxy-maxconn=1000") {
			t.Errorf("agent args %v: want the Gateway's --haproxy-maxconn=5000 only", agentArgs(d))
		}
		if replicas(d) != 2 {
			t.Errorf("replicas %d, want the Gateway's 2", replicas(d))
		}
		eventually(t, "GatewayClass Accepted=True at its new generation", provWait, func() bool {
			gc, cond := classCondition(e, provClass)
			return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == gc.Generation
		})
	})

	t.Run("GatewayClass with invalid parameters", func(t *testing.T) {
		cluster.Apply(t, `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate-provision-bad}
spec:
  controllerName: hagate.io/provision-test
  parametersRef: {group: "", kind: ConfigMap, name: class-params}
`)
		eventually(t, "GatewayClass hagate-provision-bad Accepted=False InvalidParameters", provWait, func() bool {
			gc, cond := classCondition(e, "hagate-provision-bad")
			return cond != nil && cond.Status == metav1.ConditionFalse &&
				cond.Reason == string(gwapiv1.GatewayClassReasonInvalidParameters) && cond.ObservedGeneration == gc.Generation
		})
	})

	t.Run("drift is repaired", func(t *testing.T) {
		cluster.Kubectl(t, "patch", "deployment", "-n", provNS, name, "--type=strategic", "-p",
			`{"spec":{"replicas":7,"template":{"spec":{"containers":[{"name":"hagate","args":["run","--drifted"]}]}}}}`)
		e.waitDeployment(t, name, "the Deployment repaired", func(d *appsv1.Deployment) bool {
			return replicas(d) == 2 && hasArg(d, "--haproxy-maxconn=5000") && !hasArg(d, "--drifted")
		})
		cluster.Kubectl(t, "label", "service", "-n", provNS, name, "team-")
		e.waitService(t, name, "the Service's label back", func(s *corev1.Service) bool { return s.Labels["team"] == "edge" })

		old := e.service(name)
		cluster.Kubectl(t, "delete", "service", "-n", provNS, name)
		s := e.waitService(t, name, "the Service recreated", func(s *corev1.Service) bool { return s.UID != old.UID })
		if !slices.Equal(servicePorts(s), []int32{8080, 8443}) || s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("recreated Service: ports %v, type %s", servicePorts(s), s.Spec.Type)
		}

		var crb rbacv1.ClusterRoleBinding
		if !e.get("", crbName, &crb) {
			t.Fatal("no ClusterRoleBinding")
		}
		cluster.Kubectl(t, "delete", "clusterrolebinding", crbName)
		eventually(t, "the ClusterRoleBinding recreated", provWait, func() bool {
			var again rbacv1.ClusterRoleBinding
			return e.get("", crbName, &again) && again.UID != crb.UID
		})
	})

	t.Run("an HPA owns the replicas", func(t *testing.T) {
		cluster.Apply(t, fmt.Sprintf(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: gw, namespace: %s}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}
  minReplicas: 1
  maxReplicas: 10
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]
`, provNS, name))
		// New replicas in the parameters, and a new maxconn to know the
		// parameters were applied.
		cluster.Apply(t, configMapYAML("gw-params", map[string]string{"replicas": "5", "serviceType": "ClusterIP", "haproxyMaxconn": "6000"}))
		d := e.waitDeployment(t, name, "--haproxy-maxconn=6000", func(d *appsv1.Deployment) bool { return hasArg(d, "--haproxy-maxconn=6000") })
		if replicas(d) != 2 {
			t.Errorf("with an HPA, replicas %d, want 2 as they were (the HPA has not scaled yet); spec.replicas managed by %v",
				replicas(d), replicasManagers(d))
		}

		// The HPA scales (as its controller would, through the scale
		// subresource); hagate leaves that alone.
		cluster.Kubectl(t, "scale", "deployment", "-n", provNS, name, "--replicas=4")
		cluster.Apply(t, configMapYAML("gw-params", map[string]string{"replicas": "3", "serviceType": "ClusterIP", "haproxyMaxconn": "7000"}))
		d = e.waitDeployment(t, name, "--haproxy-maxconn=7000", func(d *appsv1.Deployment) bool { return hasArg(d, "--haproxy-maxconn=7000") })
		if replicas(d) != 4 {
			t.Errorf("with an HPA, replicas %d, want 4 as the HPA set them; spec.replicas managed by %v", replicas(d), replicasManagers(d))
		}
		cluster.Kubectl(t, "delete", "hpa", "-n", provNS, "gw")
	})

	t.Run("invalid parameters of a Gateway with a data plane", func(t *testing.T) {
		before := e.deployment(name)
		cluster.Apply(t, configMapYAML("gw-params", map[string]string{"replicas": "3", "serviceType": "ClusterIP", "haproxyMaxconn": "8000", "colour": "blue"}))
		eventually(t, "a Warning event InvalidParameters on the Gateway", provWait, func() bool {
			return hasEvent(c, "gw", "InvalidParameters", `"colour"`)
		})
		if d := e.deployment(name); d == nil {
			t.Error("the Deployment is gone")
		} else if hasArg(d, "--haproxy-maxconn=8000") || d.Generation != before.Generation {
			t.Errorf("the Deployment changed with invalid parameters (generation %d -> %d, args %v)", before.Generation, d.Generation, agentArgs(d))
		}
		cluster.Apply(t, configMapYAML("gw-params", map[string]string{"replicas": "2", "serviceType": "ClusterIP", "haproxyMaxconn": "5000"}))
		e.waitDeployment(t, name, "valid parameters again", func(d *appsv1.Deployment) bool { return hasArg(d, "--haproxy-maxconn=5000") })
	})

	t.Run("a new Gateway with invalid parameters gets no data plane", func(t *testing.T) {
		cluster.Apply(t, configMapYAML("unknown-key", map[string]string{"replicas": "2", "colour": "blue"}))
		for _, tc := range []struct {
			gw      string
			yaml    func(ports ...int) string
			message string // a part of the condition's message
		}{
			{"missing", func(ports ...int) string { return gatewayYAML("missing", ports, "absent") }, "does not exist"},
			{"badkind", func(ports ...int) string {
				return gatewayYAML("badkind", ports, "params", "invalid.io", "InvalidParameters")
			}, "invalid.io"},
			{"unknownkey", func(ports ...int) string { return gatewayYAML("unknownkey", ports, "unknown-key") }, `"colour"`},
			// Its class's parameters are invalid (no namespace).
			{"badclass", func(ports ...int) string {
				return strings.Replace(gatewayYAML("badclass", ports, ""), "gatewayClassName: "+provClass+"\n", "gatewayClassName: hagate-provision-bad\n", 1)
			}, "GatewayClass"},
		} {
			t.Run(tc.gw, func(t *testing.T) {
				cluster.Apply(t, tc.yaml(8080))
				check := func() {
					t.Helper()
					var cond *metav1.Condition
					var g *gwapiv1.Gateway
					eventually(t, tc.gw+" Accepted=False InvalidParameters", provWait, func() bool {
						g = e.gateway(tc.gw)
						cond = gatewayCondition(g, string(gwapiv1.GatewayConditionAccepted))
						return cond != nil && cond.Status == metav1.ConditionFalse &&
							cond.Reason == string(gwapiv1.GatewayReasonInvalidParameters) && cond.ObservedGeneration == g.Generation
					})
					if !strings.Contains(cond.Message, tc.message) {
						t.Errorf("message %q does not contain %q", cond.Message, tc.message)
					}
					// The status is written by the pass that decided not
					// to provision.
					var d appsv1.Deployment
					err := c.Get(context.Background(), types.NamespacedName{Namespace: provNS, Name: provision.Name(tc.gw)}, &d)
					if !apierrors.IsNotFound(err) {
						t.Errorf("Deployment of Gateway %s: %v, want none", tc.gw, err)
					}
					var crb rbacv1.ClusterRoleBinding
					if e.get("", provision.ClusterRoleBindingName(provNS, tc.gw), &crb) {
						t.Errorf("Gateway %s has a ClusterRoleBinding", tc.gw)
					}
				}
				check()
				// A new generation: observedGeneration follows.
				gen := e.gateway(tc.gw).Generation
				cluster.Apply(t, tc.yaml(8080, 8081))
				eventually(t, "a new generation", provWait, func() bool { return e.gateway(tc.gw).Generation > gen })
				check()
			})
		}

		// The missing ConfigMap created: the Gateway gets its data plane.
		cluster.Apply(t, configMapYAML("absent", map[string]string{"haproxyMaxconn": "1234"}))
		e.waitDeployment(t, provision.Name("missing"), "the Deployment of Gateway missing once its parameters exist", func(d *appsv1.Deployment) bool {
			return hasArg(d, "--haproxy-maxconn=1234")
		})
		for _, n := range []string{"missing", "badkind", "unknownkey", "badclass"} {
			cluster.Kubectl(t, "delete", "gateway", "-n", provNS, n)
		}
	})

	t.Run("an object of the data plane's name that hagate did not make is left alone", func(t *testing.T) {
		taken := provision.Name("taken")
		cluster.Apply(t, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s, labels: {app: mine}}
spec: {ports: [{name: http, port: 80}]}
`, taken, provNS))
		cluster.Apply(t, gatewayYAML("taken", []int{8080}, ""))
		eventually(t, "a Warning event NameTaken on the Gateway", provWait, func() bool { return hasEvent(c, "taken", "NameTaken", taken) })
		s := e.service(taken)
		if s == nil || len(s.OwnerReferences) != 0 || len(s.Labels) != 1 || !slices.Equal(servicePorts(s), []int32{80}) {
			t.Fatalf("the foreign Service was changed: %+v", s)
		}
		if d := e.deployment(taken); d != nil {
			t.Logf("note: Deployment %s was made although the Service's name is taken", taken)
		}
		// Removed, the name is free: hagate makes its own Service at the
		// Gateway's next change (or its periodic pass).
		cluster.Kubectl(t, "delete", "service", "-n", provNS, taken)
		cluster.Apply(t, gatewayYAML("taken", []int{8080, 8081}, ""))
		g := e.gateway("taken")
		e.waitService(t, taken, "hagate's Service once the name is free", func(s *corev1.Service) bool {
			return len(s.OwnerReferences) == 1 && s.OwnerReferences[0].UID == g.UID && slices.Equal(servicePorts(s), []int32{8080, 8081})
		})
	})
	cluster.Kubectl(t, "delete", "gateway", "-n", provNS, "taken", "--ignore-not-found")

	// Gateway names are DNS subdomains; the Service's must be a DNS
	// label.
	t.Run("a Gateway name with dots", func(t *testing.T) {
		cluster.Apply(t, gatewayYAML("web.example", []int{8080}, ""))
		g := e.gateway("web.example")
		eventually(t, "a Service owned by Gateway web.example", 30*time.Second, func() bool {
			var svcs corev1.ServiceList
			if err := c.List(context.Background(), &svcs, client.InNamespace(provNS), client.MatchingLabels{gwapiv1.GatewayNameLabelKey: "web.example"}); err != nil {
				return false
			}
			return slices.ContainsFunc(svcs.Items, func(s corev1.Service) bool {
				return len(s.OwnerReferences) == 1 && s.OwnerReferences[0].UID == g.UID
			})
		})
	})
	cluster.Kubectl(t, "delete", "gateway", "-n", provNS, "web.example", "--ignore-not-found")

	// Namespace and Gateway names both hold dashes: hagate-provision/x-web
	// and hagate-provision-x/web are two Gateways, each with agents that
	// need their binding to the data plane ClusterRole.
	t.Run("two Gateways get two ClusterRoleBindings", func(t *testing.T) {
		other := provNS + "-x"
		cluster.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+other+"}\n")
		cluster.Apply(t, gatewayYAML("x-web", []int{8080}, ""))
		cluster.Apply(t, strings.Replace(gatewayYAML("web", []int{8080}, ""), "namespace: "+provNS+"}", "namespace: "+other+"}", 1))
		// Both bound at once (one read).
		bound := func(crbs []rbacv1.ClusterRoleBinding, ns, gw string) bool {
			return slices.ContainsFunc(crbs, func(crb rbacv1.ClusterRoleBinding) bool {
				return crb.RoleRef.Name == provision.DataPlaneClusterRole && slices.ContainsFunc(crb.Subjects, func(s rbacv1.Subject) bool {
					return s.Kind == "ServiceAccount" && s.Namespace == ns && s.Name == provision.Name(gw)
				})
			})
		}
		eventually(t, "the ServiceAccounts of both Gateways bound to "+provision.DataPlaneClusterRole, 30*time.Second, func() bool {
			var crbs rbacv1.ClusterRoleBindingList
			if err := c.List(context.Background(), &crbs, client.MatchingLabels{provision.LabelManagedBy: provision.ManagedBy}); err != nil {
				return false
			}
			return bound(crbs.Items, provNS, "x-web") && bound(crbs.Items, other, "web")
		})
	})
	cluster.Kubectl(t, "delete", "gateway", "-n", provNS, "x-web", "--ignore-not-found")
	cluster.Kubectl(t, "delete", "gateway", "-n", provNS+"-x", "web", "--ignore-not-found")

	t.Run("deleting the Gateway deletes its ClusterRoleBinding", func(t *testing.T) {
		cluster.Kubectl(t, "delete", "gateway", "-n", provNS, "gw")
		eventually(t, "the ClusterRoleBinding deleted", provWait, func() bool {
			var crb rbacv1.ClusterRoleBinding
			err := c.Get(context.Background(), types.NamespacedName{Name: crbName}, &crb)
			return apierrors.IsNotFound(err)
		})
		// No garbage collector here: the namespaced objects stay, owned
		// by the deleted Gateway (a cluster's collector deletes them).
		for _, obj := range []client.Object{&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}, &appsv1.Deployment{}, &corev1.Service{}} {
			if !e.get(provNS, name, obj) {
				t.Errorf("%T %s is gone", obj, name)
				continue
			}
			if refs := obj.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != gw.UID {
				t.Errorf("%T %s: owner references %+v, want the Gateway's (uid %s)", obj, name, refs, gw.UID)
			}
		}
	})
}
