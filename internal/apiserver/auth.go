package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
)

// Authorizer decides whether a request may act on AnalysisSchedules with verb in namespace.
type Authorizer interface {
	Authorize(ctx context.Context, r *http.Request, verb, namespace string) error
}

// KubeAuthorizer authenticates bearer tokens with TokenReviews and authorises them with
// SubjectAccessReviews on analysisschedules, through k8s.io/apiserver's delegating authenticator and
// authorizer (the pair controller-runtime's secure metrics filter uses). Both cache their answers,
// refusals included, for reviewTTL, so a busy client costs two API calls every few seconds rather
// than two per request; reviews that could not be made are not cached.
type KubeAuthorizer struct {
	authn authenticator.Request
	authz authorizer.Authorizer
}

// reviewTTL bounds how long a revoked token or RoleBinding keeps working.
const reviewTTL = 10 * time.Second

// NewKubeAuthorizer reviews through client; the operator's ServiceAccount needs create on
// tokenreviews and subjectaccessreviews (system:auth-delegator).
func NewKubeAuthorizer(client kubernetes.Interface) (*KubeAuthorizer, error) {
	// Retry what is transient (connection reset, 429, 5xx) for about 4 s, as controller-runtime does.
	backoff := wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		TokenAccessReviewClient:  client.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      &backoff,
		CacheTTL:                 reviewTTL,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("token authenticator: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: client.AuthorizationV1(),
		AllowCacheTTL:             reviewTTL,
		DenyCacheTTL:              reviewTTL,
		WebhookRetryBackoff:       &backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("access authorizer: %w", err)
	}
	return &KubeAuthorizer{authn: authn, authz: authz}, nil
}

// Authorize returns nil, or an apiError: 401 without a valid token, 403 when RBAC refuses, 503 when
// the reviews could not be made.
func (a *KubeAuthorizer) Authorize(ctx context.Context, r *http.Request, verb, namespace string) error {
	if _, ok := bearerToken(r); !ok {
		return errorf(http.StatusUnauthorized, "this call needs a Kubernetes bearer token (Authorization: Bearer <token>)")
	}
	// A clone, because the authenticator deletes the Authorization header of a request it accepts,
	// and a request can be authorised twice (scheduler/start: patch, then create).
	res, ok, err := a.authn.AuthenticateRequest(r.Clone(ctx))
	switch {
	case !ok && reviewFailed(err):
		return &apiError{status: http.StatusServiceUnavailable, reason: "AuthenticationUnavailable",
			msg: "could not review the token: " + err.Error()}
	case !ok:
		return errorf(http.StatusUnauthorized, "the bearer token is not valid (TokenReview did not authenticate it)")
	}
	decision, _, err := a.authz.Authorize(ctx, authorizer.AttributesRecord{
		User: res.User, Verb: verb, Namespace: namespace,
		APIGroup: scheduleGroup, Resource: "analysisschedules", ResourceRequest: true,
	})
	if err != nil {
		return &apiError{status: http.StatusServiceUnavailable, reason: "AuthorizationUnavailable",
			msg: "could not review the access: " + err.Error()}
	}
	if decision != authorizer.DecisionAllow {
		return errorf(http.StatusForbidden, "%s may not %s analysisschedules.%s in namespace %q",
			res.User.GetName(), verb, scheduleGroup, namespace)
	}
	return nil
}

const scheduleGroup = "analysis.hama-operator.io"

// reviewFailed tells a TokenReview that could not be made (the API server unreachable, timing out or
// refusing the operator) from one that was answered "not authenticated", which the authenticator
// also reports as an error, carrying the review's message.
func reviewFailed(err error) bool {
	errs := []error{err}
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		errs = agg.Errors()
	}
	return slices.ContainsFunc(errs, func(err error) bool {
		var status apierrors.APIStatus
		var transport *url.Error
		return errors.As(err, &status) || errors.As(err, &transport) ||
			errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	})
}

// bearerToken reads "Authorization: Bearer <token>"; the scheme is case-insensitive (RFC 7235).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// denyAll stands in when no authorizer is configured: mutating calls are refused, never let through.
type denyAll struct{}

func (denyAll) Authorize(context.Context, *http.Request, string, string) error {
	return errorf(http.StatusUnauthorized, "token authentication is not configured on this server, so this call is refused")
}
