package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/live"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// Streams runs the WebSocket streams of stream-mode schedules; live.Manager implements it.
type Streams interface {
	// Sync starts or updates the schedule's stream and resyncs it: its runs.
	Sync(ctx context.Context, job refresh.Job) (refresh.Report, error)
	Stop(schedule string)
	Status(schedule string) (live.Status, bool)
}

// Reasons of the Streaming condition.
const (
	ReasonStreamConnected    = "Connected"
	ReasonStreamConnecting   = "Connecting"
	ReasonStreamReconnecting = "Reconnecting"
)

// scheduleKey names a schedule as its refresh job and its stream do: "namespace/name".
func scheduleKey(obj *analysisv1alpha1.AnalysisSchedule) string {
	return obj.Namespace + "/" + obj.Name
}

// StreamChanged asks for a reconcile of schedule ("namespace/name") so that its status shows a
// change of its stream's connections. It never blocks; the queue merges repeated requests.
func (r *AnalysisScheduleReconciler) StreamChanged(schedule string) {
	ns, name, ok := strings.Cut(schedule, "/")
	if !ok || r.streamEvents == nil {
		return
	}
	obj := &analysisv1alpha1.AnalysisSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	select {
	case r.streamEvents <- event.GenericEvent{Object: obj}:
	default: // a reconcile is queued already, or will be at the next run
	}
}

// stopStream ends a schedule's stream (suspended, back to poll mode, deleted) and clears its status.
func (r *AnalysisScheduleReconciler) stopStream(obj *analysisv1alpha1.AnalysisSchedule) {
	if r.Streams != nil {
		r.Streams.Stop(scheduleKey(obj))
	}
	obj.Status.Stream = nil
	meta.RemoveStatusCondition(&obj.Status.Conditions, analysisv1alpha1.ConditionStreaming)
}

// showStream writes the stream's health into the status: the Streaming condition and status.stream.
func (r *AnalysisScheduleReconciler) showStream(obj *analysisv1alpha1.AnalysisSchedule) {
	st, ok := r.Streams.Status(scheduleKey(obj))
	if !ok {
		obj.Status.Stream = nil
		setCondition(obj, analysisv1alpha1.ConditionStreaming, metav1.ConditionFalse, ReasonStreamConnecting,
			"the stream starts with the first run: backfill over REST, then the exchange's kline streams")
		return
	}
	s := &analysisv1alpha1.StreamStatus{
		Connections: int32(st.Connections), Streams: int32(st.Streams),
		Reconnects: st.Reconnects, GapsHealed: st.GapsHealed,
	}
	if !st.LastMessage.IsZero() {
		s.LastMessageTime = &metav1.Time{Time: st.LastMessage.Truncate(time.Second)}
	}
	if !st.LastClose.IsZero() {
		s.LastCloseTime = &metav1.Time{Time: st.LastClose.Truncate(time.Second)}
		s.LastLag = &metav1.Duration{Duration: st.LastLag.Round(time.Millisecond)}
	}
	obj.Status.Stream = s
	switch {
	case st.Connections >= st.WantConnections && st.WantConnections > 0:
		setCondition(obj, analysisv1alpha1.ConditionStreaming, metav1.ConditionTrue, ReasonStreamConnected, fmt.Sprintf(
			"%d streams on %d connections", st.Streams, st.Connections))
	case st.Reconnects > 0:
		setCondition(obj, analysisv1alpha1.ConditionStreaming, metav1.ConditionFalse, ReasonStreamReconnecting, fmt.Sprintf(
			"%d of %d connections open after %d reconnects; candles missed meanwhile are fetched over REST",
			st.Connections, st.WantConnections, st.Reconnects))
	default:
		setCondition(obj, analysisv1alpha1.ConditionStreaming, metav1.ConditionFalse, ReasonStreamConnecting, fmt.Sprintf(
			"%d of %d connections open", st.Connections, st.WantConnections))
	}
}
