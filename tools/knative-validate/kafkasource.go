package main

// The KafkaSource API lives in knative.dev/eventing-kafka-broker, which the Go module proxy reachable here
// refuses to serve (403, "not available"; only its v0.42.0 .info is served, not the module), so it cannot be imported. This file restates the checks that
// its sources/v1beta1 SetDefaults and Validate make (required topics and bootstrapServers, initialOffset
// and ordering values, the sink through knative.dev/pkg's own duck/v1 SourceSpec validation) plus the
// delivery rules of eventing's DeliverySpec, and words every error with knative.dev/pkg's FieldError
// helpers, so the messages read like the webhook's. Swap this for the real package once it can be fetched.

import (
	"context"
	"encoding/json"
	"regexp"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

type kafkaSource struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       kafkaSourceSpec   `json:"spec"`
	Status     json.RawMessage   `json:"status,omitempty"`
}

type kafkaSourceSpec struct {
	Consumers         *int32          `json:"consumers,omitempty"`
	BootstrapServers  []string        `json:"bootstrapServers"`
	Net               json.RawMessage `json:"net,omitempty"`
	Topics            []string        `json:"topics"`
	ConsumerGroup     string          `json:"consumerGroup,omitempty"`
	InitialOffset     string          `json:"initialOffset,omitempty"`
	Delivery          *deliverySpec   `json:"delivery,omitempty"`
	Ordering          *string         `json:"ordering,omitempty"`
	duckv1.SourceSpec `json:",inline"`
}

type deliverySpec struct {
	DeadLetterSink *duckv1.Destination `json:"deadLetterSink,omitempty"`
	Retry          *int32              `json:"retry,omitempty"`
	Timeout        *string             `json:"timeout,omitempty"`
	BackoffPolicy  *string             `json:"backoffPolicy,omitempty"`
	BackoffDelay   *string             `json:"backoffDelay,omitempty"`
	RetryAfterMax  *string             `json:"retryAfterMax,omitempty"`
	Format         *string             `json:"format,omitempty"`
}

func validateKafkaSource(doc []byte) error {
	var source kafkaSource
	if err := strictDecode(doc, &source); err != nil {
		return err
	}
	ctx := apis.WithinCreate(context.Background())
	source.setDefaults(ctx)
	return levels(source.Spec.validate(apis.WithinParent(ctx, source.Metadata)).ViaField("spec"))
}

// setDefaults: the defaults the webhook applies before validating (a generated consumer group is left
// out: a manifest without one gets a random group on every re-create, which the validation below flags).
func (s *kafkaSource) setDefaults(ctx context.Context) {
	if s.Spec.Consumers == nil {
		one := int32(1)
		s.Spec.Consumers = &one
	}
	if s.Spec.InitialOffset == "" {
		s.Spec.InitialOffset = "latest"
	}
	if s.Spec.Ordering == nil {
		ordered := "ordered"
		s.Spec.Ordering = &ordered
	}
	if s.Spec.Sink.Ref != nil && s.Spec.Sink.Ref.Namespace == "" {
		s.Spec.Sink.Ref.Namespace = s.Metadata.Namespace
	}
	if s.Spec.Delivery != nil && s.Spec.Delivery.DeadLetterSink != nil && s.Spec.Delivery.DeadLetterSink.Ref != nil &&
		s.Spec.Delivery.DeadLetterSink.Ref.Namespace == "" {
		s.Spec.Delivery.DeadLetterSink.Ref.Namespace = s.Metadata.Namespace
	}
	_ = ctx
}

func (s *kafkaSourceSpec) validate(ctx context.Context) *apis.FieldError {
	errs := s.SourceSpec.Validate(ctx)
	if len(s.Topics) == 0 {
		errs = errs.Also(apis.ErrMissingField("topics"))
	}
	if len(s.BootstrapServers) == 0 {
		errs = errs.Also(apis.ErrMissingField("bootstrapServers"))
	}
	if s.InitialOffset != "earliest" && s.InitialOffset != "latest" {
		errs = errs.Also(apis.ErrInvalidValue(s.InitialOffset, "initialOffset"))
	}
	if s.Ordering != nil && *s.Ordering != "ordered" && *s.Ordering != "unordered" {
		errs = errs.Also(apis.ErrInvalidValue(*s.Ordering, "ordering"))
	}
	if s.Consumers != nil && *s.Consumers < 1 {
		errs = errs.Also(apis.ErrOutOfBoundsValue(*s.Consumers, 1, int32(1<<30), "consumers"))
	}
	if s.Delivery != nil {
		errs = errs.Also(s.Delivery.validate(ctx).ViaField("delivery"))
	}
	return errs
}

// ISO 8601 durations as eventing accepts them for backoffDelay, timeout and retryAfterMax.
var isoDuration = regexp.MustCompile(`^P(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:[.,]\d+)?S)?)?$`)

func (d *deliverySpec) validate(ctx context.Context) *apis.FieldError {
	var errs *apis.FieldError
	if d.DeadLetterSink != nil {
		errs = errs.Also(d.DeadLetterSink.Validate(ctx).ViaField("deadLetterSink"))
	}
	if d.Retry != nil && *d.Retry < 0 {
		errs = errs.Also(apis.ErrInvalidValue(*d.Retry, "retry"))
	}
	if d.BackoffPolicy != nil && *d.BackoffPolicy != "linear" && *d.BackoffPolicy != "exponential" {
		errs = errs.Also(apis.ErrInvalidValue(*d.BackoffPolicy, "backoffPolicy"))
	}
	for field, value := range map[string]*string{"backoffDelay": d.BackoffDelay, "timeout": d.Timeout, "retryAfterMax": d.RetryAfterMax} {
		if value != nil && (*value == "P" || *value == "PT" || !isoDuration.MatchString(*value)) {
			errs = errs.Also(apis.ErrInvalidValue(*value, field))
		}
	}
	if d.Format != nil && *d.Format != "json" && *d.Format != "binary" {
		errs = errs.Also(apis.ErrInvalidValue(*d.Format, "format"))
	}
	return errs
}
