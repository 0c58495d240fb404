package files

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/snapshot"
)

const (
	gateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: hagate
  listeners:
  - name: http
    port: 80
    protocol: HTTP
`
	route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: apps
spec:
  parentRefs:
  - name: gw
    namespace: default
`
)

// service returns a Service document.
func service(name string) string {
	return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  ports:\n  - port: 80\n"
}

// objects lists the snapshot's objects as "Kind namespace/name", slice by
// slice, each slice in its order.
func objects(s *snapshot.Snapshot) []string {
	var out []string
	add := func(kind, ns, name string) { out = append(out, kind+" "+ns+"/"+name) }
	for _, o := range s.GatewayClasses {
		add("GatewayClass", o.Namespace, o.Name)
	}
	for _, o := range s.Gateways {
		add("Gateway", o.Namespace, o.Name)
	}
	for _, o := range s.HTTPRoutes {
		add("HTTPRoute", o.Namespace, o.Name)
	}
	for _, o := range s.GRPCRoutes {
		add("GRPCRoute", o.Namespace, o.Name)
	}
	for _, o := range s.TLSRoutes {
		add("TLSRoute", o.Namespace, o.Name)
	}
	for _, o := range s.TCPRoutes {
		add("TCPRoute", o.Namespace, o.Name)
	}
	for _, o := range s.BackendTLSPolicies {
		add("BackendTLSPolicy", o.Namespace, o.Name)
	}
	for _, o := range s.ReferenceGrants {
		add("ReferenceGrant", o.Namespace, o.Name)
	}
	for _, o := range s.Secrets {
		add("Secret", o.Namespace, o.Name)
	}
	for _, o := range s.ConfigMaps {
		add("ConfigMap", o.Namespace, o.Name)
	}
	for _, o := range s.Services {
		add("Service", o.Namespace, o.Name)
	}
	for _, o := range s.EndpointSlices {
		add("EndpointSlice", o.Namespace, o.Name)
	}
	for _, o := range s.Namespaces {
		add("Namespace", o.Namespace, o.Name)
	}
	return out
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		// files are written below a fresh working directory.
		files    map[string]string
		paths    []string
		stdin    string
		objects  []string
		errors   []string
		warnings []string
		// check, if set, looks closer at the result.
		check func(t *testing.T, res *Result)
	}{
		{
			name:    "file",
			files:   map[string]string{"a.yaml": gateway + "---\n" + route},
			paths:   []string{"a.yaml"},
			objects: []string{"Gateway default/gw", "HTTPRoute apps/web"},
			check: func(t *testing.T, res *Result) {
				want := map[string]string{
					"Gateway/default/gw": "a.yaml: document 1",
					"HTTPRoute/apps/web": "a.yaml: document 2",
				}
				if !maps.Equal(res.Origins, want) {
					t.Errorf("Origins = %v, want %v", res.Origins, want)
				}
			},
		},
		{
			name: "a file named directly is read whatever its extension",
			files: map[string]string{
				"gw.txt": gateway,
			},
			paths:   []string{"gw.txt"},
			objects: []string{"Gateway default/gw"},
		},
		{
			name: "directory, recursive, sorted, yaml and yml only",
			files: map[string]string{
				"dir/b.yaml":     service("b"),
				"dir/a.yml":      service("a"),
				"dir/a/z.yaml":   service("a-z"),
				"dir/sub/c.yaml": service("c"),
				"dir/notes.txt":  "not: [yaml",
				"dir/svc.json":   `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "json"}}`,
			},
			paths:   []string{"dir"},
			objects: []string{"Service default/a", "Service default/a-z", "Service default/b", "Service default/c"},
			check: func(t *testing.T, res *Result) {
				if got, want := res.Origins["Service/default/a-z"], filepath.Join("dir", "a", "z.yaml")+": document 1"; got != want {
					t.Errorf("origin of a-z = %q, want %q", got, want)
				}
			},
		},
		{
			name:     "empty directory",
			files:    map[string]string{"dir/README": "hello"},
			paths:    []string{"dir"},
			warnings: []string{"dir: no *.yaml or *.yml files in this directory."},
		},
		{
			name:    "stdin",
			paths:   []string{"-"},
			stdin:   gateway + "---\n" + "kind: Gateway\n",
			objects: []string{"Gateway default/gw"},
			errors:  []string{"<stdin>: document 2: apiVersion is missing"},
		},
		{
			name:    "paths in the order given",
			files:   map[string]string{"a.yaml": service("a"), "b.yaml": service("b")},
			paths:   []string{"b.yaml", "-", "a.yaml"},
			stdin:   service("stdin"),
			objects: []string{"Service default/b", "Service default/stdin", "Service default/a"},
		},
		{
			name: "repeated paths read each file once",
			files: map[string]string{
				"dir/a.yaml": service("a"),
				"dir/b.yaml": service("b"),
			},
			paths:   []string{"dir/b.yaml", "dir", "./dir/a.yaml", "-", "-"},
			stdin:   service("stdin"),
			objects: []string{"Service default/b", "Service default/a", "Service default/stdin"},
		},
		{
			name: "List",
			files: map[string]string{"list.yaml": `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
- apiVersion: v1
  kind: Service
  metadata: {name: b}
  spek: {}
- apiVersion: v1
  kind: Namespace
  metadata: {name: apps}
`},
			paths:    []string{"list.yaml"},
			objects:  []string{"Service default/a", "Namespace /apps"},
			errors:   []string{`list.yaml: document 1: items[2]: strict decoding error: unknown field "spek"`},
			warnings: []string{`list.yaml: document 1: items[1]: skipped apps/v1 Deployment "web": hagate does not read this kind.`},
			check: func(t *testing.T, res *Result) {
				if got, want := res.Origins["Namespace//apps"], "list.yaml: document 1: items[3]"; got != want {
					t.Errorf("origin = %q, want %q", got, want)
				}
			},
		},
		{
			name:  "List items that are no objects",
			files: map[string]string{"list.yaml": "apiVersion: v1\nkind: List\nitems:\n- 3\n- null\n- apiVersion: v1\n  kind: List\n  items: []\n"},
			paths: []string{"list.yaml"},
			errors: []string{
				"list.yaml: document 1: items[0]: not a mapping: an object needs apiVersion, kind and metadata",
				"list.yaml: document 1: items[2]: a List inside a List is not supported",
			},
		},
		{
			name: "v1beta1 decoded into v1 types",
			files: map[string]string{"old.yaml": `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: allow
  namespace: certs
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: Gateway
    namespace: default
  to:
  - group: ""
    kind: Secret
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: web
spec:
  hostnames: [www.example.com]
`},
			paths:   []string{"old.yaml"},
			objects: []string{"HTTPRoute default/web", "ReferenceGrant certs/allow"},
			check: func(t *testing.T, res *Result) {
				g := res.Snapshot.ReferenceGrants[0]
				if g.APIVersion != "gateway.networking.k8s.io/v1" || g.Kind != "ReferenceGrant" {
					t.Errorf("ReferenceGrant TypeMeta = %v", g.TypeMeta)
				}
				if len(g.Spec.From) != 1 || g.Spec.From[0].Namespace != "default" || len(g.Spec.To) != 1 || g.Spec.To[0].Kind != "Secret" {
					t.Errorf("ReferenceGrant spec = %+v", g.Spec)
				}
				r := res.Snapshot.HTTPRoutes[0]
				if r.APIVersion != "gateway.networking.k8s.io/v1" || r.Kind != "HTTPRoute" {
					t.Errorf("HTTPRoute TypeMeta = %v", r.TypeMeta)
				}
				if !slices.Equal(r.Spec.Hostnames, []gwapiv1.Hostname{"www.example.com"}) {
					t.Errorf("HTTPRoute hostnames = %v", r.Spec.Hostnames)
				}
			},
		},
		{
			name: "Secret stringData merged into data",
			files: map[string]string{"secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: s
data:
  a: b2xk
  b: a2VlcA==
stringData:
  a: new
  c: added
`},
			paths:   []string{"secret.yaml"},
			objects: []string{"Secret default/s"},
			check: func(t *testing.T, res *Result) {
				s := res.Snapshot.Secrets[0]
				got := map[string]string{}
				for k, v := range s.Data {
					got[k] = string(v)
				}
				if want := map[string]string{"a": "new", "b": "keep", "c": "added"}; !maps.Equal(got, want) {
					t.Errorf("data = %v, want %v", got, want)
				}
				if s.StringData != nil {
					t.Errorf("stringData = %v, want nil", s.StringData)
				}
				if s.Type != corev1.SecretTypeOpaque {
					t.Errorf("type = %q, want Opaque", s.Type)
				}
			},
		},
		{
			name: "namespaces: default for namespaced kinds, none for cluster-scoped ones",
			files: map[string]string{"ns.yaml": gateway + `---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: hagate
  namespace: ignored
spec:
  controllerName: hagate.io/gateway-controller
---
apiVersion: v1
kind: Namespace
metadata:
  name: apps
  namespace: ignored
`},
			paths:   []string{"ns.yaml"},
			objects: []string{"GatewayClass /hagate", "Gateway default/gw", "Namespace /apps"},
			check: func(t *testing.T, res *Result) {
				for _, key := range []string{"Gateway/default/gw", "GatewayClass//hagate", "Namespace//apps"} {
					if _, ok := res.Origins[key]; !ok {
						t.Errorf("no origin for %s in %v", key, res.Origins)
					}
				}
			},
		},
		{
			name:  "empty documents skipped silently",
			files: map[string]string{"a.yaml": "# header\n---\n\n---\n# nothing\n---\n" + gateway + "---\n"},
			paths: []string{"a.yaml"},
			// The header is document 1, the blank one 2, the comment 3.
			objects: []string{"Gateway default/gw"},
			check: func(t *testing.T, res *Result) {
				if got, want := res.Origins["Gateway/default/gw"], "a.yaml: document 4"; got != want {
					t.Errorf("origin = %q, want %q", got, want)
				}
			},
		},
		{
			name:     "unknown kind",
			files:    map[string]string{"a.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n" + gateway},
			paths:    []string{"a.yaml"},
			objects:  []string{"Gateway default/gw"},
			warnings: []string{`a.yaml: document 1: skipped apps/v1 Deployment "web": hagate does not read this kind.`},
		},
		{
			name:     "a Gateway API kind hagate does not read",
			files:    map[string]string{"a.yaml": "apiVersion: gateway.networking.k8s.io/v1\nkind: UDPRoute\nmetadata:\n  name: dns\n"},
			paths:    []string{"a.yaml"},
			warnings: []string{`a.yaml: document 1: skipped gateway.networking.k8s.io/v1 UDPRoute "dns": hagate does not read this kind.`},
		},
		{
			name:    "not YAML",
			files:   map[string]string{"a.yaml": service("a") + "---\nkind: Service\nmetadata: name: b\n---\n" + service("c")},
			paths:   []string{"a.yaml"},
			objects: []string{"Service default/a", "Service default/c"},
			errors:  []string{"a.yaml: document 2: error converting YAML to JSON: yaml: line 2: mapping values are not allowed in this context"},
		},
		{
			name:   "bad document separator",
			files:  map[string]string{"a.yaml": service("a") + "---x\n" + service("b")},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: invalid Yaml document separator: x"},
			// The reader goes on after the bad line.
			objects: []string{"Service default/b"},
		},
		{
			name:   "not a mapping",
			files:  map[string]string{"a.yaml": "- apiVersion: v1\n  kind: Service\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: not a mapping: an object needs apiVersion, kind and metadata"},
		},
		{
			name:   "missing kind",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nmetadata:\n  name: a\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: kind is missing"},
		},
		{
			name:   "missing name",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: a\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: metadata.name is missing"},
		},
		{
			name:   "apiVersion not a string",
			files:  map[string]string{"a.yaml": "apiVersion: 1\nkind: Service\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: json: cannot unmarshal number into Go struct field TypeMeta.apiVersion of type string"},
		},
		{
			name:   "unknown field",
			files:  map[string]string{"a.yaml": strings.Replace(gateway, "    port: 80", "    prot: 80", 1)},
			paths:  []string{"a.yaml"},
			errors: []string{`a.yaml: document 1: strict decoding error: unknown field "spec.listeners[0].prot"`},
		},
		{
			name:   "field names are case-sensitive",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nMetadata:\n  name: a\n"},
			paths:  []string{"a.yaml"},
			errors: []string{`a.yaml: document 1: strict decoding error: unknown field "Metadata"`},
		},
		{
			name:   "duplicate key",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: error converting YAML to JSON: yaml: unmarshal errors:\n  line 5: key \"name\" already set in map"},
		},
		{
			name: "duplicate object",
			files: map[string]string{
				"a.yaml": gateway,
				"b.yaml": strings.Replace(gateway, "  name: gw\n", "  name: gw\n  namespace: default\n", 1),
			},
			paths:   []string{"a.yaml", "b.yaml"},
			objects: []string{"Gateway default/gw"},
			errors:  []string{"b.yaml: document 1: duplicate Gateway default/gw, first defined in a.yaml: document 1"},
		},
		{
			name:  "same name, different kind or namespace",
			files: map[string]string{"a.yaml": service("gw") + "---\n" + gateway + "---\n" + strings.Replace(gateway, "  name: gw\n", "  name: gw\n  namespace: other\n", 1)},
			paths: []string{"a.yaml"},
			objects: []string{
				"Gateway default/gw", "Gateway other/gw", "Service default/gw",
			},
		},
		{
			name:   "bad base64",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  tls.crt: not*base64\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: illegal base64 data at input byte 3"},
		},
		{
			name:   "unsupported apiVersion",
			files:  map[string]string{"a.yaml": strings.Replace(gateway, "/v1\n", "/v2\n", 1)},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: unsupported apiVersion gateway.networking.k8s.io/v2 for Gateway (supported: gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				path := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)

			res, err := Load(Options{Paths: tt.paths, Stdin: strings.NewReader(tt.stdin)})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := objects(res.Snapshot); !slices.Equal(got, tt.objects) {
				t.Errorf("objects:\n got %q\nwant %q", got, tt.objects)
			}
			var errs []string
			for _, e := range res.Errors {
				errs = append(errs, e.Error())
			}
			if !slices.Equal(errs, tt.errors) {
				t.Errorf("errors:\n got %q\nwant %q", errs, tt.errors)
			}
			if !slices.Equal(res.Warnings, tt.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", res.Warnings, tt.warnings)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

func TestLoadUnreadablePath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		opts  Options
		isErr error
	}{
		{name: "missing file", opts: Options{Paths: []string{filepath.Join(dir, "missing.yaml")}}, isErr: fs.ErrNotExist},
		{name: "stdin without a reader", opts: Options{Paths: []string{"-"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Load(tt.opts)
			if err == nil {
				t.Fatalf("Load = %+v, want an error", res)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("error %v is not %v", err, tt.isErr)
			}
			var de *DocError
			if errors.As(err, &de) {
				t.Errorf("error %v is a DocError", err)
			}
		})
	}
}

func TestDocErrorUnwrap(t *testing.T) {
	inner := errors.New("inner")
	err := error(&DocError{File: "a.yaml", Doc: 2, Err: inner})
	if !errors.Is(err, inner) {
		t.Errorf("errors.Is(%v, inner) = false", err)
	}
	if got, want := err.Error(), "a.yaml: document 2: inner"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// loadWithin runs Load, failing the test if it does not return within a
// few seconds (a named pipe or a device must never make it block).
func loadWithin(t *testing.T, opts Options) (*Result, error) {
	t.Helper()
	type loaded struct {
		res *Result
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		res, err := Load(opts)
		done <- loaded{res, err}
	}()
	select {
	case l := <-done:
		return l.res, l.err
	case <-time.After(10 * time.Second):
		t.Fatal("Load blocked")
		return nil, nil
	}
}

func TestLoadReadsRegularFilesWithinLimits(t *testing.T) {
	big := service("big") + "# " + strings.Repeat("x", 1000) + "\n"
	tests := []struct {
		name string
		// setup makes the input in dir, the working directory.
		setup func(t *testing.T, dir string)
		paths []string
		stdin string
		// maxFile and maxTotal are the limits; zero for the defaults.
		maxFile, maxTotal int64
		// err is the error Load must return, "" for none; isErr, if set,
		// is what it must wrap.
		err   string
		isErr error
		// objects are those read when there is no error.
		objects []string
	}{
		{
			name:  "named pipe as a path",
			setup: func(t *testing.T, dir string) { mkfifo(t, "x.yaml") },
			paths: []string{"x.yaml"},
			err:   "x.yaml: is a named pipe (FIFO), not a regular file",
		},
		{
			name: "named pipe in a folder",
			setup: func(t *testing.T, dir string) {
				write(t, "m/a.yaml", gateway)
				mkfifo(t, "m/x.yaml")
			},
			paths: []string{"m"},
			err:   "m/x.yaml: is a named pipe (FIFO), not a regular file",
		},
		{
			name:  "symbolic link to /dev/zero",
			setup: func(t *testing.T, dir string) { symlink(t, "/dev/zero", "y.yaml") },
			paths: []string{"y.yaml"},
			err:   "y.yaml: is a symbolic link to /dev/zero, which is a character device, not a regular file",
		},
		{
			name:  "symbolic link to /dev/zero in a folder",
			setup: func(t *testing.T, dir string) { symlink(t, "/dev/zero", "m/y.yaml") },
			paths: []string{"m"},
			err:   "m/y.yaml: is a symbolic link to /dev/zero, which is a character device, not a regular file",
		},
		{
			name:  "dangling symbolic link",
			setup: func(t *testing.T, dir string) { symlink(t, "missing.yaml", "m/y.yaml") },
			paths: []string{"m/y.yaml"},
			err:   "m/y.yaml: is a symbolic link to missing.yaml, which does not exist: no such file or directory",
			isErr: fs.ErrNotExist,
		},
		{
			name:  "dangling symbolic link in a folder",
			setup: func(t *testing.T, dir string) { symlink(t, "missing.yaml", "m/y.yaml") },
			paths: []string{"m"},
			err:   "m/y.yaml: is a symbolic link to missing.yaml, which does not exist: no such file or directory",
			isErr: fs.ErrNotExist,
		},
		{
			name: "symbolic link loop",
			setup: func(t *testing.T, dir string) {
				symlink(t, "b.yaml", "m/a.yaml")
				symlink(t, "a.yaml", "m/b.yaml")
			},
			paths: []string{"m"},
			err:   "m/a.yaml: is a symbolic link to b.yaml, which cannot be followed: too many levels of symbolic links",
		},
		{
			name: "symbolic link to a folder named like a manifest",
			setup: func(t *testing.T, dir string) {
				write(t, "d/a.yaml", gateway)
				symlink(t, "../d", "m/d.yaml")
			},
			paths: []string{"m"},
			err:   "m/d.yaml: is a symbolic link to ../d, which is a directory, not a regular file",
		},
		{
			name: "symbolic link to a regular file",
			setup: func(t *testing.T, dir string) {
				write(t, "data/gw.yaml", gateway)
				symlink(t, "../data/gw.yaml", "m/gw.yaml")
			},
			paths:   []string{"m"},
			objects: []string{"Gateway default/gw"},
		},
		{
			name: "symbolic link to a folder as the path",
			setup: func(t *testing.T, dir string) {
				write(t, "data/gw.yaml", gateway)
				symlink(t, "data", "m")
			},
			paths:   []string{"m"},
			objects: []string{"Gateway default/gw"},
		},
		{
			name: "a file over the limit per file",
			setup: func(t *testing.T, dir string) {
				write(t, "m/a.yaml", gateway)
				write(t, "m/big.yaml", big)
			},
			paths:   []string{"m"},
			maxFile: 1000,
			err:     fmt.Sprintf("m/big.yaml: is %d bytes, over the limit of 1000 bytes per file", len(big)),
		},
		{
			name:    "a file at the limit per file",
			setup:   func(t *testing.T, dir string) { write(t, "big.yaml", big) },
			paths:   []string{"big.yaml"},
			maxFile: int64(len(big)),
			objects: []string{"Service default/big"},
		},
		{
			name:    "stdin over the limit per file",
			paths:   []string{"-"},
			stdin:   big,
			maxFile: 1000,
			err:     "<stdin>: holds more than 1000 bytes, over the limit of 1000 bytes per file (it may have grown while being read)",
		},
		{
			name: "files over the limit in all",
			setup: func(t *testing.T, dir string) {
				write(t, "m/a.yaml", service("a"))
				write(t, "m/b.yaml", service("b"))
				write(t, "m/c.yaml", service("c"))
			},
			paths:    []string{"m"},
			maxTotal: int64(2*len(service("a")) + 10),
			err: fmt.Sprintf("m/c.yaml: is %d bytes, which with the %d bytes read before it is over the limit of %d bytes for all files together",
				len(service("c")), 2*len(service("a")), 2*len(service("a"))+10),
		},
		{
			name:     "files and stdin over the limit in all",
			setup:    func(t *testing.T, dir string) { write(t, "a.yaml", service("a")) },
			paths:    []string{"a.yaml", "-"},
			stdin:    service("b"),
			maxTotal: int64(len(service("a")) + 10),
			err: fmt.Sprintf("<stdin>: holds more than 10 bytes, which with the %d bytes read before it is over the limit of %d bytes for all files together",
				len(service("a")), len(service("a"))+10),
		},
		{
			name: "files at the limit in all",
			setup: func(t *testing.T, dir string) {
				write(t, "m/a.yaml", service("a"))
				write(t, "m/b.yaml", service("b"))
			},
			paths:    []string{"m", "-"},
			maxTotal: int64(2 * len(service("a"))),
			objects:  []string{"Service default/a", "Service default/b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if tt.setup != nil {
				tt.setup(t, ".")
			}
			res, err := loadWithin(t, Options{
				Paths: tt.paths, Stdin: strings.NewReader(tt.stdin),
				MaxFileBytes: tt.maxFile, MaxTotalBytes: tt.maxTotal,
			})
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got := objects(res.Snapshot); !slices.Equal(got, tt.objects) || len(res.Errors) > 0 {
					t.Errorf("objects %q, errors %v; want %q", got, res.Errors, tt.objects)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error:\n got %v\nwant %s", err, tt.err)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("error %v is not %v", err, tt.isErr)
			}
		})
	}
}

// write writes content to the file name, making its folder.
func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mkfifo makes a named pipe, and its folder.
func mkfifo(t *testing.T, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(name, 0o644); err != nil {
		t.Fatal(err)
	}
}

// symlink makes a symbolic link name to target, and its folder.
func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}
