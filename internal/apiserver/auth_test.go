package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// reviewServer answers TokenReviews and SubjectAccessReviews over HTTP as kube-apiserver does:
// tokens "good" and "limited" are valid, anything else is refused with the API server's message;
// "good" may do anything on analysisschedules (when its Extra arrived), "limited" nothing. While
// refuse is set, both reviews fail as they do when the operator lacks system:auth-delegator.
type reviewServer struct {
	tokenReviews, accessReviews atomic.Int32
	refuse                      atomic.Bool
}

func (s *reviewServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.refuse.Load() {
		status := apierrors.NewForbidden(schema.GroupResource{Group: "authentication.k8s.io", Resource: "tokenreviews"},
			"", errors.New("the operator may not create reviews")).Status()
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(status)
		return
	}
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		s.tokenReviews.Add(1)
		var tr authnv1.TokenReview
		_ = json.NewDecoder(r.Body).Decode(&tr)
		switch tr.Spec.Token {
		case "good", "limited":
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{
				Username: tr.Spec.Token, Extra: map[string]authnv1.ExtraValue{"scopes": {"a"}}}}
		default:
			tr.Status = authnv1.TokenReviewStatus{Error: "[invalid bearer token, token lookup failed]"}
		}
		_ = json.NewEncoder(w).Encode(tr)
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		s.accessReviews.Add(1)
		var sar authzv1.SubjectAccessReview
		_ = json.NewDecoder(r.Body).Decode(&sar)
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "good" && ra != nil && ra.Group == "analysis.hama-operator.io" &&
			ra.Resource == "analysisschedules" && len(sar.Spec.Extra["scopes"]) == 1
		_ = json.NewEncoder(w).Encode(sar)
	default:
		http.NotFound(w, r)
	}
}

func (s *reviewServer) counts() (int32, int32) { return s.tokenReviews.Load(), s.accessReviews.Load() }

func kubeAuthorizerFor(t *testing.T, url string) *KubeAuthorizer {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: url, QPS: -1}) // no client-side throttling: the reviews are what is counted
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewKubeAuthorizer(cs)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func bearer(token string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	if token != "" {
		r.Header.Set("Authorization", "bearer "+token)
	}
	return r
}

func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	if err == nil {
		return http.StatusOK
	}
	return -1
}

func TestKubeAuthorizerMapsReviewsToStatusesAndCachesThem(t *testing.T) {
	srv := &reviewServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	a := kubeAuthorizerFor(t, ts.URL)
	ctx := context.Background()

	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"bogus", 401}, {"limited", 403}, {"good", 200}} {
		if got := statusOf(a.Authorize(ctx, bearer(c.token), "update", "ns")); got != c.want {
			t.Errorf("token %q: status %d, want %d", c.token, got, c.want)
		}
	}
	if tr, sar := srv.counts(); tr != 3 || sar != 2 {
		t.Fatalf("reviews: %d token, %d access; want 3 and 2 (no review without a token)", tr, sar)
	}
	for range 5 {
		if err := a.Authorize(ctx, bearer("good"), "update", "ns"); err != nil {
			t.Fatal(err)
		}
		if got := statusOf(a.Authorize(ctx, bearer("limited"), "update", "ns")); got != 403 {
			t.Fatalf("cached denial = %d, want 403", got)
		}
	}
	if tr, sar := srv.counts(); tr != 3 || sar != 2 {
		t.Errorf("repeated calls reviewed again: %d token, %d access reviews", tr, sar)
	}
	if err := a.Authorize(ctx, bearer("good"), "create", "other"); err != nil {
		t.Errorf("good may create in another namespace: %v", err)
	}
	if _, sar := srv.counts(); sar != 3 {
		t.Errorf("another verb and namespace must be reviewed on its own: %d access reviews, want 3", sar)
	}

	srv.refuse.Store(true)
	if got := statusOf(a.Authorize(ctx, bearer("fresh"), "update", "ns")); got != http.StatusServiceUnavailable {
		t.Errorf("token review refused = %d, want 503 (the server's problem, not the caller's)", got)
	}
	if got := statusOf(a.Authorize(ctx, bearer("good"), "delete", "ns")); got != http.StatusServiceUnavailable {
		t.Errorf("access review refused = %d, want 503", got)
	}
	srv.refuse.Store(false)
	if got := statusOf(a.Authorize(ctx, bearer("fresh"), "update", "ns")); got != 401 {
		t.Errorf("after a failed review the next call reviews again: status %d, want 401", got)
	}
	if tr, _ := srv.counts(); tr != 4 {
		t.Errorf("%d answered token reviews, want 4 (the refused one is not cached)", tr)
	}
}

// One authorizer serves every request of the server: many callers at once, with the race detector
// on (make test), get their own answers, and the cached answers keep the reviews far fewer than the
// calls.
func TestKubeAuthorizerServesConcurrentCallers(t *testing.T) {
	srv := &reviewServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	a := kubeAuthorizerFor(t, ts.URL)
	want := map[string]int{"good": 200, "limited": 403, "bogus": 401}
	const goroutines, calls = 16, 30
	var wg sync.WaitGroup
	errs := make(chan string, goroutines*calls)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				token := []string{"good", "limited", "bogus"}[(g+i)%3]
				if got := statusOf(a.Authorize(context.Background(), bearer(token), "update", "ns")); got != want[token] {
					errs <- fmt.Sprintf("token %q: status %d, want %d", token, got, want[token])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if tr, sar := srv.counts(); int(tr+sar) >= goroutines*calls/4 {
		t.Errorf("%d token and %d access reviews for %d calls: the answers were not cached", tr, sar, goroutines*calls)
	}
}

func TestKubeAuthorizerLeavesTheRequestAsItWas(t *testing.T) {
	ts := httptest.NewServer(&reviewServer{})
	defer ts.Close()
	a := kubeAuthorizerFor(t, ts.URL)
	r := bearer("good")
	for _, verb := range []string{"patch", "create"} {
		if err := a.Authorize(context.Background(), r, verb, "ns"); err != nil {
			t.Fatalf("%s: %v (scheduler/start authorises one request twice)", verb, err)
		}
	}
}

func TestKubeAuthorizerUnreachableAPIServerIs503(t *testing.T) {
	ts := httptest.NewServer(&reviewServer{})
	a := kubeAuthorizerFor(t, ts.URL)
	ts.Close()
	if got := statusOf(a.Authorize(context.Background(), bearer("good"), "update", "ns")); got != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", got)
	}
}
