/*
Copyright 2026 The hama-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SignalEvent is a kind of signal event, as the signal history records it.
// +kubebuilder:validation:Enum=crossUp;crossDown;colorFlip;squeezeStart;squeezeEnd
type SignalEvent string

// ProviderType names how a SignalAlert delivers.
// +kubebuilder:validation:Enum=webhook;slack;discord;email
type ProviderType string

// Provider types.
const (
	ProviderWebhook ProviderType = "webhook"
	ProviderSlack   ProviderType = "slack"
	ProviderDiscord ProviderType = "discord"
	ProviderEmail   ProviderType = "email"
)

// SecretReference names a Secret in the alert's namespace.
type SecretReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// NotificationProvider says where notifications go. Everything secret, the address included, is in
// the Secret.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef)",message="provider.secretRef must name a Secret in the alert's namespace holding the provider's address (and token, hmacKey or email credentials)"
type NotificationProvider struct {
	// type of the receiver: webhook (generic JSON), slack, discord (their incoming webhooks) or email.
	Type ProviderType `json:"type"`

	// secretRef names the Secret holding address (the URL, or smtp://host:port for email) and,
	// optionally, token (a bearer token), hmacKey (signs webhook bodies), and for email username,
	// password, from and to (comma-separated).
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// timeout of one delivery attempt.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m))+$') && duration(self) >= duration('1s') && duration(self) <= duration('5m')",message="timeout must be a duration from 1s to 5m, like 10s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SignalAlertSpec selects signal events and names the receiver they are delivered to.
// +kubebuilder:validation:XValidation:rule="!(has(self.schedules) && has(self.scheduleSelector))",message="set at most one of schedules (names) and scheduleSelector (labels); neither selects every schedule in the namespace"
type SignalAlertSpec struct {
	// schedules are names of AnalysisSchedules in this namespace; an event matches when it was found
	// for one of them or for a symbol one of them covers. Empty (and no scheduleSelector): every
	// schedule in the namespace.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Schedules []string `json:"schedules,omitempty"`

	// scheduleSelector selects AnalysisSchedules of this namespace by label instead of by name.
	// +optional
	ScheduleSelector *metav1.LabelSelector `json:"scheduleSelector,omitempty"`

	// symbols keeps only events of these symbols; empty keeps all.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=set
	// +optional
	Symbols []Symbol `json:"symbols,omitempty"`

	// timeframes keeps only events on these candle intervals; empty keeps all.
	// +kubebuilder:validation:MaxItems=15
	// +listType=set
	// +optional
	Timeframes []Timeframe `json:"timeframes,omitempty"`

	// events are the kinds of signal event to deliver.
	// +kubebuilder:default={"crossUp","crossDown"}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	// +listType=set
	// +optional
	Events []SignalEvent `json:"events,omitempty"`

	// cooldown is the least time between two notifications of the same symbol, timeframe and event
	// kind; events inside it are not delivered. 0 (the default) delivers every event.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-')",message="cooldown must not be negative: use 0s for none, or a duration like 15m"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('-') || (self.matches('^(0|([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+)$') && duration(self) <= duration('168h'))",message="cooldown must be a duration of at most 168h, like 0s, 30s, 15m or 4h"
	// +optional
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`

	// suspend stops deliveries; events found meanwhile are not delivered later.
	// +kubebuilder:default=false
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// provider is the receiver.
	Provider NotificationProvider `json:"provider"`
}

// DeliveryCounts count notifications since the alert was created.
type DeliveryCounts struct {
	// sent counts notifications the receiver accepted.
	// +optional
	Sent int64 `json:"sent,omitempty"`
	// failed counts notifications given up: refused by the receiver, or not accepted before the
	// retries ran out.
	// +optional
	Failed int64 `json:"failed,omitempty"`
}

// SignalAlertStatus is what the operator observed.
type SignalAlertStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastDeliveryTime is when the receiver last accepted a notification.
	// +optional
	LastDeliveryTime *metav1.Time `json:"lastDeliveryTime,omitempty"`

	// deliveries counts notifications sent and failed.
	// +optional
	Deliveries DeliveryCounts `json:"deliveries,omitempty"`
}

// SignalAlert delivers signal events (crosses, colour flips, squeezes) of AnalysisSchedules to a
// webhook, Slack, Discord or email, each event once.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=salert,categories=hama
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider.type`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Sent",type=integer,JSONPath=`.status.deliveries.sent`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.deliveries.failed`
// +kubebuilder:printcolumn:name="Last Delivery",type=date,JSONPath=`.status.lastDeliveryTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SignalAlert struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SignalAlertSpec   `json:"spec"`
	Status SignalAlertStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions; with SetConditions it lets one helper set the
// conditions of every kind.
func (o *SignalAlert) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *SignalAlert) SetConditions(conditions []metav1.Condition) {
	o.Status.Conditions = conditions
}

// SignalAlertList is a list of SignalAlerts.
// +kubebuilder:object:root=true
type SignalAlertList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SignalAlert `json:"items"`
}
