package provision

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

func configMap(ns, name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func resources(requests, limits map[corev1.ResourceName]string) *corev1.ResourceRequirements {
	r := &corev1.ResourceRequirements{}
	for n, q := range requests {
		if r.Requests == nil {
			r.Requests = corev1.ResourceList{}
		}
		r.Requests[n] = resource.MustParse(q)
	}
	for n, q := range limits {
		if r.Limits == nil {
			r.Limits = corev1.ResourceList{}
		}
		r.Limits[n] = resource.MustParse(q)
	}
	return r
}

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		want       Parameters
	}{
		{"replicas", "3", Parameters{Replicas: new(int32(3))}},
		{"replicas", "0", Parameters{Replicas: new(int32(0))}},
		{"replicas", " 2\n", Parameters{Replicas: new(int32(2))}},
		{"image", "registry.example.com/hagate:v1.2.3", Parameters{Image: "registry.example.com/hagate:v1.2.3"}},
		{"image", "hagate@sha256:" + strings.Repeat("a", 64), Parameters{Image: "hagate@sha256:" + strings.Repeat("a", 64)}},
		{"imagePullPolicy", "Always", Parameters{ImagePullPolicy: corev1.PullAlways}},
		{"imagePullPolicy", "IfNotPresent", Parameters{ImagePullPolicy: corev1.PullIfNotPresent}},
		{"imagePullPolicy", "Never", Parameters{ImagePullPolicy: corev1.PullNever}},
		{"resources", "requests: {cpu: 200m, memory: 256Mi}\nlimits: {cpu: '1', memory: 512Mi, ephemeral-storage: 1Gi}",
			Parameters{Resources: resources(map[corev1.ResourceName]string{"cpu": "200m", "memory": "256Mi"},
				map[corev1.ResourceName]string{"cpu": "1", "memory": "512Mi", "ephemeral-storage": "1Gi"})}},
		{"resources", "requests: {cpu: 500m}\nlimits: {cpu: 500m}",
			Parameters{Resources: resources(map[corev1.ResourceName]string{"cpu": "500m"}, map[corev1.ResourceName]string{"cpu": "500m"})}},
		{"agentResources", "limits: {memory: 2Gi}",
			Parameters{AgentResources: resources(nil, map[corev1.ResourceName]string{"memory": "2Gi"})}},
		{"serviceType", "LoadBalancer", Parameters{ServiceType: corev1.ServiceTypeLoadBalancer}},
		{"serviceType", "NodePort", Parameters{ServiceType: corev1.ServiceTypeNodePort}},
		{"serviceType", "ClusterIP", Parameters{ServiceType: corev1.ServiceTypeClusterIP}},
		{"serviceAnnotations", "service.beta.kubernetes.io/aws-load-balancer-type: nlb\nexample.com/x: 'true'",
			Parameters{ServiceAnnotations: map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "example.com/x": "true"}}},
		{"serviceAnnotations", "{}", Parameters{ServiceAnnotations: map[string]string{}}},
		{"externalTrafficPolicy", "Cluster", Parameters{ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster}},
		{"externalTrafficPolicy", "Local", Parameters{ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}},
		{"haproxyThreads", "1", Parameters{Threads: 1}},
		{"haproxyThreads", "64", Parameters{Threads: 64}},
		{"haproxyMaxconn", "1", Parameters{Maxconn: 1}},
		{"haproxyMaxconn", "1048576", Parameters{Maxconn: 1 << 20}},
		{"logLevel", "0", Parameters{LogLevel: new(0)}},
		{"logLevel", "5", Parameters{LogLevel: new(5)}},
		{"accessLog", "off", Parameters{AccessLog: ir.AccessLogOff}},
		{"accessLog", "stdout", Parameters{AccessLog: ir.AccessLogStdout}},
		{"accessLog", "10.0.0.5", Parameters{AccessLog: "10.0.0.5:514"}},
		{"accessLog", "/dev/log", Parameters{AccessLog: "/dev/log"}},
		{"accessLogFormat", "json", Parameters{AccessLogFormat: ir.AccessLogJSON}},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			got, err := Parse(configMap("ns", "p", map[string]string{tc.key: tc.value}))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !equality.Semantic.DeepEqual(*got, tc.want) {
				t.Errorf("Parse = %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		why        string // a part of the error after the key
	}{
		{"replicas", "-1", "not a count of replicas"},
		{"replicas", "three", "not a count of replicas"},
		{"replicas", "1.5", "not a count of replicas"},
		{"replicas", "4294967296", "not a count of replicas"},
		{"replicas", "", "not a count of replicas"},
		{"image", "", "not an image reference"},
		{"image", "hagate:v1 --privileged", "not an image reference"},
		{"image", "hagate:v1\tother", "not an image reference"},
		{"imagePullPolicy", "always", "not Always, IfNotPresent or Never"},
		{"imagePullPolicy", "", "not Always, IfNotPresent or Never"},
		{"resources", "requests: {cpu: lots}", "not a ResourceRequirements"},
		{"resources", "cpu: 100m", "not a ResourceRequirements"},
		{"resources", "requests: {cpu: 100m}\nextra: 1", "not a ResourceRequirements"},
		{"resources", "[cpu]", "not a ResourceRequirements"},
		{"resources", "limits: {nvidia.com/gpu: '1'}", `"nvidia.com/gpu" is not cpu, memory or ephemeral-storage`},
		{"agentResources", "requests: {hugepages-2Mi: 1Gi}", `"hugepages-2Mi" is not cpu, memory or ephemeral-storage`},
		{"agentResources", "requests: {memory: 2Gi}\nlimits: {memory: 1Gi}", "the memory request 2Gi is over its limit 1Gi"},
		{"serviceType", "ExternalName", "not LoadBalancer, NodePort or ClusterIP"},
		{"serviceType", "loadbalancer", "not LoadBalancer, NodePort or ClusterIP"},
		{"serviceAnnotations", "- a\n- b", "not a map of annotations"},
		{"serviceAnnotations", "a: {b: c}", "not a map of annotations"},
		{"serviceAnnotations", "'bad key!': x", `annotation "bad key!"`},
		{"serviceAnnotations", "-a.example/x: y", `annotation "-a.example/x"`},
		{"externalTrafficPolicy", "local", "not Cluster or Local"},
		{"externalTrafficPolicy", "Global", "not Cluster or Local"},
		{"haproxyThreads", "0", "not a number from 1 to 64"},
		{"haproxyThreads", "65", "not a number from 1 to 64"},
		{"haproxyThreads", "two", "not a number from 1 to 64"},
		{"haproxyMaxconn", "0", "not a number from 1 to 1048576"},
		{"haproxyMaxconn", "1048577", "not a number from 1 to 1048576"},
		{"haproxyMaxconn", "-5", "not a number from 1 to 1048576"},
		{"logLevel", "-1", "not a verbosity from 0 to 5"},
		{"logLevel", "6", "not a verbosity from 0 to 5"},
		{"logLevel", "debug", "not a verbosity from 0 to 5"},
		{"accessLog", "syslog.example.com", "is not stdout, off"},
		{"accessLog", "dev/log", "is not stdout, off"},
		{"replica", "3", "unknown key (known: " + strings.Join(Keys, ", ") + ")"},
		{"Replicas", "3", "unknown key"},
		{"nbthread", "4", "unknown key"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			// A good key next to the bad one: the ConfigMap is refused
			// whole.
			data := map[string]string{tc.key: tc.value}
			if tc.key != "image" {
				data["image"] = "hagate:v1"
			}
			p, err := Parse(configMap("ns", "p", data))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", *p)
			}
			if p != nil {
				t.Errorf("Parse returned parameters %+v with its error", *p)
			}
			prefix := fmt.Sprintf("key %q: ", tc.key)
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q, want %q followed by %q", err, prefix, tc.why)
			}
		})
	}
}

func TestParseBinaryData(t *testing.T) {
	cm := configMap("ns", "p", map[string]string{"replicas": "2"})
	cm.BinaryData = map[string][]byte{"image": []byte("hagate:v1")}
	if _, err := Parse(cm); err == nil || !strings.Contains(err.Error(), "binaryData") {
		t.Errorf("Parse with binaryData: error %v, want one naming binaryData", err)
	}
}

func TestParseEmpty(t *testing.T) {
	p, err := Parse(configMap("ns", "p", nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*p, Parameters{}) {
		t.Errorf("Parse of an empty ConfigMap = %+v, want zero parameters", *p)
	}
}

// allParams and otherParams set every key, to different values.
var (
	allParams = map[string]string{
		"replicas": "2", "image": "class.example/hagate:1", "imagePullPolicy": "Always",
		"resources": "requests: {cpu: 100m}", "agentResources": "requests: {memory: 100Mi}",
		"serviceType": "NodePort", "serviceAnnotations": "a.example/x: class", "externalTrafficPolicy": "Cluster",
		"haproxyThreads": "2", "haproxyMaxconn": "1000", "logLevel": "1", "accessLog": "off", "accessLogFormat": "json",
	}
	otherParams = map[string]string{
		"replicas": "5", "image": "gw.example/hagate:2", "imagePullPolicy": "Never",
		"resources": "requests: {cpu: 300m}", "agentResources": "requests: {memory: 300Mi}",
		"serviceType": "ClusterIP", "serviceAnnotations": "a.example/x: gateway", "externalTrafficPolicy": "Local",
		"haproxyThreads": "4", "haproxyMaxconn": "9000", "logLevel": "3", "accessLog": "127.0.0.1:5140", "accessLogFormat": "haproxy",
	}
)

func mustParse(t *testing.T, data map[string]string) *Parameters {
	t.Helper()
	p, err := Parse(configMap("ns", "p", data))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestParseEveryKey makes sure allParams covers every field (a new one
// must be added to the tests above and to Merge).
func TestParseEveryKey(t *testing.T) {
	if len(allParams) != len(Keys) || len(otherParams) != len(Keys) {
		t.Fatalf("the test's parameters have %d and %d keys; Keys has %d", len(allParams), len(otherParams), len(Keys))
	}
	if !slices.IsSorted(Keys) {
		t.Errorf("Keys are not sorted: %v", Keys)
	}
	p := mustParse(t, allParams)
	v := reflect.ValueOf(*p)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("field %s is not set by any key", v.Type().Field(i).Name)
		}
	}
}

func TestMerge(t *testing.T) {
	class, gw := mustParse(t, allParams), mustParse(t, otherParams)
	for _, tc := range []struct {
		name      string
		class, gw *Parameters
		want      *Parameters
	}{
		{"both nil", nil, nil, &Parameters{}},
		{"class only", class, nil, class},
		{"gateway only", nil, gw, gw},
		{"class and empty gateway", class, &Parameters{}, class},
		{"every key overridden", class, gw, gw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(tc.class, tc.gw)
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("Merge = %+v, want %+v", *got, *tc.want)
			}
		})
	}

	// Key by key: the Gateway sets one key, the class's others stay.
	for k, v := range otherParams {
		t.Run("gateway sets "+k, func(t *testing.T) {
			got := Merge(class, mustParse(t, map[string]string{k: v}))
			want := map[string]string{}
			for ck, cv := range allParams {
				want[ck] = cv
			}
			want[k] = v
			if w := mustParse(t, want); !equality.Semantic.DeepEqual(got, w) {
				t.Errorf("Merge = %+v, want %+v", *got, *w)
			}
		})
	}

	// Zero values the Gateway sets explicitly (replicas 0, logLevel 0)
	// still override.
	got := Merge(class, mustParse(t, map[string]string{"replicas": "0", "logLevel": "0"}))
	if got.Replicas == nil || *got.Replicas != 0 || got.LogLevel == nil || *got.LogLevel != 0 {
		t.Errorf("Merge with replicas 0 and logLevel 0: replicas %v, logLevel %v", got.Replicas, got.LogLevel)
	}
	// Merge does not change its inputs.
	if !equality.Semantic.DeepEqual(class, mustParse(t, allParams)) || !equality.Semantic.DeepEqual(gw, mustParse(t, otherParams)) {
		t.Error("Merge changed its inputs")
	}
}

// lookup serves ConfigMaps and records what was asked.
type lookup struct {
	cms   []*corev1.ConfigMap
	asked []string
}

func (l *lookup) get(ns, name string) *corev1.ConfigMap {
	l.asked = append(l.asked, ns+"/"+name)
	for _, cm := range l.cms {
		if cm.Namespace == ns && cm.Name == name {
			return cm
		}
	}
	return nil
}

func TestClassParameters(t *testing.T) {
	l := &lookup{cms: []*corev1.ConfigMap{
		configMap("hagate-system", "params", map[string]string{"replicas": "4", "image": "class.example/hagate:1"}),
		configMap("hagate-system", "bad", map[string]string{"replicas": "many"}),
		configMap("other", "params", map[string]string{"replicas": "9"}),
	}}
	ref := func(group, kind, ns, name string) *gwapiv1.GatewayClass {
		r := &gwapiv1.ParametersReference{Group: gwapiv1.Group(group), Kind: gwapiv1.Kind(kind), Name: name}
		if ns != "" {
			r.Namespace = new(gwapiv1.Namespace(ns))
		}
		return &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "hagate"}, Spec: gwapiv1.GatewayClassSpec{ParametersRef: r}}
	}

	t.Run("no parametersRef", func(t *testing.T) {
		p, err := ClassParameters(&gwapiv1.GatewayClass{}, l.get)
		if p != nil || err != nil {
			t.Errorf("ClassParameters = %v, %v; want nil, nil", p, err)
		}
	})
	t.Run("a ConfigMap", func(t *testing.T) {
		l.asked = nil
		p, err := ClassParameters(ref("", "ConfigMap", "hagate-system", "params"), l.get)
		if err != nil {
			t.Fatal(err)
		}
		if p.Replicas == nil || *p.Replicas != 4 || p.Image != "class.example/hagate:1" {
			t.Errorf("ClassParameters = %+v", *p)
		}
		if !slices.Equal(l.asked, []string{"hagate-system/params"}) {
			t.Errorf("looked up %v, want hagate-system/params", l.asked)
		}
	})
	for _, tc := range []struct {
		name string
		gc   *gwapiv1.GatewayClass
		want []string // parts of the error
	}{
		{"no namespace", ref("", "ConfigMap", "", "params"), []string{"no namespace", `"params"`}},
		{"wrong group", ref("hagate.io", "ConfigMap", "hagate-system", "params"), []string{"kind ConfigMap of group hagate.io", "core ConfigMap"}},
		{"wrong kind", ref("", "Secret", "hagate-system", "params"), []string{"kind Secret of group core"}},
		{"wrong group and kind", ref("invalid.io", "InvalidParameters", "hagate-system", "params"), []string{"kind InvalidParameters of group invalid.io"}},
		{"missing ConfigMap", ref("", "ConfigMap", "hagate-system", "absent"), []string{"ConfigMap hagate-system/absent", "does not exist"}},
		{"ConfigMap of the wrong namespace", ref("", "ConfigMap", "default", "params"), []string{"ConfigMap default/params", "does not exist"}},
		{"invalid ConfigMap", ref("", "ConfigMap", "hagate-system", "bad"), []string{"ConfigMap hagate-system/bad", `key "replicas"`, `"many"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ClassParameters(tc.gc, l.get)
			if err == nil {
				t.Fatalf("ClassParameters = %+v, want an error", *p)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestGatewayParameters(t *testing.T) {
	l := &lookup{cms: []*corev1.ConfigMap{
		configMap("apps", "params", map[string]string{"replicas": "2"}),
		configMap("apps", "unknown", map[string]string{"replicas": "2", "color": "blue"}),
		configMap("other", "only-there", map[string]string{"replicas": "9"}),
	}}
	gw := func(inf *gwapiv1.GatewayInfrastructure) *gwapiv1.Gateway {
		return &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web"}, Spec: gwapiv1.GatewaySpec{Infrastructure: inf}}
	}
	ref := func(group, kind, name string) *gwapiv1.Gateway {
		return gw(&gwapiv1.GatewayInfrastructure{ParametersRef: &gwapiv1.LocalParametersReference{Group: gwapiv1.Group(group), Kind: gwapiv1.Kind(kind), Name: name}})
	}

	for _, g := range []*gwapiv1.Gateway{gw(nil), gw(&gwapiv1.GatewayInfrastructure{Labels: map[gwapiv1.LabelKey]gwapiv1.LabelValue{"a": "b"}})} {
		if p, err := GatewayParameters(g, l.get); p != nil || err != nil {
			t.Errorf("GatewayParameters without parametersRef = %v, %v; want nil, nil", p, err)
		}
	}
	l.asked = nil
	p, err := GatewayParameters(ref("", "ConfigMap", "params"), l.get)
	if err != nil {
		t.Fatal(err)
	}
	if p.Replicas == nil || *p.Replicas != 2 {
		t.Errorf("GatewayParameters = %+v", *p)
	}
	if !slices.Equal(l.asked, []string{"apps/params"}) {
		t.Errorf("looked up %v, want apps/params (the Gateway's namespace)", l.asked)
	}
	for _, tc := range []struct {
		name string
		gw   *gwapiv1.Gateway
		want []string
	}{
		{"wrong group", ref("invalid.io", "ConfigMap", "params"), []string{"group invalid.io"}},
		{"wrong kind", ref("", "InvalidParameters", "params"), []string{"kind InvalidParameters of group core"}},
		{"missing ConfigMap", ref("", "ConfigMap", "absent"), []string{"ConfigMap apps/absent", "does not exist"}},
		{"ConfigMap of another namespace", ref("", "ConfigMap", "only-there"), []string{"ConfigMap apps/only-there", "does not exist"}},
		{"unknown key", ref("", "ConfigMap", "unknown"), []string{"ConfigMap apps/unknown", `key "color"`, "unknown key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := GatewayParameters(tc.gw, l.get)
			if err == nil {
				t.Fatalf("GatewayParameters = %+v, want an error", *p)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := Name("web"); got != "hagate-web" {
		t.Errorf("Name(web) = %q", got)
	}
	fits := strings.Repeat("a", 63-len("hagate-"))
	if got := Name(fits); got != "hagate-"+fits {
		t.Errorf("Name of a %d-character Gateway = %q, want it unchanged", len(fits), got)
	}
	long1 := strings.Repeat("b", 100) + "-one"
	long2 := strings.Repeat("b", 100) + "-two"
	for _, n := range []string{fits + "a", long1, long2, strings.Repeat("c", 253), strings.Repeat("d", 50) + "-" + strings.Repeat("e", 50)} {
		got := Name(n)
		if len(got) > 63 {
			t.Errorf("Name(%s) = %q: %d characters", n, got, len(got))
		}
		if errs := validation.IsDNS1035Label(got); len(errs) > 0 {
			t.Errorf("Name(%s) = %q is not a Service name: %v", n, got, errs)
		}
		if !strings.HasPrefix(got, "hagate-") {
			t.Errorf("Name(%s) = %q", n, got)
		}
		if Name(n) != got {
			t.Errorf("Name(%s) is not stable", n)
		}
	}
	if Name(long1) == Name(long2) {
		t.Errorf("two long Gateway names give one name %q", Name(long1))
	}
	// A shortened name does not end its kept part with '-' before the
	// hash.
	if got := Name(strings.Repeat("f", 44) + "-" + strings.Repeat("g", 40)); strings.Contains(got, "--") {
		t.Errorf("shortened name %q has a double dash", got)
	}
}

// Gateway names are DNS subdomains: they may hold dots, which a Service
// name (a DNS-1035 label) may not.
func TestNameOfDottedGateway(t *testing.T) {
	for _, n := range []string{"web.example", "a.b.c", strings.Repeat("a.", 100) + "z"} {
		got := Name(n)
		if errs := validation.IsDNS1035Label(got); len(errs) > 0 {
			t.Errorf("Name(%q) = %q is not a valid Service name: %v", n, got, errs)
		}
		if Name(n) != got {
			t.Errorf("Name(%q) is not stable", n)
		}
	}
	// Gateways a.b and a-b may live side by side.
	for _, pair := range [][2]string{{"a.b", "a-b"}, {"web.example", "web-example"}, {"a.b-c", "a-b.c"}} {
		if Name(pair[0]) == Name(pair[1]) {
			t.Errorf("Gateways %s and %s get one name %q", pair[0], pair[1], Name(pair[0]))
		}
	}
}

func TestGatewayLabelValue(t *testing.T) {
	if got := GatewayLabelValue("web.example"); got != "web.example" {
		t.Errorf("GatewayLabelValue = %q", got)
	}
	for _, n := range []string{strings.Repeat("a", 64), strings.Repeat("a", 61) + ".b.c", strings.Repeat("x", 253)} {
		got := GatewayLabelValue(n)
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("GatewayLabelValue(%s) = %q: %v", n, got, errs)
		}
	}
}

func TestClusterRoleBindingName(t *testing.T) {
	if got := ClusterRoleBindingName("apps", "web"); got != "hagate-data-plane.apps.web" {
		t.Errorf("ClusterRoleBindingName = %q", got)
	}
	long := ClusterRoleBindingName(strings.Repeat("n", 63), strings.Repeat("g", 253))
	if errs := validation.IsDNS1123Subdomain(long); len(errs) > 0 {
		t.Errorf("ClusterRoleBindingName of long names = %q: %v", long, errs)
	}
}

// Two Gateways of different namespaces must not share a
// ClusterRoleBinding: namespace and Gateway names both hold dashes, and
// Gateway names dots.
func TestClusterRoleBindingNameUnique(t *testing.T) {
	for _, pair := range [][4]string{{"team-a", "web", "team", "a-web"}, {"a", "b.c", "a-b", "c"}, {"a", "b-c", "a-b", "c"}} {
		a, b := ClusterRoleBindingName(pair[0], pair[1]), ClusterRoleBindingName(pair[2], pair[3])
		if a == b {
			t.Errorf("Gateways %s/%s and %s/%s get one ClusterRoleBinding %q", pair[0], pair[1], pair[2], pair[3], a)
		}
	}
}

func testGateway() *gwapiv1.Gateway {
	return &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web", UID: "1111-2222"},
		Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "hagate",
			Listeners: []gwapiv1.Listener{
				{Name: "https", Port: 8443, Protocol: gwapiv1.HTTPSProtocolType},
				{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
				{Name: "https-2", Port: 8443, Protocol: gwapiv1.HTTPSProtocolType},
				{Name: "tls", Port: 443, Protocol: gwapiv1.TLSProtocolType},
			},
			Infrastructure: &gwapiv1.GatewayInfrastructure{
				Labels: map[gwapiv1.LabelKey]gwapiv1.LabelValue{
					"team": "edge", "example.com/tier": "front",
					// Ours win.
					LabelManagedBy: "someone-else",
				},
				Annotations: map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{"example.com/owner": "edge@example.com"},
			},
		},
	}
}

var testOptions = Options{Image: "hagate.io/hagate:default", ControllerName: "hagate.io/gateway-controller"}

// objectsOf lists a DataPlane's objects with their kinds.
func objectsOf(dp *DataPlane) map[string]metav1.Object {
	return map[string]metav1.Object{
		"ServiceAccount": dp.ServiceAccount, "Role": dp.Role, "RoleBinding": dp.RoleBinding,
		"ClusterRoleBinding": dp.ClusterRoleBinding, "Deployment": dp.Deployment, "Service": dp.Service,
	}
}

func TestBuildObjects(t *testing.T) {
	gw := testGateway()
	dp := Build(gw, nil, testOptions)
	kinds := map[string]string{
		"ServiceAccount": "v1", "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
		"ClusterRoleBinding": "rbac.authorization.k8s.io/v1", "Deployment": "apps/v1", "Service": "v1",
	}
	for kind, obj := range objectsOf(dp) {
		t.Run(kind, func(t *testing.T) {
			tm := reflect.ValueOf(obj).Elem().FieldByName("TypeMeta").Interface().(metav1.TypeMeta)
			if tm.Kind != kind || tm.APIVersion != kinds[kind] {
				t.Errorf("TypeMeta = %s %s, want %s %s", tm.APIVersion, tm.Kind, kinds[kind], kind)
			}
			wantName, wantNS := "hagate-web", "apps"
			if kind == "ClusterRoleBinding" {
				wantName, wantNS = "hagate-data-plane.apps.web", ""
			}
			if obj.GetName() != wantName || obj.GetNamespace() != wantNS {
				t.Errorf("name %s/%s, want %s/%s", obj.GetNamespace(), obj.GetName(), wantNS, wantName)
			}
			labels := obj.GetLabels()
			for k, v := range map[string]string{
				gwapiv1.GatewayNameLabelKey: "web", LabelManagedBy: ManagedBy,
				"app.kubernetes.io/name": "hagate", "app.kubernetes.io/component": "data-plane",
				"team": "edge", "example.com/tier": "front",
			} {
				if labels[k] != v {
					t.Errorf("label %s = %q, want %q (labels %v)", k, labels[k], v, labels)
				}
			}
			if got := obj.GetAnnotations()["example.com/owner"]; got != "edge@example.com" {
				t.Errorf("annotation example.com/owner = %q (annotations %v)", got, obj.GetAnnotations())
			}
			refs := obj.GetOwnerReferences()
			if kind == "ClusterRoleBinding" {
				if len(refs) != 0 {
					t.Errorf("owner references on the ClusterRoleBinding: %v", refs)
				}
				if labels[LabelGatewayNamespace] != "apps" {
					t.Errorf("label %s = %q, want apps", LabelGatewayNamespace, labels[LabelGatewayNamespace])
				}
				return
			}
			want := metav1.OwnerReference{APIVersion: "gateway.networking.k8s.io/v1", Kind: "Gateway", Name: "web", UID: "1111-2222",
				Controller: new(true), BlockOwnerDeletion: new(true)}
			if len(refs) != 1 || !reflect.DeepEqual(refs[0], want) {
				t.Errorf("owner references %+v, want [%+v]", refs, want)
			}
		})
	}

	// The objects share no maps: a change to one is not a change to all.
	dp.Service.Labels["x"] = "y"
	dp.Service.Annotations["x"] = "y"
	if dp.Deployment.Labels["x"] != "" || dp.Deployment.Spec.Template.Labels["x"] != "" || dp.Role.Annotations["x"] != "" {
		t.Error("the objects share their labels or annotations maps")
	}

	tmpl := dp.Deployment.Spec.Template
	for k, v := range map[string]string{gwapiv1.GatewayNameLabelKey: "web", "team": "edge", "example.com/tier": "front", LabelManagedBy: ManagedBy} {
		if tmpl.Labels[k] != v {
			t.Errorf("Pod template label %s = %q, want %q", k, tmpl.Labels[k], v)
		}
	}
	if tmpl.Annotations["example.com/owner"] != "edge@example.com" {
		t.Errorf("Pod template annotations %v", tmpl.Annotations)
	}
	sel := dp.Deployment.Spec.Selector.MatchLabels
	if !reflect.DeepEqual(sel, SelectorLabels(gw)) || !reflect.DeepEqual(dp.Service.Spec.Selector, sel) {
		t.Errorf("Deployment selector %v, Service selector %v, want %v", sel, dp.Service.Spec.Selector, SelectorLabels(gw))
	}
	if _, ok := sel["team"]; ok {
		t.Error("infrastructure labels are in the (immutable) selector")
	}
	for k, v := range sel {
		if tmpl.Labels[k] != v {
			t.Errorf("the Pod template does not match the selector on %s", k)
		}
	}

	// RBAC: the ServiceAccount is bound to the Role and to the data
	// plane ClusterRole; the Pods run as it.
	subject := rbacv1.Subject{Kind: "ServiceAccount", Name: "hagate-web", Namespace: "apps"}
	for _, s := range [][]rbacv1.Subject{dp.RoleBinding.Subjects, dp.ClusterRoleBinding.Subjects} {
		if !reflect.DeepEqual(s, []rbacv1.Subject{subject}) {
			t.Errorf("subjects %+v, want [%+v]", s, subject)
		}
	}
	if r := dp.RoleBinding.RoleRef; r.Kind != "Role" || r.Name != "hagate-web" {
		t.Errorf("RoleBinding roleRef %+v", r)
	}
	if r := dp.ClusterRoleBinding.RoleRef; r.Kind != "ClusterRole" || r.Name != DataPlaneClusterRole {
		t.Errorf("ClusterRoleBinding roleRef %+v", r)
	}
	if tmpl.Spec.ServiceAccountName != "hagate-web" {
		t.Errorf("serviceAccountName %q", tmpl.Spec.ServiceAccountName)
	}
}

func TestBuildLongName(t *testing.T) {
	gw := testGateway()
	gw.Name = strings.Repeat("w", 70)
	dp := Build(gw, nil, testOptions)
	for kind, obj := range objectsOf(dp) {
		if kind == "ClusterRoleBinding" {
			if errs := validation.IsDNS1123Subdomain(obj.GetName()); len(errs) > 0 {
				t.Errorf("%s name %q: %v", kind, obj.GetName(), errs)
			}
			continue
		}
		if obj.GetName() != Name(gw.Name) || len(obj.GetName()) > 63 {
			t.Errorf("%s name %q, want %q", kind, obj.GetName(), Name(gw.Name))
		}
		if got := obj.GetLabels()[gwapiv1.GatewayNameLabelKey]; got != GatewayLabelValue(gw.Name) || len(validation.IsValidLabelValue(got)) > 0 {
			t.Errorf("%s gateway-name label %q", kind, got)
		}
		if got := obj.GetOwnerReferences(); len(got) != 1 || got[0].Name != gw.Name {
			t.Errorf("%s owner references %v: the owner is named in full", kind, got)
		}
	}
	if dp.Deployment.Spec.Template.Spec.ServiceAccountName != Name(gw.Name) || dp.RoleBinding.RoleRef.Name != Name(gw.Name) {
		t.Error("the shortened name is not used throughout")
	}
	if !slices.Contains(agentArgs(t, dp.Deployment), "--gateway=apps/"+gw.Name) {
		t.Error("the agent is not given the Gateway's full name")
	}
}

func container(t *testing.T, d *appsv1.Deployment, name string) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func agentArgs(t *testing.T, d *appsv1.Deployment) []string {
	return container(t, d, "hagate").Args
}

func TestBuildPorts(t *testing.T) {
	dp := Build(testGateway(), nil, testOptions)
	var got []string
	for _, p := range dp.Service.Spec.Ports {
		got = append(got, fmt.Sprintf("%s %d->%s %s", p.Name, p.Port, p.TargetPort.String(), p.Protocol))
	}
	want := []string{"port-80 80->80 TCP", "port-443 443->443 TCP", "port-8443 8443->8443 TCP"}
	if !slices.Equal(got, want) {
		t.Errorf("Service ports %v, want %v", got, want)
	}
	got = nil
	for _, p := range container(t, dp.Deployment, "haproxy").Ports {
		got = append(got, fmt.Sprintf("%s %d %s", p.Name, p.ContainerPort, p.Protocol))
	}
	// The Service exposes the listeners only; HAProxy's own metrics port
	// is declared on its container, for scraping the Pod.
	if want := []string{"port-80 80 TCP", "port-443 443 TCP", "port-8443 8443 TCP", "haproxy-metrics 8405 TCP"}; !slices.Equal(got, want) {
		t.Errorf("haproxy container ports %v, want %v", got, want)
	}
	if !slices.Contains(agentArgs(t, dp.Deployment), "--haproxy-metrics-address=:8405") {
		t.Errorf("agent args %v lack --haproxy-metrics-address=:8405", agentArgs(t, dp.Deployment))
	}
	if ports := ListenerPorts(&gwapiv1.Gateway{}); len(ports) != 0 {
		t.Errorf("ListenerPorts of no listeners = %v", ports)
	}
}

func TestBuildService(t *testing.T) {
	for _, tc := range []struct {
		name    string
		params  map[string]string
		typ     corev1.ServiceType
		policy  corev1.ServiceExternalTrafficPolicy
		annots  map[string]string // besides the infrastructure's
		missing []string          // annotations not wanted
	}{
		{name: "defaults", typ: corev1.ServiceTypeLoadBalancer},
		{name: "NodePort Local", params: map[string]string{"serviceType": "NodePort", "externalTrafficPolicy": "Local"},
			typ: corev1.ServiceTypeNodePort, policy: corev1.ServiceExternalTrafficPolicyLocal},
		{name: "LoadBalancer Local", params: map[string]string{"externalTrafficPolicy": "Local"},
			typ: corev1.ServiceTypeLoadBalancer, policy: corev1.ServiceExternalTrafficPolicyLocal},
		{name: "ClusterIP ignores externalTrafficPolicy", params: map[string]string{"serviceType": "ClusterIP", "externalTrafficPolicy": "Local"},
			typ: corev1.ServiceTypeClusterIP},
		{name: "annotations", params: map[string]string{"serviceAnnotations": "service.beta.kubernetes.io/aws-load-balancer-type: nlb\nexample.com/lb: 'yes'"},
			typ:    corev1.ServiceTypeLoadBalancer,
			annots: map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "example.com/lb": "yes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp := Build(testGateway(), mustParse(t, tc.params), testOptions)
			s := dp.Service
			if s.Spec.Type != tc.typ || s.Spec.ExternalTrafficPolicy != tc.policy {
				t.Errorf("type %q policy %q, want %q %q", s.Spec.Type, s.Spec.ExternalTrafficPolicy, tc.typ, tc.policy)
			}
			want := map[string]string{"example.com/owner": "edge@example.com"}
			for k, v := range tc.annots {
				want[k] = v
			}
			if !reflect.DeepEqual(s.Annotations, want) {
				t.Errorf("Service annotations %v, want %v", s.Annotations, want)
			}
			// Service annotations are the Service's only.
			for k := range tc.annots {
				if _, ok := dp.Deployment.Annotations[k]; ok {
					t.Errorf("service annotation %s on the Deployment", k)
				}
			}
			if s.Spec.LoadBalancerIP != "" {
				t.Errorf("loadBalancerIP %q without spec.addresses", s.Spec.LoadBalancerIP)
			}
		})
	}

	// Without infrastructure annotations, the Service's own still come.
	gw := testGateway()
	gw.Spec.Infrastructure = nil
	dp := Build(gw, mustParse(t, map[string]string{"serviceAnnotations": "example.com/lb: 'yes'"}), testOptions)
	if !reflect.DeepEqual(dp.Service.Annotations, map[string]string{"example.com/lb": "yes"}) {
		t.Errorf("Service annotations %v", dp.Service.Annotations)
	}
	if len(dp.Deployment.Annotations) != 0 || len(dp.Deployment.Spec.Template.Annotations) != 0 {
		t.Errorf("Deployment annotations %v, template %v: want none", dp.Deployment.Annotations, dp.Deployment.Spec.Template.Annotations)
	}
}

func TestBuildRequestedAddresses(t *testing.T) {
	ip, host := gwapiv1.IPAddressType, gwapiv1.HostnameAddressType
	for _, tc := range []struct {
		name       string
		addresses  []gwapiv1.GatewaySpecAddress
		params     map[string]string
		lbIP       string
		annotation string
	}{
		{name: "none"},
		{name: "one IP", addresses: []gwapiv1.GatewaySpecAddress{{Type: &ip, Value: "192.0.2.10"}}, lbIP: "192.0.2.10", annotation: "192.0.2.10"},
		{name: "one IP, type defaulted", addresses: []gwapiv1.GatewaySpecAddress{{Value: "2001:db8::10"}}, lbIP: "2001:db8::10", annotation: "2001:db8::10"},
		{name: "two IPs", addresses: []gwapiv1.GatewaySpecAddress{{Type: &ip, Value: "192.0.2.10"}, {Type: &ip, Value: "192.0.2.11"}},
			annotation: "192.0.2.10,192.0.2.11"},
		{name: "one IP twice", addresses: []gwapiv1.GatewaySpecAddress{{Type: &ip, Value: "192.0.2.10"}, {Type: &ip, Value: "192.0.2.10"}},
			lbIP: "192.0.2.10", annotation: "192.0.2.10"},
		{name: "hostnames and empty values ignored", addresses: []gwapiv1.GatewaySpecAddress{{Type: &host, Value: "gw.example.com"}, {Type: &ip}, {Type: &ip, Value: "192.0.2.10"}},
			lbIP: "192.0.2.10", annotation: "192.0.2.10"},
		{name: "ClusterIP: annotation only", addresses: []gwapiv1.GatewaySpecAddress{{Type: &ip, Value: "192.0.2.10"}},
			params: map[string]string{"serviceType": "ClusterIP"}, annotation: "192.0.2.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := testGateway()
			gw.Spec.Addresses = tc.addresses
			s := Build(gw, mustParse(t, tc.params), testOptions).Service
			if s.Spec.LoadBalancerIP != tc.lbIP {
				t.Errorf("loadBalancerIP %q, want %q", s.Spec.LoadBalancerIP, tc.lbIP)
			}
			if got := s.Annotations[AnnotationRequestedAddresses]; got != tc.annotation {
				t.Errorf("annotation %s = %q, want %q", AnnotationRequestedAddresses, got, tc.annotation)
			}
		})
	}
}

func TestBuildDeployment(t *testing.T) {
	base := []string{"--gateway=apps/web", "--provisioned", "--controller-name=hagate.io/gateway-controller"}
	for _, tc := range []struct {
		name     string
		params   map[string]string
		opts     Options
		replicas *int32
		image    string
		pull     corev1.PullPolicy
		args     []string // wanted
		notArgs  []string // prefixes not wanted
	}{
		{name: "defaults", opts: testOptions, image: "hagate.io/hagate:default", pull: corev1.PullIfNotPresent,
			args: base, notArgs: []string{"--haproxy-threads", "--haproxy-maxconn", "--verbosity", "--access-log"}},
		{name: "no controller name", opts: Options{Image: "i:1"}, image: "i:1", pull: corev1.PullIfNotPresent,
			args: []string{"--gateway=apps/web", "--provisioned"}, notArgs: []string{"--controller-name"}},
		{name: "replicas", params: map[string]string{"replicas": "3"}, opts: testOptions, replicas: new(int32(3)),
			image: "hagate.io/hagate:default", pull: corev1.PullIfNotPresent, args: base},
		{name: "replicas 0", params: map[string]string{"replicas": "0"}, opts: testOptions, replicas: new(int32(0)),
			image: "hagate.io/hagate:default", pull: corev1.PullIfNotPresent, args: base},
		{name: "image and pull policy", params: map[string]string{"image": "registry.example/hagate:v9", "imagePullPolicy": "Always"},
			opts: testOptions, image: "registry.example/hagate:v9", pull: corev1.PullAlways, args: base},
		{name: "HAProxy and agent flags", params: map[string]string{"haproxyThreads": "4", "haproxyMaxconn": "5000", "logLevel": "2", "accessLog": "off"},
			opts: testOptions, image: "hagate.io/hagate:default", pull: corev1.PullIfNotPresent,
			args: append(slices.Clone(base), "--haproxy-threads=4", "--haproxy-maxconn=5000", "--verbosity=2", "--access-log=off")},
		{name: "logLevel 0", params: map[string]string{"logLevel": "0"}, opts: testOptions, image: "hagate.io/hagate:default",
			pull: corev1.PullIfNotPresent, args: append(slices.Clone(base), "--verbosity=0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Build(testGateway(), mustParse(t, tc.params), tc.opts).Deployment
			if !reflect.DeepEqual(d.Spec.Replicas, tc.replicas) {
				t.Errorf("replicas %v, want %v", ptrString(d.Spec.Replicas), ptrString(tc.replicas))
			}
			for _, name := range []string{"haproxy", "hagate"} {
				c := container(t, d, name)
				if c.Image != tc.image || c.ImagePullPolicy != tc.pull {
					t.Errorf("%s: image %q %s, want %q %s", name, c.Image, c.ImagePullPolicy, tc.image, tc.pull)
				}
			}
			args := agentArgs(t, d)
			for _, a := range tc.args {
				if !slices.Contains(args, a) {
					t.Errorf("agent args %v lack %s", args, a)
				}
			}
			for _, a := range args {
				for _, no := range tc.notArgs {
					if strings.HasPrefix(a, no) {
						t.Errorf("agent args %v hold %s", args, a)
					}
				}
			}
			if args[0] != "run" {
				t.Errorf("agent args %v do not start with run", args)
			}
		})
	}
}

func ptrString(p *int32) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func TestBuildResources(t *testing.T) {
	d := Build(testGateway(), nil, testOptions).Deployment
	if r := container(t, d, "haproxy").Resources; r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() {
		t.Errorf("haproxy default resources %v", r)
	}
	if r := container(t, d, "hagate").Resources; r.Limits.Memory().IsZero() {
		t.Errorf("agent default resources %v: no memory limit (memory-backed volumes)", r)
	}
	p := mustParse(t, map[string]string{"resources": "requests: {cpu: '2'}\nlimits: {memory: 4Gi}", "agentResources": "requests: {cpu: 50m}"})
	d = Build(testGateway(), p, testOptions).Deployment
	if r := container(t, d, "haproxy").Resources; !equality.Semantic.DeepEqual(r, *p.Resources) {
		t.Errorf("haproxy resources %v, want %v", r, *p.Resources)
	}
	if r := container(t, d, "hagate").Resources; !equality.Semantic.DeepEqual(r, *p.AgentResources) {
		t.Errorf("agent resources %v, want %v", r, *p.AgentResources)
	}
}

func TestBuildSecurity(t *testing.T) {
	d := Build(testGateway(), nil, testOptions).Deployment
	spec := d.Spec.Template.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Fatalf("Pod securityContext %+v: not runAsNonRoot", psc)
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("Pod runAsUser %v", psc.RunAsUser)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("Pod seccompProfile %+v", psc.SeccompProfile)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("the Pod shares a host namespace")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the Pod automounts the service account token (into every container)")
	}
	if len(spec.Containers) != 2 {
		t.Errorf("%d containers, want 2", len(spec.Containers))
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", c.Name)
			continue
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: root filesystem writable", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: privilege escalation allowed", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", c.Name)
		}
		if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot || sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s: runs as root", c.Name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities %+v, want drop [ALL] and no add", c.Name, sc.Capabilities)
		}
		// The API token reaches the agent only, never the
		// internet-facing HAProxy.
		mountsToken := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount"
		})
		if mountsToken != (c.Name == "hagate") {
			t.Errorf("%s: mounts the service account token: %v", c.Name, mountsToken)
		}
	}
	if sa := Build(testGateway(), nil, testOptions).ServiceAccount; sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("the ServiceAccount automounts its token")
	}
}

func TestBuildDeterministic(t *testing.T) {
	p := mustParse(t, allParams)
	a, b := Build(testGateway(), p, testOptions), Build(testGateway(), p, testOptions)
	if !equality.Semantic.DeepEqual(a, b) {
		t.Error("Build gives two results for one input")
	}
	// The listener order does not matter.
	gw := testGateway()
	slices.Reverse(gw.Spec.Listeners)
	if c := Build(gw, p, testOptions); !equality.Semantic.DeepEqual(a.Service.Spec.Ports, c.Service.Spec.Ports) {
		t.Error("Service ports depend on the listener order")
	}
}
