// kstatus reads Kubernetes objects as JSON (one object, or a List such as
// `kubectl get -o json` prints) on stdin and prints, per object, the status
// that sigs.k8s.io/cli-utils/pkg/kstatus computes (the health Argo CD and Flux
// read): "<kind>/<name> <Status> <message>". Exit code 0 when every object is
// Current, 1 otherwise, 2 on unreadable input.
package main

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	// The unstructured JSON scheme keeps integers int64, as kstatus expects of metadata.generation.
	decoded, err := runtime.Decode(unstructured.UnstructuredJSONScheme, input)
	if err != nil {
		fail(fmt.Errorf("stdin is not a Kubernetes object in JSON: %w", err))
	}
	var objects []unstructured.Unstructured
	switch o := decoded.(type) {
	case *unstructured.Unstructured:
		objects = []unstructured.Unstructured{*o}
	case *unstructured.UnstructuredList:
		objects = o.Items
	default:
		fail(fmt.Errorf("stdin holds a %T, not an object or a list", decoded))
	}
	allCurrent := true
	for i := range objects {
		result, err := status.Compute(&objects[i])
		if err != nil {
			fail(fmt.Errorf("%s/%s: %w", objects[i].GetKind(), objects[i].GetName(), err))
		}
		fmt.Printf("%s/%s %s %s\n", objects[i].GetKind(), objects[i].GetName(), result.Status, result.Message)
		allCurrent = allCurrent && result.Status == status.CurrentStatus
	}
	if !allCurrent {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kstatus:", err)
	os.Exit(2)
}
