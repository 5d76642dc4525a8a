package sdkcompat

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// md5OfSDKAttributes is the reference algorithm for MD5OfMessageAttributes, written here
// independently of the server's code, over the SDK's own types.
func md5OfSDKAttributes(attrs map[string]types.MessageAttributeValue) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf []byte
	lp := func(b []byte) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		buf = append(buf, b...)
	}
	for _, n := range names {
		a := attrs[n]
		lp([]byte(n))
		lp([]byte(*a.DataType))
		if a.BinaryValue != nil {
			buf = append(buf, 2)
			lp(a.BinaryValue)
		} else {
			buf = append(buf, 1)
			lp([]byte(*a.StringValue))
		}
	}
	sum := md5.Sum(buf)
	return hex.EncodeToString(sum[:])
}

func str(dt, v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(dt), StringValue: aws.String(v)}
}

// TestMD5OfMessageAttributes checks the attribute MD5 on send and receive against SQS's recorded
// vectors (String, Number, Binary) and the reference algorithm (custom types, filtering).
func TestMD5OfMessageAttributes(t *testing.T) {
	t.Parallel()
	vectors := []struct {
		name  string
		attrs map[string]types.MessageAttributeValue
		want  string
	}{
		{"string", map[string]types.MessageAttributeValue{"Foo": str("String", "Bar")}, "ae7155c6026991b6d54b11589678bf9c"},
		{"string2", map[string]types.MessageAttributeValue{"MyAttribute": str("String", "foobar")}, "adb59cd4678ea5a855436b949cd07ab6"},
		{"number", map[string]types.MessageAttributeValue{"timestamp": str("Number", "1493147359900")}, "235c5c510d26fb653d073faed50ae77c"},
		{"binary", map[string]types.MessageAttributeValue{"attr1": {DataType: aws.String("Binary"),
			BinaryValue: []byte("traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01")}}, "8cbe4db156db8a94db8b801b7addb984"},
		{"three", map[string]types.MessageAttributeValue{"General": str("String", "Kenobi"), "Hello": str("String", "There"),
			"Help.Me": str("String", "Me")}, "4c360f3fdafd970e05fae2f149d997f5"},
		{"custom", map[string]types.MessageAttributeValue{"c": str("String.custom", "x"), "n": str("Number.float", "1.5"),
			"b": {DataType: aws.String("Binary.gz"), BinaryValue: []byte{1, 2}}}, ""},
	}
	for _, v := range vectors {
		if v.want != "" {
			require.Equal(t, v.want, md5OfSDKAttributes(v.attrs), "reference algorithm on vector %s", v.name)
		}
	}
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "md5", map[string]string{"VisibilityTimeout": "0"})
		for _, v := range vectors {
			want := v.want
			if want == "" {
				want = md5OfSDKAttributes(v.attrs)
			}
			sent, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(v.name), MessageAttributes: v.attrs})
			require.NoError(t, err)
			require.Equal(t, want, *sent.MD5OfMessageAttributes, v.name)
			rcv, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"All"}})
			require.NoError(t, err)
			require.Len(t, rcv.Messages, 1)
			require.Equal(t, want, *rcv.Messages[0].MD5OfMessageAttributes, v.name)
			_, err = b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: rcv.Messages[0].ReceiptHandle})
			require.NoError(t, err)
		}

		// Filtering: the MD5 covers only the attributes returned.
		_, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("filter"), MessageAttributes: vectors[4].attrs})
		require.NoError(t, err)
		for _, tc := range []struct {
			names []string
			want  []string
			md5   string
		}{
			{[]string{"General", "Hello"}, []string{"General", "Hello"}, "fca026605781cb4126a1e9044df24232"},
			{[]string{"Hel.*"}, []string{"Hello", "Help.Me"}, ""},
			{[]string{".*"}, []string{"General", "Hello", "Help.Me"}, "4c360f3fdafd970e05fae2f149d997f5"},
			{[]string{"nothing", "AWS.x"}, nil, ""},
			{nil, nil, ""},
		} {
			rcv, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: tc.names})
			require.NoError(t, err)
			require.Len(t, rcv.Messages, 1)
			m := rcv.Messages[0]
			var got []string
			for k := range m.MessageAttributes {
				got = append(got, k)
			}
			sort.Strings(got)
			require.Equal(t, tc.want, got, "names %v", tc.names)
			if len(tc.want) == 0 {
				require.Nil(t, m.MD5OfMessageAttributes)
				continue
			}
			want := tc.md5
			if want == "" {
				want = md5OfSDKAttributes(m.MessageAttributes)
			}
			require.Equal(t, want, *m.MD5OfMessageAttributes)
		}
	})
}
