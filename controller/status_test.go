package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestMergeEntriesKeepsOtherControllersAndTransitionTimes(t *testing.T) {
	old := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	cur := []gwapiv1.RouteParentStatus{
		{ParentRef: gwapiv1.ParentReference{Name: "theirs"}, ControllerName: "example.net/other",
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, LastTransitionTime: old}}},
		{ParentRef: gwapiv1.ParentReference{Name: "gw"}, ControllerName: "hagate.io/gateway-controller",
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: old},
				{Type: "ResolvedRefs", Status: metav1.ConditionTrue, LastTransitionTime: old}}},
		{ParentRef: gwapiv1.ParentReference{Name: "gone"}, ControllerName: "hagate.io/gateway-controller"},
	}
	want := []gwapiv1.RouteParentStatus{
		{ParentRef: gwapiv1.ParentReference{Name: "gw"}, ControllerName: "hagate.io/gateway-controller",
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "new words"},
				{Type: "ResolvedRefs", Status: metav1.ConditionFalse, Reason: "BackendNotFound"}}},
	}
	got := mergeEntries(parents, cur, want, "hagate.io/gateway-controller", now, nil)
	if len(got) != 2 || got[0].ParentRef.Name != "theirs" || got[1].ParentRef.Name != "gw" {
		t.Fatalf("entries = %+v, want theirs kept, gone removed, gw replaced", got)
	}
	if !got[0].Conditions[0].LastTransitionTime.Equal(&old) {
		t.Error("another controller's entry was changed")
	}
	c := got[1].Conditions
	if !c[0].LastTransitionTime.Equal(&old) {
		t.Error("an unchanged condition status lost its lastTransitionTime")
	}
	if !c[1].LastTransitionTime.Equal(&now) {
		t.Error("a changed condition status kept its old lastTransitionTime")
	}
	if !hasOurs(parents, cur, "hagate.io/gateway-controller") || hasOurs(parents, cur[:1], "hagate.io/gateway-controller") {
		t.Error("hasOurs")
	}
	// Serving one Gateway (gw), the entries about other Gateways stay.
	only := func(ref gwapiv1.ParentReference) bool { return ref.Name == "gw" }
	got = mergeEntries(parents, cur, want, "hagate.io/gateway-controller", now, only)
	if len(got) != 3 || got[1].ParentRef.Name != "gone" {
		t.Errorf("with --gateway, another Gateway's entry was dropped: %+v", got)
	}
}
