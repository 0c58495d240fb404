package harness

import (
	appsv1 "k8s.io/api/apps/v1"
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func readyPod(name, ip string, lbls map[string]string, ports ...corev1.ContainerPort) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: lbls, UID: types.UID(name)},
		Spec:       corev1.PodSpec{NodeName: NodeName, Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
}

// TestEndpointSlice: only ready Pods the selector picks, in name order,
// with target ports resolved (number, container port name, or the port).
func TestEndpointSlice(t *testing.T) {
	app := map[string]string{"app": "a"}
	notReady := readyPod("a-3", "198.18.0.4", app)
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	pods := []corev1.Pod{
		readyPod("a-2", "198.18.0.3", app, corev1.ContainerPort{Name: "web", ContainerPort: 3000}),
		readyPod("a-1", "198.18.0.2", app, corev1.ContainerPort{Name: "web", ContainerPort: 3000}),
		notReady,
		readyPod("b-1", "198.18.0.5", map[string]string{"app": "b"}),
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"},
		Spec: corev1.ServiceSpec{Selector: app, Ports: []corev1.ServicePort{
			{Name: "num", Port: 8080, TargetPort: intstr.FromInt32(3000)},
			{Name: "named", Port: 8081, TargetPort: intstr.FromString("web")},
			{Name: "none", Port: 8082},
		}},
	}
	s := endpointSlice(svc, pods)
	var addrs []string
	for _, e := range s.Endpoints {
		addrs = append(addrs, e.Addresses[0])
		if e.NodeName == nil || *e.NodeName != NodeName {
			t.Errorf("endpoint %v: nodeName %v, want %s", e.Addresses, e.NodeName, NodeName)
		}
	}
	if got, want := addrs, []string{"198.18.0.2", "198.18.0.3"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("addresses %v, want %v", got, want)
	}
	for i, want := range []int32{3000, 3000, 8082} {
		if got := *s.Ports[i].Port; got != want {
			t.Errorf("port %s: %d, want %d", *s.Ports[i].Name, got, want)
		}
	}
	if s.Labels["kubernetes.io/service-name"] != "a" {
		t.Errorf("labels %v", s.Labels)
	}
}

// TestPodNames: <deployment>-<10>-<5>, so that cutting the last two parts
// gives the Deployment's name back (the suite's weight tests do).
func TestPodNames(t *testing.T) {
	d1 := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "uid-1"}}
	d2 := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "uid-2"}}
	name := "grpc-infra-backend-v1-" + templateHash(d1) + "-" + randomName(5)
	if !regexp.MustCompile(`^grpc-infra-backend-v1-[a-z0-9]{10}-[a-z0-9]{5}$`).MatchString(name) {
		t.Errorf("name %q", name)
	}
	if templateHash(d1) != templateHash(d1.DeepCopy()) || templateHash(d1) == templateHash(d2) {
		t.Error("templateHash is not a stable function of the Deployment")
	}
	changed := d1.DeepCopy()
	changed.Spec.Template.Labels = map[string]string{"a": "b"}
	if templateHash(changed) == templateHash(d1) {
		t.Error("templateHash does not change with the Pod template")
	}
}
