package sdkcompat

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

// policyOf returns a queue's Policy attribute and whether GetQueueAttributes(All) has one.
func (b *testBundle) policyOf(t *testing.T, qurl string) (string, bool) {
	t.Helper()
	out, err := b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &qurl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	require.NoError(t, err)
	p, ok := out.Attributes["Policy"]
	return p, ok
}

func (b *testBundle) addPermission(label string, qurl string, accounts, actions []string) error {
	_, err := b.c.AddPermission(b.ctx, &sqs.AddPermissionInput{QueueUrl: &qurl, Label: &label,
		AWSAccountIds: accounts, Actions: actions})
	return err
}

func (b *testBundle) removePermission(label string, qurl string) error {
	_, err := b.c.RemovePermission(b.ctx, &sqs.RemovePermissionInput{QueueUrl: &qurl, Label: &label})
	return err
}

// requireMessage checks an API error's code and message.
func requireMessage(t *testing.T, err error, code, message string) {
	t.Helper()
	requireCode(t, err, code)
	require.Contains(t, err.Error(), message)
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

const permArn = "arn:aws:sqs:us-east-1:000000000000:perm"

func TestAddPermission(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		qurl := b.create(t, "perm", nil)
		_, ok := b.policyOf(t, qurl)
		require.False(t, ok, "a new queue has no Policy")

		// One account and one action: strings, not lists.
		require.NoError(t, b.addPermission("send", qurl, []string{"111111111111"}, []string{"SendMessage"}))
		policy, ok := b.policyOf(t, qurl)
		require.True(t, ok)
		want := `{"Version":"2008-10-17","Id":"` + permArn + `/SQSDefaultPolicy","Statement":[` +
			`{"Sid":"send","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"SQS:SendMessage","Resource":"` + permArn + `"}]}`
		require.JSONEq(t, want, policy)
		require.Equal(t, want, policy, "members in SQS's order, compact")

		// Several accounts and actions: lists, in request order; a second statement is appended.
		require.NoError(t, b.addPermission("consume-1", qurl, []string{"222222222222", "111111111111"},
			[]string{"ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "*"}))
		policy, _ = b.policyOf(t, qurl)
		require.JSONEq(t, `{"Version":"2008-10-17","Id":"`+permArn+`/SQSDefaultPolicy","Statement":[
			{"Sid":"send","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"SQS:SendMessage","Resource":"`+permArn+`"},
			{"Sid":"consume-1","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222222222222:root","arn:aws:iam::111111111111:root"]},
			 "Action":["SQS:ReceiveMessage","SQS:DeleteMessage","SQS:ChangeMessageVisibility","SQS:*"],"Resource":"`+permArn+`"}]}`, policy)

		// Exactly seven actions is allowed.
		require.NoError(t, b.addPermission("seven", qurl, []string{"333333333333"}, []string{"SendMessage", "ReceiveMessage",
			"DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues"}))
		require.NoError(t, b.addPermission("more", qurl, []string{"333333333333"}, []string{"PurgeQueue", "ListQueueTags"}))
		before, _ := b.policyOf(t, qurl)

		err := b.addPermission("send", qurl, []string{"444444444444"}, []string{"ReceiveMessage"})
		requireMessage(t, err, "InvalidParameterValue", "Value send for parameter Label is invalid. Reason: Already exists.")

		for _, tc := range []struct {
			name              string
			label             string
			accounts, actions []string
			code, message     string
			status            int
		}{
			{"empty label", "", []string{"111111111111"}, []string{"SendMessage"}, "MissingParameter",
				"The request must contain the parameter Label.", 400},
			{"bad label", "has space", []string{"111111111111"}, []string{"SendMessage"}, "InvalidParameterValue",
				"Value has space for parameter Label is invalid.", 400},
			{"long label", strings.Repeat("l", 81), []string{"111111111111"}, []string{"SendMessage"}, "InvalidParameterValue",
				"for parameter Label is invalid.", 400},
			{"no actions", "x", []string{"111111111111"}, []string{}, "MissingParameter",
				"The request must contain the parameter Actions.", 400},
			{"eight actions", "x", []string{"111111111111"}, []string{"SendMessage", "ReceiveMessage", "DeleteMessage",
				"ChangeMessageVisibility", "GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue"},
				"OverLimit", "8 Actions were found, maximum allowed is 7.", 403},
			{"no accounts", "x", []string{}, []string{"SendMessage"}, "InvalidParameterValue",
				"Value [] for parameter PrincipalId is invalid. Reason: Unable to verify.", 400},
			{"short account", "x", []string{"111111111111", "123"}, []string{"SendMessage"}, "InvalidParameterValue",
				"Value [123] for parameter PrincipalId is invalid.", 400},
			{"batch action", "x", []string{"111111111111"}, []string{"SendMessageBatch"}, "InvalidParameterValue",
				"Value SQS:SendMessageBatch for parameter ActionName is invalid.", 400},
			{"unknown action", "x", []string{"111111111111"}, []string{"Fly"}, "InvalidParameterValue",
				"Value SQS:Fly for parameter ActionName is invalid.", 400},
			{"owner-only action", "x", []string{"111111111111"}, []string{"SendMessage", "DeleteQueue"}, "InvalidParameterValue",
				"Value SQS:DeleteQueue for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action.", 400},
		} {
			err := b.addPermission(tc.label, qurl, tc.accounts, tc.actions)
			requireMessage(t, err, tc.code, tc.message)
			require.Equal(t, tc.status, httpStatus(err), tc.name)
		}
		var ol *types.OverLimit
		require.ErrorAs(t, b.addPermission("x", qurl, []string{"111111111111"}, make([]string, 8)), &ol)

		after, _ := b.policyOf(t, qurl)
		require.Equal(t, before, after, "a rejected AddPermission must not change the policy")

		err = b.addPermission("x", b.srv.QueueURL("nope"), []string{"111111111111"}, []string{"SendMessage"})
		requireCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")
	})
}

func TestRemovePermission(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		qurl := b.create(t, "perm", nil)
		err := b.removePermission("none", qurl)
		requireMessage(t, err, "InvalidParameterValue", "Value none for parameter Label is invalid. Reason: can't find label.")

		require.NoError(t, b.addPermission("a", qurl, []string{"111111111111"}, []string{"SendMessage"}))
		require.NoError(t, b.addPermission("b", qurl, []string{"222222222222"}, []string{"ReceiveMessage", "DeleteMessage"}))
		require.NoError(t, b.removePermission("a", qurl))
		policy, ok := b.policyOf(t, qurl)
		require.True(t, ok)
		require.JSONEq(t, `{"Version":"2008-10-17","Id":"`+permArn+`/SQSDefaultPolicy","Statement":[
			{"Sid":"b","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},
			 "Action":["SQS:ReceiveMessage","SQS:DeleteMessage"],"Resource":"`+permArn+`"}]}`, policy)

		err = b.removePermission("a", qurl)
		requireMessage(t, err, "InvalidParameterValue", "Value a for parameter Label is invalid. Reason: can't find label.")
		requireMessage(t, b.removePermission("", qurl), "MissingParameter", "The request must contain the parameter Label.")

		// Removing the last statement removes the Policy.
		require.NoError(t, b.removePermission("b", qurl))
		_, ok = b.policyOf(t, qurl)
		require.False(t, ok, "no Policy after the last permission is removed")
		requireCode(t, b.removePermission("b", qurl), "InvalidParameterValue")

		// The label can be used again, and the policy starts afresh.
		require.NoError(t, b.addPermission("a", qurl, []string{"111111111111"}, []string{"GetQueueUrl"}))
		policy, _ = b.policyOf(t, qurl)
		require.JSONEq(t, `{"Version":"2008-10-17","Id":"`+permArn+`/SQSDefaultPolicy","Statement":[
			{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"SQS:GetQueueUrl","Resource":"`+permArn+`"}]}`, policy)

		requireCode(t, b.removePermission("a", b.srv.QueueURL("nope")), "AWS.SimpleQueueService.NonExistentQueue")
	})
}

// TestPermissionUserPolicy covers a Policy the user set with SetQueueAttributes: AddPermission
// appends to its Statement and keeps everything else; RemovePermission removes any statement by
// Sid; a policy that is not an object with a statement list is replaced.
func TestPermissionUserPolicy(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		qurl := b.create(t, "perm", nil)
		setPolicy := func(p string) {
			t.Helper()
			_, err := b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &qurl, Attributes: map[string]string{"Policy": p}})
			require.NoError(t, err)
		}
		const mine = `{"Sid":"mine","Effect":"Deny","Principal":"*","Action":"sqs:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`
		const added = `{"Sid":"added","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"SQS:SendMessage","Resource":"` + permArn + `"}`

		setPolicy(`{"Version":"2012-10-17", "Id":"custom", "Statement":[` + mine + `]}`)
		require.NoError(t, b.addPermission("added", qurl, []string{"111111111111"}, []string{"SendMessage"}))
		policy, _ := b.policyOf(t, qurl)
		require.JSONEq(t, `{"Version":"2012-10-17","Id":"custom","Statement":[`+mine+`,`+added+`]}`, policy)
		requireCode(t, b.addPermission("mine", qurl, []string{"111111111111"}, []string{"SendMessage"}), "InvalidParameterValue")
		require.NoError(t, b.removePermission("mine", qurl))
		policy, _ = b.policyOf(t, qurl)
		require.JSONEq(t, `{"Version":"2012-10-17","Id":"custom","Statement":[`+added+`]}`, policy)

		// A single statement object becomes a list; a policy without Statement gets one.
		setPolicy(`{"Version":"2012-10-17","Statement":` + mine + `}`)
		require.NoError(t, b.addPermission("added", qurl, []string{"111111111111"}, []string{"SendMessage"}))
		policy, _ = b.policyOf(t, qurl)
		require.JSONEq(t, `{"Version":"2012-10-17","Statement":[`+mine+`,`+added+`]}`, policy)

		setPolicy(`{"Version":"2012-10-17"}`)
		require.NoError(t, b.addPermission("added", qurl, []string{"111111111111"}, []string{"SendMessage"}))
		policy, _ = b.policyOf(t, qurl)
		require.JSONEq(t, `{"Version":"2012-10-17","Statement":[`+added+`]}`, policy)

		// Not an object, or a Statement that is not a list or object: replaced by the default policy.
		for _, p := range []string{`[1,2]`, `"text"`, `{"Statement":"nope"}`} {
			setPolicy(p)
			require.NoError(t, b.addPermission("added", qurl, []string{"111111111111"}, []string{"SendMessage"}), p)
			policy, _ = b.policyOf(t, qurl)
			require.JSONEq(t, `{"Version":"2008-10-17","Id":"`+permArn+`/SQSDefaultPolicy","Statement":[`+added+`]}`, policy, p)
		}
		setPolicy(`{"Statement":"nope"}`)
		requireMessage(t, b.removePermission("added", qurl), "InvalidParameterValue", "can't find label.")
	})
}

// TestPermissionQuery drives AddPermission and RemovePermission through the query protocol,
// whose list members are AWSAccountId.N and ActionName.N.
func TestPermissionQuery(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		qurl := b.create(t, "perm", nil)
		form := url.Values{"Action": {"AddPermission"}, "Version": {"2012-11-05"}, "QueueUrl": {qurl}, "Label": {"q"},
			"AWSAccountId.1": {"111111111111"}, "AWSAccountId.2": {"222222222222"}, "ActionName.1": {"SendMessage"}}
		r := postQuery(t, b.srv.URL, "/", form.Encode())
		require.Equal(t, 200, r.status, "%+v", r)
		policy, _ := b.policyOf(t, qurl)
		require.JSONEq(t, `{"Version":"2008-10-17","Id":"`+permArn+`/SQSDefaultPolicy","Statement":[
			{"Sid":"q","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root","arn:aws:iam::222222222222:root"]},
			 "Action":"SQS:SendMessage","Resource":"`+permArn+`"}]}`, policy)

		r = postQuery(t, b.srv.URL, "/", form.Encode())
		require.Equal(t, 400, r.status)
		require.Equal(t, "InvalidParameterValue", r.code)
		require.Equal(t, "Value q for parameter Label is invalid. Reason: Already exists.", r.message)

		form.Set("Label", "big")
		for i, a := range []string{"SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
			"GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue"} {
			form.Set("ActionName."+string(rune('1'+i)), a)
		}
		r = postQuery(t, b.srv.URL, "/", form.Encode())
		require.Equal(t, 403, r.status)
		require.Equal(t, "OverLimit", r.code)

		// To the queue URL, as some SDKs send it.
		r = postQuery(t, b.srv.URL, "/000000000000/perm", "Action=RemovePermission&Label=q")
		require.Equal(t, 200, r.status, "%+v", r)
		_, ok := b.policyOf(t, qurl)
		require.False(t, ok)
	})
}
