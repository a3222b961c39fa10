package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

type result struct {
	name string
	err  error
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// validateDocuments checks every Knative Service and KafkaSource of a multi-document YAML stream and
// ignores other kinds (Kubernetes itself validates those when they are applied).
func validateDocuments(data []byte) ([]result, error) {
	reader := yaml.NewYAMLReader(bufioReader(data))
	var results []result
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return results, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		jsonDoc, err := sigsyaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("not YAML: %w", err)
		}
		var meta typeMeta
		if err := json.Unmarshal(jsonDoc, &meta); err != nil {
			return nil, fmt.Errorf("not a Kubernetes object: %w", err)
		}
		name := meta.Kind + "/" + meta.Metadata.Name
		switch {
		case meta.APIVersion == "serving.knative.dev/v1" && meta.Kind == "Service":
			results = append(results, result{name, validateService(jsonDoc)})
		case meta.APIVersion == "sources.knative.dev/v1beta1" && meta.Kind == "KafkaSource":
			results = append(results, result{name, validateKafkaSource(jsonDoc)})
		}
	}
}

// validateService is what the Serving webhook does on create: strict decoding (unknown fields are
// rejected), SetDefaults, then Validate, with Knative's default config (config-features, config-autoscaler).
func validateService(doc []byte) error {
	var svc servingv1.Service
	if err := strictDecode(doc, &svc); err != nil {
		return err
	}
	ctx := apis.WithinCreate(context.Background())
	svc.SetDefaults(ctx)
	return levels(svc.Validate(ctx))
}

// levels keeps Knative's error-level findings as the error; warning-level ones (which the webhook returns
// as admission warnings) fail this project's manifests too, but only after the errors, and marked.
func levels(fe *apis.FieldError) error {
	if fe == nil {
		return nil
	}
	if errs := fe.Filter(apis.ErrorLevel); errs != nil {
		return errs
	}
	if warnings := fe.Filter(apis.WarningLevel); warnings != nil {
		return fmt.Errorf("warning (this project allows none): %w", warnings)
	}
	return nil
}

func strictDecode(doc []byte, into any) error {
	decoder := json.NewDecoder(bytes.NewReader(doc))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(into); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	return nil
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !strings.HasPrefix(strings.TrimSpace(string(line)), "#") {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func bufioReader(data []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(data)) }
