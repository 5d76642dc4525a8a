package sdkcompat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"sluice/internal/auth"
	"sluice/internal/sluicetest"
)

// Two accounts, Alice's and Bob's, each with one key.
const (
	aliceAccount = "111111111111"
	bobAccount   = "222222222222"
)

var (
	alice = auth.Credential{AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret", AccountID: aliceAccount, Name: "alice"}
	bob   = auth.Credential{AccessKeyID: "AKIDBOB", SecretAccessKey: "bob-secret", AccountID: bobAccount, Name: "bob"}
)

type authBundle struct {
	srv        *sluicetest.Server
	alice, bob *sqs.Client
	ctx        context.Context
}

func forEachEngineAuth(t *testing.T, fn func(t *testing.T, b *authBundle)) {
	for _, f := range sluicetest.Engines() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			srv := sluicetest.NewServer(t, sluicetest.Options{Engine: f.Open(t), Credentials: []auth.Credential{alice, bob}})
			fn(t, &authBundle{srv: srv, alice: srv.Client,
				bob: sluicetest.NewClientFor(srv.URL, bob.AccessKeyID, bob.SecretAccessKey), ctx: context.Background()})
		})
	}
}

func TestAuthSDKSignedRequests(t *testing.T) {
	t.Parallel()
	forEachEngineAuth(t, func(t *testing.T, b *authBundle) {
		q, err := b.alice.CreateQueue(b.ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs")})
		require.NoError(t, err)
		require.Equal(t, b.srv.URL+"/"+aliceAccount+"/jobs", *q.QueueUrl, "the queue lives in the key's account")
		attrs, err := b.alice.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []types.QueueAttributeName{"QueueArn"}})
		require.NoError(t, err)
		require.Equal(t, "arn:aws:sqs:us-east-1:"+aliceAccount+":jobs", attrs.Attributes["QueueArn"])
		_, err = b.alice.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("héllo \"world\" <&>")})
		require.NoError(t, err)
		out, err := b.alice.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"SenderId"}})
		require.NoError(t, err)
		require.Len(t, out.Messages, 1)
		require.Equal(t, "AKIDALICE", out.Messages[0].Attributes["SenderId"])
		_, err = b.alice.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: out.Messages[0].ReceiptHandle})
		require.NoError(t, err)

		// What an SDK user sees with bad credentials.
		_, err = sluicetest.NewClientFor(b.srv.URL, "AKIDALICE", "wrong").ListQueues(b.ctx, &sqs.ListQueuesInput{})
		requireCode(t, err, "SignatureDoesNotMatch")
		_, err = sluicetest.NewClientFor(b.srv.URL, "AKIDNOBODY", "x").ListQueues(b.ctx, &sqs.ListQueuesInput{})
		requireCode(t, err, "InvalidClientTokenId")
		_, err = sqs.New(sqs.Options{Region: "eu-west-1", BaseEndpoint: aws.String(b.srv.URL),
			Credentials: aws.NewCredentialsCache(staticCreds(alice))}).ListQueues(b.ctx, &sqs.ListQueuesInput{})
		requireCode(t, err, "SignatureDoesNotMatch")
		_, err = sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(b.srv.URL),
			Credentials: aws.AnonymousCredentials{}}).ListQueues(b.ctx, &sqs.ListQueuesInput{})
		requireCode(t, err, "MissingAuthenticationToken")
	})
}

func staticCreds(c auth.Credential) aws.CredentialsProviderFunc {
	return func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, nil
	}
}

func sha(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

// signed builds a request of either protocol signed by aws-sdk-go-v2's signer with key at the
// given time; mutate (if not nil) tampers with it after signing.
func signed(t *testing.T, endpoint string, jsonProto bool, action, body string, key auth.Credential, region string, at time.Time, mutate func(*http.Request)) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if jsonProto {
		req, err = http.NewRequest("POST", endpoint+"/", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	} else {
		body = "Action=" + action + "&Version=2012-11-05" + body
		req, err = http.NewRequest("POST", endpoint+"/", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if key.AccessKeyID != "" {
		require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey},
			req, sha(body), "sqs", region, at))
	}
	if mutate != nil {
		mutate(req)
	}
	return req
}

// do sends req and reads the error a client sees in either protocol.
func do(t *testing.T, req *http.Request, jsonProto bool) rawResult {
	t.Helper()
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := rawResult{status: resp.StatusCode}
	if resp.StatusCode == 200 {
		return r
	}
	if jsonProto {
		if qe := resp.Header.Get("x-amzn-query-error"); qe != "" {
			r.code, _, _ = strings.Cut(qe, ";")
		}
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		require.NoError(t, json.Unmarshal(b, &e), "error body must be JSON: %s", b)
		r.jsonType, r.message = e.Type, e.Message
		return r
	}
	var e struct {
		Error struct {
			Type, Code, Message string
		} `xml:"Error"`
	}
	require.NoError(t, xml.Unmarshal(b, &e), "error body must be XML: %s", b)
	require.Equal(t, "Sender", e.Error.Type)
	r.code, r.message = e.Error.Code, e.Error.Message
	return r
}

// TestAuthErrors checks each refusal, in both protocols: status, query code (the XML Code, and
// the x-amzn-query-error header SDKs read on JSON), JSON __type and message.
func TestAuthErrors(t *testing.T) {
	t.Parallel()
	srv := sluicetest.NewServer(t, sluicetest.Options{Credentials: []auth.Credential{alice, bob}})
	now := time.Now().UTC()
	wrongSecret := alice
	wrongSecret.SecretAccessKey = "not-alice-secret"
	nobody := auth.Credential{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x"}
	cases := []struct {
		name     string
		key      auth.Credential
		region   string
		at       time.Time
		mutate   func(*http.Request)
		status   int
		code     string
		jsonType string
		msg      string
	}{
		{"tampered signature", alice, "us-east-1", now, func(r *http.Request) {
			h := r.Header.Get("Authorization")
			c := "0"
			if strings.HasSuffix(h, "0") {
				c = "1"
			}
			r.Header.Set("Authorization", h[:len(h)-1]+c)
		}, 403, "SignatureDoesNotMatch", "com.amazon.coral.service#InvalidSignatureException", auth.SignatureMismatch},
		{"tampered body", alice, "us-east-1", now, func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			b = append(b, ' ')
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(string(b))), int64(len(b))
		}, 403, "SignatureDoesNotMatch", "com.amazon.coral.service#InvalidSignatureException", auth.SignatureMismatch},
		{"wrong secret", wrongSecret, "us-east-1", now, nil,
			403, "SignatureDoesNotMatch", "com.amazon.coral.service#InvalidSignatureException", auth.SignatureMismatch},
		{"unknown key", nobody, "us-east-1", now, nil,
			403, "InvalidClientTokenId", "com.amazon.coral.service#UnrecognizedClientException", "The security token included in the request is invalid."},
		{"stale date", alice, "us-east-1", now.Add(-16 * time.Minute), nil,
			403, "SignatureDoesNotMatch", "com.amazon.coral.service#InvalidSignatureException", "Signature expired: "},
		{"wrong region", alice, "eu-west-1", now, nil,
			403, "SignatureDoesNotMatch", "com.amazon.coral.service#InvalidSignatureException", "Credential should be scoped to a valid region, not 'eu-west-1'."},
		{"no signature", auth.Credential{}, "us-east-1", now, nil,
			403, "MissingAuthenticationToken", "com.amazon.coral.service#MissingAuthenticationTokenException", "Request is missing Authentication Token"},
		{"no SignedHeaders", alice, "us-east-1", now, func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i, j := strings.Index(h, " SignedHeaders="), strings.Index(h, " Signature=")
			r.Header.Set("Authorization", h[:i]+h[j:])
		}, 400, "IncompleteSignature", "com.amazon.coral.service#IncompleteSignatureException", "Authorization header requires 'SignedHeaders' parameter."},
		{"no X-Amz-Date", alice, "us-east-1", now, func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			400, "IncompleteSignature", "com.amazon.coral.service#IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
	}
	for _, tc := range cases {
		for _, jsonProto := range []bool{true, false} {
			name := tc.name + map[bool]string{true: "/json", false: "/query"}[jsonProto]
			t.Run(name, func(t *testing.T) {
				body := "{}"
				if !jsonProto {
					body = ""
				}
				r := do(t, signed(t, srv.URL, jsonProto, "ListQueues", body, tc.key, tc.region, tc.at, tc.mutate), jsonProto)
				require.Equal(t, tc.status, r.status)
				require.Equal(t, tc.code, r.code)
				if jsonProto {
					require.Equal(t, tc.jsonType, r.jsonType)
				}
				require.Contains(t, r.message, tc.msg)
			})
		}
	}
	// A correctly signed query request is accepted.
	r := do(t, signed(t, srv.URL, false, "CreateQueue", "&QueueName=q1", alice, "us-east-1", now, nil), false)
	require.Equal(t, 200, r.status, "%+v", r)
}

func TestAuthPresignedURL(t *testing.T) {
	t.Parallel()
	srv := sluicetest.NewServer(t, sluicetest.Options{Credentials: []auth.Credential{alice}})
	ctx := context.Background()
	q, err := srv.Client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("presigned")})
	require.NoError(t, err)
	presign := func(at time.Time, params url.Values) string {
		req, err := http.NewRequest("GET", *q.QueueUrl+"?"+params.Encode(), nil)
		require.NoError(t, err)
		u, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: alice.AccessKeyID, SecretAccessKey: alice.SecretAccessKey},
			req, sha(""), "sqs", "us-east-1", at)
		require.NoError(t, err)
		return u
	}
	u := presign(time.Now(), url.Values{"Action": {"SendMessage"}, "MessageBody": {"sent with a presigned URL"}, "X-Amz-Expires": {"300"}})
	resp, err := httpClient.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	out, err := srv.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	require.Equal(t, "sent with a presigned URL", *out.Messages[0].Body)

	// Changing a signed parameter, or using the URL after it expired, is refused.
	r := do(t, mustGet(t, strings.Replace(u, "presigned%20URL", "forged%20URL", 1)), false)
	require.Equal(t, 403, r.status)
	require.Equal(t, "SignatureDoesNotMatch", r.code)
	old := presign(time.Now().Add(-10*time.Minute), url.Values{"Action": {"SendMessage"}, "MessageBody": {"x"}, "X-Amz-Expires": {"60"}})
	r = do(t, mustGet(t, old), false)
	require.Equal(t, 403, r.status)
	require.Equal(t, "SignatureDoesNotMatch", r.code)
	require.Contains(t, r.message, "Signature expired")
}

func mustGet(t *testing.T, u string) *http.Request {
	req, err := http.NewRequest("GET", u, nil)
	require.NoError(t, err)
	return req
}
