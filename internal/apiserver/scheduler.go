package apiserver

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// defaultScheduleName is the schedule the original service's single scheduler maps to.
const defaultScheduleName = "default"

// maxIntervalMinutes keeps interval_minutes far from time.Duration's overflow.
const maxIntervalMinutes = 365 * 24 * 60

type schedulerStartRequest struct {
	Symbols         []string `json:"symbols"`
	IntervalMinutes float64  `json:"interval_minutes"`
	Name            string   `json:"name"`
	Namespace       string   `json:"namespace"`
}

type scheduleRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

func (s *Server) ref(name, namespace string) scheduleRef {
	if name == "" {
		name = defaultScheduleName
	}
	if namespace == "" {
		namespace = s.cfg.Namespace
	}
	return scheduleRef{Name: name, Namespace: namespace}
}

// schedulerStart creates or updates an AnalysisSchedule and un-suspends it: the CR stays the source
// of truth, and the API server validates the spec.
func (s *Server) schedulerStart(w http.ResponseWriter, r *http.Request) {
	var req schedulerStartRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := validateSymbols(req.Symbols, maxScheduleSymbols); err != nil {
		writeError(w, err)
		return
	}
	if req.IntervalMinutes < 0 || req.IntervalMinutes > maxIntervalMinutes {
		writeError(w, errorf(http.StatusBadRequest, "interval_minutes must be positive and at most %d (a year)", maxIntervalMinutes))
		return
	}
	ref, err := s.patchableRef(r, req.Name, req.Namespace)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := s.upsertSchedule(r.Context(), r, ref, req)
	if err != nil {
		writeError(w, kubeError(err))
		return
	}
	writeOK(w, scheduleStatusOf(obj))
}

// upsertSchedule creates the schedule (which needs the caller to hold "create" too) or patches it.
func (s *Server) upsertSchedule(ctx context.Context, r *http.Request, ref scheduleRef, req schedulerStartRequest) (*analysisv1alpha1.AnalysisSchedule, error) {
	symbols := make([]analysisv1alpha1.Symbol, len(req.Symbols))
	for i, sym := range req.Symbols {
		symbols[i] = analysisv1alpha1.Symbol(sym)
	}
	obj := &analysisv1alpha1.AnalysisSchedule{}
	err := s.kube.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		if err := s.auth.Authorize(ctx, r, "create", ref.Namespace); err != nil {
			return nil, err
		}
		obj = &analysisv1alpha1.AnalysisSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: ref.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "hama-operator-api"}},
			Spec: analysisv1alpha1.AnalysisScheduleSpec{Symbols: symbols},
		}
		if req.IntervalMinutes > 0 {
			obj.Spec.Interval = metav1.Duration{Duration: time.Duration(req.IntervalMinutes * float64(time.Minute))}
		}
		return obj, s.kube.Create(ctx, obj)
	case err != nil:
		return nil, err
	}
	patch := client.MergeFrom(obj.DeepCopy())
	obj.Spec.Symbols = symbols
	obj.Spec.Suspend = false
	if req.IntervalMinutes > 0 {
		obj.Spec.Interval = metav1.Duration{Duration: time.Duration(req.IntervalMinutes * float64(time.Minute))}
	}
	return obj, s.kube.Patch(ctx, obj, patch)
}

type schedulerStopRequest struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// patchableRef resolves the schedule a scheduler call names and checks that the caller may patch it.
func (s *Server) patchableRef(r *http.Request, name, namespace string) (scheduleRef, error) {
	ref := s.ref(name, namespace)
	if err := validateRef(ref); err != nil {
		return scheduleRef{}, err
	}
	return ref, s.auth.Authorize(r.Context(), r, "patch", ref.Namespace)
}

func (s *Server) schedulerStop(w http.ResponseWriter, r *http.Request) {
	var req schedulerStopRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	ref, err := s.patchableRef(r, req.Name, req.Namespace)
	if err != nil {
		writeError(w, err)
		return
	}
	obj := &analysisv1alpha1.AnalysisSchedule{}
	if err := s.kube.Get(r.Context(), client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj); err != nil {
		writeError(w, kubeError(err))
		return
	}
	patch := client.MergeFrom(obj.DeepCopy())
	obj.Spec.Suspend = true
	if err := s.kube.Patch(r.Context(), obj, patch); err != nil {
		writeError(w, kubeError(err))
		return
	}
	writeOK(w, scheduleStatusOf(obj))
}

type scheduleStatus struct {
	Name            string                           `json:"name"`
	Namespace       string                           `json:"namespace"`
	Suspended       bool                             `json:"suspended"`
	Ready           bool                             `json:"ready"`
	Reason          string                           `json:"reason,omitempty"`
	Message         string                           `json:"message,omitempty"`
	Symbols         []analysisv1alpha1.Symbol        `json:"symbols"`
	IntervalMinutes float64                          `json:"interval_minutes"`
	LastRunTime     *metav1.Time                     `json:"last_run_time,omitempty"`
	NextRunTime     *metav1.Time                     `json:"next_run_time,omitempty"`
	Counts          analysisv1alpha1.SymbolCounts    `json:"counts"`
	FailedSymbols   []analysisv1alpha1.SymbolFailure `json:"failed_symbols,omitempty"`
}

func scheduleStatusOf(o *analysisv1alpha1.AnalysisSchedule) scheduleStatus {
	st := scheduleStatus{
		Name: o.Name, Namespace: o.Namespace, Suspended: o.Spec.Suspend, Symbols: o.Spec.Symbols,
		IntervalMinutes: o.Spec.Interval.Minutes(), LastRunTime: o.Status.LastRunTime, NextRunTime: o.Status.NextRunTime,
		Counts: o.Status.Symbols, FailedSymbols: o.Status.FailedSymbols,
	}
	if c := meta.FindStatusCondition(o.Status.Conditions, analysisv1alpha1.ConditionReady); c != nil {
		st.Ready, st.Reason, st.Message = c.Status == metav1.ConditionTrue, c.Reason, c.Message
	}
	return st
}

// schedules lists the schedules of the request's ?namespace= (absent: every namespace), sorted,
// once the caller may list there.
func (s *Server) schedules(r *http.Request) ([]scheduleStatus, error) {
	namespace, err := s.listScope(r)
	if err != nil {
		return nil, err
	}
	var list analysisv1alpha1.AnalysisScheduleList
	if err := s.kube.List(r.Context(), &list, client.InNamespace(namespace)); err != nil {
		return nil, kubeError(err)
	}
	out := make([]scheduleStatus, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, scheduleStatusOf(&list.Items[i]))
	}
	slices.SortFunc(out, func(a, b scheduleStatus) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// listScope reads ?namespace= (absent: every namespace) and checks the caller may list there
// when reads need a token.
func (s *Server) listScope(r *http.Request) (string, error) {
	ns := r.URL.Query().Get("namespace")
	if ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return "", errorf(http.StatusBadRequest, "namespace %.70q: %s", ns, strings.Join(errs, "; "))
		}
	}
	if s.cfg.AuthReads {
		return ns, s.auth.Authorize(r.Context(), r, "list", ns)
	}
	return ns, nil
}

// validateRef refuses names the API server would refuse, before anything is authorised or sent.
func validateRef(ref scheduleRef) error {
	if errs := validation.IsDNS1123Subdomain(ref.Name); len(errs) > 0 {
		return errorf(http.StatusBadRequest, "name %.260q: %s", ref.Name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(ref.Namespace); len(errs) > 0 {
		return errorf(http.StatusBadRequest, "namespace %.70q: %s", ref.Namespace, strings.Join(errs, "; "))
	}
	return nil
}

// schedulerStatus reads the CRs: the operator's scheduler is running while any schedule is active.
func (s *Server) schedulerStatus(w http.ResponseWriter, r *http.Request) {
	schedules, err := s.schedules(r)
	if err != nil {
		writeError(w, err)
		return
	}
	stats, err := s.statsResponse(r)
	if err != nil {
		writeError(w, err)
		return
	}
	running, interval := false, 0.0
	symbols := map[analysisv1alpha1.Symbol]bool{}
	for _, sc := range schedules {
		if sc.Suspended {
			continue
		}
		running = true
		if interval == 0 || sc.IntervalMinutes < interval {
			interval = sc.IntervalMinutes
		}
		for _, sym := range sc.Symbols {
			symbols[sym] = true
		}
	}
	writeOK(w, map[string]any{
		"running": running, "symbols_count": len(symbols), "interval_minutes": interval,
		"cache_stats": stats, "schedules": schedules,
	})
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) {
	schedules, err := s.schedules(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeOK(w, map[string]any{"schedules": schedules})
}

// kubeError turns an API server answer into the status the client should see: a rejected spec is
// the client's mistake (422 with the server's message), a missing schedule a 404.
func kubeError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := int(status.Status().Code)
		if code >= 400 && code < 500 {
			return errorf(code, "%s", status.Status().Message)
		}
	}
	return errorf(http.StatusBadGateway, "kubernetes API: %v", err)
}
