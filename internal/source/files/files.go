// Package files is the file source: it reads plain Kubernetes YAML, the
// files `kubectl apply -f` accepts, into a snapshot.Snapshot. It owns
// splitting files into documents, strict decoding into the typed objects
// hagate reads, and telling which file and document each problem is in.
package files

import (
	"bufio"
	"bytes"
	gojson "encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"hagate.io/hagate/internal/snapshot"
)

// stdinName stands for Stdin in messages.
const stdinName = "<stdin>"

// Options says what to load.
type Options struct {
	// Paths are files, directories (every *.yaml / *.yml below it,
	// recursively, in sorted path order) or "-" for Stdin, read in the
	// order given. A file named twice, directly or through a directory, is
	// read once, where it is first named.
	Paths []string
	// Stdin is read when a path is "-".
	Stdin io.Reader
}

// Result is what Load found.
type Result struct {
	// Snapshot holds every object read without error, in input order.
	// Now is left zero: the caller sets it.
	Snapshot *snapshot.Snapshot
	// Warnings are sentences about input that was skipped but is not an
	// error, such as a kind hagate does not read (a Deployment, say).
	Warnings []string
	// Errors are per-document problems: each names the file and the
	// document. The documents without errors are still in Snapshot.
	Errors []*DocError
	// Origins maps "Kind/namespace/name" (namespace empty for
	// cluster-scoped kinds) of every object in Snapshot to where it was
	// read, "file: document N", for messages.
	Origins map[string]string
}

// DocError is a problem with one document of one file.
type DocError struct {
	// File is the path the document was read from, or "<stdin>".
	File string
	// Doc is the 1-based index of the document in the file.
	Doc int
	// Err is the problem. For an item of a List it starts with the item,
	// "items[2]: ...".
	Err error
}

// Error says where the problem is and what it is, e.g.
// "manifests/gw.yaml: document 2: kind is missing".
func (e *DocError) Error() string {
	return fmt.Sprintf("%s: document %d: %v", e.File, e.Doc, e.Err)
}

// Unwrap returns Err.
func (e *DocError) Unwrap() error { return e.Err }

// Load reads every path. It returns an error (not a DocError) only when a
// path cannot be read at all (a missing file, no permission); problems
// inside documents are in Result.Errors.
func Load(opts Options) (*Result, error) {
	l := &loader{
		res:  &Result{Snapshot: &snapshot.Snapshot{}, Origins: map[string]string{}},
		read: map[string]bool{},
	}
	for _, p := range opts.Paths {
		if p == "-" {
			if l.read[p] {
				continue
			}
			l.read[p] = true
			if opts.Stdin == nil {
				return nil, errors.New(`read "-": no standard input to read`)
			}
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", stdinName, err)
			}
			l.loadFile(stdinName, data)
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			l.res.Warnings = append(l.res.Warnings, fmt.Sprintf("%s: no *.yaml or *.yml files in this directory.", p))
		}
		for _, f := range files {
			if key := filepath.Clean(f); !l.read[key] {
				l.read[key] = true
				data, err := os.ReadFile(f)
				if err != nil {
					return nil, err
				}
				l.loadFile(f, data)
			}
		}
	}
	return l.res, nil
}

// expand returns path itself when it is a file, and every *.yaml and *.yml
// file below it, sorted, when it is a directory.
func expand(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

// loader accumulates a Result.
type loader struct {
	res *Result
	// read holds the cleaned paths already read ("-" for Stdin).
	read map[string]bool
}

// location is where an object was read: a document of a file and, for an
// item of a List, its index (-1 otherwise).
type location struct {
	file string
	doc  int
	item int
}

// String is "file: document N", with ": items[K]" for an item of a List.
func (at location) String() string {
	s := fmt.Sprintf("%s: document %d", at.file, at.doc)
	if at.item >= 0 {
		s += fmt.Sprintf(": items[%d]", at.item)
	}
	return s
}

// fail records a DocError at at.
func (l *loader) fail(at location, err error) {
	if at.item >= 0 {
		err = fmt.Errorf("items[%d]: %w", at.item, err)
	}
	l.res.Errors = append(l.res.Errors, &DocError{File: at.file, Doc: at.doc, Err: err})
}

// warn records a warning sentence about at.
func (l *loader) warn(at location, format string, args ...any) {
	l.res.Warnings = append(l.res.Warnings, at.String()+": "+fmt.Sprintf(format, args...))
}

// loadFile splits data into YAML documents and loads each.
func (l *loader) loadFile(file string, data []byte) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		at := location{file: file, doc: doc, item: -1}
		raw, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			// A bad "---" line; the reader goes on after it.
			l.fail(at, err)
			continue
		}
		js, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			l.fail(at, fmt.Errorf("error converting YAML to JSON: %w", err))
			continue
		}
		l.loadJSON(at, js)
	}
}

// list is a v1 List.
type list struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ListMeta     `json:"metadata"`
	Items           []gojson.RawMessage `json:"items"`
}

// loadJSON loads one document, or one item of a List, converted to JSON.
func (l *loader) loadJSON(at location, js []byte) {
	js = bytes.TrimSpace(js)
	if len(js) == 0 || string(js) == "null" {
		return // an empty document: only comments and blanks
	}
	if js[0] != '{' {
		l.fail(at, errors.New("not a mapping: an object needs apiVersion, kind and metadata"))
		return
	}
	var h metav1.TypeMeta
	if err := json.UnmarshalCaseSensitivePreserveInts(js, &h); err != nil {
		l.fail(at, err)
		return
	}
	switch {
	case h.APIVersion == "":
		l.fail(at, errors.New("apiVersion is missing"))
		return
	case h.Kind == "":
		l.fail(at, errors.New("kind is missing"))
		return
	case h.APIVersion == "v1" && h.Kind == "List":
		if at.item >= 0 {
			l.fail(at, errors.New("a List inside a List is not supported"))
			return
		}
		var ls list
		if err := unmarshalStrict(js, &ls); err != nil {
			l.fail(at, err)
			return
		}
		for i, item := range ls.Items {
			at.item = i
			l.loadJSON(at, item)
		}
		return
	}
	group, version, ok := strings.Cut(h.APIVersion, "/")
	if !ok {
		group, version = "", h.APIVersion
	}
	k, ok := kinds[h.Kind]
	if !ok || k.group != group {
		var meta metav1.PartialObjectMetadata
		_ = json.UnmarshalCaseSensitivePreserveInts(js, &meta) // best effort: the name is only for the warning
		l.warn(at, "skipped %s %s %q: hagate does not read this kind.", h.APIVersion, h.Kind, meta.Name)
		return
	}
	if !slices.Contains(k.versions, version) {
		l.fail(at, fmt.Errorf("unsupported apiVersion %s for %s (supported: %s)", h.APIVersion, h.Kind, k.apiVersions()))
		return
	}
	obj, add, err := k.decode(js)
	if err != nil {
		l.fail(at, err)
		return
	}
	switch {
	case k.clusterScoped:
		obj.SetNamespace("") // as kubectl does
	case obj.GetNamespace() == "":
		obj.SetNamespace(metav1.NamespaceDefault)
	}
	if obj.GetName() == "" {
		l.fail(at, errors.New("metadata.name is missing"))
		return
	}
	name := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	key := h.Kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
	if first, dup := l.res.Origins[key]; dup {
		l.fail(at, fmt.Errorf("duplicate %s %s, first defined in %s", h.Kind, name, first))
		return
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: k.group, Version: k.versions[0], Kind: h.Kind})
	if s, ok := obj.(*corev1.Secret); ok {
		mergeStringData(s)
	}
	add(l.res.Snapshot)
	l.res.Origins[key] = at.String()
}

// mergeStringData moves stringData into data, stringData winning, as the
// API server does, and defaults the type to Opaque.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// unmarshalStrict decodes js into v as the API server does with
// fieldValidation=Strict: field names are case-sensitive, and unknown or
// duplicate fields are errors.
func unmarshalStrict(js []byte, v any) error {
	strict, err := json.UnmarshalStrict(js, v)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("strict decoding error: %s", strings.Join(msgs, ", "))
	}
	return nil
}

// object is what every kind hagate reads is: a typed Kubernetes object.
type object interface {
	metav1.Object
	GetObjectKind() schema.ObjectKind
}

// kind is how to read one kind.
type kind struct {
	// group is the API group; "" for the core group.
	group string
	// versions are the versions accepted; the first is the one the decoded
	// object is labelled with.
	versions []string
	// clusterScoped kinds have no namespace.
	clusterScoped bool
	// decode strictly decodes an object and returns it with a function that
	// adds it to a Snapshot.
	decode func(js []byte) (object, func(*snapshot.Snapshot), error)
}

// apiVersions lists the accepted apiVersions for messages.
func (k kind) apiVersions() string {
	vs := make([]string, len(k.versions))
	for i, v := range k.versions {
		vs[i] = schema.GroupVersion{Group: k.group, Version: v}.String()
	}
	return strings.Join(vs, ", ")
}

// typed returns a kind.decode for type T; slice picks the Snapshot slice
// the object is appended to.
func typed[T any, P interface {
	*T
	object
}](slice func(*snapshot.Snapshot) *[]P) func([]byte) (object, func(*snapshot.Snapshot), error) {
	return func(js []byte) (object, func(*snapshot.Snapshot), error) {
		obj := P(new(T))
		if err := unmarshalStrict(js, obj); err != nil {
			return nil, nil, err
		}
		return obj, func(s *snapshot.Snapshot) { *slice(s) = append(*slice(s), obj) }, nil
	}
}

// gatewayGroup is the Gateway API group. Its v1beta1, v1alpha2 and
// v1alpha3 kinds have the JSON shape of v1 for the fields hagate reads, so
// all are decoded into the v1 types.
const gatewayGroup = gwapiv1.GroupName

// kinds are the kinds hagate reads, by kind. Each belongs to one group, so
// kind, namespace and name identify an object.
var kinds = map[string]kind{
	"GatewayClass": {
		group: gatewayGroup, versions: []string{"v1", "v1beta1"}, clusterScoped: true,
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.GatewayClass { return &s.GatewayClasses }),
	},
	"Gateway": {
		group: gatewayGroup, versions: []string{"v1", "v1beta1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.Gateway { return &s.Gateways }),
	},
	"HTTPRoute": {
		group: gatewayGroup, versions: []string{"v1", "v1beta1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.HTTPRoute { return &s.HTTPRoutes }),
	},
	"GRPCRoute": {
		group: gatewayGroup, versions: []string{"v1", "v1alpha2"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.GRPCRoute { return &s.GRPCRoutes }),
	},
	"TLSRoute": {
		group: gatewayGroup, versions: []string{"v1", "v1alpha2", "v1alpha3"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.TLSRoute { return &s.TLSRoutes }),
	},
	"BackendTLSPolicy": {
		group: gatewayGroup, versions: []string{"v1", "v1alpha3"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.BackendTLSPolicy { return &s.BackendTLSPolicies }),
	},
	"ReferenceGrant": {
		group: gatewayGroup, versions: []string{"v1", "v1beta1", "v1alpha2"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.ReferenceGrant { return &s.ReferenceGrants }),
	},
	"Secret": {
		group: corev1.GroupName, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*corev1.Secret { return &s.Secrets }),
	},
	"ConfigMap": {
		group: corev1.GroupName, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*corev1.ConfigMap { return &s.ConfigMaps }),
	},
	"Service": {
		group: corev1.GroupName, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*corev1.Service { return &s.Services }),
	},
	"Namespace": {
		group: corev1.GroupName, versions: []string{"v1"}, clusterScoped: true,
		decode: typed(func(s *snapshot.Snapshot) *[]*corev1.Namespace { return &s.Namespaces }),
	},
	"EndpointSlice": {
		group: discoveryv1.GroupName, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*discoveryv1.EndpointSlice { return &s.EndpointSlices }),
	},
}
