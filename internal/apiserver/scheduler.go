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
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// defaultScheduleName is the schedule the original service's single scheduler maps to.
const defaultScheduleName = "default"

// maxIntervalMinutes keeps interval_minutes far from time.Duration's overflow.
const maxIntervalMinutes = 365 * 24 * 60

// defaultIntervalMinutes is the interval a schedule started without interval_minutes gets: the
// original service's default, which is also the CRD's.
const defaultIntervalMinutes = 5

type schedulerStartRequest struct {
	Symbols []string `json:"symbols"`
	// IntervalMinutes is nil when absent: a new schedule gets the default, an existing one keeps its own.
	IntervalMinutes *float64 `json:"interval_minutes"`
	Name            string   `json:"name"`
	Namespace       string   `json:"namespace"`
}

type scheduleRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

func (r scheduleRef) key() client.ObjectKey {
	return client.ObjectKey{Namespace: r.Namespace, Name: r.Name}
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

// startResponse is the original's {status, symbols_count, interval_minutes, cache_stats}, with the
// schedule's own status beside it.
type startResponse struct {
	Status       string              `json:"status"`
	SymbolsCount int                 `json:"symbols_count"`
	CacheStats   schedulerCacheStats `json:"cache_stats"`
	scheduleStatus
}

// schedulerStart creates or updates an AnalysisSchedule and un-suspends it: the CR stays the source
// of truth, and the API server validates the spec. Without symbols it restarts the last list.
func (s *Server) schedulerStart(w http.ResponseWriter, r *http.Request) {
	var req schedulerStartRequest
	if err := decodeOptionalBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	symbols, err := scheduleSymbols(req.Symbols)
	if err != nil {
		writeError(w, err)
		return
	}
	if m := req.IntervalMinutes; m != nil && (*m <= 0 || *m > maxIntervalMinutes) {
		writeError(w, errorf(http.StatusBadRequest, "interval_minutes must be positive and at most %d (a year)", maxIntervalMinutes))
		return
	}
	ref, err := s.patchableRef(r, req.Name, req.Namespace)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := s.upsertSchedule(r.Context(), r, ref, symbols, req.IntervalMinutes)
	if err != nil {
		writeError(w, kubeError(err))
		return
	}
	writeOK(w, startResponse{Status: "started", SymbolsCount: len(obj.Spec.Symbols), CacheStats: s.schedulerCacheStats(r),
		scheduleStatus: scheduleStatusOf(obj)})
}

// scheduleSymbols reads the symbols as the legacy routes do; a schedule cannot hold a bad one, so
// one bad symbol refuses the call. Duplicates (also after normalisation) are dropped.
func scheduleSymbols(raw []string) ([]analysisv1alpha1.Symbol, error) {
	if len(raw) > maxScheduleSymbols {
		return nil, errorf(http.StatusBadRequest, "%d symbols is more than the %d a schedule holds", len(raw), maxScheduleSymbols)
	}
	out := make([]analysisv1alpha1.Symbol, 0, len(raw))
	for _, r := range raw {
		sym, err := legacySymbol(r)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, analysisv1alpha1.Symbol(sym)) {
			out = append(out, analysisv1alpha1.Symbol(sym))
		}
	}
	return out, nil
}

// upsertSchedule creates the schedule (which needs the caller to hold "create" too) or patches it.
// It reads from the API server, not the manager's cache, and patches with the version it read: a
// cached copy can lag a stop or start sent just before, and a patch computed against it can be
// empty while the answer claims success. A conflict re-reads and tries again.
func (s *Server) upsertSchedule(ctx context.Context, r *http.Request, ref scheduleRef,
	symbols []analysisv1alpha1.Symbol, intervalMinutes *float64) (*analysisv1alpha1.AnalysisSchedule, error) {
	obj := &analysisv1alpha1.AnalysisSchedule{}
	err := retry.OnError(retry.DefaultRetry, retriable, func() error {
		*obj = analysisv1alpha1.AnalysisSchedule{}
		err := s.reader.Get(ctx, ref.key(), obj)
		switch {
		case apierrors.IsNotFound(err):
			return s.createSchedule(ctx, r, ref, symbols, intervalMinutes, obj)
		case err != nil:
			return err
		}
		base := obj.DeepCopy()
		if len(symbols) > 0 {
			obj.Spec.Symbols = symbols
			obj.Spec.TopGainers = nil // the call names the list: a schedule that followed the gainers stops
		}
		obj.Spec.Suspend = false
		if intervalMinutes != nil {
			obj.Spec.Interval = minutes(*intervalMinutes)
		}
		return s.kube.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	return obj, err
}

func (s *Server) createSchedule(ctx context.Context, r *http.Request, ref scheduleRef, symbols []analysisv1alpha1.Symbol,
	intervalMinutes *float64, obj *analysisv1alpha1.AnalysisSchedule) error {
	if len(symbols) == 0 {
		return errorf(http.StatusBadRequest, "symbols is required: schedule %s/%s does not exist yet, so there is no last list to restart",
			ref.Namespace, ref.Name)
	}
	if err := s.auth.Authorize(ctx, r, "create", ref.Namespace); err != nil {
		return err
	}
	interval := float64(defaultIntervalMinutes)
	if intervalMinutes != nil {
		interval = *intervalMinutes
	}
	*obj = analysisv1alpha1.AnalysisSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: ref.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "hama-operator-api"}},
		Spec: analysisv1alpha1.AnalysisScheduleSpec{Symbols: symbols, Interval: minutes(interval),
			Source: analysisv1alpha1.SourceSpec{Exchange: analysisv1alpha1.Exchange(s.cfg.Exchange)}},
	}
	return s.kube.Create(ctx, obj)
}

// retriable is a write that lost a race: another writer changed or created the schedule first.
func retriable(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }

func minutes(m float64) metav1.Duration {
	return metav1.Duration{Duration: time.Duration(m * float64(time.Minute))}
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

// stopResponse is the original's {status: "stopped"}, with the schedule's own status beside it.
type stopResponse struct {
	Status string `json:"status"`
	scheduleStatus
}

// schedulerStop suspends the schedule, read and patched as in upsertSchedule. The original sent no
// body; none is needed.
func (s *Server) schedulerStop(w http.ResponseWriter, r *http.Request) {
	var req schedulerStopRequest
	if err := decodeOptionalBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	ref, err := s.patchableRef(r, req.Name, req.Namespace)
	if err != nil {
		writeError(w, err)
		return
	}
	obj := &analysisv1alpha1.AnalysisSchedule{}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		*obj = analysisv1alpha1.AnalysisSchedule{}
		if err := s.reader.Get(r.Context(), ref.key(), obj); err != nil {
			return err
		}
		base := obj.DeepCopy()
		obj.Spec.Suspend = true
		return s.kube.Patch(r.Context(), obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		writeError(w, kubeError(err))
		return
	}
	writeOK(w, stopResponse{Status: "stopped", scheduleStatus: scheduleStatusOf(obj)})
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
	if o.Spec.TopGainers != nil {
		st.Symbols = o.Status.ResolvedSymbols // the gainers its last run followed
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
		"cache_stats": s.schedulerCacheStats(r), "schedules": schedules,
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
