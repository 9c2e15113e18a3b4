package apiserver

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// reviewingClientset answers TokenReviews for "good" and "limited" and SubjectAccessReviews that
// allow good everything and limited nothing, counting the calls.
func reviewingClientset(tokenReviews, accessReviews *int, fail *bool) *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*tokenReviews++
		if *fail {
			return true, nil, errors.New("apiserver unreachable")
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview).DeepCopy()
		switch tr.Spec.Token {
		case "good", "limited":
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: tr.Spec.Token,
				Extra: map[string]authnv1.ExtraValue{"scopes": {"a"}}}}
		}
		return true, tr, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*accessReviews++
		sar := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview).DeepCopy()
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "good" && ra.Group == "analysis.hama-operator.io" &&
			ra.Resource == "analysisschedules" && sar.Spec.Extra["scopes"][0] == "a"
		return true, sar, nil
	})
	return cs
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
	var tokenReviews, accessReviews int
	var fail bool
	a := &KubeAuthorizer{Client: reviewingClientset(&tokenReviews, &accessReviews, &fail), TTL: time.Hour}
	ctx := context.Background()

	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"bogus", 401}, {"limited", 403}, {"good", 200}} {
		if got := statusOf(a.Authorize(ctx, bearer(c.token), "update", "ns")); got != c.want {
			t.Errorf("token %q: status %d, want %d", c.token, got, c.want)
		}
	}
	if tokenReviews != 3 || accessReviews != 2 {
		t.Fatalf("reviews: %d token, %d access; want 3 and 2 (no review without a token)", tokenReviews, accessReviews)
	}
	for range 5 {
		if err := a.Authorize(ctx, bearer("good"), "update", "ns"); err != nil {
			t.Fatal(err)
		}
		if got := statusOf(a.Authorize(ctx, bearer("limited"), "update", "ns")); got != 403 {
			t.Fatalf("cached denial = %d, want 403", got)
		}
	}
	if tokenReviews != 3 || accessReviews != 2 {
		t.Errorf("repeated calls reviewed again: %d token, %d access reviews", tokenReviews, accessReviews)
	}
	if err := a.Authorize(ctx, bearer("good"), "create", "other"); err != nil || accessReviews != 3 {
		t.Errorf("another verb and namespace must be reviewed on its own: err %v, %d access reviews", err, accessReviews)
	}

	fail = true
	if got := statusOf(a.Authorize(ctx, bearer("fresh"), "update", "ns")); got != http.StatusServiceUnavailable {
		t.Errorf("review failure = %d, want 503 (the server's problem, not the caller's)", got)
	}
	fail = false
	if got := statusOf(a.Authorize(ctx, bearer("fresh"), "update", "ns")); got != 401 || tokenReviews != 5 {
		t.Errorf("after a failed review the next call reviews again: status %d, %d token reviews", got, tokenReviews)
	}
}

func TestKubeAuthorizerForgetsAfterTTL(t *testing.T) {
	var tokenReviews, accessReviews int
	var fail bool
	a := &KubeAuthorizer{Client: reviewingClientset(&tokenReviews, &accessReviews, &fail), TTL: time.Millisecond}
	for range 2 {
		if err := a.Authorize(context.Background(), bearer("good"), "update", "ns"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if tokenReviews != 2 {
		t.Errorf("%d token reviews after the TTL passed, want 2", tokenReviews)
	}
}
